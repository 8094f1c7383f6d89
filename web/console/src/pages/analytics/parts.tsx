// The parts of the Analytics page: a section's frame with its loading, empty and error states,
// headline figures, a figure (chart with its table), plain tables and the CSV download.
import { useCallback, useEffect, useId, useRef, useState, type ReactNode } from "react";
import { authorizedFetch, buildURL, errorOf, errorText } from "../../api/client";
import { ChartCanvas, type ChartSpec } from "./Chart";

export type Query = Record<string, string | undefined>;

export type Load<T> =
  | { state: "loading"; data?: T }
  | { state: "ready"; data: T }
  | { state: "error"; error: string; data?: T };

/** GETs an analytics path with the page's filters; reloads when they change. */
export function useAnalytics<T>(path: string, query: Query | null): [Load<T>, () => void] {
  const [load, setLoad] = useState<Load<T>>({ state: "loading" });
  const [attempt, setAttempt] = useState(0);
  const key = query ? buildURL(path, undefined, query) : "";
  useEffect(() => {
    if (!key) return;
    const ctl = new AbortController();
    setLoad((l) => ({ state: "loading", data: l.data }));
    (async () => {
      try {
        const res = await authorizedFetch(key, { signal: ctl.signal, headers: { Accept: "application/json" } });
        if (!res.ok) throw await errorOf(res);
        const data = (await res.json()) as T;
        if (!ctl.signal.aborted) setLoad({ state: "ready", data });
      } catch (e) {
        if (!ctl.signal.aborted) setLoad((l) => ({ state: "error", error: errorText(e), data: l.data }));
      }
    })();
    return () => ctl.abort();
  }, [key, attempt]);
  return [load, useCallback(() => setAttempt((a) => a + 1), [])];
}

/**
 * One numbered section of the dashboard. While loading, a status line; on an error, the
 * message and a retry button; when `empty`, what the section will show once there is data.
 */
export function Section<T>({
  id,
  title,
  intro,
  load,
  retry,
  empty,
  emptyText,
  children,
}: {
  id: string;
  title: string;
  intro: string;
  load: Load<T>;
  retry: () => void;
  empty: (d: T) => boolean;
  emptyText: string;
  children: (d: T) => ReactNode;
}) {
  const heading = `${id}-heading`;
  let body: ReactNode;
  if (load.state === "error") {
    body = (
      <div className="form-error" role="alert">
        <p>Could not load {title.toLowerCase()}: {load.error}</p>
        <button type="button" className="button secondary small" onClick={retry}>
          Try again
        </button>
      </div>
    );
  } else if (load.state === "loading" && !load.data) {
    body = (
      <p className="page-loading" role="status">
        Loading {title.toLowerCase()}…
      </p>
    );
  } else if (load.data && empty(load.data)) {
    body = (
      <p className="empty section-empty" data-empty="true">
        {emptyText}
      </p>
    );
  } else if (load.data) {
    body = children(load.data);
  }
  return (
    <section
      className="panel analytics-section"
      id={id}
      aria-labelledby={heading}
      aria-busy={load.state === "loading"}
      data-state={load.state === "ready" && empty(load.data) ? "empty" : load.state}
    >
      <div className="panel-head">
        <h2 id={heading}>{title}</h2>
        {load.state === "loading" && load.data && (
          <span className="hint" role="status">
            Updating…
          </span>
        )}
      </div>
      <p className="hint section-intro">{intro}</p>
      {body}
    </section>
  );
}

export interface Stat {
  label: string;
  value: string;
  hint?: string;
}

/** Headline figures of a section as a description list. */
export function Stats({ items }: { items: Stat[] }) {
  return (
    <dl className="stats">
      {items.map((s) => (
        <div className="stat" key={s.label}>
          <dt>{s.label}</dt>
          <dd>
            <span className="stat-value">{s.value}</span>
            {s.hint && <span className="stat-hint">{s.hint}</span>}
          </dd>
        </div>
      ))}
    </dl>
  );
}

export interface Column<R> {
  label: string;
  /** The cell: text or an element. */
  cell: (r: R) => ReactNode;
  /** Right-aligned (numbers). */
  num?: boolean;
}

/** A table with a caption; it scrolls inside its own box on narrow screens (and takes the focus to). */
export function DataTable<R>({
  caption,
  columns,
  rows,
  rowKey,
  rowHeader = true,
  hidden,
  className,
}: {
  caption: string;
  columns: Column<R>[];
  rows: R[];
  rowKey: (r: R, i: number) => string;
  rowHeader?: boolean;
  hidden?: boolean;
  className?: string;
}) {
  const id = useId();
  return (
    <div className={hidden ? "visually-hidden" : "table-wrap"} role="region" aria-labelledby={id} tabIndex={hidden ? undefined : 0}>
      <table className={"data" + (className ? " " + className : "")}>
        <caption id={id} className={hidden ? undefined : "data-caption"}>
          {caption}
        </caption>
        <thead>
          <tr>
            {columns.map((c) => (
              <th scope="col" key={c.label} className={c.num ? "num" : undefined}>
                {c.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((r, i) => (
            <tr key={rowKey(r, i)}>
              {columns.map((c, j) =>
                j === 0 && rowHeader ? (
                  <th scope="row" key={c.label} className={c.num ? "num" : undefined}>
                    {c.cell(r)}
                  </th>
                ) : (
                  <td key={c.label} className={c.num ? "num" : undefined}>
                    {c.cell(r)}
                  </td>
                ),
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/**
 * A chart with the same figures as a table. The chart shows by default and the table is read
 * by screen readers (visually hidden); "Show table" swaps them for sighted readers too.
 */
export function Figure<R>({
  title,
  chart,
  table,
  csv,
  height,
}: {
  title: string;
  chart: ChartSpec;
  table: { columns: Column<R>[]; rows: R[]; rowKey: (r: R, i: number) => string };
  csv?: ReactNode;
  height?: number;
}) {
  const [asTable, setAsTable] = useState(false);
  return (
    <figure className="figure" data-view={asTable ? "table" : "chart"}>
      <div className="figure-head">
        <figcaption className="figure-title">{title}</figcaption>
        <div className="figure-actions">
          <button type="button" className="button small secondary" aria-pressed={asTable} onClick={() => setAsTable((v) => !v)}>
            Show table<span className="visually-hidden"> of {title}</span>
          </button>
          {csv}
        </div>
      </div>
      {!asTable && <ChartCanvas spec={chart} height={height} />}
      <DataTable caption={title} hidden={!asTable} {...table} />
    </figure>
  );
}

/**
 * Downloads one table of a section as the API's CSV (the request needs the access token, so it
 * is fetched and handed to the browser as a file).
 */
export function CsvButton({ path, query, table, label, file }: { path: string; query: Query; table?: string; label: string; file: string }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const link = useRef<HTMLAnchorElement | null>(null);
  const download = async () => {
    setBusy(true);
    setError("");
    try {
      const res = await authorizedFetch(buildURL(path, undefined, { ...query, format: "csv", table }), { headers: { Accept: "text/csv" } });
      if (!res.ok) throw await errorOf(res);
      const blob = await res.blob();
      const url = URL.createObjectURL(blob);
      const a = link.current ?? document.createElement("a");
      link.current = a;
      a.href = url;
      a.download = file;
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <span className="csv">
      <button type="button" className="button small secondary" onClick={download} disabled={busy} data-csv={table ?? ""}>
        {busy ? "Preparing…" : "Download CSV"}
        <span className="visually-hidden"> of {label}</span>
      </button>
      {error && (
        <span className="error-text" role="alert">
          {error}
        </span>
      )}
    </span>
  );
}

// Numbers as people read them.
const int = new Intl.NumberFormat();
const dec = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const pct = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 0 });

export const fmt = {
  int: (n: number | null | undefined) => (n === null || n === undefined ? "–" : int.format(n)),
  dec: (n: number | null | undefined) => (n === null || n === undefined ? "–" : dec.format(n)),
  pct: (n: number | null | undefined) => (n === null || n === undefined ? "–" : pct.format(n)),
  /** Milliseconds as "850 ms" or "1.2 s". */
  ms: (n: number | null | undefined) => (n === null || n === undefined ? "–" : n < 1000 ? `${int.format(n)} ms` : `${dec.format(n / 1000)} s`),
  /** Seconds as "45 s", "3.5 min" or "2.1 h". */
  s: (n: number | null | undefined) =>
    n === null || n === undefined ? "–" : n < 90 ? `${int.format(n)} s` : n < 5400 ? `${dec.format(n / 60)} min` : `${dec.format(n / 3600)} h`,
  /** "no_passage: 3, takeover: 1" for a count map, "–" when empty. */
  counts: (m: Record<string, number> | undefined, names?: Record<string, string>) => {
    const e = Object.entries(m ?? {}).filter(([, v]) => v > 0);
    return e.length ? e.map(([k, v]) => `${names?.[k] ?? k}: ${int.format(v)}`).join(", ") : "–";
  },
};
