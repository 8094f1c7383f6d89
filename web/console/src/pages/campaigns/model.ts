// The Campaigns page's model: the builder's draft (what the form edits, as strings) and its
// conversion to and from the API's campaign (audience, content, schedule), the words the page
// uses for statuses, outcomes and reasons, and wall-time arithmetic in a named time zone.
import type { Schemas } from "../../api/client";

export type Campaign = Schemas["Campaign"];
export type CampaignDetail = Schemas["CampaignDetail"];
export type CampaignIn = Schemas["CampaignIn"];
export type Audience = Schemas["Audience"];
export type Content = Schemas["Content"];
export type Schedule = Schemas["Schedule"];
export type Decision = Schemas["Decision"];
export type CampaignStats = Schemas["CampaignStats"];
export type OccurrenceStats = Schemas["OccurrenceStats"];
export type Status = Campaign["status"];
export type Channel = "" | "widget" | "whatsapp" | "telegram" | "app";

export const channels: { value: Channel; label: string }[] = [
  { value: "", label: "Any channel" },
  { value: "widget", label: "Web widget" },
  { value: "whatsapp", label: "WhatsApp" },
  { value: "telegram", label: "Telegram" },
  { value: "app", label: "App (push)" },
];

export const channelLabel = (c: string) => channels.find((x) => x.value === c)?.label ?? c;

export const statusLabel: Record<Status, string> = {
  active: "Active",
  paused: "Paused",
  completed: "Completed",
  cancelled: "Cancelled",
};

export const occurrenceStatusLabel: Record<string, string> = {
  pending: "Scheduled",
  expanding: "Sending",
  expanded: "Sent out",
  cancelled: "Cancelled",
  missed: "Missed",
};

export const outcomeLabel: Record<string, string> = { sent: "Send", held: "Held", skipped: "Skipped" };

/** What each reason means, in words a creator acts on. */
export const reasonText: Record<string, string> = {
  opted_out: "Opted out of messages (replied STOP)",
  no_channel: "No channel to reach them on",
  expired: "Held too long: the message would be stale",
  local_time: "Waits for the chosen time in their own time zone",
  quiet_hours: "Quiet hours in their time zone: sent when they end",
  live_conversation: "In a live conversation: sent once it goes quiet",
  capped: "Reached the daily or weekly message cap",
  no_template: "Outside WhatsApp's 24-hour window and no approved template",
  paused: "The campaign is paused",
  cancelled: "The campaign was cancelled",
  ai_budget_exhausted: "AI budget for today spent: the fallback text was used",
};

export const reasonLabel = (r: string) => reasonText[r] ?? r.replace(/_/g, " ");

export type ScheduleMode = "once" | "recurring" | "local" | "cron";
export type Repeat = "none" | "daily" | "weekly" | "custom";

export const weekdays = [
  { code: "MO", label: "Mon" },
  { code: "TU", label: "Tue" },
  { code: "WE", label: "Wed" },
  { code: "TH", label: "Thu" },
  { code: "FR", label: "Fri" },
  { code: "SA", label: "Sat" },
  { code: "SU", label: "Sun" },
];

/** The builder's form: every field as the inputs hold it. */
export interface Draft {
  name: string;
  audience: {
    channel: Channel;
    tags: string;
    anyTags: string;
    excludeTags: string;
    activeWithinDays: string;
    inactiveDays: string;
    joinedAfter: string; // YYYY-MM-DD in the schedule's zone
    programId: string;
  };
  content: {
    kind: "text" | "ai";
    text: string;
    brief: string;
    fallback: string;
    useTemplate: boolean;
    templateName: string;
    templateLanguage: string;
    templateParams: string; // one per line
  };
  schedule: {
    mode: ScheduleMode;
    zone: string; // once, recurring, cron
    date: string; // YYYY-MM-DD: once's day, the first day of recurring and local
    time: string; // HH:MM
    repeat: Repeat; // recurring and local
    days: string[]; // weekly
    count: string; // how many times (empty: no end)
    rrule: string; // custom
    cron: string;
  };
}

export function emptyDraft(zone: string, now = new Date()): Draft {
  // Tomorrow at 09:00 in the workspace's zone.
  const local = wallIn(new Date(now.getTime() + 24 * 60 * 60 * 1000), zone);
  return {
    name: "",
    audience: { channel: "", tags: "", anyTags: "", excludeTags: "", activeWithinDays: "", inactiveDays: "", joinedAfter: "", programId: "" },
    content: { kind: "text", text: "", brief: "", fallback: "", useTemplate: false, templateName: "", templateLanguage: "en", templateParams: "" },
    schedule: { mode: "once", zone, date: local.date, time: "09:00", repeat: "weekly", days: ["MO"], count: "", rrule: "", cron: "" },
  };
}

const list = (s: string) =>
  s
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);
const posInt = (s: string) => {
  const n = Number(s);
  return s.trim() !== "" && Number.isInteger(n) && n > 0 ? n : undefined;
};

/** The API's audience of a draft: no filter at all means everyone. */
export function audienceOf(d: Draft): Audience {
  const a = d.audience;
  const out: Audience = {};
  if (a.channel) out.channel = a.channel;
  if (list(a.tags).length) out.tags = list(a.tags);
  if (list(a.anyTags).length) out.any_tags = list(a.anyTags);
  if (list(a.excludeTags).length) out.exclude_tags = list(a.excludeTags);
  const act = posInt(a.activeWithinDays);
  if (act) out.active_within_days = act;
  const ina = posInt(a.inactiveDays);
  if (ina) out.inactive_days = ina;
  if (a.joinedAfter) out.joined_after = zonedToInstant(a.joinedAfter, "00:00", d.schedule.zone || "UTC");
  if (a.programId) out.program_id = a.programId;
  if (Object.keys(out).length === 0) out.all = true;
  return out;
}

/** Whether the draft's audience has no filter that narrows it (everyone). */
export function isEveryone(d: Draft): boolean {
  return !!audienceOf(d).all;
}

/** Problems of the audience fields the form can tell before asking the API. */
export function audienceProblems(d: Draft): Partial<Record<keyof Draft["audience"], string>> {
  const p: Partial<Record<keyof Draft["audience"], string>> = {};
  for (const k of ["activeWithinDays", "inactiveDays"] as const) {
    if (d.audience[k].trim() !== "" && !posInt(d.audience[k])) p[k] = "A whole number of days, 1 or more.";
  }
  for (const k of ["tags", "anyTags", "excludeTags"] as const) {
    if (list(d.audience[k]).some((t) => t.length > 64)) p[k] = "Tags are at most 64 characters.";
  }
  return p;
}

export function contentOf(d: Draft): Content {
  const c = d.content;
  const out: Content = c.kind === "text" ? { kind: "text", text: c.text } : { kind: "ai", brief: c.brief };
  if (c.kind === "ai" && c.fallback.trim()) out.fallback = c.fallback;
  if (c.useTemplate) {
    const params = c.templateParams.split("\n").map((x) => x.trim());
    while (params.length && !params[params.length - 1]) params.pop();
    out.template = { name: c.templateName.trim(), language: c.templateLanguage.trim() };
    if (params.length) out.template.params = params;
  }
  return out;
}

function ruleOf(s: Draft["schedule"]): string {
  let r = "";
  switch (s.repeat) {
    case "daily":
      r = "FREQ=DAILY";
      break;
    case "weekly":
      r = "FREQ=WEEKLY" + (s.days.length ? ";BYDAY=" + weekdays.filter((w) => s.days.includes(w.code)).map((w) => w.code).join(",") : "");
      break;
    case "custom":
      return s.rrule.trim().replace(/^RRULE:/i, "");
    default:
      return "";
  }
  const n = posInt(s.count);
  return n ? r + ";COUNT=" + n : r;
}

export function scheduleOf(d: Draft): Schedule {
  const s = d.schedule;
  switch (s.mode) {
    case "once":
      return { kind: "once", at: zonedToInstant(s.date, s.time, s.zone) };
    case "recurring":
      return { kind: "rrule", timezone: s.zone, start: `${s.date}T${s.time}`, rrule: ruleOf(s) || "FREQ=DAILY" };
    case "cron":
      return { kind: "cron", timezone: s.zone, cron: s.cron.trim() };
    case "local": {
      const out: Schedule = { kind: "local", start: s.date, local_time: s.time };
      const r = ruleOf(s);
      if (r) out.rrule = r;
      return out;
    }
  }
}

export function campaignOf(d: Draft): CampaignIn {
  return { name: d.name.trim(), audience: audienceOf(d), content: contentOf(d), schedule: scheduleOf(d) };
}

/** The draft that edits a saved campaign. */
export function draftOf(c: Campaign, zone: string): Draft {
  const d = emptyDraft(zone);
  d.name = c.name;
  const a = c.audience;
  d.audience = {
    channel: (a.channel ?? "") as Channel,
    tags: [...(a.tag ? [a.tag] : []), ...(a.tags ?? [])].join(", "),
    anyTags: (a.any_tags ?? []).join(", "),
    excludeTags: (a.exclude_tags ?? []).join(", "),
    activeWithinDays: a.active_within_days ? String(a.active_within_days) : "",
    inactiveDays: a.inactive_days ? String(a.inactive_days) : "",
    joinedAfter: a.joined_after ? wallIn(new Date(a.joined_after), zone).date : "",
    programId: a.program_id ?? "",
  };
  const ct = c.content;
  d.content = {
    kind: ct.kind,
    text: ct.text ?? "",
    brief: ct.brief ?? "",
    fallback: ct.fallback ?? "",
    useTemplate: !!ct.template,
    templateName: ct.template?.name ?? "",
    templateLanguage: ct.template?.language ?? "en",
    templateParams: (ct.template?.params ?? []).join("\n"),
  };
  const s = c.schedule;
  const sch = d.schedule;
  const fromRule = (rule: string) => {
    const r = rule.replace(/^RRULE:/i, "");
    const m = /^FREQ=(DAILY|WEEKLY)(?:;BYDAY=([A-Z,]+))?(?:;COUNT=(\d+))?$/.exec(r);
    if (!r) sch.repeat = "none";
    else if (m && m[1] === "DAILY" && !m[2]) {
      sch.repeat = "daily";
      sch.count = m[3] ?? "";
    } else if (m && m[1] === "WEEKLY") {
      sch.repeat = "weekly";
      sch.days = m[2] ? m[2].split(",") : [];
      sch.count = m[3] ?? "";
    } else {
      sch.repeat = "custom";
      sch.rrule = r;
    }
  };
  switch (s.kind) {
    case "once": {
      const w = wallIn(new Date(s.at ?? Date.now()), zone);
      Object.assign(sch, { mode: "once", date: w.date, time: w.time });
      break;
    }
    case "rrule":
      Object.assign(sch, { mode: "recurring", zone: s.timezone ?? zone, date: (s.start ?? "").slice(0, 10), time: (s.start ?? "").slice(11, 16) });
      fromRule(s.rrule ?? "");
      break;
    case "cron":
      Object.assign(sch, { mode: "cron", zone: s.timezone ?? zone, cron: s.cron ?? "" });
      break;
    case "local":
      Object.assign(sch, { mode: "local", date: s.start ?? "", time: s.local_time ?? "09:00" });
      fromRule(s.rrule ?? "");
      break;
  }
  return d;
}

// Time zones.

/** The offset of zone at instant t, in minutes (Europe/Paris in summer: 120). */
export function zoneOffset(t: Date, zone: string): number {
  try {
    const parts = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    }).formatToParts(t);
    const v = (k: string) => Number(parts.find((p) => p.type === k)?.value);
    const asUTC = Date.UTC(v("year"), v("month") - 1, v("day"), v("hour"), v("minute"), v("second"));
    return Math.round((asUTC - Math.floor(t.getTime() / 1000) * 1000) / 60000);
  } catch {
    return 0;
  }
}

/** The instant (RFC 3339, UTC) of the wall time date + time in zone. */
export function zonedToInstant(date: string, time: string, zone: string): string {
  const [y, mo, d] = date.split("-").map(Number);
  const [h, mi] = time.split(":").map(Number);
  if (!y || !mo || !d || Number.isNaN(h) || Number.isNaN(mi)) return "";
  const wall = Date.UTC(y, mo - 1, d, h, mi);
  let t = wall - zoneOffset(new Date(wall), zone) * 60000;
  t = wall - zoneOffset(new Date(t), zone) * 60000;
  return new Date(t).toISOString().replace(".000Z", "Z");
}

/** The wall date and time of instant t in zone. */
export function wallIn(t: Date, zone: string): { date: string; time: string } {
  const shifted = new Date(t.getTime() + zoneOffset(t, zone) * 60000).toISOString();
  return { date: shifted.slice(0, 10), time: shifted.slice(11, 16) };
}

export function timeZones(current: string[]): string[] {
  const intl = Intl as unknown as { supportedValuesOf?: (k: string) => string[] };
  const all = intl.supportedValuesOf?.("timeZone") ?? [];
  const set = new Set([...all, "UTC", ...current.filter(Boolean)]);
  return [...set].sort();
}

export function browserZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

/** A date and time for people: "Mon 7 Dec 2026, 09:00 (Europe/Paris)". */
export function formatInstant(iso: string | undefined | null, zone?: string): string {
  if (!iso) return "";
  const t = new Date(iso);
  try {
    const s = new Intl.DateTimeFormat("en-GB", {
      timeZone: zone,
      weekday: "short",
      day: "numeric",
      month: "short",
      year: "numeric",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    }).format(t);
    return zone ? `${s} (${zone})` : s;
  } catch {
    return t.toISOString();
  }
}

const dayNames: Record<string, string> = { MO: "Monday", TU: "Tuesday", WE: "Wednesday", TH: "Thursday", FR: "Friday", SA: "Saturday", SU: "Sunday" };

function describeRule(rule: string): string {
  const r = rule.replace(/^RRULE:/i, "");
  const m = /^FREQ=(DAILY|WEEKLY)(?:;BYDAY=([A-Z,]+))?(?:;COUNT=(\d+))?$/.exec(r);
  if (!m) return `by the rule ${r}`;
  const times = m[3] ? `, ${m[3]} times` : "";
  if (m[1] === "DAILY" && !m[2]) return "every day" + times;
  if (m[1] === "WEEKLY") {
    const days = (m[2] ?? "").split(",").filter(Boolean).map((d) => dayNames[d] ?? d);
    return (days.length ? "every " + days.join(", ") : "every week") + times;
  }
  return `by the rule ${r}`;
}

/** The schedule in a sentence. */
export function describeSchedule(s: Schedule, creatorZone: string): string {
  switch (s.kind) {
    case "once":
      return "Once, " + formatInstant(s.at, creatorZone);
    case "rrule":
      return `${describeRule(s.rrule ?? "")} at ${(s.start ?? "").slice(11, 16)} from ${(s.start ?? "").slice(0, 10)} (${s.timezone})`.replace(/^./, (c) => c.toUpperCase());
    case "cron":
      return `Cron "${s.cron}" (${s.timezone})`;
    case "local":
      return (
        `At ${s.local_time} in each person's own time zone, ` +
        (s.rrule ? `${describeRule(s.rrule)} from ${s.start}` : `on ${s.start}`)
      );
  }
}

/** The audience in a sentence. */
export function describeAudience(a: Audience, programName?: (id: string) => string): string {
  const parts: string[] = [];
  if (a.channel) parts.push("on " + channelLabel(a.channel));
  const all = [...(a.tag ? [a.tag] : []), ...(a.tags ?? [])];
  if (all.length) parts.push("tagged " + all.join(" and "));
  if (a.any_tags?.length) parts.push("tagged any of " + a.any_tags.join(", "));
  if (a.exclude_tags?.length) parts.push("not tagged " + a.exclude_tags.join(" or "));
  if (a.active_within_days) parts.push(`active in the last ${a.active_within_days} days`);
  if (a.inactive_days) parts.push(`inactive for ${a.inactive_days}+ days`);
  if (a.joined_after) parts.push("joined after " + a.joined_after.slice(0, 10));
  if (a.program_id) parts.push("enrolled in " + (programName?.(a.program_id) ?? "a program"));
  return parts.length ? "People " + parts.join(", ") : "Everyone";
}

export function describeContent(c: Content): string {
  const body = c.kind === "text" ? `"${c.text}"` : `AI-written from the brief "${c.brief}"`;
  return body + (c.template ? ` · WhatsApp template ${c.template.name} (${c.template.language})` : "");
}

export const variables = ["first_name", "name", "coach_name", "goal"];
