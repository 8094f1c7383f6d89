import { useCallback, useEffect, useRef, useState, type FormEvent } from "react";
import { ApiError, api, errorText, type Schemas } from "../../api/client";
import { session } from "../../api/session";
import { useSession } from "../../App";
import { ConfirmDialog, type ConfirmRequest } from "../../ui/Confirm";
import { Page } from "../../ui/Page";

type AuthSession = Schemas["AuthSession"];

const when = (iso: string) => new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });

/** A short name for a user agent: the browser and the system, as far as it says. */
function clientName(ua: string): string {
  if (!ua) return "Unknown client";
  const browser = /Edg\//.test(ua) ? "Edge" : /Firefox\//.test(ua) ? "Firefox" : /Chrom(e|ium)\//.test(ua) ? "Chrome" : /Safari\//.test(ua) ? "Safari" : "";
  const os = /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS" : /Windows/.test(ua) ? "Windows" : /Mac OS X/.test(ua) ? "macOS" : /Linux/.test(ua) ? "Linux" : "";
  if (browser || os) return [browser, os].filter(Boolean).join(" on ");
  return ua.length > 60 ? ua.slice(0, 57) + "…" : ua;
}

/** Account: change the password, see where you are signed in, sign a session out or all of them. */
export default function Account() {
  const s = useSession();
  return (
    <Page title="Account">
      <p className="lead">
        Signed in as <strong>{s.status === "signed-in" ? s.user.email : ""}</strong>
        {s.status === "signed-in" && <> ({s.role} of {s.creator.name || "this workspace"})</>}.
      </p>
      <PasswordForm />
      <Sessions />
    </Page>
  );
}

function PasswordForm() {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [errors, setErrors] = useState<{ form?: string; current?: string; next?: string }>({});
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setDone(false);
    const found: typeof errors = {};
    if (!current) found.current = "Enter your current password.";
    if (next.length < 8) found.next = "Use at least 8 characters.";
    setErrors(found);
    if (found.current || found.next) {
      document.getElementById(found.current ? "password-current" : "password-new")?.focus();
      return;
    }
    setBusy(true);
    try {
      await api("post", "/api/v1/auth/password", { body: { current_password: current, new_password: next } });
      setCurrent("");
      setNext("");
      setDone(true);
      window.dispatchEvent(new Event("coachwire:sessions-changed"));
    } catch (err) {
      const code = err instanceof ApiError ? err.code : "";
      if (code === "wrong_password") {
        setErrors({ current: "That is not your current password. Check it and try again." });
        document.getElementById("password-current")?.focus();
      } else if (code.startsWith("password_")) setErrors({ next: errorText(err) });
      else setErrors({ form: errorText(err) });
    } finally {
      setBusy(false);
    }
  };

  const described = (id: string, err?: string, hint?: boolean) =>
    [hint && id + "-hint", err && id + "-error"].filter(Boolean).join(" ") || undefined;
  return (
    <section className="panel" aria-labelledby="password-heading">
      <h2 id="password-heading">Change your password</h2>
      <p className="hint account-hint">Your other sessions are signed out; this one stays signed in.</p>
      <form className="password-form" onSubmit={submit} noValidate>
        {errors.form && (
          <p className="form-error" role="alert">
            {errors.form}
          </p>
        )}
        {done && (
          <p className="notice" role="status">
            Password changed. Your other sessions were signed out.
          </p>
        )}
        <div className="field">
          <label htmlFor="password-current">Current password</label>
          <input
            id="password-current"
            type="password"
            autoComplete="current-password"
            value={current}
            onChange={(e) => setCurrent(e.target.value)}
            aria-invalid={errors.current ? true : undefined}
            aria-describedby={described("password-current", errors.current)}
          />
          {errors.current && (
            <p className="field-error" id="password-current-error">
              {errors.current}
            </p>
          )}
        </div>
        <div className="field">
          <label htmlFor="password-new">New password</label>
          <input
            id="password-new"
            type="password"
            autoComplete="new-password"
            value={next}
            onChange={(e) => setNext(e.target.value)}
            aria-invalid={errors.next ? true : undefined}
            aria-describedby={described("password-new", errors.next, true)}
          />
          <p className="hint" id="password-new-hint">
            At least 8 characters.
          </p>
          {errors.next && (
            <p className="field-error" id="password-new-error">
              {errors.next}
            </p>
          )}
        </div>
        <button type="submit" className="button primary" disabled={busy}>
          {busy ? "Changing…" : "Change password"}
        </button>
      </form>
    </section>
  );
}

function Sessions() {
  const [list, setList] = useState<AuthSession[] | null>(null);
  const [error, setError] = useState("");
  const [status, setStatus] = useState("");
  const [confirm, setConfirm] = useState<ConfirmRequest | null>(null);
  const everywhere = useRef<HTMLButtonElement>(null);

  const load = useCallback(async () => {
    try {
      const r = await api("get", "/api/v1/auth/sessions");
      setList(r.sessions);
      setError("");
    } catch (err) {
      setError(errorText(err));
    }
  }, []);
  useEffect(() => {
    void load();
    const again = () => void load();
    window.addEventListener("coachwire:sessions-changed", again);
    return () => window.removeEventListener("coachwire:sessions-changed", again);
  }, [load]);

  const revoke = (x: AuthSession) =>
    setConfirm({
      title: x.current ? "Sign this session out?" : "Sign this session out?",
      message: x.current
        ? "This is the session you are using: you will be signed out here."
        : `${clientName(x.user_agent)} (${x.ip || "unknown address"}) will be signed out at once.`,
      confirm: "Sign out",
      danger: true,
      onConfirm: async () => {
        try {
          await api("delete", "/api/v1/auth/sessions/{id}", { path: { id: x.id } });
          if (x.current) {
            await session.signOut();
            return;
          }
          setStatus(`${clientName(x.user_agent)} was signed out.`);
          await load();
          everywhere.current?.focus();
        } catch (err) {
          setError(errorText(err));
        }
      },
    });

  const signOutEverywhere = () =>
    setConfirm({
      title: "Sign out everywhere?",
      message: "Every session of yours, in every workspace and on every device, this one included, is signed out at once.",
      confirm: "Sign out everywhere",
      danger: true,
      onConfirm: async () => {
        try {
          await session.signOutEverywhere();
        } catch (err) {
          setError(errorText(err));
        }
      },
    });

  return (
    <section className="panel" aria-labelledby="sessions-heading">
      <div className="panel-head">
        <h2 id="sessions-heading">Where you are signed in</h2>
        <button ref={everywhere} type="button" className="button danger" onClick={signOutEverywhere}>
          Sign out everywhere
        </button>
      </div>
      <p role="status" className="visually-hidden">
        {status}
      </p>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      {list === null && !error && <p className="page-loading">Loading your sessions…</p>}
      {list && list.length === 0 && <p className="empty">No open sessions.</p>}
      {list && list.length > 0 && (
        <div className="table-wrap">
          <table className="table sessions-table">
            <caption className="visually-hidden">Your sessions, most recently used first</caption>
            <thead>
              <tr>
                <th scope="col">Device</th>
                <th scope="col">Workspace</th>
                <th scope="col">Address</th>
                <th scope="col">Signed in</th>
                <th scope="col">Last used</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.map((x) => (
                <tr key={x.id} className={x.current ? "session-current" : undefined}>
                  <td>
                    <span className="session-client" title={x.user_agent}>
                      {clientName(x.user_agent)}
                    </span>
                    {x.current && <span className="badge badge-indexed session-badge">This session</span>}
                  </td>
                  <td>{x.workspace_name || "Untitled workspace"}</td>
                  <td>{x.ip || "—"}</td>
                  <td>{when(x.created_at)}</td>
                  <td>{when(x.last_used_at)}</td>
                  <td className="actions">
                    <button
                      type="button"
                      className="button secondary small"
                      onClick={() => revoke(x)}
                      aria-label={`Sign out ${clientName(x.user_agent)}${x.current ? " (this session)" : ""}, last used ${when(x.last_used_at)}`}
                    >
                      Sign out
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <ConfirmDialog request={confirm} onClose={() => setConfirm(null)} />
    </section>
  );
}
