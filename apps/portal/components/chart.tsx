"use client";

export interface Series {
  label: string;
  color: string;
  /** [epoch ms, value] points, oldest first. */
  points: [number, number][];
  /** Fill under the line (stacked look for gauges). */
  area?: boolean;
}

/**
 * A small dependency-free SVG time chart: lines (optionally filled) over a
 * shared time axis, a y axis from 0 to `max` (or the data's maximum).
 */
export function TimeChart({
  series,
  max,
  unit = "",
  height = 180,
  title,
  emptyText = "No samples yet.",
}: {
  series: Series[];
  max?: number;
  unit?: string;
  height?: number;
  title: string;
  emptyText?: string;
}) {
  const width = 720;
  const pad = { l: 40, r: 12, t: 10, b: 22 };
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) {
    return (
      <div className="empty small" style={{ height }} role="img" aria-label={`${title}: no data yet`}>
        {emptyText}
      </div>
    );
  }
  const t0 = Math.min(...all.map((p) => p[0]));
  const t1 = Math.max(...all.map((p) => p[0]), t0 + 60_000);
  const yMax = max ?? Math.max(1, ...all.map((p) => p[1]));
  const x = (t: number) => pad.l + ((t - t0) / (t1 - t0)) * (width - pad.l - pad.r);
  const y = (v: number) => pad.t + (1 - Math.min(v, yMax) / yMax) * (height - pad.t - pad.b);
  const ticks = [0, 0.5, 1].map((f) => f * yMax);
  const timeTicks = [t0, (t0 + t1) / 2, t1];
  const fmt = (t: number) => new Date(t).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  return (
    <figure style={{ margin: 0 }}>
      <svg className="chart" viewBox={`0 0 ${width} ${height}`} role="img" aria-label={title}>
        <g className="grid">
          {ticks.map((v) => (
            <g key={v}>
              <line x1={pad.l} x2={width - pad.r} y1={y(v)} y2={y(v)} />
              <text x={pad.l - 6} y={y(v) + 4} textAnchor="end">
                {Math.round(v)}
                {unit}
              </text>
            </g>
          ))}
          {timeTicks.map((t, i) => (
            <text key={i} x={x(t)} y={height - 6} textAnchor={i === 0 ? "start" : i === 2 ? "end" : "middle"}>
              {fmt(t)}
            </text>
          ))}
        </g>
        {series.map((s) => {
          if (s.points.length === 0) return null;
          const line = s.points.map((p, i) => `${i ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join("");
          const last = s.points[s.points.length - 1]!;
          const first = s.points[0]!;
          return (
            <g key={s.label}>
              {s.area ? <path d={`${line}L${x(last[0]).toFixed(1)},${y(0)}L${x(first[0]).toFixed(1)},${y(0)}Z`} fill={s.color} opacity={0.15} /> : null}
              <path d={line} fill="none" stroke={s.color} strokeWidth={1.8} strokeLinejoin="round" />
            </g>
          );
        })}
      </svg>
      <figcaption className="legend">
        {series.map((s) => (
          <span key={s.label}>
            <i style={{ background: s.color }} />
            {s.label}
            {s.points.length ? ` · now ${Math.round(s.points[s.points.length - 1]![1])}${unit}` : ""}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
