// What the signed-in person may do in the current workspace: their role and permissions, read
// from GET /api/v1/auth/me. The console asks again on every page change (and after a 403), so a
// role changed by an owner shows in the navigation at the next click, and a removed member's
// next request ends their session (the API refuses their token, the refresh fails).
import { useSyncExternalStore } from "react";
import { api, forbiddenEvent } from "./client";
import { errorText } from "./errors";
import { session } from "./session";

/** A permission as the API names it ("team.write"); see docs/api.md "Roles". */
export type Perm = string;

export type PermState =
  | { status: "loading" }
  | { status: "error"; message: string }
  | { status: "ready"; workspace: string; role: string; userID: string | null; perms: ReadonlySet<Perm> };

type Listener = () => void;

class Permissions {
  private state: PermState = { status: "loading" };
  private listeners = new Set<Listener>();
  private workspace = "";
  private inflight: Promise<void> | null = null;
  private again = false;

  constructor() {
    window.addEventListener(forbiddenEvent, () => {
      if (this.state.status === "ready") void this.refresh();
    });
    session.subscribe(() => {
      const s = session.snapshot();
      if (s.status !== "signed-in") {
        this.workspace = "";
        this.set({ status: "loading" });
      } else if (s.creator.id !== this.workspace) {
        this.workspace = s.creator.id;
        this.set({ status: "loading" });
        void this.refresh();
      }
    });
  }

  subscribe = (l: Listener) => {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  };
  snapshot = () => this.state;

  private set(s: PermState) {
    this.state = s;
    for (const l of this.listeners) l();
  }

  /** Asks the API again; keeps showing the last answer meanwhile. */
  refresh(): Promise<void> {
    if (this.inflight) {
      this.again = true;
      return this.inflight;
    }
    this.inflight = (async () => {
      try {
        do {
          this.again = false;
          const asked = this.workspace;
          const me = await api("get", "/api/v1/auth/me");
          if (asked !== this.workspace) continue;
          this.set({ status: "ready", workspace: me.id, role: me.role, userID: me.user?.id ?? null, perms: new Set(me.permissions) });
        } while (this.again);
      } catch (e) {
        // A 401 has already signed the session out; other failures keep the last answer.
        if (this.state.status !== "ready" && session.snapshot().status === "signed-in") {
          this.set({ status: "error", message: errorText(e) });
        }
      } finally {
        this.inflight = null;
      }
    })();
    return this.inflight;
  }
}

export const permissions = new Permissions();

export function usePermissions(): PermState {
  return useSyncExternalStore(permissions.subscribe, permissions.snapshot);
}

/** can(p): whether the signed-in person holds p (false while loading). */
export function useCan(): (p: Perm) => boolean {
  const s = usePermissions();
  return (p: Perm) => s.status === "ready" && s.perms.has(p);
}

/** The role in words, for "your role (agent) …" messages. */
export function useRole(): string {
  const s = usePermissions();
  return s.status === "ready" ? s.role : "";
}
