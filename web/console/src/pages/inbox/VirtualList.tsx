// A small windowed list: only the rows in view (plus a few either side) are in the DOM, so a
// list of 10,000 conversations stays as light as one of 20. Rows have one fixed height. It is a
// listbox: one tab stop, arrow keys / Home / End / Page Up / Page Down move the active row
// (aria-activedescendant), Enter opens it.
import { useEffect, useRef, useState, type ReactNode } from "react";

interface Props<T> {
  items: T[];
  rowHeight: number;
  label: string;
  id: string;
  keyOf: (item: T) => string;
  render: (item: T, active: boolean) => ReactNode;
  selected?: string;
  onOpen: (item: T) => void;
  /** Called when the last rows come into view (load the next page). */
  onEnd?: () => void;
  overscan?: number;
}

export function VirtualList<T>({ items, rowHeight, label, id, keyOf, render, selected, onOpen, onEnd, overscan = 6 }: Props<T>) {
  const box = useRef<HTMLDivElement>(null);
  const [scroll, setScroll] = useState(0);
  const [height, setHeight] = useState(600);
  const [active, setActive] = useState(0);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setHeight(el.clientHeight || 600));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  useEffect(() => {
    if (active >= items.length && items.length > 0) setActive(items.length - 1);
  }, [items.length, active]);

  const first = Math.max(0, Math.floor(scroll / rowHeight) - overscan);
  const last = Math.min(items.length, Math.ceil((scroll + height) / rowHeight) + overscan);
  useEffect(() => {
    if (onEnd && last >= items.length - overscan && items.length > 0) onEnd();
  }, [last, items.length, onEnd, overscan]);

  const moveTo = (i: number) => {
    const n = Math.max(0, Math.min(items.length - 1, i));
    setActive(n);
    const el = box.current;
    if (!el) return;
    const top = n * rowHeight;
    if (top < el.scrollTop) el.scrollTop = top;
    else if (top + rowHeight > el.scrollTop + el.clientHeight) el.scrollTop = top + rowHeight - el.clientHeight;
  };
  const page = Math.max(1, Math.floor(height / rowHeight) - 1);
  const onKey = (e: React.KeyboardEvent) => {
    const moves: Record<string, number> = { ArrowDown: active + 1, ArrowUp: active - 1, Home: 0, End: items.length - 1, PageDown: active + page, PageUp: active - page };
    if (e.key in moves) {
      e.preventDefault();
      moveTo(moves[e.key]);
    } else if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      const it = items[active];
      if (it) onOpen(it);
    }
  };
  const rowID = (i: number) => `${id}-row-${i}`;
  const rows: ReactNode[] = [];
  for (let i = first; i < last; i++) {
    const it = items[i];
    const k = keyOf(it);
    rows.push(
      <div
        key={k}
        id={rowID(i)}
        role="option"
        aria-selected={k === selected}
        aria-posinset={i + 1}
        aria-setsize={items.length}
        data-row={k}
        className={"vrow" + (i === active ? " vrow-active" : "") + (k === selected ? " vrow-selected" : "")}
        style={{ position: "absolute", top: i * rowHeight, height: rowHeight, left: 0, right: 0 }}
        onClick={() => {
          setActive(i);
          onOpen(it);
        }}
      >
        {render(it, i === active)}
      </div>,
    );
  }
  return (
    <div
      ref={box}
      id={id}
      className="vlist"
      role="listbox"
      aria-label={label}
      tabIndex={0}
      aria-activedescendant={items.length && active >= first && active < last ? rowID(active) : undefined}
      onKeyDown={onKey}
      onScroll={(e) => setScroll(e.currentTarget.scrollTop)}
    >
      <div style={{ position: "relative", height: items.length * rowHeight }}>{rows}</div>
    </div>
  );
}
