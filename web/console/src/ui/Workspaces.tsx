import { useEffect, useState, type FormEvent } from "react";
import { api, errorText, type Schemas } from "../api/client";
import { session } from "../api/session";

/**
 * The workspace switcher of the top bar, shown when the person belongs to several workspaces: a
 * select and a Switch button (a select alone would switch on every arrow key).
 */
export function WorkspaceSwitcher({ current }: { current: string }) {
  const [list, setList] = useState<Schemas["Workspace"][]>([]);
  const [chosen, setChosen] = useState(current);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");

  useEffect(() => {
    const ac = new AbortController();
    setChosen(current);
    api("get", "/api/v1/auth/workspaces", { signal: ac.signal })
      .then((r) => setList(r.workspaces))
      .catch(() => setList([]));
    return () => ac.abort();
  }, [current]);

  if (list.length < 2) return null;
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (chosen === current) return;
    setBusy(true);
    setError("");
    try {
      await session.switchWorkspace(chosen);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="workspace-switcher" onSubmit={submit}>
      <label htmlFor="workspace-select">Workspace</label>
      <select id="workspace-select" value={chosen} onChange={(e) => setChosen(e.target.value)} disabled={busy}>
        {list.map((w) => (
          <option key={w.creator_id} value={w.creator_id}>
            {(w.name || "Untitled workspace") + " (" + w.role + ")"}
          </option>
        ))}
      </select>
      <button type="submit" className="button secondary" disabled={busy || chosen === current}>
        {busy ? "Switching…" : "Switch"}
      </button>
      {error && (
        <p className="field-error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}
