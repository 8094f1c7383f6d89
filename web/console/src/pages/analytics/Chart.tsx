// Charts of the Analytics page, drawn by Chart.js on a canvas (only the parts used are
// registered, so the chunk stays small). A chart is never the only way to the figures: every
// one sits in a Figure (parts.tsx) whose table carries the same numbers.
import { useEffect, useRef } from "react";
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  type ChartConfiguration,
} from "chart.js";

Chart.register(BarController, BarElement, CategoryScale, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip);

// Colours distinguishable from each other and at least 3:1 against white.
export const palette = ["#1d4ed8", "#c2410c", "#15803d", "#7e22ce", "#0f766e", "#b91c1c", "#4b5563", "#a16207"];

export interface Series {
  label: string;
  data: (number | null)[];
}

export interface ChartSpec {
  kind: "line" | "bar";
  labels: string[];
  series: Series[];
  /** Bars along the y axis (long category names, e.g. documents). */
  horizontal?: boolean;
  stacked?: boolean;
  /** How a value is written on the axis and in the tooltip. */
  format?: (v: number) => string;
}

/** Draws spec on a canvas; the canvas is hidden from assistive technology (the table is not). */
export function ChartCanvas({ spec, height = 260 }: { spec: ChartSpec; height?: number }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = canvas.current;
    if (!el || !box.current) return;
    // Through the CSS object model: the console's CSP allows no style attributes.
    box.current.style.height = `${height}px`;
    const fmt = spec.format ?? ((v: number) => v.toLocaleString());
    const valueAxis = spec.horizontal ? "x" : "y";
    const config: ChartConfiguration<"line" | "bar", (number | null)[], string> = {
      type: spec.kind,
      data: {
        labels: spec.labels,
        datasets: spec.series.map((s, i) => ({
          label: s.label,
          data: s.data,
          borderColor: palette[i % palette.length],
          backgroundColor: palette[i % palette.length],
          borderWidth: spec.kind === "line" ? 2 : 0,
          pointRadius: spec.kind === "line" && spec.labels.length > 45 ? 0 : 2,
          spanGaps: true,
        })),
      },
      options: {
        indexAxis: spec.horizontal ? "y" : "x",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: {
          legend: { position: "bottom", labels: { boxWidth: 12, color: "#1b2430" } },
          tooltip: {
            callbacks: { label: (c) => `${c.dataset.label}: ${c.parsed[valueAxis] === null ? "–" : fmt(c.parsed[valueAxis] as number)}` },
          },
        },
        scales: {
          [valueAxis]: {
            beginAtZero: true,
            stacked: spec.stacked,
            ticks: { color: "#4a5565", callback: (v: string | number) => fmt(Number(v)), precision: 0 },
            grid: { color: "#e5e8ed" },
          },
          [spec.horizontal ? "y" : "x"]: {
            stacked: spec.stacked,
            ticks: { color: "#4a5565", autoSkip: true, maxRotation: 0 },
            grid: { display: false },
          },
        },
      },
    };
    const chart = new Chart(el, config);
    return () => chart.destroy();
  }, [spec, height]);
  return (
    <div className="chart-box" ref={box}>
      <canvas ref={canvas} aria-hidden="true" />
    </div>
  );
}
