import { useEffect, useRef, useState, type FormEvent } from "react";
import { ApiError, errorText } from "../../api/errors";
import { session } from "../../api/session";
import { useSession } from "../../App";
import { navigate, navigatedInApp } from "../../router";

/** The invitation token of the page's address: ?token=… or the API's links' #token=…. */
function tokenOfLocation(): string {
  const q = new URLSearchParams(window.location.search).get("token");
  if (q) return q;
  return new URLSearchParams(window.location.hash.replace(/^#/, "")).get("token") ?? "";
}

const invitationErrors: Record<string, string> = {
  invitation_not_found: "This invitation does not exist any more: it was revoked, or the link is incomplete. Ask for a new one.",
  invitation_used: "This invitation was already accepted. Sign in, or ask for a new invitation.",
  invitation_expired: "This invitation has expired. Ask the person who invited you for a new one.",
  invitation_email_mismatch: "This invitation is for another email address. Sign out, then open the link again and sign in with the invited email.",
  already_member: "You already belong to this workspace. Switch to it from the top bar.",
  invalid_credentials: "That password does not match the account of the invited email. Check it, or ask for a new invitation.",
};

/**
 * Accepting an invitation (/console/invite?token=…, or the API's /console/accept-invitation#token=…):
 * signed in, join as yourself; signed out, sign in with the invited email's password, or create
 * the account by choosing a password.
 */
export default function Invite({ signedIn }: { signedIn: boolean }) {
  const s = useSession();
  const [token] = useState(tokenOfLocation);
  const [haveAccount, setHaveAccount] = useState(false);
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const h1 = useRef<HTMLHeadingElement>(null);
  const passwordRef = useRef<HTMLInputElement>(null);

  useEffect(() => {
    document.title = "Accept an invitation · coachwire console";
    if (navigatedInApp()) h1.current?.focus();
  }, []);

  const accept = async (e: FormEvent) => {
    e.preventDefault();
    if (!signedIn && password.length < (haveAccount ? 1 : 8)) {
      setError(haveAccount ? "Enter your password." : "Choose a password of at least 8 characters.");
      passwordRef.current?.focus();
      return;
    }
    setBusy(true);
    setError("");
    try {
      await session.acceptInvitation(token, signedIn ? {} : { password, name: haveAccount ? undefined : name.trim() || undefined });
      navigate("/knowledge", { replace: true });
    } catch (err) {
      const code = err instanceof ApiError ? err.code : "";
      setError(invitationErrors[code] ?? errorText(err));
      setBusy(false);
    }
  };

  const body = !token ? (
    <p className="form-error" role="alert">
      This page needs the invitation link you were sent: open the whole link, including its token.
    </p>
  ) : (
    <form onSubmit={accept} noValidate>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      {signedIn ? (
        <p>
          Join the workspace as <strong>{s.status === "signed-in" ? s.user.email : ""}</strong>.
        </p>
      ) : (
        <>
          <fieldset className="choice">
            <legend>Do you already have a coachwire account with the invited email?</legend>
            <label>
              <input type="radio" name="invite-account" checked={!haveAccount} onChange={() => setHaveAccount(false)} /> No, create my account
            </label>
            <label>
              <input type="radio" name="invite-account" checked={haveAccount} onChange={() => setHaveAccount(true)} /> Yes, sign me in
            </label>
          </fieldset>
          {!haveAccount && (
            <div className="field">
              <label htmlFor="invite-name">Your name</label>
              <input id="invite-name" type="text" autoComplete="name" value={name} onChange={(e) => setName(e.target.value)} />
            </div>
          )}
          <div className="field">
            <label htmlFor="invite-password">{haveAccount ? "Your password" : "Choose a password"}</label>
            <input
              id="invite-password"
              ref={passwordRef}
              type="password"
              autoComplete={haveAccount ? "current-password" : "new-password"}
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              aria-describedby={haveAccount ? undefined : "invite-password-hint"}
            />
            {!haveAccount && (
              <p className="hint" id="invite-password-hint">
                At least 8 characters. Your email is the invited one.
              </p>
            )}
          </div>
        </>
      )}
      <button type="submit" className="button primary wide" disabled={busy}>
        {busy ? "Joining…" : signedIn ? "Accept and join" : haveAccount ? "Sign in and join" : "Create account and join"}
      </button>
    </form>
  );

  const card = (
    <div className="auth-card">
      <h1 ref={h1} tabIndex={-1}>
        Accept an invitation
      </h1>
      <p>You were invited to join a coachwire workspace.</p>
      {body}
    </div>
  );
  if (signedIn) return <div className="invite-page">{card}</div>;
  return (
    <main id="main" className="auth">
      {card}
    </main>
  );
}
