// The signed-in session. The access token lives in memory only; the refresh token is kept in
// sessionStorage (this tab, until it closes) so a reload stays signed in. The API's refresh
// token is body-based today; moving it to an HttpOnly, SameSite=Strict cookie with CSRF
// protection is pending (docs/console.md).
import { ApiError, errorOf } from "./errors";
import type { components } from "./schema";

type SessionBody = components["schemas"]["Session"];
export type Creator = SessionBody["creator"];

const storageKey = "coachwire.console.refresh";
// Refresh this long before the access token expires.
const refreshAhead = 60_000;

export type SessionState =
  | { status: "loading" }
  | { status: "signed-out"; reason?: "signed-out" | "expired" }
  | { status: "signed-in"; creator: Creator };

type Listener = () => void;

class Session {
  private state: SessionState = { status: "loading" };
  private access: string | null = null;
  private expiresAt = 0;
  private refreshing: Promise<string | null> | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private listeners = new Set<Listener>();

  subscribe = (l: Listener) => {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  };
  snapshot = () => this.state;

  private set(s: SessionState) {
    this.state = s;
    for (const l of this.listeners) l();
  }

  private stored(): string | null {
    try {
      return sessionStorage.getItem(storageKey);
    } catch {
      return null;
    }
  }

  private store(token: string | null) {
    try {
      if (token) sessionStorage.setItem(storageKey, token);
      else sessionStorage.removeItem(storageKey);
    } catch {
      // storage unavailable: the session lasts until reload
    }
  }

  /** Takes a session answer (register, login, refresh). */
  private accept(b: SessionBody) {
    this.access = b.access_token;
    this.expiresAt = Date.parse(b.expires_at);
    this.store(b.refresh_token);
    clearTimeout(this.timer);
    const wait = Math.max(5_000, this.expiresAt - Date.now() - refreshAhead);
    this.timer = setTimeout(() => void this.refresh(), wait);
    this.set({ status: "signed-in", creator: b.creator });
  }

  private drop(reason?: "signed-out" | "expired") {
    this.access = null;
    this.expiresAt = 0;
    clearTimeout(this.timer);
    this.store(null);
    this.set({ status: "signed-out", reason });
  }

  /** On load: resume the tab's session if it has a refresh token. */
  async restore() {
    if (!this.stored()) {
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

  /** Revokes the refresh token's family on the server, then forgets the session. */
  async signOut() {
    const token = this.stored();
    if (token) {
      try {
        await post("/api/v1/auth/logout", { refresh_token: token });
      } catch {
        // Signing out locally still happens; the token expires on its own.
      }
    }
    this.drop("signed-out");
  }

  /** The current access token (refreshed first when it is about to expire), or null. */
  async accessToken(): Promise<string | null> {
    if (this.access && Date.now() < this.expiresAt - 5_000) return this.access;
    if (!this.stored()) return null;
    return this.refresh();
  }

  /** After a 401 with token: refresh unless another call already did. */
  async refreshAfter(token: string): Promise<string | null> {
    if (this.access && this.access !== token) return this.access;
    return this.refresh();
  }

  /**
   * Rotates the refresh token. One rotation at a time: presenting a refresh token twice revokes
   * its whole family on the server.
   */
  refresh(): Promise<string | null> {
    if (!this.refreshing) {
      this.refreshing = (async () => {
        const token = this.stored();
        if (!token) {
          this.drop();
          return null;
        }
        try {
          const b = await post<SessionBody>("/api/v1/auth/refresh", { refresh_token: token });
          this.accept(b);
          return b.access_token;
        } catch (e) {
          const status = (e as { status?: number }).status ?? 0;
          if (status === 401 || status === 400) this.drop(this.state.status === "signed-in" ? "expired" : undefined);
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

async function post<T>(url: string, body: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch {
    throw new ApiError(0, "network", "network error");
  }
  if (!res.ok) throw await errorOf(res);
  return (res.status === 204 ? undefined : await res.json()) as T;
}

export const session = new Session();
