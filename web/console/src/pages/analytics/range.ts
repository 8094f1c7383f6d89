// Date ranges of the Analytics page. Days are plain calendar dates ("2026-12-05") in the
// creator's time zone; the API cuts them in that zone (its `tz` parameter), so the page never
// converts instants itself except to find today's date there.

export type Preset = "7d" | "30d" | "90d" | "12m" | "custom";
export type Granularity = "day" | "week";
export type ChannelKind = "" | "widget" | "whatsapp" | "telegram" | "app";

export const presets: { value: Preset; label: string }[] = [
  { value: "7d", label: "Last 7 days" },
  { value: "30d", label: "Last 30 days" },
  { value: "90d", label: "Last 90 days" },
  { value: "12m", label: "Last 12 months" },
  { value: "custom", label: "Custom range" },
];

export const channels: { value: ChannelKind; label: string }[] = [
  { value: "", label: "All channels" },
  { value: "widget", label: "Web widget" },
  { value: "whatsapp", label: "WhatsApp" },
  { value: "telegram", label: "Telegram" },
  { value: "app", label: "App" },
];

/** The API's longest range, in days after `from`. */
export const maxSpanDays = 400;

/** Today's date in the IANA time zone tz, as YYYY-MM-DD. */
export function todayIn(tz: string, now = new Date()): string {
  try {
    return new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit" }).format(now);
  } catch {
    return now.toISOString().slice(0, 10);
  }
}

/** The browser's own time zone, the fallback when the creator's cannot be read. */
export function browserZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

const asDate = (d: string) => new Date(d + "T00:00:00Z");
const asString = (d: Date) => d.toISOString().slice(0, 10);

export function addDays(d: string, n: number): string {
  const x = asDate(d);
  x.setUTCDate(x.getUTCDate() + n);
  return asString(x);
}

export function daysBetween(from: string, to: string): number {
  return Math.round((asDate(to).getTime() - asDate(from).getTime()) / 86_400_000);
}

/** The first and last day of a preset ending today (both inclusive). */
export function presetRange(p: Exclude<Preset, "custom">, today: string): { from: string; to: string } {
  switch (p) {
    case "7d":
      return { from: addDays(today, -6), to: today };
    case "30d":
      return { from: addDays(today, -29), to: today };
    case "90d":
      return { from: addDays(today, -89), to: today };
    case "12m": {
      const x = asDate(today);
      x.setUTCFullYear(x.getUTCFullYear() - 1);
      x.setUTCDate(x.getUTCDate() + 1);
      return { from: asString(x), to: today };
    }
  }
}

/** Why a custom range cannot be asked for, or "" when it can. */
export function rangeProblem(from: string, to: string): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(from) || !/^\d{4}-\d{2}-\d{2}$/.test(to)) return "Enter both dates.";
  if (from > to) return "The first day must not be after the last day.";
  if (daysBetween(from, to) > maxSpanDays) return `A range can span at most ${maxSpanDays} days.`;
  return "";
}

const dayLabel = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", timeZone: "UTC" });
const longDay = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric", timeZone: "UTC" });

/** A period's label on a chart axis: "Dec 5", or "Dec 1" for the week starting then. */
export function periodLabel(period: string): string {
  return dayLabel.format(asDate(period));
}

/** A day written out in full ("Dec 5, 2026"). */
export function longDate(d: string): string {
  return longDay.format(asDate(d));
}
