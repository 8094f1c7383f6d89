// The Analytics page: what the creator learns from their coach, in eight sections over one date
// range (a preset or custom), by day or week, for all channels or one, cut in the creator's
// time zone (the send policy's). Every section loads on its own, so one slow or failing
// section never holds the others.
import { useEffect, useMemo, useState, type FormEvent } from "react";
import { api } from "../../api/client";
import { Page } from "../../ui/Page";
import { ConversationDialog } from "./Conversation";
import type { Query } from "./parts";
import {
  browserZone,
  channels,
  presetRange,
  presets,
  rangeProblem,
  todayIn,
  longDate,
  type ChannelKind,
  type Granularity,
  type Preset,
} from "./range";
import {
  ActivitySection,
  CampaignsSection,
  ChannelsSection,
  GapsSection,
  ProgramsSection,
  ResponsivenessSection,
  RetentionSection,
  TeamSection,
} from "./sections";

const toc = [
  { id: "activity", label: "Activity" },
  { id: "responsiveness", label: "Responsiveness" },
  { id: "knowledge-gaps", label: "Knowledge gaps" },
  { id: "retention", label: "Retention" },
  { id: "campaigns", label: "Campaigns" },
  { id: "programs", label: "Programs" },
  { id: "channels", label: "Channels" },
  { id: "team", label: "Team" },
];

export default function Analytics() {
  // The creator's time zone: the send policy's (what the API uses by default), else the browser's.
  const [tz, setTZ] = useState<{ zone: string; own: boolean } | null>(null);
  const [preset, setPreset] = useState<Preset>("30d");
  const [custom, setCustom] = useState({ from: "", to: "" });
  const [applied, setApplied] = useState({ from: "", to: "" });
  const [customError, setCustomError] = useState("");
  const [granularity, setGranularity] = useState<Granularity>("day");
  const [channel, setChannel] = useState<ChannelKind>("");
  const [open, setOpen] = useState<{ id: string; label: string } | null>(null);

  useEffect(() => {
    const ctl = new AbortController();
    api("get", "/api/v1/nudge-policy", { signal: ctl.signal })
      .then((p) => setTZ({ zone: p.timezone || "UTC", own: true }))
      .catch(() => {
        if (!ctl.signal.aborted) setTZ({ zone: browserZone(), own: false });
      });
    return () => ctl.abort();
  }, []);

  const range = useMemo(() => {
    if (!tz) return null;
    if (preset === "custom") return applied.from ? applied : null;
    return presetRange(preset, todayIn(tz.zone));
  }, [tz, preset, applied]);

  const query: Query | null = useMemo(
    () => (range && tz ? { from: range.from, to: range.to, tz: tz.zone, granularity, channel: channel || undefined } : null),
    [range, tz, granularity, channel],
  );
  const span = range ? `${range.from}_${range.to}` : "";

  const choosePreset = (p: Preset) => {
    setPreset(p);
    setCustomError("");
    if (p === "custom" && !custom.from && tz) {
      // Start the custom range from what was shown.
      const r = range ?? presetRange("30d", todayIn(tz.zone));
      setCustom(r);
      setApplied(r);
    }
  };
  const applyCustom = (e: FormEvent) => {
    e.preventDefault();
    const problem = rangeProblem(custom.from, custom.to);
    setCustomError(problem);
    if (!problem) setApplied({ ...custom });
  };

  return (
    <Page title="Analytics">
      <p className="lead">
        Whether your coach helps people, where your knowledge falls short, and what your campaigns and programs do.
      </p>
      <form className="panel analytics-filters" onSubmit={applyCustom} aria-label="Range and filters" noValidate>
        <div className="filters">
          <div className="field">
            <label htmlFor="range-preset">Date range</label>
            <select id="range-preset" value={preset} onChange={(e) => choosePreset(e.target.value as Preset)}>
              {presets.map((p) => (
                <option key={p.value} value={p.value}>
                  {p.label}
                </option>
              ))}
            </select>
          </div>
          {preset === "custom" && (
            <>
              <div className="field">
                <label htmlFor="range-from">From</label>
                <input
                  id="range-from"
                  type="date"
                  value={custom.from}
                  max={custom.to || undefined}
                  aria-invalid={customError ? true : undefined}
                  aria-describedby={customError ? "range-error" : undefined}
                  onChange={(e) => setCustom((c) => ({ ...c, from: e.target.value }))}
                />
              </div>
              <div className="field">
                <label htmlFor="range-to">To</label>
                <input
                  id="range-to"
                  type="date"
                  value={custom.to}
                  min={custom.from || undefined}
                  aria-invalid={customError ? true : undefined}
                  aria-describedby={customError ? "range-error" : undefined}
                  onChange={(e) => setCustom((c) => ({ ...c, to: e.target.value }))}
                />
              </div>
              <button type="submit" className="button primary">
                Apply
              </button>
            </>
          )}
          <fieldset className="field segmented">
            <legend>Show by</legend>
            <div className="segments">
              {(["day", "week"] as const).map((g) => (
                <label key={g} className={granularity === g ? "segment checked" : "segment"}>
                  <input type="radio" name="granularity" value={g} checked={granularity === g} onChange={() => setGranularity(g)} />
                  {g === "day" ? "Day" : "Week"}
                </label>
              ))}
            </div>
          </fieldset>
          <div className="field">
            <label htmlFor="range-channel">Channel</label>
            <select id="range-channel" value={channel} onChange={(e) => setChannel(e.target.value as ChannelKind)}>
              {channels.map((c) => (
                <option key={c.value} value={c.value}>
                  {c.label}
                </option>
              ))}
            </select>
          </div>
        </div>
        {customError && (
          <p id="range-error" className="field-error" role="alert">
            {customError}
          </p>
        )}
        <p className="hint range-summary" aria-live="polite">
          {range && tz ? (
            <>
              {longDate(range.from)} – {longDate(range.to)}, days in <strong className="tz">{tz.zone}</strong>
              {tz.own ? " (your send policy's time zone)" : " (this browser's: your send policy could not be read)"}.
            </>
          ) : (
            "Reading your time zone…"
          )}
        </p>
      </form>
      <nav className="section-nav" aria-label="Analytics sections">
        <ul>
          {toc.map((s) => (
            <li key={s.id}>
              <a href={"#" + s.id}>{s.label}</a>
            </li>
          ))}
        </ul>
      </nav>
      <ActivitySection query={query} span={span} />
      <ResponsivenessSection query={query} span={span} />
      <GapsSection query={query} span={span} onOpenConversation={(id, label) => setOpen({ id, label })} />
      <RetentionSection query={query} span={span} />
      <CampaignsSection query={query} span={span} />
      <ProgramsSection query={query} span={span} />
      <ChannelsSection query={query} span={span} />
      <TeamSection query={query} span={span} />
      <ConversationDialog conversation={open} onClose={() => setOpen(null)} />
    </Page>
  );
}
