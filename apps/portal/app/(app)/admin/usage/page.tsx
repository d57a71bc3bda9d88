"use client";
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { api } from "../../../../lib/api";
import { AdminOnly } from "../../../../components/admin";
import { TimeChart } from "../../../../components/chart";
import { ErrorNotice, LoadingRows, PageHead } from "../../../../components/ui";

const RANGES = [
  { label: "1 h", hours: 1, since: "1h" },
  { label: "6 h", hours: 6, since: "6h" },
  { label: "24 h", hours: 24, since: "24h" },
  { label: "7 d", hours: 168, since: "7d" },
] as const;

const fmtHours = (h: number) => (Number.isNaN(h) ? "—" : h >= 10 ? h.toFixed(0) : h.toFixed(1));

function Fleet() {
  const [range, setRange] = useState<(typeof RANGES)[number]>(RANGES[2]);
  const usage = useQuery({ queryKey: ["usage", range.since], queryFn: () => api.usage.summary.query({ since: range.since }), refetchInterval: 30_000 });
  const history = useQuery({ queryKey: ["fleet-history", range.hours], queryFn: () => api.usage.fleetHistory.query({ hours: range.hours }), refetchInterval: 60_000 });
  const fleet = usage.data?.fleet ?? [];
  const sum = (k: "total" | "allocated" | "busy" | "idleAllocated" | "free" | "gpuHoursReclaimed" | "batch") =>
    usage.data ? fleet.reduce((n, f) => n + f[k], 0) : Number.NaN;
  const points = history.data?.points ?? [];
  const series = (k: "allocated" | "busy" | "idleAllocated" | "forJobs" | "total") => points.map((p) => [p.at, p[k]] as [number, number]);
  const maxGpus = Math.max(1, ...points.map((p) => p.total));
  return (
    <>
      <PageHead title="Fleet utilization" crumbs="GPUs allocated vs busy vs idle-but-allocated, and what reclaiming idle sessions gave back">
        <div className="seg" role="group" aria-label="Time range">
          {RANGES.map((r) => (
            <button key={r.label} type="button" aria-pressed={r === range} onClick={() => setRange(r)}>
              {r.label}
            </button>
          ))}
        </div>
      </PageHead>
      <ErrorNotice error={usage.error ?? history.error} />
      <dl className="stats" style={{ marginBottom: 16 }}>
        <div className="stat">
          <dt>GPUs</dt>
          <dd>{usage.data ? sum("total") : "—"}</dd>
        </div>
        <div className="stat">
          <dt>Allocated</dt>
          <dd>{usage.data ? sum("allocated") : "—"}</dd>
        </div>
        <div className="stat">
          <dt>Busy</dt>
          <dd>{usage.data ? sum("busy") : "—"}</dd>
        </div>
        <div className="stat">
          <dt>Idle but allocated</dt>
          <dd>{usage.data ? sum("idleAllocated") : "—"}</dd>
        </div>
        <div className="stat">
          <dt>To batch jobs</dt>
          <dd>{usage.data ? sum("batch") : "—"}</dd>
        </div>
        <div className="stat">
          <dt>GPU-hours reclaimed ({usage.data?.window ?? range.label})</dt>
          <dd>{fmtHours(sum("gpuHoursReclaimed"))}</dd>
        </div>
      </dl>
      <div className="grid-2">
        <section className="card">
          <h2>GPUs over the last {range.label}</h2>
          {history.isPending ? (
            <LoadingRows rows={4} />
          ) : (
            <TimeChart
              title="Fleet GPUs over time"
              emptyText="No samples yet: the control plane records one a minute."
              max={maxGpus}
              series={[
                { label: "allocated", color: "#4f46e5", points: series("allocated"), area: true },
                { label: "busy", color: "#16a34a", points: series("busy") },
                { label: "idle but allocated", color: "#d97706", points: series("idleAllocated") },
                { label: "batch jobs", color: "#0891b2", points: series("forJobs") },
              ]}
            />
          )}
          <p className="muted small" style={{ marginBottom: 0 }}>
            Sampled once a minute by the control plane. Idle means {usage.data?.idleDefinition ?? "a low GPU utilization sample"}.
          </p>
        </section>
        <section className="card">
          <h2>GPU-hours reclaimed</h2>
          <TimeChart
            title="Cumulative GPU-hours reclaimed from idle sessions"
            emptyText="No samples yet: the control plane records one a minute."
            height={160}
            series={[{ label: "GPU-hours reclaimed (cumulative)", color: "#7c3aed", points: points.map((p) => [p.at, p.gpuHoursReclaimed] as [number, number]), area: true }]}
          />
          <p className="muted small" style={{ marginBottom: 0 }}>
            Time sessions spent parked by a reclaim policy, times their GPUs: capacity that went to batch work instead of idling.
          </p>
        </section>
      </div>
      <section className="card card-flush" style={{ marginTop: 16 }}>
        <div className="card-head">
          <h2>By project and GPU type</h2>
        </div>
        {usage.isPending ? (
          <LoadingRows />
        ) : (
          <div className="table-wrap">
            <table aria-label="Usage by project">
              <thead>
                <tr>
                  <th>Project</th>
                  <th>GPU type</th>
                  <th className="num">Guaranteed</th>
                  <th className="num">Sessions</th>
                  <th className="num">Batch</th>
                  <th className="num">Borrowed</th>
                  <th className="num">Idle allocated</th>
                  <th className="num">GPU-h reclaimed</th>
                </tr>
              </thead>
              <tbody>
                {(usage.data?.projects ?? []).map((p) => (
                  <tr key={`${p.project}/${p.gpuType}`}>
                    <td>{p.project}</td>
                    <td className="mono">{p.gpuType}</td>
                    <td className="num">{p.guaranteed}</td>
                    <td className="num">{p.sessions}</td>
                    <td className="num">{p.batch}</td>
                    <td className="num">{p.borrowed || "—"}</td>
                    <td className="num">{p.idleAllocated || "—"}</td>
                    <td className="num">{fmtHours(p.gpuHoursReclaimed)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}

export default function UsagePage() {
  return (
    <AdminOnly>
      <Fleet />
    </AdminOnly>
  );
}
