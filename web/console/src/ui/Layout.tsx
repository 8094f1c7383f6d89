import { useEffect, useRef, useState, type ReactNode } from "react";
import { useCan, type Perm } from "../api/perms";
import { session, type Creator } from "../api/session";
import { Link } from "../router";
import { WorkspaceSwitcher } from "./Workspaces";

/**
 * The console's pages: each with the permission it needs (GET /api/v1/auth/me lists the
 * signed-in role's). The navigation shows only the pages the role may use, and App answers a
 * page the role may not use (and its sub-paths) with a clear "no access" message.
 */
export const pages: { to: string; label: string; perm: Perm }[] = [
  { to: "/inbox", label: "Inbox", perm: "inbox.read" },
  { to: "/knowledge", label: "Knowledge", perm: "knowledge.read" },
  { to: "/coach", label: "Coach & widget", perm: "coach.read" },
  { to: "/channels", label: "Channels", perm: "settings.read" },
  { to: "/campaigns", label: "Campaigns", perm: "campaigns.read" },
  { to: "/programs", label: "Programs", perm: "programs.read" },
  { to: "/analytics", label: "Analytics", perm: "analytics.read" },
  { to: "/team", label: "Team", perm: "team.read" },
  { to: "/keys", label: "API keys", perm: "keys.manage" },
  { to: "/audit", label: "Audit log", perm: "audit.read" },
  { to: "/settings", label: "Settings", perm: "settings.read" },
  { to: "/account", label: "Account", perm: "account.read" },
];

/** The page a path belongs to ("/team" for "/team" and "/team/…"), if any. */
export function pageOf(path: string) {
  return pages.find((p) => path === p.to || path.startsWith(p.to + "/"));
}

/** The signed-in frame: skip link, top bar with navigation (a menu on narrow screens), content. */
export function Layout({ creator, path, children }: { creator: Creator; path: string; children: ReactNode }) {
  const can = useCan();
  const [open, setOpen] = useState(false);
  const [leaving, setLeaving] = useState(false);
  const menuButton = useRef<HTMLButtonElement>(null);
  const main = useRef<HTMLElement>(null);

  useEffect(() => setOpen(false), [path]);
  useEffect(() => {
    if (!open) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") {
        setOpen(false);
        menuButton.current?.focus();
      }
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [open]);

  const signOut = async () => {
    setLeaving(true);
    await session.signOut();
  };

  return (
    <div className="shell">
      <a
        className="skip-link"
        href="#main"
        onClick={(e) => {
          e.preventDefault();
          main.current?.focus();
        }}
      >
        Skip to content
      </a>
      <header className="topbar">
        <Link className="brand" to="/">
          coachwire <span className="brand-sub">console</span>
        </Link>
        <button
          ref={menuButton}
          type="button"
          className="button secondary menu-button"
          aria-expanded={open}
          aria-controls="console-nav"
          onClick={() => setOpen((o) => !o)}
        >
          Menu
        </button>
        <nav id="console-nav" aria-label="Console" className={open ? "nav open" : "nav"}>
          <ul>
            {pages.filter((p) => can(p.perm)).map((p) => (
              <li key={p.to}>
                <Link to={p.to} aria-current={path === p.to || path.startsWith(p.to + "/") ? "page" : undefined} onClick={() => setOpen(false)}>
                  {p.label}
                </Link>
              </li>
            ))}
          </ul>
          <div className="account">
            <WorkspaceSwitcher current={creator.id} />
            <span className="account-email" title={creator.email}>
              {creator.name || creator.email}
            </span>
            <button type="button" className="button secondary" onClick={signOut} disabled={leaving}>
              {leaving ? "Signing out…" : "Sign out"}
            </button>
          </div>
        </nav>
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        {children}
      </main>
    </div>
  );
}
