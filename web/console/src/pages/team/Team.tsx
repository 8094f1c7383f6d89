// The Team page: the workspace's members (role, message-content grant, remove, transfer
// ownership), invitations by email and role (the single-use link shown once, with copy) and the
// pending invitations (expiry, revoke). What the signed-in role may not do is disabled, with the
// reason next to it.
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { api, errorText, type Schemas } from "../../api/client";
import { permissions, useCan, usePermissions } from "../../api/perms";
import { ConfirmDialog, type ConfirmRequest } from "../../ui/Confirm";
import { CopyField } from "../../ui/CopyField";
import { Page } from "../../ui/Page";
import { RoleField } from "./RoleField";
import { formatDate, roleHelp, roleNames, grantableRoles, untilText } from "./roles";

type Member = Schemas["Member"];
type Invitation = Schemas["Invitation"];
type Role = Schemas["GrantableRole"];

/** Editors and viewers read end users' message content only when granted it. */
const grantable = (role: string) => role === "editor" || role === "viewer";

export default function Team() {
  const can = useCan();
  const perms = usePermissions();
  const me = perms.status === "ready" ? perms.userID : null;
  const myRole = perms.status === "ready" ? perms.role : "";
  const canWrite = can("team.write");
  const canTransfer = can("ownership.transfer");
  const canKeys = can("keys.manage");

  const [members, setMembers] = useState<Member[] | null>(null);
  const [invitations, setInvitations] = useState<Invitation[]>([]);
  const [keysBy, setKeysBy] = useState<Map<string, number>>(new Map());
  const [loadError, setLoadError] = useState("");
  const [notice, setNotice] = useState<{ kind: "ok" | "error"; text: string } | null>(null);
  const [confirm, setConfirm] = useState<ConfirmRequest | null>(null);
  const [busy, setBusy] = useState<string>("");

  const load = useCallback(async () => {
    try {
      const [m, i] = await Promise.all([api("get", "/api/v1/members"), api("get", "/api/v1/invitations")]);
      setMembers(m.members);
      setInvitations(i.invitations);
      setLoadError("");
    } catch (e) {
      setLoadError(errorText(e));
    }
    if (canKeys) {
      try {
        const k = await api("get", "/api/v1/api-keys");
        const by = new Map<string, number>();
        for (const key of k.api_keys) if (!key.revoked_at && key.created_by) by.set(key.created_by, (by.get(key.created_by) ?? 0) + 1);
        setKeysBy(by);
      } catch {
        // the count in the removal dialog is a courtesy
      }
    }
  }, [canKeys]);

  useEffect(() => {
    void load();
  }, [load]);

  const act = async (what: string, fn: () => Promise<unknown>, done: string) => {
    setBusy(what);
    setNotice(null);
    try {
      await fn();
      setNotice({ kind: "ok", text: done });
      await load();
      await permissions.refresh();
    } catch (e) {
      setNotice({ kind: "error", text: errorText(e) });
    } finally {
      setBusy("");
    }
  };

  const changeRole = (m: Member, role: Role) =>
    act(
      "role:" + m.user_id,
      () => api("patch", "/api/v1/members/{user_id}", { path: { user_id: m.user_id }, body: { role } }),
      `${nameOf(m)} is now ${roleNames[role]}.`,
    );
  const changeGrant = (m: Member, v: boolean) =>
    act(
      "grant:" + m.user_id,
      () => api("patch", "/api/v1/members/{user_id}", { path: { user_id: m.user_id }, body: { can_read_messages: v } }),
      v ? `${nameOf(m)} can now read end users' messages.` : `${nameOf(m)} can no longer read end users' messages.`,
    );
  const remove = (m: Member) => {
    const keys = keysBy.get(m.user_id) ?? 0;
    setConfirm({
      title: `Remove ${nameOf(m)}?`,
      message:
        `${nameOf(m)} loses access to this workspace at once: every session they have here ends.` +
        (keys > 0 ? ` The ${keys} API key${keys === 1 ? "" : "s"} they created will be revoked too.` : " API keys they created are revoked too.") +
        " You can invite them again later.",
      confirm: "Remove member",
      danger: true,
      onConfirm: () =>
        void act("remove:" + m.user_id, () => api("delete", "/api/v1/members/{user_id}", { path: { user_id: m.user_id } }), `${nameOf(m)} was removed.`),
    });
  };
  const transfer = (m: Member) =>
    setConfirm({
      title: `Make ${nameOf(m)} the owner?`,
      message: `${nameOf(m)} becomes the owner of this workspace and you become an admin. Only the new owner can hand ownership back.`,
      confirm: "Transfer ownership",
      danger: true,
      onConfirm: () =>
        void act(
          "transfer:" + m.user_id,
          () => api("post", "/api/v1/members/{user_id}/transfer-ownership", { path: { user_id: m.user_id } }),
          `${nameOf(m)} is now the owner; you are an admin.`,
        ),
    });
  const revoke = (i: Invitation) =>
    setConfirm({
      title: `Revoke the invitation for ${i.email}?`,
      message: "The link stops working at once. You can invite the address again.",
      confirm: "Revoke invitation",
      danger: true,
      onConfirm: () => void act("revoke:" + i.id, () => api("delete", "/api/v1/invitations/{id}", { path: { id: i.id } }), `The invitation for ${i.email} was revoked.`),
    });

  const readOnlyReason = `Your role (${myRole}) can see the team but not change it: owners and admins can.`;

  return (
    <Page title="Team">
      <p className="lead">The people who run this workspace with you, what each may do, and invitations for new members.</p>
      {notice && (
        <p className={notice.kind === "ok" ? "notice" : "form-error"} role={notice.kind === "ok" ? "status" : "alert"}>
          {notice.text}
        </p>
      )}
      {!canWrite && (
        <p className="hint read-only-reason" id="team-read-only">
          {readOnlyReason}
        </p>
      )}

      <section className="panel" aria-labelledby="members-title">
        <div className="panel-head">
          <h2 id="members-title">Members</h2>
        </div>
        {loadError && (
          <p className="form-error" role="alert">
            {loadError} Reload the page to try again.
          </p>
        )}
        {members === null && !loadError && <p className="page-loading">Loading members…</p>}
        {members && (
          <div className="table-wrap">
            <table className="docs members">
              <thead>
                <tr>
                  <th scope="col">Member</th>
                  <th scope="col">Role</th>
                  <th scope="col">Message content</th>
                  <th scope="col">Joined</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {members.map((m) => {
                  const owner = m.role === "owner";
                  const self = m.user_id === me;
                  const rid = "role-" + m.user_id;
                  return (
                    <tr key={m.user_id} data-member={m.email} data-role={m.role}>
                      <th scope="row" className="doc-title">
                        <span className="title-text">
                          {m.name || m.email}
                          {self && <span className="you"> (you)</span>}
                        </span>
                        {m.name && <span className="doc-sub">{m.email}</span>}
                      </th>
                      <td data-label="Role">
                        {canWrite && !owner ? (
                          <>
                            <label htmlFor={rid} className="visually-hidden">
                              Role of {nameOf(m)}
                            </label>
                            <select
                              id={rid}
                              value={m.role}
                              disabled={busy !== ""}
                              onChange={(e) => void changeRole(m, e.target.value as Role)}
                              aria-describedby="role-help"
                            >
                              {grantableRoles.map((r) => (
                                <option key={r} value={r}>
                                  {roleNames[r]}
                                </option>
                              ))}
                            </select>
                          </>
                        ) : (
                          <span className={"badge role-badge role-" + m.role}>{roleNames[m.role as keyof typeof roleNames] ?? m.role}</span>
                        )}
                      </td>
                      <td data-label="Content">
                        {grantable(m.role) ? (
                          <label className="check">
                            <input
                              type="checkbox"
                              checked={m.can_read_messages}
                              disabled={!canWrite || busy !== ""}
                              aria-describedby={!canWrite ? "team-read-only" : undefined}
                              onChange={(e) => void changeGrant(m, e.target.checked)}
                            />
                            <span>
                              Can read messages<span className="visually-hidden"> ({nameOf(m)})</span>
                            </span>
                          </label>
                        ) : (
                          <span>{m.role === "agent" || m.role === "admin" || owner ? "Always" : "No"}</span>
                        )}
                      </td>
                      <td data-label="Joined">{formatDate(m.joined_at)}</td>
                      <td className="actions-cell">
                        <div className="actions">
                          {canTransfer && !owner && (
                            <button type="button" className="button small secondary" disabled={busy !== ""} onClick={() => transfer(m)}>
                              Make owner<span className="visually-hidden"> ({nameOf(m)})</span>
                            </button>
                          )}
                          {canWrite && !owner && !self && (
                            <button type="button" className="button small danger-outline" disabled={busy !== ""} onClick={() => remove(m)}>
                              Remove<span className="visually-hidden"> {nameOf(m)}</span>
                            </button>
                          )}
                          {owner && <span className="hint">The owner is removed only after transferring ownership.</span>}
                        </div>
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
        <details className="role-help" id="role-help">
          <summary>What each role may do</summary>
          <dl>
            {(["owner", ...grantableRoles] as const).map((r) => (
              <div key={r}>
                <dt>{roleNames[r]}</dt>
                <dd>{roleHelp[r]}</dd>
              </div>
            ))}
          </dl>
        </details>
      </section>

      <InvitePanel canWrite={canWrite} reason={readOnlyReason} onInvited={() => void load()} />

      <section className="panel" aria-labelledby="pending-title">
        <div className="panel-head">
          <h2 id="pending-title">Pending invitations</h2>
        </div>
        {invitations.length === 0 ? (
          <p className="empty-inline">No pending invitations. Accepted, revoked and expired ones leave this list.</p>
        ) : (
          <div className="table-wrap">
            <table className="docs invitations">
              <thead>
                <tr>
                  <th scope="col">Email</th>
                  <th scope="col">Role</th>
                  <th scope="col">Expires</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {invitations.map((i) => (
                  <tr key={i.id} data-invitation={i.email}>
                    <th scope="row" className="doc-title">
                      <span className="title-text">{i.email}</span>
                    </th>
                    <td data-label="Role">
                      {roleNames[i.role]}
                      {grantable(i.role) && i.can_read_messages ? ", reads messages" : ""}
                    </td>
                    <td data-label="Expires">
                      <time dateTime={i.expires_at} title={new Date(i.expires_at).toLocaleString()}>
                        {untilText(i.expires_at)}
                      </time>
                    </td>
                    <td className="actions-cell">
                      <div className="actions">
                        {canWrite && (
                          <button type="button" className="button small danger-outline" disabled={busy !== ""} onClick={() => revoke(i)}>
                            Revoke<span className="visually-hidden"> the invitation for {i.email}</span>
                          </button>
                        )}
                      </div>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <ConfirmDialog request={confirm} onClose={() => setConfirm(null)} />
    </Page>
  );
}

function nameOf(m: Member) {
  return m.name || m.email;
}

/** Invite by email and role; the link is shown once, with a copy button. */
function InvitePanel({ canWrite, reason, onInvited }: { canWrite: boolean; reason: string; onInvited: () => void }) {
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("agent");
  const [content, setContent] = useState(false);
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState<{ email: string; role: Role; link: string; expires: string } | null>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!email.trim()) {
      setError("Enter the email address of the person to invite.");
      return;
    }
    setBusy(true);
    setError("");
    try {
      const out = await api("post", "/api/v1/invitations", {
        body: { email: email.trim(), role, can_read_messages: grantable(role) ? content : false },
      });
      setCreated({ email: out.invitation.email, role: out.invitation.role, link: out.link, expires: out.invitation.expires_at });
      setEmail("");
      setContent(false);
      onInvited();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="panel" aria-labelledby="invite-title">
      <div className="panel-head">
        <h2 id="invite-title">Invite someone</h2>
      </div>
      <p className="hint">
        coachwire does not send email: you get a single-use link to send the person yourself. It works once and expires after 7 days.
      </p>
      <form onSubmit={submit} noValidate className="invite-form">
        <fieldset disabled={!canWrite || busy} aria-describedby={!canWrite ? "invite-disabled" : undefined}>
          <legend className="visually-hidden">New invitation</legend>
          {!canWrite && (
            <p className="hint" id="invite-disabled">
              {reason}
            </p>
          )}
          <div className="invite-grid">
            <div className="field">
              <label htmlFor="invite-email">Email</label>
              <input
                id="invite-email"
                type="email"
                autoComplete="off"
                value={email}
                onChange={(e) => setEmail(e.target.value)}
                aria-invalid={error ? true : undefined}
                aria-describedby={error ? "invite-error" : undefined}
              />
            </div>
            <RoleField id="invite-role" value={role} onChange={setRole} />
          </div>
          {grantable(role) && (
            <label className="check field">
              <input type="checkbox" checked={content} onChange={(e) => setContent(e.target.checked)} />
              <span>Can read end users&apos; messages</span>
            </label>
          )}
          {error && (
            <p className="field-error" id="invite-error" role="alert">
              {error}
            </p>
          )}
          <button type="submit" className="button primary">
            {busy ? "Inviting…" : "Create invitation link"}
          </button>
        </fieldset>
      </form>
      {created && (
        <div className="once" role="region" aria-labelledby="invite-link-title">
          <h3 id="invite-link-title">
            Invitation for {created.email} ({roleNames[created.role]})
          </h3>
          <CopyField
            id="invite-link"
            label="Invitation link"
            value={created.link}
            hint={`Shown only now: copy it and send it to ${created.email}. It works once and expires ${untilText(created.expires)}.`}
          />
          <button type="button" className="button link" onClick={() => setCreated(null)}>
            Done, hide the link
          </button>
        </div>
      )}
    </section>
  );
}
