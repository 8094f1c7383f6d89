// The Campaigns page: /campaigns lists them (status, schedule, headline figures), /campaigns/new
// builds one, /campaigns/<id> shows one with its controls (edit, pause, resume, cancel) and its
// figures overall and per occurrence.
import { useCallback, useEffect, useRef, useState } from "react";
import { api, errorText, ApiError } from "../../api/client";
import { usePermissions } from "../../api/perms";
import { Link, navigate } from "../../router";
import { ConfirmDialog, type ConfirmRequest } from "../../ui/Confirm";
import { Page } from "../../ui/Page";
import { Builder, PreviewTable, type Policy, type PreviewState, type ProgramRef } from "./Builder";
import {
  browserZone,
  describeAudience,
  describeContent,
  describeSchedule,
  draftOf,
  emptyDraft,
  formatInstant,
  occurrenceStatusLabel,
  reasonLabel,
  statusLabel,
  type Campaign,
  type CampaignDetail,
  type CampaignStats,
  type Status,
} from "./model";

/** The workspace's time zone and quiet hours (the send policy), and its programs, for the builder. */
function useBuilderContext(): { policy: Policy | null; programs: ProgramRef[] } {
  const [policy, setPolicy] = useState<Policy | null>(null);
  const [programs, setPrograms] = useState<ProgramRef[]>([]);
  useEffect(() => {
    const ctl = new AbortController();
    api("get", "/api/v1/nudge-policy", { signal: ctl.signal })
      .then((p) => setPolicy({ zone: p.timezone || "UTC", quietStart: p.quiet_start, quietEnd: p.quiet_end, own: true }))
      .catch(() => {
        if (!ctl.signal.aborted) setPolicy({ zone: browserZone(), quietStart: "", quietEnd: "", own: false });
      });
    api("get", "/api/v1/programs", { signal: ctl.signal })
      .then((r) => setPrograms(r.programs.map((p) => ({ id: p.id, name: p.name }))))
      .catch(() => undefined); // the program filter then lists none
    return () => ctl.abort();
  }, []);
  return { policy, programs };
}

/**
 * Whether the signed-in member may create and change campaigns (`campaigns.write`): a viewer
 * reads campaigns and their results only (api/perms.ts, kept current across role changes and
 * workspace switches). Unknown (null) until the permissions are read. The API checks anyway.
 */
function useCanWrite(): boolean | null {
  const s = usePermissions();
  return s.status === "ready" ? s.perms.has("campaigns.write") : null;
}

const readOnlyNote = "Your role can read campaigns and their results; creating and changing them needs the editor role.";

export default function Campaigns({ path }: { path: string }) {
  const canWrite = useCanWrite();
  const rest = path.replace(/^\/campaigns\/?/, "");
  if (rest === "") return <CampaignList canWrite={canWrite} />;
  if (rest === "new") return <NewCampaign canWrite={canWrite} />;
  return <CampaignPage id={rest} canWrite={canWrite} />;
}

const statuses: { value: "" | Status; label: string }[] = [
  { value: "", label: "All statuses" },
  { value: "active", label: "Active" },
  { value: "paused", label: "Paused" },
  { value: "completed", label: "Completed" },
  { value: "cancelled", label: "Cancelled" },
];

function StatusBadge({ status }: { status: Status }) {
  return <span className={"badge campaign-" + status}>{statusLabel[status] ?? status}</span>;
}

function CampaignList({ canWrite }: { canWrite: boolean | null }) {
  const [status, setStatus] = useState<"" | Status>("");
  const [load, setLoad] = useState<{ state: "loading" } | { state: "ready"; list: Campaign[] } | { state: "error"; error: string }>({ state: "loading" });
  const [attempt, setAttempt] = useState(0);
  const [zone, setZone] = useState(browserZone());
  useEffect(() => {
    const ctl = new AbortController();
    setLoad({ state: "loading" });
    api("get", "/api/v1/campaigns", { query: { status: status || undefined }, signal: ctl.signal })
      .then((r) => setLoad({ state: "ready", list: r.campaigns }))
      .catch((e) => {
        if (!ctl.signal.aborted) setLoad({ state: "error", error: errorText(e) });
      });
    return () => ctl.abort();
  }, [status, attempt]);
  useEffect(() => {
    api("get", "/api/v1/nudge-policy")
      .then((p) => setZone(p.timezone || "UTC"))
      .catch(() => undefined);
  }, []);

  return (
    <Page
      title="Campaigns"
      actions={
        canWrite ? (
          <Link className="button primary" to="/campaigns/new">
            New campaign
          </Link>
        ) : undefined
      }
    >
      <p className="lead">Messages you send first: to an audience, once or on a schedule, each person decided by your send policy.</p>
      {canWrite === false && <p className="hint read-only">{readOnlyNote}</p>}
      <section className="panel" aria-labelledby="campaign-list-title">
        <div className="panel-head">
          <h2 id="campaign-list-title">Your campaigns</h2>
          <div className="field inline-field">
            <label htmlFor="campaign-status">Status</label>
            <select id="campaign-status" value={status} onChange={(e) => setStatus(e.target.value as "" | Status)}>
              {statuses.map((s) => (
                <option key={s.value} value={s.value}>
                  {s.label}
                </option>
              ))}
            </select>
          </div>
        </div>
        {load.state === "loading" && (
          <p className="page-loading" role="status">
            Loading campaigns…
          </p>
        )}
        {load.state === "error" && (
          <div className="form-error" role="alert">
            <p>Could not load your campaigns: {load.error}</p>
            <button type="button" className="button secondary small" onClick={() => setAttempt((a) => a + 1)}>
              Try again
            </button>
          </div>
        )}
        {load.state === "ready" && load.list.length === 0 && (
          <div className="empty" data-empty="true">
            <p className="empty-title">{status ? `No ${statusLabel[status].toLowerCase()} campaigns.` : "No campaigns yet."}</p>
            <p>
              A campaign reaches the people you choose with a message, once or on a schedule.
              {canWrite === false ? " " + readOnlyNote : " Start with “New campaign”."}
            </p>
          </div>
        )}
        {load.state === "ready" && load.list.length > 0 && (
          <div className="table-wrap">
            <table className="docs campaign-list">
              <caption className="visually-hidden">Campaigns, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Campaign</th>
                  <th scope="col">Status</th>
                  <th scope="col" className="num">
                    Sent
                  </th>
                  <th scope="col" className="num">
                    Delivered
                  </th>
                  <th scope="col" className="num">
                    Replied
                  </th>
                  <th scope="col" className="num">
                    Skipped
                  </th>
                  <th scope="col" className="num">
                    Failed
                  </th>
                </tr>
              </thead>
              <tbody>
                {load.list.map((c) => (
                  <tr key={c.id} data-campaign={c.id}>
                    <th scope="row" className="doc-title">
                      <Link to={"/campaigns/" + c.id} className="title-text">
                        {c.name}
                      </Link>
                      <span className="doc-sub">{describeSchedule(c.schedule, zone)}</span>
                    </th>
                    <td data-label="Status">
                      <StatusBadge status={c.status} />
                    </td>
                    <td data-label="Sent" className="num">
                      {c.headline?.sent ?? 0}
                    </td>
                    <td data-label="Delivered" className="num">
                      {c.headline?.delivered ?? 0}
                    </td>
                    <td data-label="Replied" className="num">
                      {c.headline?.replied ?? 0}
                    </td>
                    <td data-label="Skipped" className="num">
                      {c.headline?.skipped ?? 0}
                    </td>
                    <td data-label="Failed" className="num">
                      {c.headline?.failed ?? 0}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </Page>
  );
}

function NewCampaign({ canWrite }: { canWrite: boolean | null }) {
  const { policy, programs } = useBuilderContext();
  return (
    <Page title="New campaign">
      <p>
        <Link to="/campaigns">← All campaigns</Link>
      </p>
      {canWrite === false ? (
        <p className="form-error" role="alert">
          {readOnlyNote}
        </p>
      ) : !policy ? (
        <p className="page-loading" role="status">
          Loading…
        </p>
      ) : (
        <Builder
          initial={emptyDraft(policy.zone)}
          policy={policy}
          programs={programs}
          onSaved={(id) => navigate("/campaigns/" + id + "?created=1")}
          onCancel={() => navigate("/campaigns")}
        />
      )}
    </Page>
  );
}

type Loaded<T> = { state: "loading"; data?: T } | { state: "ready"; data: T } | { state: "error"; error: string; status: number; data?: T };

function CampaignPage({ id, canWrite }: { id: string; canWrite: boolean | null }) {
  const { policy, programs } = useBuilderContext();
  const [camp, setCamp] = useState<Loaded<CampaignDetail>>({ state: "loading" });
  const [stats, setStats] = useState<Loaded<CampaignStats>>({ state: "loading" });
  const [attempt, setAttempt] = useState(0);
  const [editing, setEditing] = useState(false);
  const [confirm, setConfirm] = useState<ConfirmRequest | null>(null);
  const [notice, setNotice] = useState(() => (new URLSearchParams(window.location.search).get("created") ? "Campaign created." : ""));
  const [actionError, setActionError] = useState("");
  const [busy, setBusy] = useState(false);
  const actionsRef = useRef<HTMLDivElement>(null);

  const reload = useCallback(() => setAttempt((a) => a + 1), []);
  useEffect(() => {
    const ctl = new AbortController();
    setCamp((c) => ({ state: "loading", data: c.data }));
    setStats((s) => ({ state: "loading", data: s.data }));
    api("get", "/api/v1/campaigns/{id}", { path: { id }, signal: ctl.signal })
      .then((data) => setCamp({ state: "ready", data }))
      .catch((e) => {
        if (!ctl.signal.aborted) setCamp((c) => ({ state: "error", error: errorText(e), status: e instanceof ApiError ? e.status : 0, data: c.data }));
      });
    api("get", "/api/v1/campaigns/{id}/stats", { path: { id }, signal: ctl.signal })
      .then((data) => setStats({ state: "ready", data }))
      .catch((e) => {
        if (!ctl.signal.aborted) setStats((s) => ({ state: "error", error: errorText(e), status: e instanceof ApiError ? e.status : 0, data: s.data }));
      });
    return () => ctl.abort();
  }, [id, attempt]);

  const c = camp.data;
  const zone = policy?.zone ?? browserZone();
  const programName = (pid: string) => programs.find((p) => p.id === pid)?.name ?? "a program";

  if (camp.state === "error" && !c) {
    const missing = camp.status === 404 || camp.status === 400;
    return (
      <Page title={missing ? "Campaign not found" : "Campaign"}>
        <div className="form-error" role="alert">
          <p>{missing ? "There is no such campaign in this workspace. It may belong to another workspace." : `Could not load the campaign: ${camp.error}`}</p>
          {!missing && (
            <button type="button" className="button secondary small" onClick={reload}>
              Try again
            </button>
          )}
        </div>
        <p>
          <Link to="/campaigns">← All campaigns</Link>
        </p>
      </Page>
    );
  }
  if (!c) {
    return (
      <Page title="Campaign">
        <p className="page-loading" role="status">
          Loading the campaign…
        </p>
      </Page>
    );
  }

  const act = (to: "pause" | "resume" | "cancel") => {
    const words = {
      pause: {
        title: `Pause “${c.name}”?`,
        message: "Nothing more is sent until you resume it. People already waiting (held) stay held and are decided again on resume.",
        confirm: "Pause campaign",
        done: "Campaign paused.",
      },
      resume: {
        title: `Resume “${c.name}”?`,
        message: "Sending goes on: people held because of the pause are decided again at once, and the schedule continues.",
        confirm: "Resume campaign",
        done: "Campaign resumed.",
      },
      cancel: {
        title: `Cancel “${c.name}” for good?`,
        message: "Every future occurrence is cancelled and people not decided yet are skipped. A cancelled campaign cannot be resumed or edited.",
        confirm: "Cancel campaign",
        done: "Campaign cancelled.",
      },
    }[to];
    setConfirm({
      title: words.title,
      message: words.message,
      confirm: words.confirm,
      danger: to === "cancel",
      onConfirm: async () => {
        setBusy(true);
        setActionError("");
        setNotice("");
        try {
          if (to === "pause") await api("post", "/api/v1/campaigns/{id}/pause", { path: { id } });
          else if (to === "resume") await api("post", "/api/v1/campaigns/{id}/resume", { path: { id } });
          else await api("post", "/api/v1/campaigns/{id}/cancel", { path: { id } });
          setNotice(words.done);
          reload();
        } catch (e) {
          setActionError(
            e instanceof ApiError && e.status === 403 ? "Your role cannot change campaigns. Ask an owner or admin for the editor role." : errorText(e),
          );
        } finally {
          setBusy(false);
          actionsRef.current?.querySelector<HTMLElement>("button")?.focus();
        }
      },
    });
  };

  const editable = !!canWrite && (c.status === "active" || c.status === "paused");
  // A completed campaign whose last send still holds people (quiet hours, their local time)
  // can still be paused or cancelled for them.
  const holding = !!canWrite && c.status === "completed" && (stats.data?.held ?? 0) > 0;
  return (
    <Page
      title={c.name}
      actions={
        <div className="page-actions campaign-actions" ref={actionsRef}>
          {editable && !editing && (
            <button type="button" className="button secondary" onClick={() => setEditing(true)}>
              Edit
            </button>
          )}
          {(editable || holding) && c.status !== "paused" && (
            <button type="button" className="button secondary" onClick={() => act("pause")} disabled={busy}>
              Pause
            </button>
          )}
          {editable && c.status === "paused" && (
            <button type="button" className="button primary" onClick={() => act("resume")} disabled={busy}>
              Resume
            </button>
          )}
          {(editable || holding) && (
            <button type="button" className="button danger-outline" onClick={() => act("cancel")} disabled={busy}>
              Cancel campaign
            </button>
          )}
        </div>
      }
    >
      <p>
        <Link to="/campaigns">← All campaigns</Link>
      </p>
      {canWrite === false && <p className="hint read-only">{readOnlyNote}</p>}
      {notice && (
        <p className="notice" role="status" id="campaign-notice">
          {notice}
        </p>
      )}
      {actionError && (
        <div className="form-error" role="alert">
          <p>{actionError}</p>
        </div>
      )}
      {camp.state === "error" && (
        <div className="form-error" role="alert">
          <p>Could not refresh the campaign: {camp.error}</p>
        </div>
      )}
      {editing && policy ? (
        <Builder
          initial={draftOf(c, zone)}
          campaignId={c.id}
          policy={policy}
          programs={programs}
          onSaved={() => {
            setEditing(false);
            setNotice("Changes saved. Occurrences not started yet follow the new schedule.");
            reload();
          }}
          onCancel={() => setEditing(false)}
        />
      ) : (
        <section className="panel" aria-labelledby="campaign-summary-title">
          <h2 id="campaign-summary-title" className="visually-hidden">
            Summary
          </h2>
          <dl className="summary">
            <div>
              <dt>Status</dt>
              <dd>
                <span id="campaign-status-badge">
                  <StatusBadge status={c.status} />
                </span>
                {c.status === "paused" && <span className="hint"> Nothing is sent until you resume it.</span>}
              </dd>
            </div>
            <div>
              <dt>Next send</dt>
              <dd>{c.next_occurrence && c.status === "active" ? formatInstant(c.next_occurrence, zone) : c.status === "paused" && c.next_occurrence ? "Waiting (paused)" : "None"}</dd>
            </div>
            <div>
              <dt>Schedule</dt>
              <dd>{describeSchedule(c.schedule, zone)}</dd>
            </div>
            <div>
              <dt>Audience</dt>
              <dd>{describeAudience(c.audience, programName)}</dd>
            </div>
            <div>
              <dt>Message</dt>
              <dd className="summary-message">{describeContent(c.content)}</dd>
            </div>
          </dl>
        </section>
      )}
      {!editing && (c.status === "active" || c.status === "paused") && <NextSendPreview id={c.id} zone={zone} />}
      <StatsPanel stats={stats} zone={zone} onRefresh={reload} />
      <ConfirmDialog request={confirm} onClose={() => setConfirm(null)} />
    </Page>
  );
}

function Figure({ label, value, hint }: { label: string; value: number; hint?: string }) {
  return (
    <div className="stat" data-stat={label}>
      <dt>{label}</dt>
      <dd>
        <span className="stat-value">{value}</span>
        {hint && <span className="stat-hint">{hint}</span>}
      </dd>
    </div>
  );
}

const reasons = (m: Record<string, number> | undefined) =>
  Object.entries(m ?? {})
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1]);

function StatsPanel({
  stats,
  zone,
  onRefresh,
}: {
  stats: Loaded<CampaignStats>;
  zone: string;
  onRefresh: () => void;
}) {
  const s = stats.data;
  return (
    <section className="panel" aria-labelledby="stats-title" id="campaign-stats" aria-busy={stats.state === "loading"} data-state={stats.state}>
      <div className="panel-head">
        <h2 id="stats-title">Results</h2>
        <button type="button" className="button secondary small" onClick={onRefresh} disabled={stats.state === "loading"}>
          Refresh
        </button>
      </div>
      {stats.state === "error" && (
        <div className="form-error" role="alert">
          <p>Could not load the results: {stats.error}</p>
        </div>
      )}
      {!s && stats.state === "loading" && (
        <p className="page-loading" role="status">
          Loading results…
        </p>
      )}
      {s && (
        <>
          {s.targeted === 0 && s.sent + s.held + s.skipped === 0 && (
            <p className="empty" data-empty="true">
              Nothing sent yet. Results appear here after the first send.
            </p>
          )}
          <dl className="stats">
            <Figure label="Targeted" value={s.targeted} hint="people in the audience at each send" />
            <Figure label="Sent" value={s.sent} />
            <Figure label="Delivered" value={s.delivered} hint="WhatsApp receipts" />
            <Figure label="Read" value={s.read} hint="WhatsApp receipts" />
            <Figure label="Replied" value={s.replied} />
            <Figure label="Opted out" value={s.opted_out_after} hint="after the message" />
            <Figure label="Failed" value={s.failed} />
            <Figure label="Held" value={s.held} hint="waiting: quiet hours, live chat…" />
            <Figure label="Skipped" value={s.skipped} />
          </dl>
          <div className="reason-lists">
            <ReasonList title="Skipped, by reason" items={reasons(s.skipped_by_reason)} id="skipped-reasons" empty="Nobody skipped." />
            <ReasonList title="Failed, by error" items={reasons(s.failed_by_code)} id="failed-reasons" empty="No failures." />
          </div>
          <h3 className="subhead">Each send</h3>
          {s.occurrences.length === 0 ? (
            <p className="empty">No send scheduled.</p>
          ) : (
            <div className="table-wrap" role="region" aria-labelledby="occ-caption" tabIndex={0}>
              <table className="data occurrences">
                <caption id="occ-caption" className="data-caption">
                  Each send of this campaign, newest first
                </caption>
                <thead>
                  <tr>
                    <th scope="col">When</th>
                    <th scope="col">State</th>
                    <th scope="col" className="num">
                      Targeted
                    </th>
                    <th scope="col" className="num">
                      Sent
                    </th>
                    <th scope="col" className="num">
                      Delivered
                    </th>
                    <th scope="col" className="num">
                      Read
                    </th>
                    <th scope="col" className="num">
                      Replied
                    </th>
                    <th scope="col" className="num">
                      Opted out
                    </th>
                    <th scope="col" className="num">
                      Held
                    </th>
                    <th scope="col">Skipped</th>
                    <th scope="col">Failed</th>
                  </tr>
                </thead>
                <tbody>
                  {s.occurrences.map((o) => (
                    <tr key={o.id} data-occurrence={o.id}>
                      <th scope="row">{formatInstant(o.scheduled_at, zone)}</th>
                      <td>{occurrenceStatusLabel[o.status] ?? o.status}</td>
                      <td className="num">{o.targeted}</td>
                      <td className="num">{o.sent}</td>
                      <td className="num">{o.delivered}</td>
                      <td className="num">{o.read}</td>
                      <td className="num">{o.replied}</td>
                      <td className="num">{o.opted_out_after}</td>
                      <td className="num">{o.held}</td>
                      <td>
                        {o.skipped}
                        {reasons(o.skipped_by_reason).map(([r, n]) => (
                          <span key={r} className="doc-sub">
                            {n} · {reasonLabel(r)}
                          </span>
                        ))}
                      </td>
                      <td>
                        {o.failed}
                        {reasons(o.failed_by_code).map(([r, n]) => (
                          <span key={r} className="doc-sub">
                            {n} · {r || "unknown"}
                          </span>
                        ))}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </section>
  );
}

function ReasonList({ title, items, id, empty }: { title: string; items: [string, number][]; id: string; empty: string }) {
  return (
    <div className="reason-list" id={id}>
      <h3 className="subhead">{title}</h3>
      {items.length === 0 ? (
        <p className="hint">{empty}</p>
      ) : (
        <ul>
          {items.map(([r, n]) => (
            <li key={r} data-reason={r}>
              <strong>{n}</strong> {reasonLabel(r || "unknown")}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** The dry run of a saved campaign's next send (POST /campaigns/{id}/preview): readers may run it. */
function NextSendPreview({ id, zone }: { id: string; zone: string }) {
  const [preview, setPreview] = useState<PreviewState>({ state: "idle" });
  const run = async (after?: string) => {
    const rows = after && preview.state === "ready" ? preview.rows : [];
    setPreview({ state: "loading", rows });
    try {
      const r = await api("post", "/api/v1/campaigns/{id}/preview", { path: { id }, query: { limit: 50, after } });
      setPreview({ state: "ready", at: r.at, rows: [...rows, ...r.recipients], next: r.next_after ?? null, key: id });
    } catch (e) {
      setPreview({ state: "error", error: errorText(e) });
    }
  };
  return (
    <section className="panel" aria-labelledby="next-preview-title" id="next-preview">
      <div className="panel-head">
        <h2 id="next-preview-title">Next send, previewed</h2>
        <button type="button" className="button secondary" onClick={() => void run()} disabled={preview.state === "loading"}>
          {preview.state === "ready" ? "Preview again" : "Preview recipients"}
        </button>
      </div>
      <p className="hint">Who the next send would reach with today's audience, and who would be held or skipped and why. Nothing is sent.</p>
      <PreviewTable preview={preview} stale={false} onMore={(after) => void run(after)} zone={zone} />
    </section>
  );
}
