// The API keys page: keys for automation, each with a name and a role. The secret is shown once,
// at creation, with a copy button; the list shows each key's prefix, role, creation and last use;
// revoking asks first. Keys are managed by people (owners and admins), never by another key.
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { api, errorText, type Schemas } from "../../api/client";
import { ConfirmDialog, type ConfirmRequest } from "../../ui/Confirm";
import { CopyField } from "../../ui/CopyField";
import { Page } from "../../ui/Page";
import { RoleField } from "../team/RoleField";
import { formatDateTime, roleNames } from "../team/roles";

type APIKey = Schemas["APIKey"];
type Role = Schemas["GrantableRole"];

export default function Keys() {
  const [keys, setKeys] = useState<APIKey[] | null>(null);
  const [loadError, setLoadError] = useState("");
  const [notice, setNotice] = useState<{ kind: "ok" | "error"; text: string } | null>(null);
  const [confirm, setConfirm] = useState<ConfirmRequest | null>(null);
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>("viewer");
  const [formError, setFormError] = useState("");
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState<{ name: string; key: string } | null>(null);

  const load = useCallback(async () => {
    try {
      const out = await api("get", "/api/v1/api-keys");
      setKeys(out.api_keys);
      setLoadError("");
    } catch (e) {
      setLoadError(errorText(e));
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  const create = async (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim()) {
      setFormError("Give the key a name that says what uses it, such as “Zapier” or “nightly backup”.");
      return;
    }
    setBusy(true);
    setFormError("");
    setNotice(null);
    try {
      const out = await api("post", "/api/v1/api-keys", { body: { name: name.trim(), role } });
      setCreated({ name: out.name, key: out.key });
      setName("");
      await load();
    } catch (err) {
      setFormError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  const revoke = (k: APIKey) =>
    setConfirm({
      title: `Revoke the key “${k.name}”?`,
      message: `Anything using the key ${k.prefix}… is refused from its next request. This cannot be undone: make a new key if you need one.`,
      confirm: "Revoke key",
      danger: true,
      onConfirm: async () => {
        setNotice(null);
        try {
          await api("delete", "/api/v1/api-keys/{id}", { path: { id: k.id } });
          setNotice({ kind: "ok", text: `The key “${k.name}” was revoked.` });
          if (created && k.name === created.name) setCreated(null);
        } catch (e) {
          setNotice({ kind: "error", text: errorText(e) });
        }
        await load();
      },
    });

  const active = keys?.filter((k) => !k.revoked_at) ?? [];
  const revoked = keys?.filter((k) => k.revoked_at) ?? [];

  return (
    <Page title="API keys">
      <p className="lead">
        Keys let your own scripts and tools use the coachwire API as <code>Authorization: Bearer &lt;key&gt;</code>, with the role you
        choose. A key never manages the team or other keys. Keys made by a member are revoked when that member is removed.
      </p>
      {notice && (
        <p className={notice.kind === "ok" ? "notice" : "form-error"} role={notice.kind === "ok" ? "status" : "alert"}>
          {notice.text}
        </p>
      )}

      <section className="panel" aria-labelledby="new-key-title">
        <div className="panel-head">
          <h2 id="new-key-title">Create a key</h2>
        </div>
        <form onSubmit={create} noValidate>
          <fieldset disabled={busy}>
            <legend className="visually-hidden">New API key</legend>
            <div className="invite-grid">
              <div className="field">
                <label htmlFor="key-name">Name</label>
                <input
                  id="key-name"
                  type="text"
                  value={name}
                  maxLength={200}
                  onChange={(e) => setName(e.target.value)}
                  aria-invalid={formError ? true : undefined}
                  aria-describedby={formError ? "key-error" : undefined}
                />
              </div>
              <RoleField id="key-role" value={role} onChange={setRole} />
            </div>
            {formError && (
              <p className="field-error" id="key-error" role="alert">
                {formError}
              </p>
            )}
            <button type="submit" className="button primary">
              {busy ? "Creating…" : "Create key"}
            </button>
          </fieldset>
        </form>
        {created && (
          <div className="once" role="region" aria-labelledby="new-key-secret-title">
            <h3 id="new-key-secret-title">The key “{created.name}”</h3>
            <CopyField
              id="new-key-secret"
              label="Secret"
              value={created.key}
              hint="Shown only now: copy it into the tool that uses it. coachwire keeps only a hash and cannot show it again."
            />
            <button type="button" className="button link" onClick={() => setCreated(null)}>
              Done, hide the secret
            </button>
          </div>
        )}
      </section>

      <section className="panel" aria-labelledby="keys-title">
        <div className="panel-head">
          <h2 id="keys-title">Keys</h2>
        </div>
        {loadError && (
          <p className="form-error" role="alert">
            {loadError} Reload the page to try again.
          </p>
        )}
        {keys === null && !loadError && <p className="page-loading">Loading keys…</p>}
        {keys && keys.length === 0 && <p className="empty-inline">No keys yet. Create one above when a tool needs the API.</p>}
        {keys && keys.length > 0 && (
          <div className="table-wrap">
            <table className="docs keys">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Prefix</th>
                  <th scope="col">Role</th>
                  <th scope="col">Created</th>
                  <th scope="col">Last used</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {[...active, ...revoked].map((k) => (
                  <tr key={k.id} data-key={k.name} data-state={k.revoked_at ? "revoked" : "active"}>
                    <th scope="row" className="doc-title">
                      <span className="title-text">{k.name}</span>
                      {k.revoked_at && <span className="doc-sub">Revoked {formatDateTime(k.revoked_at)}</span>}
                    </th>
                    <td data-label="Prefix">
                      <code>{k.prefix}…</code>
                    </td>
                    <td data-label="Role">{roleNames[k.role]}</td>
                    <td data-label="Created">{formatDateTime(k.created_at)}</td>
                    <td data-label="Last used">{formatDateTime(k.last_used_at)}</td>
                    <td className="actions-cell">
                      <div className="actions">
                        {!k.revoked_at && (
                          <button type="button" className="button small danger-outline" onClick={() => revoke(k)}>
                            Revoke<span className="visually-hidden"> the key {k.name}</span>
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
