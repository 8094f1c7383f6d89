// A minimal client-side router over the History API: the gateway answers every /console/* path
// with index.html, and the console decides what to show from location.pathname.
import { useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent } from "react";

export const base = "/console";

const listeners = new Set<() => void>();
const notify = () => listeners.forEach((l) => l());
window.addEventListener("popstate", () => {
  moved = true;
  notify();
});

function subscribe(l: () => void) {
  listeners.add(l);
  return () => listeners.delete(l);
}

/** The path below /console ("/knowledge"), "/" for the console's root. */
export function currentPath(): string {
  const p = window.location.pathname;
  const rest = p.startsWith(base) ? p.slice(base.length) : p;
  return rest === "" ? "/" : rest;
}

export function usePath(): string {
  return useSyncExternalStore(subscribe, currentPath);
}

let moved = false;

/** Whether the console has changed pages since the document loaded (then a new page takes the focus). */
export function navigatedInApp(): boolean {
  return moved;
}

export function navigate(to: string, opts: { replace?: boolean } = {}) {
  const url = base + (to === "/" ? "" : to);
  if (url === window.location.pathname + window.location.search) return;
  moved = true;
  if (opts.replace) window.history.replaceState(null, "", url);
  else window.history.pushState(null, "", url);
  notify();
}

type LinkProps = AnchorHTMLAttributes<HTMLAnchorElement> & { to: string };

/** A real link (it opens in a new tab with a modifier key) that navigates in place otherwise. */
export function Link({ to, onClick, ...rest }: LinkProps) {
  const handle = (e: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(to);
  };
  return <a href={base + (to === "/" ? "" : to)} onClick={handle} {...rest} />;
}
