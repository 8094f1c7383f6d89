// The Audit log page: who changed what in the workspace, when and from which address, newest
// first; filters (action, who, target, dates), keyset paging and the CSV export of the filtered
// log. Owners and admins only (permission audit.read); others see why they cannot.
import { useEffect, useRef, useState, type FormEvent } from "react";
import { api, ApiError, authorizedFetch, buildURL, errorOf, errorText, type Schemas } from "../../api/client";
import { saveBlob } from "../../ui/download";
import { Page } from "../../ui/Page";

type Entry = Schemas["AuditEntry"];

interface Filters {
  action: string;
  actor: string;
  target: string;
  from: string;
  to: string;
}

const none: Filters = { action: "", actor: "", target: "", from: "", to: "" };
const pageSize = 50;

/** The action groups of the filter (prefixes of the API's actions, docs/api.md). */
const groups: { value: string; label: string }[] = [
  { value: "", label: "All changes" },
  { value: "auth.", label: "Sign-ins" },
  { value: "member.", label: "Members and roles" },
  { value: "invitation.", label: "Invitations" },
  { value: "ownership.", label: "Ownership" },
  { value: "api_key.", label: "API keys" },
  { value: "channel.", label: "Channels" },
  { value: "document.", label: "Knowledge" },
  { value: "campaign.", label: "Campaigns" },
  { value: "program.", label: "Programs" },
  { value: "enrollment.", label: "Program enrolments" },
  { value: "conversation.", label: "Inbox: takeovers and replies" },
  { value: "memory.", label: "Memory" },
  { value: "end_user.", label: "End users" },
  { value: "widget_settings.", label: "Coach and widget" },
  { value: "nudge_policy.", label: "Send policy" },
  { value: "workspace.", label: "Workspace" },
];

/** What an action says, in words. */
const words: Record<string, string> = {
  "auth.sign_in": "Signed in",
  "auth.sign_in_failed": "Failed sign-in",
  "workspace.created": "Created the workspace",
  "member.role_changed": "Changed a member's role",
  "member.removed": "Removed a member",
  "ownership.transferred": "Transferred ownership",
  "invitation.created": "Invited someone",
  "invitation.revoked": "Revoked an invitation",
  "invitation.accepted": "Joined by invitation",
  "api_key.created": "Created an API key",
  "api_key.revoked": "Revoked an API key",
  "channel.added": "Added a channel",
  "channel.updated": "Changed a channel",
  "channel.removed": "Removed a channel",
  "document.uploaded": "Uploaded a document",
  "document.imported": "Imported a page",
  "document.replaced": "Replaced a document",
  "document.deleted": "Deleted a document",
  "document.reindexed": "Reindexed a document",
  "document.reindexed_all": "Reindexed all documents",
  "campaign.created": "Created a campaign",
  "campaign.updated": "Edited a campaign",
  "campaign.paused": "Paused a campaign",
  "campaign.resumed": "Resumed a campaign",
  "campaign.cancelled": "Cancelled a campaign",
  "program.created": "Created a program",
  "program.updated": "Edited a program",
  "program.paused": "Paused a program",
  "program.resumed": "Resumed a program",
  "program.archived": "Archived a program",
  "program.enrolled": "Enrolled someone in a program",
  "enrollment.paused": "Paused an enrolment",
  "enrollment.resumed": "Resumed an enrolment",
  "enrollment.cancelled": "Cancelled an enrolment",
  "conversation.taken_over": "Took over a conversation",
  "conversation.released": "Released a conversation",
  "conversation.replied": "Replied in a conversation",
  "memory.edited": "Edited a memory profile",
  "memory.erased": "Erased a memory profile",
  "end_user.tags_changed": "Changed tags",
  "end_user.unlinked": "Unlinked a person's channel",
  "widget_settings.updated": "Changed the coach and widget",
  "nudge_policy.updated": "Changed the send policy",
};

const when = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

function query(f: Filters) {
  // A date filter covers whole local days: from its midnight to the next day's.
  const day = (d: string, plus: number) => {
    if (!d) return undefined;
    const t = new Date(d + "T00:00:00");
    t.setDate(t.getDate() + plus);
    return t.toISOString();
  };
  const target = f.target.trim();
  return {
    action: f.action || undefined,
    actor: f.actor.trim() || undefined,
    target_id: target || undefined,
    from: day(f.from, 0),
    to: day(f.to, 1),
  };
}

export default function Audit() {
  const [filters, setFilters] = useState<Filters>(none);
  const [draft, setDraft] = useState<Filters>(none);
  // cursors[i] is the cursor of page i (page 0 has none).
  const [cursors, setCursors] = useState<string[]>([""]);
  const [entries, setEntries] = useState<Entry[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(false);
  const page = cursors.length - 1;
  const tableRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const ctl = new AbortController();
    setLoading(true);
    setError(null);
    api("get", "/api/v1/audit", { query: { ...query(filters), cursor: cursors[page] || undefined, limit: pageSize }, signal: ctl.signal })
      .then((out) => {
        setEntries(out.entries);
        setNext(out.next_cursor ?? null);
      })
      .catch((e) => {
        if (!ctl.signal.aborted) setError(e);
      })
      .finally(() => {
        if (!ctl.signal.aborted) setLoading(false);
      });
    return () => ctl.abort();
  }, [filters, cursors, page]);

  const apply = (e: FormEvent) => {
    e.preventDefault();
    if (draft.from && draft.to && draft.to < draft.from) {
      setError(new Error("The end date is before the start date: pick an end on or after the start."));
      return;
    }
    setFilters({ ...draft });
    setCursors([""]);
  };
  const clear = () => {
    setDraft(none);
    setFilters(none);
    setCursors([""]);
  };
  const filtered = JSON.stringify(filters) !== JSON.stringify(none);
  const forbidden = error instanceof ApiError && error.status === 403;

  return (
    <Page title="Audit log" actions={!forbidden && <CsvDownload filters={filters} />}>
      <p className="lead">
        Every change made in this workspace by a person or an API key: who, what, on what, when and from which address. Entries
        cannot be edited or deleted.
      </p>
      <form className="filters audit-filters" onSubmit={apply} aria-label="Filter the audit log">
        <div className="field">
          <label htmlFor="audit-action">Change</label>
          <select id="audit-action" value={draft.action} onChange={(e) => setDraft({ ...draft, action: e.target.value })}>
            {groups.map((g) => (
              <option key={g.value} value={g.value}>
                {g.label}
              </option>
            ))}
          </select>
        </div>
        <div className="field audit-who-field">
          <label htmlFor="audit-actor">Who</label>
          <input
            id="audit-actor"
            type="search"
            value={draft.actor}
            placeholder="Email or key name"
            onChange={(e) => setDraft({ ...draft, actor: e.target.value })}
          />
        </div>
        <div className="field">
          <label htmlFor="audit-target">Target id</label>
          <input id="audit-target" type="search" value={draft.target} onChange={(e) => setDraft({ ...draft, target: e.target.value })} />
        </div>
        <div className="field">
          <label htmlFor="audit-from">From</label>
          <input id="audit-from" type="date" value={draft.from} onChange={(e) => setDraft({ ...draft, from: e.target.value })} />
        </div>
        <div className="field">
          <label htmlFor="audit-to">To</label>
          <input id="audit-to" type="date" value={draft.to} onChange={(e) => setDraft({ ...draft, to: e.target.value })} />
        </div>
        <button type="submit" className="button primary">
          Apply filters
        </button>
        {(filtered || JSON.stringify(draft) !== JSON.stringify(none)) && (
          <button type="button" className="button secondary" onClick={clear}>
            Clear
          </button>
        )}
      </form>

      {error !== null && (
        <div className="form-error" role="alert">
          <p>
            {forbidden
              ? "Only the workspace's owners and admins can read the audit log. Ask one of them if you need an entry."
              : errorText(error)}
          </p>
        </div>
      )}

      <div className="panel audit" aria-busy={loading} data-state={loading ? "loading" : error ? "error" : "ready"}>
        {entries === null ? (
          <p role="status" className="page-loading">
            {error ? "" : "Loading the audit log…"}
          </p>
        ) : entries.length === 0 ? (
          <div className="empty">
            <p className="empty-title">{filtered ? "No entries match these filters" : "Nothing recorded yet"}</p>
            <p>
              {filtered
                ? "Widen the dates, pick another change or clear the filters."
                : "Changes made in the console or through the API (sign-ins, documents, campaigns, team changes…) appear here."}
            </p>
            {filtered && (
              <button type="button" className="button secondary" onClick={clear}>
                Clear the filters
              </button>
            )}
          </div>
        ) : (
          <div className="table-wrap" ref={tableRef} tabIndex={0} role="region" aria-label="Audit entries">
            <table className="docs audit-table">
              <caption className="visually-hidden">
                Audit entries, newest first, page {page + 1}
              </caption>
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Who</th>
                  <th scope="col">Change</th>
                  <th scope="col">Target</th>
                  <th scope="col">Address</th>
                </tr>
              </thead>
              <tbody>
                {entries.map((e) => (
                  <tr key={e.id} data-action={e.action}>
                    <td data-label="When">
                      <time dateTime={e.at}>{when.format(new Date(e.at))}</time>
                    </td>
                    <td data-label="Who">
                      <div>
                        <span className="audit-actor">{e.actor_label || e.actor_id || "unknown"}</span>
                        <span className="doc-sub">
                          {e.actor_type === "api_key" ? "API key" : e.actor_type === "anonymous" ? "not signed in" : "member"}
                        </span>
                      </div>
                    </td>
                    <td data-label="Change">
                      <div>
                        <span className="audit-action">{words[e.action] ?? e.action}</span>
                        <span className="doc-sub">
                          <code>{e.action}</code>
                        </span>
                        <Details details={e.details} />
                      </div>
                    </td>
                    <td data-label="Target" className="audit-target">
                      <div>
                        {e.target_type && <span>{e.target_type.replace("_", " ")}</span>}
                        {e.target_id && <span className="doc-sub">{e.target_id}</span>}
                      </div>
                    </td>
                    <td data-label="Address" className="audit-ip">
                      {e.ip || "—"}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {entries !== null && (page > 0 || next) && (
          <nav className="pager" aria-label="Audit log pages">
            <button
              type="button"
              className="button secondary"
              disabled={page === 0 || loading}
              onClick={() => setCursors((c) => c.slice(0, -1))}
            >
              Newer
            </button>
            <span className="pager-page" aria-live="polite">
              Page {page + 1}
            </span>
            <button
              type="button"
              className="button secondary"
              disabled={!next || loading}
              onClick={() => next && setCursors((c) => [...c, next])}
            >
              Older
            </button>
          </nav>
        )}
      </div>
    </Page>
  );
}

/** The entry's details as short "key: value" lines. */
function Details({ details }: { details: Entry["details"] }) {
  const items = Object.entries(details ?? {});
  if (items.length === 0) return null;
  const show = (v: unknown): string =>
    v !== null && typeof v === "object"
      ? Object.entries(v as Record<string, unknown>)
          .map(([k, x]) => `${k} ${String(x)}`)
          .join(", ")
      : String(v);
  return (
    <ul className="audit-details">
      {items.map(([k, v]) => (
        <li key={k}>
          <span className="audit-detail-key">{k.replaceAll("_", " ")}:</span> {show(v)}
        </li>
      ))}
    </ul>
  );
}

/** Downloads the filtered log as the API's CSV (fetched with the access token, then saved). */
function CsvDownload({ filters }: { filters: Filters }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const download = async () => {
    setBusy(true);
    setError("");
    try {
      const res = await authorizedFetch(buildURL("/api/v1/audit", undefined, { ...query(filters), format: "csv" }), {
        headers: { Accept: "text/csv" },
      });
      if (!res.ok) throw await errorOf(res);
      saveBlob(await res.blob(), `coachwire-audit-${new Date().toISOString().slice(0, 10)}.csv`);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <span className="csv">
      <button type="button" className="button secondary" onClick={download} disabled={busy} data-csv="audit">
        {busy ? "Preparing…" : "Download CSV"}
        <span className="visually-hidden"> of the filtered audit log</span>
      </button>
      {error && (
        <span className="error-text" role="alert">
          {error}
        </span>
      )}
    </span>
  );
}
