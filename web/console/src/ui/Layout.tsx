import { useEffect, useRef, useState, type ReactNode } from "react";
import { session, type Creator } from "../api/session";
import { Link } from "../router";

const pages = [
  { to: "/knowledge", label: "Knowledge" },
  { to: "/analytics", label: "Analytics" },
  { to: "/audit", label: "Audit log" },
];

/** The signed-in frame: skip link, top bar with navigation (a menu on narrow screens), content. */
export function Layout({ creator, path, children }: { creator: Creator; path: string; children: ReactNode }) {
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
        <Link className="brand" to="/knowledge">
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
            {pages.map((p) => (
              <li key={p.to}>
                <Link to={p.to} aria-current={path === p.to ? "page" : undefined} onClick={() => setOpen(false)}>
                  {p.label}
                </Link>
              </li>
            ))}
          </ul>
          <div className="account">
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
