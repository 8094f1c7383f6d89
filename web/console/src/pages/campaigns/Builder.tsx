// The campaign builder: audience (the API's filters, with the live count), message, schedule
// (once, recurring, at each recipient's local time), the dry-run preview per recipient, and
// create / save. Every field is a labelled native control, so the whole form works from the
// keyboard; errors are said next to the field or in an alert that says what to do.
import { useEffect, useId, useMemo, useRef, useState, type ReactNode } from "react";
import { api, errorText, ApiError } from "../../api/client";
import {
  audienceOf,
  audienceProblems,
  campaignOf,
  channels,
  formatInstant,
  isEveryone,
  reasonLabel,
  outcomeLabel,
  channelLabel,
  timeZones,
  variables,
  weekdays,
  zonedToInstant,
  type Decision,
  type Draft,
  type Repeat,
  type ScheduleMode,
} from "./model";

export interface Policy {
  zone: string;
  quietStart: string;
  quietEnd: string;
  own: boolean; // read from the workspace's send policy (else the browser's zone, no quiet hours known)
}

export interface ProgramRef {
  id: string;
  name: string;
}

/** A labelled input with its hint and error. */
function Field({
  id,
  label,
  hint,
  error,
  children,
}: {
  id: string;
  label: string;
  hint?: ReactNode;
  error?: string;
  children: (describedBy: string | undefined, invalid: boolean) => ReactNode;
}) {
  const ids = [hint ? id + "-hint" : "", error ? id + "-error" : ""].filter(Boolean).join(" ") || undefined;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children(ids, !!error)}
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

function Segments<T extends string>({
  legend,
  name,
  value,
  options,
  onChange,
}: {
  legend: string;
  name: string;
  value: T;
  options: { value: T; label: string }[];
  onChange: (v: T) => void;
}) {
  return (
    <fieldset className="field segmented">
      <legend>{legend}</legend>
      <div className="segments">
        {options.map((o) => (
          <label key={o.value} className={value === o.value ? "segment checked" : "segment"}>
            <input type="radio" name={name} value={o.value} checked={value === o.value} onChange={() => onChange(o.value)} />
            {o.label}
          </label>
        ))}
      </div>
    </fieldset>
  );
}

type Count = { state: "idle" | "loading" } | { state: "ready"; count: number; optedOut: number } | { state: "error"; error: string };

/** The audience's live count, asked again 400 ms after the filters stop changing. */
function useAudienceCount(draft: Draft, valid: boolean): Count {
  const key = JSON.stringify(audienceOf(draft));
  const [count, setCount] = useState<Count>({ state: "idle" });
  useEffect(() => {
    if (!valid) {
      setCount({ state: "idle" });
      return;
    }
    const ctl = new AbortController();
    setCount((c) => (c.state === "ready" ? c : { state: "loading" }));
    const timer = window.setTimeout(() => {
      api("post", "/api/v1/campaigns/audience-count", { body: { audience: JSON.parse(key) }, signal: ctl.signal })
        .then((r) => setCount({ state: "ready", count: r.count, optedOut: r.opted_out }))
        .catch((e) => {
          if (!ctl.signal.aborted) setCount({ state: "error", error: errorText(e) });
        });
    }, 400);
    return () => {
      window.clearTimeout(timer);
      ctl.abort();
    };
  }, [key, valid]);
  return count;
}

export type PreviewState =
  | { state: "idle" }
  | { state: "loading"; rows: Decision[] }
  | { state: "ready"; at: string; rows: Decision[]; next: string | null; key: string }
  | { state: "error"; error: string };

export function Builder({
  initial,
  campaignId,
  policy,
  programs,
  onSaved,
  onCancel,
}: {
  initial: Draft;
  campaignId?: string;
  policy: Policy;
  programs: ProgramRef[];
  onSaved: (id: string) => void;
  onCancel?: () => void;
}) {
  const [d, setD] = useState<Draft>(initial);
  const [saving, setSaving] = useState(false);
  const [saveError, setSaveError] = useState("");
  const [nameError, setNameError] = useState("");
  const [preview, setPreview] = useState<PreviewState>({ state: "idle" });
  const errorRef = useRef<HTMLDivElement>(null);
  const previewHead = useRef<HTMLHeadingElement>(null);
  const uid = useId();

  const problems = audienceProblems(d);
  const audienceValid = Object.keys(problems).length === 0;
  const count = useAudienceCount(d, audienceValid);
  const zones = useMemo(() => timeZones([policy.zone, d.schedule.zone]), [policy.zone, d.schedule.zone]);
  const draftKey = JSON.stringify(campaignOf(d));
  const stale = preview.state === "ready" && preview.key !== draftKey;

  const set = <K extends keyof Draft>(k: K, v: Partial<Draft[K]>) => setD((x) => ({ ...x, [k]: { ...(x[k] as object), ...v } }));

  const runPreview = async (after?: string) => {
    const key = draftKey;
    const rows = after && preview.state === "ready" ? preview.rows : [];
    setPreview({ state: "loading", rows });
    try {
      const body = JSON.parse(key);
      const r = await api("post", "/api/v1/campaigns/preview", { body, query: { limit: 50, after } });
      setPreview({ state: "ready", at: r.at, rows: [...rows, ...r.recipients], next: r.next_after ?? null, key });
      if (!after) previewHead.current?.focus();
    } catch (e) {
      setPreview({ state: "error", error: errorText(e) });
    }
  };

  const save = async () => {
    setSaveError("");
    if (!d.name.trim()) {
      setNameError("Give the campaign a name (only you and your team see it).");
      document.getElementById("camp-name")?.focus();
      return;
    }
    setNameError("");
    setSaving(true);
    try {
      const body = campaignOf(d);
      const c = campaignId
        ? await api("patch", "/api/v1/campaigns/{id}", { path: { id: campaignId }, body })
        : await api("post", "/api/v1/campaigns", { body });
      onSaved(c.id);
    } catch (e) {
      let msg = errorText(e);
      if (e instanceof ApiError && e.status === 403) msg = "Your role cannot create or edit campaigns. Ask an owner or admin for the editor role.";
      setSaveError(msg);
      setSaving(false);
      window.setTimeout(() => errorRef.current?.focus(), 0);
    }
  };

  const sched = d.schedule;
  const onceAt = sched.mode === "once" ? zonedToInstant(sched.date, sched.time, sched.zone) : "";
  const timeError =
    sched.mode === "once" && (!onceAt || Date.parse(onceAt) < Date.now() - 60_000) ? "This date and time has passed: pick one in the future." : "";
  const quiet =
    policy.own && policy.quietStart !== policy.quietEnd
      ? `Quiet hours are ${policy.quietStart}–${policy.quietEnd} in each recipient's own time zone (your send policy). Anyone for whom it is quiet-hours time is held and gets the message when their quiet hours end — it is never sent during quiet hours, and never lost.`
      : policy.own
        ? "Your send policy has no quiet hours: messages go out at the scheduled time."
        : "Quiet hours from your send policy apply in each recipient's own time zone: someone in their quiet hours gets the message when those end.";

  return (
    <form
      className="builder"
      aria-labelledby={uid + "-title"}
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        void save();
      }}
    >
      <h2 id={uid + "-title"} className="visually-hidden">
        {campaignId ? "Edit the campaign" : "New campaign"}
      </h2>
      <div className="panel">
        <Field id="camp-name" label="Campaign name" error={nameError} hint="For you and your team; recipients never see it.">
          {(desc, invalid) => (
            <input
              id="camp-name"
              type="text"
              maxLength={200}
              value={d.name}
              aria-invalid={invalid || undefined}
              aria-describedby={desc}
              onChange={(e) => setD({ ...d, name: e.target.value })}
            />
          )}
        </Field>
      </div>

      <fieldset className="panel builder-part">
        <legend>
          <span className="part-title">1. Audience</span>
        </legend>
        <p className="hint">Who gets it. Every filter you fill must match; leave all empty to reach everyone.</p>
        <div className="builder-grid">
          <Field id="aud-channel" label="Channel">
            {() => (
              <select id="aud-channel" value={d.audience.channel} onChange={(e) => set("audience", { channel: e.target.value as Draft["audience"]["channel"] })}>
                {channels.map((c) => (
                  <option key={c.value} value={c.value}>
                    {c.label}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field id="aud-tags" label="Has all of these tags" hint="Comma-separated, e.g. cohort-3, vip" error={problems.tags}>
            {(desc, invalid) => (
              <input id="aud-tags" type="text" value={d.audience.tags} aria-describedby={desc} aria-invalid={invalid || undefined} onChange={(e) => set("audience", { tags: e.target.value })} />
            )}
          </Field>
          <Field id="aud-any" label="Has at least one of these tags" hint="Comma-separated" error={problems.anyTags}>
            {(desc, invalid) => (
              <input id="aud-any" type="text" value={d.audience.anyTags} aria-describedby={desc} aria-invalid={invalid || undefined} onChange={(e) => set("audience", { anyTags: e.target.value })} />
            )}
          </Field>
          <Field id="aud-exclude" label="Has none of these tags" hint="Comma-separated" error={problems.excludeTags}>
            {(desc, invalid) => (
              <input
                id="aud-exclude"
                type="text"
                value={d.audience.excludeTags}
                aria-describedby={desc}
                aria-invalid={invalid || undefined}
                onChange={(e) => set("audience", { excludeTags: e.target.value })}
              />
            )}
          </Field>
          <Field id="aud-active" label="Active in the last … days" hint="Wrote or visited within that many days" error={problems.activeWithinDays}>
            {(desc, invalid) => (
              <input
                id="aud-active"
                type="text"
                inputMode="numeric"
                value={d.audience.activeWithinDays}
                aria-describedby={desc}
                aria-invalid={invalid || undefined}
                onChange={(e) => set("audience", { activeWithinDays: e.target.value })}
              />
            )}
          </Field>
          <Field id="aud-inactive" label="Inactive for at least … days" hint="Not seen for that many days" error={problems.inactiveDays}>
            {(desc, invalid) => (
              <input
                id="aud-inactive"
                type="text"
                inputMode="numeric"
                value={d.audience.inactiveDays}
                aria-describedby={desc}
                aria-invalid={invalid || undefined}
                onChange={(e) => set("audience", { inactiveDays: e.target.value })}
              />
            )}
          </Field>
          <Field id="aud-joined" label="Joined after" hint={`A date, in ${d.schedule.zone || "UTC"}`}>
            {(desc) => <input id="aud-joined" type="date" value={d.audience.joinedAfter} aria-describedby={desc} onChange={(e) => set("audience", { joinedAfter: e.target.value })} />}
          </Field>
          <Field id="aud-program" label="Enrolled in program">
            {() => (
              <select id="aud-program" value={d.audience.programId} onChange={(e) => set("audience", { programId: e.target.value })}>
                <option value="">Any (no program filter)</option>
                {programs.map((p) => (
                  <option key={p.id} value={p.id}>
                    {p.name}
                  </option>
                ))}
              </select>
            )}
          </Field>
        </div>
        <div className="audience-count" data-state={count.state} aria-live="polite" aria-atomic="true" id="audience-count">
          {count.state === "ready" && (
            <p>
              <strong className="count-value">{count.count}</strong> {count.count === 1 ? "person matches" : "people match"}{" "}
              {isEveryone(d) ? "(no filter: everyone)" : "now"}
              {count.optedOut > 0 && (
                <>
                  {" "}
                  · <span className="count-opted">{count.optedOut} opted out</span> (they will be skipped)
                </>
              )}
              .
            </p>
          )}
          {count.state === "loading" && <p>Counting…</p>}
          {count.state === "idle" && !audienceValid && <p>Fix the filters above to see how many people match.</p>}
          {count.state === "error" && <p className="error-text">Could not count the audience: {count.error}</p>}
        </div>
      </fieldset>

      <fieldset className="panel builder-part">
        <legend>
          <span className="part-title">2. Message</span>
        </legend>
        <Segments
          legend="Kind of message"
          name="msg-kind"
          value={d.content.kind}
          options={[
            { value: "text", label: "Fixed text" },
            { value: "ai", label: "AI-written" },
          ]}
          onChange={(kind) => set("content", { kind })}
        />
        {d.content.kind === "text" ? (
          <Field
            id="msg-text"
            label="Text"
            hint={
              <>
                Everyone gets this text. Variables: {variables.map((v) => `{{${v}}}`).join(", ")}; e.g. <code>Hi {"{{first_name}}"}</code>.
              </>
            }
          >
            {(desc) => (
              <textarea id="msg-text" rows={4} maxLength={4096} value={d.content.text} aria-describedby={desc} onChange={(e) => set("content", { text: e.target.value })} />
            )}
          </Field>
        ) : (
          <>
            <Field id="msg-brief" label="Brief for the AI" hint="Each person's message is written from this, their memory profile, recent conversation and your knowledge.">
              {(desc) => (
                <textarea id="msg-brief" rows={4} maxLength={4096} value={d.content.brief} aria-describedby={desc} onChange={(e) => set("content", { brief: e.target.value })} />
              )}
            </Field>
            <Field id="msg-fallback" label="Fallback text (optional)" hint="Sent when no AI model can write the message; without it such a message fails.">
              {(desc) => (
                <textarea id="msg-fallback" rows={2} maxLength={4096} value={d.content.fallback} aria-describedby={desc} onChange={(e) => set("content", { fallback: e.target.value })} />
              )}
            </Field>
          </>
        )}
        <div className="check">
          <input id="msg-template" type="checkbox" checked={d.content.useTemplate} onChange={(e) => set("content", { useTemplate: e.target.checked })} aria-describedby="msg-template-hint" />
          <label htmlFor="msg-template">Use an approved WhatsApp template outside the 24-hour window</label>
        </div>
        <p className="hint" id="msg-template-hint">
          WhatsApp only lets you write first with an approved template. Without one here, your channel's default template is used, or the person is skipped.
        </p>
        {d.content.useTemplate && (
          <div className="builder-grid">
            <Field id="tpl-name" label="Template name" hint="As approved by Meta: lower case, digits, underscores">
              {(desc) => <input id="tpl-name" type="text" value={d.content.templateName} aria-describedby={desc} onChange={(e) => set("content", { templateName: e.target.value })} />}
            </Field>
            <Field id="tpl-lang" label="Template language" hint="e.g. en or en_US">
              {(desc) => <input id="tpl-lang" type="text" value={d.content.templateLanguage} aria-describedby={desc} onChange={(e) => set("content", { templateLanguage: e.target.value })} />}
            </Field>
            <Field id="tpl-params" label="Parameters, one per line" hint="The values of {{1}}, {{2}}, … in order; variables allowed">
              {(desc) => (
                <textarea id="tpl-params" rows={3} value={d.content.templateParams} aria-describedby={desc} onChange={(e) => set("content", { templateParams: e.target.value })} />
              )}
            </Field>
          </div>
        )}
      </fieldset>

      <fieldset className="panel builder-part">
        <legend>
          <span className="part-title">3. Schedule</span>
        </legend>
        <Segments<ScheduleMode>
          legend="When"
          name="sched-mode"
          value={sched.mode}
          options={[
            { value: "once", label: "Once" },
            { value: "recurring", label: "Recurring" },
            { value: "local", label: "Recipient's local time" },
            ...(sched.mode === "cron" ? [{ value: "cron" as const, label: "Cron" }] : []),
          ]}
          onChange={(mode) => set("schedule", { mode, repeat: mode === "local" ? "none" : sched.repeat === "none" ? "weekly" : sched.repeat })}
        />
        <p className="hint schedule-explain" id="sched-explain">
          {sched.mode === "once" && "Sent once, at this date and time in the time zone you pick."}
          {sched.mode === "recurring" && "Sent again and again at this time in the time zone you pick, from the first date on."}
          {sched.mode === "cron" && "A cron expression (5 fields) in the time zone you pick."}
          {sched.mode === "local" &&
            `Each person gets it at this time on their own clock: their time zone if known, else your workspace's (${policy.zone}), else UTC. Someone in Tokyo gets it hours before someone in Paris.`}
        </p>
        <div className="builder-grid">
          {sched.mode !== "local" && (
            <Field id="sched-zone" label="Time zone">
              {() => (
                <select id="sched-zone" value={sched.zone} onChange={(e) => set("schedule", { zone: e.target.value })}>
                  {zones.map((z) => (
                    <option key={z} value={z}>
                      {z}
                    </option>
                  ))}
                </select>
              )}
            </Field>
          )}
          {sched.mode !== "cron" && (
            <>
              <Field id="sched-date" label={sched.mode === "once" ? "Date" : "First date"}>
                {() => (
                  <input
                    id="sched-date"
                    type="date"
                    value={sched.date}
                    aria-invalid={timeError ? true : undefined}
                    aria-describedby={timeError ? "sched-time-error" : undefined}
                    onChange={(e) => set("schedule", { date: e.target.value })}
                  />
                )}
              </Field>
              <Field id="sched-time" label={sched.mode === "local" ? "Time (each person's local time)" : "Time"} error={timeError}>
                {(desc, invalid) => (
                  <input
                    id="sched-time"
                    type="time"
                    value={sched.time}
                    aria-invalid={invalid || undefined}
                    aria-describedby={desc}
                    onChange={(e) => set("schedule", { time: e.target.value })}
                  />
                )}
              </Field>
            </>
          )}
          {sched.mode === "cron" && (
            <Field id="sched-cron" label="Cron expression" hint='e.g. "0 9 * * 1-5": 09:00 on weekdays'>
              {(desc) => <input id="sched-cron" type="text" value={sched.cron} aria-describedby={desc} onChange={(e) => set("schedule", { cron: e.target.value })} />}
            </Field>
          )}
          {(sched.mode === "recurring" || sched.mode === "local") && (
            <Field id="sched-repeat" label="Repeat">
              {() => (
                <select id="sched-repeat" value={sched.repeat} onChange={(e) => set("schedule", { repeat: e.target.value as Repeat })}>
                  {sched.mode === "local" && <option value="none">Only on the first date</option>}
                  <option value="daily">Every day</option>
                  <option value="weekly">Every week on…</option>
                  <option value="custom">Custom rule (RFC 5545)</option>
                </select>
              )}
            </Field>
          )}
          {(sched.mode === "recurring" || sched.mode === "local") && sched.repeat !== "none" && sched.repeat !== "custom" && (
            <Field id="sched-count" label="Number of times (optional)" hint="Empty: until you cancel it">
              {(desc) => (
                <input id="sched-count" type="text" inputMode="numeric" value={sched.count} aria-describedby={desc} onChange={(e) => set("schedule", { count: e.target.value })} />
              )}
            </Field>
          )}
          {(sched.mode === "recurring" || sched.mode === "local") && sched.repeat === "custom" && (
            <Field id="sched-rrule" label="Rule" hint="e.g. FREQ=WEEKLY;BYDAY=MO,TH;COUNT=8 (no DTSTART)">
              {(desc) => <input id="sched-rrule" type="text" value={sched.rrule} aria-describedby={desc} onChange={(e) => set("schedule", { rrule: e.target.value })} />}
            </Field>
          )}
        </div>
        {(sched.mode === "recurring" || sched.mode === "local") && sched.repeat === "weekly" && (
          <fieldset className="weekdays">
            <legend>On these days</legend>
            {weekdays.map((w) => (
              <label key={w.code} className="weekday">
                <input
                  type="checkbox"
                  checked={sched.days.includes(w.code)}
                  onChange={(e) => set("schedule", { days: e.target.checked ? [...sched.days, w.code] : sched.days.filter((x) => x !== w.code) })}
                />
                {w.label}
              </label>
            ))}
          </fieldset>
        )}
        <div className="quiet-note" id="quiet-note">
          <p>
            <strong>Quiet hours.</strong> {quiet}
          </p>
          <p className="hint">Caps per person per day and week, and live conversations, can also hold or skip a message; the preview below shows who and why.</p>
        </div>
      </fieldset>

      <section className="panel builder-part" aria-labelledby="preview-title">
        <div className="panel-head">
          <h3 id="preview-title" ref={previewHead} tabIndex={-1}>
            4. Preview
          </h3>
          <button type="button" className="button secondary" onClick={() => void runPreview()} disabled={preview.state === "loading"}>
            {preview.state === "ready" ? "Preview again" : "Preview recipients"}
          </button>
        </div>
        <p className="hint">A dry run of the next send: who would get what, who would be held or skipped and why. Nothing is sent or saved.</p>
        <PreviewTable preview={preview} stale={stale} onMore={(after) => void runPreview(after)} zone={policy.zone} />
      </section>

      <div className="builder-actions">
        {saveError && (
          <div className="form-error" role="alert" tabIndex={-1} ref={errorRef} id="save-error">
            <p>{saveError}</p>
          </div>
        )}
        <div className="page-actions">
          <button type="submit" className="button primary" disabled={saving}>
            {saving ? "Saving…" : campaignId ? "Save changes" : "Create campaign"}
          </button>
          {onCancel && (
            <button type="button" className="button secondary" onClick={onCancel}>
              Cancel
            </button>
          )}
        </div>
      </div>
    </form>
  );
}

export function PreviewTable({ preview, stale, onMore, zone }: { preview: PreviewState; stale: boolean; onMore: (after: string) => void; zone: string }) {
  if (preview.state === "idle") return <p className="empty preview-empty">Press “Preview recipients” to see each person's outcome.</p>;
  if (preview.state === "error")
    return (
      <div className="form-error" role="alert" id="preview-error">
        <p>The preview failed: {preview.error}</p>
        <p>Fix what it names, then preview again.</p>
      </div>
    );
  const rows = preview.rows;
  if (preview.state === "loading" && rows.length === 0)
    return (
      <p className="page-loading" role="status">
        Deciding for each recipient…
      </p>
    );
  const tally = { sent: 0, held: 0, skipped: 0 } as Record<string, number>;
  for (const r of rows) tally[r.outcome] = (tally[r.outcome] ?? 0) + 1;
  return (
    <div className="preview" data-state={preview.state}>
      {stale && (
        <p className="notice stale" role="status">
          You changed the campaign since this preview. Preview again to see the new outcomes.
        </p>
      )}
      {preview.state === "ready" && (
        <p className="preview-summary" role="status">
          At {formatInstant(preview.at, zone)}: {tally.sent} would be sent, {tally.held} held, {tally.skipped} skipped
          {preview.next ? " (first " + rows.length + " people)" : ""}.
        </p>
      )}
      {rows.length === 0 ? (
        <p className="empty">Nobody matches this audience. Loosen the filters above.</p>
      ) : (
        <div className="table-wrap" role="region" aria-label="Each recipient's outcome" tabIndex={0}>
          <table className="docs preview-table">
            <caption className="visually-hidden">Each recipient's outcome</caption>
            <thead>
              <tr>
                <th scope="col">Person</th>
                <th scope="col">Channel</th>
                <th scope="col">Outcome</th>
                <th scope="col">Why</th>
                <th scope="col">Message</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.end_user_id} data-outcome={r.outcome} data-reason={r.reason ?? ""}>
                  <th scope="row" className="doc-title">
                    {r.name || <span className="doc-sub">(no name)</span>}
                  </th>
                  <td data-label="Channel">{channelLabel(r.channel)}</td>
                  <td data-label="Outcome">
                    <span className={"badge outcome-" + r.outcome}>{outcomeLabel[r.outcome] ?? r.outcome}</span>
                  </td>
                  <td data-label="Why" className="reason">
                    {r.reason ? reasonLabel(r.reason) : r.mode === "template" ? "Outside WhatsApp's 24-hour window: the template" : "—"}
                    {r.hold_until && <span className="doc-sub">until {formatInstant(r.hold_until, zone)}</span>}
                  </td>
                  <td data-label="Message" className="preview-text">
                    {r.template ? `Template ${r.template.name} (${r.template.language})${r.template.params?.length ? ": " + r.template.params.join(" · ") : ""}` : r.text || "—"}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {preview.state === "ready" && preview.next && (
        <button type="button" className="button secondary" onClick={() => onMore(preview.next!)}>
          Show more recipients
        </button>
      )}
      {preview.state === "loading" && rows.length > 0 && (
        <p className="page-loading" role="status">
          Loading more…
        </p>
      )}
    </div>
  );
}
