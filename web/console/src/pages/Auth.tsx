import { useEffect, useRef, useState, type FormEvent, type ReactNode } from "react";
import { ApiError, errorText } from "../api/errors";
import { session } from "../api/session";
import { Link, navigatedInApp } from "../router";

function AuthFrame({ title, children }: { title: string; children: ReactNode }) {
  const h1 = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${title} · coachwire console`;
    if (navigatedInApp()) h1.current?.focus();
  }, [title]);
  return (
    <main id="main" className="auth">
      <div className="auth-card">
        <p className="brand auth-brand">
          coachwire <span className="brand-sub">console</span>
        </p>
        <h1 ref={h1} tabIndex={-1}>
          {title}
        </h1>
        {children}
      </div>
    </main>
  );
}

/** A labelled input with its own error line, tied together for assistive technology. */
function Field(props: {
  id: string;
  label: string;
  type: string;
  value: string;
  onChange: (v: string) => void;
  autoComplete: string;
  hint?: string;
  error?: string;
  required?: boolean;
  minLength?: number;
  inputRef?: React.Ref<HTMLInputElement>;
}) {
  const described = [props.hint && props.id + "-hint", props.error && props.id + "-error"].filter(Boolean).join(" ");
  return (
    <div className="field">
      <label htmlFor={props.id}>{props.label}</label>
      <input
        id={props.id}
        ref={props.inputRef}
        type={props.type}
        value={props.value}
        onChange={(e) => props.onChange(e.target.value)}
        autoComplete={props.autoComplete}
        required={props.required}
        minLength={props.minLength}
        aria-invalid={props.error ? true : undefined}
        aria-describedby={described || undefined}
      />
      {props.hint && (
        <p className="hint" id={props.id + "-hint"}>
          {props.hint}
        </p>
      )}
      {props.error && (
        <p className="field-error" id={props.id + "-error"}>
          {props.error}
        </p>
      )}
    </div>
  );
}

export function SignIn({ notice }: { notice?: "signed-out" | "expired" }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const emailRef = useRef<HTMLInputElement>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!email.trim() || !password) {
      setError("Enter your email and your password.");
      emailRef.current?.focus();
      return;
    }
    setBusy(true);
    setError("");
    try {
      await session.signIn(email.trim(), password);
    } catch (err) {
      setError(
        err instanceof ApiError && err.code === "invalid_credentials"
          ? "That email and password do not match an account. Check them, or create an account."
          : errorText(err),
      );
      setBusy(false);
      emailRef.current?.focus();
    }
  };

  return (
    <AuthFrame title="Sign in">
      {notice === "signed-out" && (
        <p className="notice" role="status">
          You are signed out.
        </p>
      )}
      {notice === "expired" && (
        <p className="notice" role="status">
          Your session ended. Sign in again to continue.
        </p>
      )}
      <form onSubmit={submit} noValidate>
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        <Field id="signin-email" label="Email" type="email" value={email} onChange={setEmail} autoComplete="username" required inputRef={emailRef} />
        <Field id="signin-password" label="Password" type="password" value={password} onChange={setPassword} autoComplete="current-password" required />
        <button type="submit" className="button primary wide" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
      <p className="auth-switch">
        New to coachwire? <Link to="/sign-up">Create an account</Link>
      </p>
    </AuthFrame>
  );
}

export function SignUp() {
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [errors, setErrors] = useState<{ form?: string; name?: string; email?: string; password?: string }>({});
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const found: typeof errors = {};
    if (!/^[^\s@]+@[^\s@]+$/.test(email.trim())) found.email = "Enter an email address such as ana@example.com.";
    if (password.length < 8) found.password = "Use at least 8 characters.";
    setErrors(found);
    if (found.email || found.password) {
      document.getElementById(found.email ? "signup-email" : "signup-password")?.focus();
      return;
    }
    setBusy(true);
    try {
      await session.signUp(name.trim(), email.trim(), password);
    } catch (err) {
      const code = err instanceof ApiError ? err.code : "";
      if (code === "invalid_email") setErrors({ email: "Enter an email address such as ana@example.com." });
      else if (code === "email_taken")
        setErrors({ email: "An account with this email already exists. Sign in instead, or use another email." });
      else if (code === "invalid_name") setErrors({ name: errorText(err) });
      else if (code.startsWith("password_")) setErrors({ password: errorText(err) });
      else setErrors({ form: errorText(err) });
      setBusy(false);
    }
  };

  return (
    <AuthFrame title="Create your account">
      <form onSubmit={submit} noValidate>
        {errors.form && (
          <p className="form-error" role="alert">
            {errors.form}
          </p>
        )}
        <Field id="signup-name" label="Your name or brand" type="text" value={name} onChange={setName} autoComplete="name" error={errors.name} />
        <Field id="signup-email" label="Email" type="email" value={email} onChange={setEmail} autoComplete="email" required error={errors.email} />
        <Field
          id="signup-password"
          label="Password"
          type="password"
          value={password}
          onChange={setPassword}
          autoComplete="new-password"
          required
          minLength={8}
          hint="At least 8 characters."
          error={errors.password}
        />
        <button type="submit" className="button primary wide" disabled={busy}>
          {busy ? "Creating your account…" : "Create account"}
        </button>
      </form>
      <p className="auth-switch">
        Already have an account? <Link to="/sign-in">Sign in</Link>
      </p>
    </AuthFrame>
  );
}
