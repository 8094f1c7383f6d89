import { useEffect, useRef, type ReactNode } from "react";
import { navigatedInApp } from "../router";

/**
 * A page: its title becomes the document title and, after a navigation, receives the focus, so
 * screen-reader and keyboard users start at the new page's heading.
 */
export function Page({ title, actions, children }: { title: string; actions?: ReactNode; children: ReactNode }) {
  const h1 = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${title} · coachwire console`;
    if (navigatedInApp()) h1.current?.focus();
  }, [title]);
  return (
    <>
      <div className="page-head">
        <h1 ref={h1} tabIndex={-1}>
          {title}
        </h1>
        {actions && <div className="page-actions">{actions}</div>}
      </div>
      {children}
    </>
  );
}
