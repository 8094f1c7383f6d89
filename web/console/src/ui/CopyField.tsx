import { useRef, useState } from "react";

/**
 * A secret or link shown once: a read-only field with a Copy button. The clipboard API is used
 * when the browser allows it; otherwise the text is selected and copied the old way, and if that
 * fails too the person is told to copy the selected text themselves.
 */
export function CopyField({ id, label, value, hint }: { id: string; label: string; value: string; hint?: string }) {
  const input = useRef<HTMLInputElement>(null);
  const [status, setStatus] = useState("");
  const copy = async () => {
    setStatus("");
    let ok = false;
    try {
      await navigator.clipboard.writeText(value);
      ok = true;
    } catch {
      input.current?.select();
      try {
        ok = document.execCommand("copy");
      } catch {
        ok = false;
      }
    }
    setStatus(ok ? "Copied to the clipboard." : "Could not copy: the text is selected, copy it with your keyboard.");
    if (!ok) input.current?.select();
  };
  return (
    <div className="field copy-field">
      <label htmlFor={id}>{label}</label>
      <div className="copy-row">
        <input
          ref={input}
          id={id}
          type="text"
          readOnly
          value={value}
          onFocus={(e) => e.currentTarget.select()}
          aria-describedby={hint ? id + "-hint" : undefined}
          spellCheck={false}
        />
        <button type="button" className="button secondary" onClick={copy} data-copy={id}>
          Copy
        </button>
      </div>
      {hint && (
        <p className="hint" id={id + "-hint"}>
          {hint}
        </p>
      )}
      <p className="copy-status" role="status" id={id + "-status"}>
        {status}
      </p>
    </div>
  );
}
