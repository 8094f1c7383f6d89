// The signed-in session, in the API's cookie mode (docs/console.md, Security). The access token
// lives in memory only. The refresh token never reaches JavaScript: the gateway keeps it in the
// HttpOnly, Secure, SameSite=Strict cookie cw_refresh (Path=/api/v1/auth), and every auth call
// says "X-Coachwire-Session: cookie". Refresh and logout are authenticated by that cookie, so
// they carry the CSRF token (the readable cw_csrf cookie) in X-CSRF-Token. A reload resumes the
// session by refreshing; nothing is kept in sessionStorage or localStorage.
import { ApiError, errorOf } from "./errors";
import type { components } from "./schema";

type SessionBody = components["schemas"]["Session"];
export type Creator = SessionBody["creator"];
export type User = SessionBody["user"];
export type Role = SessionBody["role"];

// Refresh this long before the access token expires.
const refreshAhead = 60_000;
// The sessionStorage key of the console's former body-based refresh token: removed on load.
const legacyKey = "coachwire.console.refresh";

export type SessionState =
  | { status: "loading" }
  | { status: "signed-out"; reason?: "signed-out" | "expired" }
  | { status: "signed-in"; creator: Creator; user: User; role: Role };

type Listener = () => void;

/** The CSRF token of the session cookies (cw_csrf), or "". */
export function csrfToken(): string {
  for (const part of document.cookie.split(";")) {
    const [k, v] = part.trim().split("=");
    if (k === "cw_csrf" && v) return v;
  }
  return "";
}

class Session {
  private state: SessionState = { status: "loading" };
  private access: string | null = null;
  private expiresAt = 0;
  private refreshing: Promise<string | null> | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private listeners = new Set<Listener>();
  // Counts the session changes (a session taken or dropped). A refresh that was sent before a
  // sign-out, a workspace switch or an accepted invitation answers for a session this tab no
  // longer holds: its answer (or failure) is ignored rather than bringing that session back.
  private epoch = 0;

  subscribe = (l: Listener) => {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  };
  snapshot = () => this.state;

  private set(s: SessionState) {
    this.state = s;
    for (const l of this.listeners) l();
  }

  /** Takes a session answer (register, login, refresh, switch, accepted invitation). */
  private accept(b: SessionBody) {
    this.epoch++;
    this.access = b.access_token;
    this.expiresAt = Date.parse(b.expires_at);
    clearTimeout(this.timer);
    const wait = Math.max(5_000, this.expiresAt - Date.now() - refreshAhead);
    this.timer = setTimeout(() => void this.refresh(), wait);
    this.set({ status: "signed-in", creator: b.creator, user: b.user, role: b.role });
  }

  private drop(reason?: "signed-out" | "expired") {
    this.epoch++;
    this.access = null;
    this.expiresAt = 0;
    clearTimeout(this.timer);
    this.set({ status: "signed-out", reason });
  }

  /** On load: resume the browser's session when it holds the session cookies. */
  async restore() {
    try {
      sessionStorage.removeItem(legacyKey);
    } catch {
      // storage unavailable: nothing to clean
    }
    if (!csrfToken()) {
      this.set({ status: "signed-out" });
      return;
    }
    await this.refresh();
  }

  async signIn(email: string, password: string) {
    this.accept(await post<SessionBody>("/api/v1/auth/login", { email, password }));
  }

  async signUp(name: string, email: string, password: string) {
    this.accept(await post<SessionBody>("/api/v1/auth/register", { name, email, password }));
  }

  /** Accepts an invitation: as the signed-in person, or with a password (an existing account's, or a new one's). */
  async acceptInvitation(token: string, creds: { password?: string; name?: string }) {
    const access = this.state.status === "signed-in" ? await this.accessToken() : null;
    // Under the refresh lock: the answer replaces the cookie a refresh would present.
    this.accept(await exclusive(() => post<SessionBody>("/api/v1/invitations/accept", { token, ...creds }, access)));
  }

  /** Signs in to another workspace of the person; the cookie takes the new session. */
  async switchWorkspace(creatorID: string) {
    const access = await this.accessToken();
    // Under the refresh lock: the switch closes the session a concurrent refresh would rotate.
    this.accept(await exclusive(() => post<SessionBody>("/api/v1/auth/switch", { creator_id: creatorID }, access)));
  }

  /** Revokes the session on the server (the cookie's family), then forgets it. */
  async signOut() {
    // A rotation under way finishes first, so logout presents the newest refresh cookie.
    await this.refreshing;
    this.epoch++;
    try {
      await exclusive(() => post("/api/v1/auth/logout", {}, null, true));
    } catch {
      // Signing out locally still happens; the session expires on its own.
    }
    this.drop("signed-out");
  }

  /** Signs every session of the person out (this one too), then forgets this one. */
  async signOutEverywhere() {
    const access = await this.accessToken();
    await post("/api/v1/auth/sessions/revoke-all", undefined, access);
    this.drop("signed-out");
  }

  /** The current access token (refreshed first when it is about to expire), or null. */
  async accessToken(): Promise<string | null> {
    if (this.access && Date.now() < this.expiresAt - 5_000) return this.access;
    if (this.state.status !== "signed-in" && this.state.status !== "loading") return null;
    return this.refresh();
  }

  /** After a 401 with token: refresh unless another call already did. */
  async refreshAfter(token: string): Promise<string | null> {
    if (this.access && this.access !== token) return this.access;
    return this.refresh();
  }

  /**
   * Rotates the refresh cookie. One rotation at a time, across this browser's tabs too (they share
   * the cookie, and a refresh token presented twice revokes its whole family on the server).
   */
  refresh(): Promise<string | null> {
    if (!this.refreshing) {
      this.refreshing = (async () => {
        const at = this.epoch;
        try {
          const b = await exclusive(() => post<SessionBody>("/api/v1/auth/refresh", {}, null, true));
          if (at !== this.epoch) return this.access; // the session changed meanwhile
          this.accept(b);
          return b.access_token;
        } catch (e) {
          if (at !== this.epoch) return this.access;
          const status = (e as { status?: number }).status ?? 0;
          if (status === 401 || status === 400 || status === 403) this.drop(this.state.status === "signed-in" ? "expired" : undefined);
          else if (this.state.status === "loading") this.set({ status: "signed-out" });
          return null;
        } finally {
          this.refreshing = null;
        }
      })();
    }
    return this.refreshing;
  }
}

/** Runs fn holding the browser-wide refresh lock (Web Locks) where the browser has it. */
function exclusive<T>(fn: () => Promise<T>): Promise<T> {
  const locks = (navigator as Navigator & { locks?: LockManager }).locks;
  if (!locks) return fn();
  return locks.request("coachwire-console-refresh", fn) as Promise<T>;
}

/** POSTs an auth call in cookie mode; csrf: the call is authenticated by the cookie (refresh, logout). */
async function post<T>(url: string, body: unknown, access: string | null = null, csrf = false): Promise<T> {
  const headers: Record<string, string> = { "X-Coachwire-Session": "cookie" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (access) headers["Authorization"] = "Bearer " + access;
  if (csrf) headers["X-CSRF-Token"] = csrfToken();
  let res: Response;
  try {
    res = await fetch(url, {
      method: "POST",
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch {
    throw new ApiError(0, "network", "network error");
  }
  if (!res.ok) throw await errorOf(res);
  return (res.status === 204 ? undefined : await res.json()) as T;
}

export const session = new Session();
