// The roles as the console names and explains them (docs/api.md "Roles" is the reference).
import type { Schemas } from "../../api/client";

type Role = Schemas["Role"];

export const grantableRoles = ["admin", "editor", "agent", "viewer"] as const satisfies readonly Schemas["GrantableRole"][];

export const roleNames: Record<Role, string> = {
  owner: "Owner",
  admin: "Admin",
  editor: "Editor",
  agent: "Agent",
  viewer: "Viewer",
};

export const roleHelp: Record<Role, string> = {
  owner: "Everything, including transferring ownership. One per workspace.",
  admin: "Everything but transferring ownership: team, API keys, settings, exports.",
  editor: "Knowledge, coach and widget, campaigns and programs; reads the rest. Messages only if granted.",
  agent: "The inbox: reads conversations, takes over, replies, tags, edits memory. No settings, no exports.",
  viewer: "Reads everything but end users' messages (unless granted); changes nothing.",
};

const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function formatDate(iso: string): string {
  return dateFmt.format(new Date(iso));
}

export function formatDateTime(iso: string | null | undefined, none = "Never"): string {
  return iso ? dateTimeFmt.format(new Date(iso)) : none;
}

const rel = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

/** "in 7 days", "in 3 hours", "expired". */
export function untilText(iso: string): string {
  const ms = Date.parse(iso) - Date.now();
  if (ms <= 0) return "expired";
  const hours = ms / 3_600_000;
  if (hours < 1) return rel.format(Math.max(1, Math.round(ms / 60_000)), "minute");
  if (hours < 48) return rel.format(Math.round(hours), "hour");
  return rel.format(Math.round(hours / 24), "day");
}
