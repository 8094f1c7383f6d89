// Form parts shared by the Coach & widget and Channels pages: a labelled control with its hint
// and its own error line (tied with aria-describedby), errors of the API mapped to the field they
// are about, and a copy-to-clipboard button.
import { useEffect, useRef, useState, type ReactNode } from "react";
import { ApiError, errorText } from "../../api/client";

export type FieldErrors = Record<string, string>;

/** Props every control gets from Field: id, description and invalid state. */
export interface ControlProps {
  id: string;
  "aria-describedby"?: string;
  "aria-invalid"?: true;
}

/** A label, a control (rendered by children with the given props), a hint and an error line. */
export function Field({
  id,
  label,
  hint,
  error,
  children,
  className,
}: {
  id: string;
  label: ReactNode;
  hint?: ReactNode;
  error?: string;
  children: (p: ControlProps) => ReactNode;
  className?: string;
}) {
  const described = [hint ? id + "-hint" : "", error ? id + "-error" : ""].filter(Boolean).join(" ");
  return (
    <div className={className ? "field " + className : "field"}>
      <label htmlFor={id}>{label}</label>
      {children({ id, "aria-describedby": described || undefined, "aria-invalid": error ? true : undefined })}
      {hint && (
        <p className="hint" id={id + "-hint"}>
          {hint}
        </p>
      )}
      {error && (
        <p className="field-error" id={id + "-error"}>
          {error}
        </p>
      )}
    </div>
  );
}

/**
 * Which field an API error is about: the error codes of the settings and channel APIs, else the
 * "field: …" or "field[i]: …" prefix of the message. "" when it is about the form as a whole.
 */
export function fieldOf(e: unknown, codes: Record<string, string>, fields: string[]): string {
  if (!(e instanceof ApiError)) return "";
  if (codes[e.code] !== undefined) return codes[e.code];
  for (const p of ["missing_", "bad_"]) {
    if (e.code.startsWith(p) && fields.includes(e.code.slice(p.length))) return e.code.slice(p.length);
  }
  const m = /^([a-z_]+)(\[\d+\])?[:.]/.exec(e.message);
  if (m && fields.includes(m[1])) return m[1];
  return "";
}

/** Splits an API error into a field error (when fieldOf knows its field) or a form error. */
export function placeError(e: unknown, codes: Record<string, string>, fields: string[]): { field: string; text: string } {
  return { field: fieldOf(e, codes, fields), text: errorText(e) };
}

/** Moves the focus to the first invalid control of a form after a refused save. */
export function useFocusFirstInvalid(errors: FieldErrors, form: React.RefObject<HTMLFormElement | null>) {
  const last = useRef<FieldErrors>({});
  useEffect(() => {
    if (errors !== last.current && Object.keys(errors).length > 0) {
      form.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
    }
    last.current = errors;
  }, [errors, form]);
}

/** A button that copies text, saying so in a polite live region next to it. */
export function CopyButton({ text, label, className }: { text: string; label: string; className?: string }) {
  const [state, setState] = useState<"" | "copied" | "failed">("");
  useEffect(() => {
    if (!state) return;
    const t = setTimeout(() => setState(""), 4000);
    return () => clearTimeout(t);
  }, [state]);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setState("copied");
    } catch {
      setState("failed");
    }
  };
  return (
    <span className={className ? "copy " + className : "copy"}>
      <button type="button" className="button secondary small" onClick={copy}>
        {label}
      </button>
      <span role="status" className="copy-status">
        {state === "copied" ? "Copied" : state === "failed" ? "Copy failed: select the text and copy it" : ""}
      </span>
    </span>
  );
}
