import type { Repos } from "@daybox/db";
import { resumeDto, type ResumeDto } from "./dto.ts";
import { computeUsage, type FleetUsage } from "./usage.ts";

/** Resume latency buckets, in seconds: the targets (2 s warm) sit between buckets, not on an edge. */
export const RESUME_BUCKETS = [0.5, 1, 1.5, 2, 3, 5, 10, 20, 30, 60, 120, 300];
const PHASES = ["total", "scheduling", "preemption", "restore", "start"] as const;

type Sample = { labels?: Record<string, string | number>; value: number };
type Family = { name: string; help: string; type: "gauge" | "counter" | "histogram"; samples: Sample[] };

const escape = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
const labelText = (labels?: Record<string, string | number>) => {
  const entries = Object.entries(labels ?? {});
  return entries.length ? `{${entries.map(([k, v]) => `${k}="${escape(String(v))}"`).join(",")}}` : "";
};

/** The Prometheus text exposition format (version 0.0.4). */
export function renderFamilies(families: readonly Family[]): string {
  const lines: string[] = [];
  for (const f of families) {
    lines.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) lines.push(`${f.name}${labelText(s.labels)} ${Number.isInteger(s.value) ? s.value : s.value.toFixed(6)}`);
  }
  return lines.join("\n") + "\n";
}

/** Histogram lines of each resume phase's seconds: cumulative buckets, then sum and count. */
export function resumeHistogram(resumes: readonly ResumeDto[]): string[] {
  const lines = ["# HELP daybox_resume_duration_seconds Resume latency (request to Running) and its phases.", "# TYPE daybox_resume_duration_seconds histogram"];
  for (const phase of PHASES) {
    const values = resumes.map((r) => r[`${phase}Ms`]).filter((v): v is number => v !== null).map((ms) => ms / 1000);
    for (const le of [...RESUME_BUCKETS, "+Inf"] as const) {
      lines.push(`daybox_resume_duration_seconds_bucket{phase="${phase}",le="${le}"} ${values.filter((v) => le === "+Inf" || v <= le).length}`);
    }
    lines.push(`daybox_resume_duration_seconds_sum{phase="${phase}"} ${values.reduce((a, b) => a + b, 0).toFixed(3)}`, `daybox_resume_duration_seconds_count{phase="${phase}"} ${values.length}`);
  }
  return lines;
}

function fleetGauges(fleet: readonly FleetUsage[]): Sample[] {
  const states = ["allocated", "busy", "idle_allocated", "unknown", "free", "batch", "sessions"] as const;
  const pick: Record<(typeof states)[number], (f: FleetUsage) => number> = {
    allocated: (f) => f.allocated,
    busy: (f) => f.busy,
    idle_allocated: (f) => f.idleAllocated,
    unknown: (f) => f.unknown,
    free: (f) => f.free,
    batch: (f) => f.batch,
    sessions: (f) => f.sessions,
  };
  return fleet.flatMap((f) => states.map((state) => ({ labels: { gpu_type: f.gpuType, state }, value: pick[state](f) })));
}

/** Everything /metrics exposes, read fresh on each scrape. */
export async function collectMetrics(repos: Repos, now: Date): Promise<string> {
  const epoch = new Date(0);
  const [holdings, history, counts, resumes] = await Promise.all([repos.usage.holdings(), repos.usage.parkHistory(), repos.usage.counts(), repos.resumes.completed()]);
  const { fleet, projects } = computeUsage(holdings, history, epoch, now);
  const policyParks = history.reduce((n, s) => n + s.events.filter((e) => e.toState === "Snapshotting" && e.actor === "control-plane" && e.reason.startsWith("reclaimed:")).length, 0);
  const parks = history.reduce((n, s) => n + s.events.filter((e) => e.toState === "Parked").length, 0);
  const text = renderFamilies([
    { name: "daybox_gpus", help: "GPUs on Ready nodes by what they are doing (busy: batch, or session util >= 5% in the latest sample).", type: "gauge", samples: [...fleet.map((f) => ({ labels: { gpu_type: f.gpuType, state: "total" }, value: f.total })), ...fleetGauges(fleet)] },
    { name: "daybox_project_gpus", help: "GPUs held per project and GPU type, by holder.", type: "gauge", samples: projects.flatMap((p) => [
      { labels: { project: p.project, gpu_type: p.gpuType, holder: "sessions" }, value: p.sessions },
      { labels: { project: p.project, gpu_type: p.gpuType, holder: "batch" }, value: p.batch },
      { labels: { project: p.project, gpu_type: p.gpuType, holder: "borrowed" }, value: p.borrowed },
      { labels: { project: p.project, gpu_type: p.gpuType, holder: "guaranteed" }, value: p.guaranteed },
    ]) },
    { name: "daybox_sessions", help: "Sessions by state.", type: "gauge", samples: counts.sessions.map((c) => ({ labels: { state: c.state }, value: c.count })) },
    { name: "daybox_jobs", help: "Batch jobs by state.", type: "gauge", samples: counts.jobs.map((c) => ({ labels: { state: c.state }, value: c.count })) },
    { name: "daybox_reclaim_parks_total", help: "Parks started by a reclaim policy.", type: "counter", samples: [{ value: policyParks }] },
    { name: "daybox_parks_total", help: "Completed parks (policy and manual).", type: "counter", samples: [{ value: parks }] },
    { name: "daybox_gpu_hours_reclaimed_total", help: "GPU-hours sessions spent parked by a reclaim policy.", type: "counter", samples: fleet.map((f) => ({ labels: { gpu_type: f.gpuType }, value: f.gpuHoursReclaimed })) },
    { name: "daybox_job_preemptions_total", help: "Batch job runs preempted (and requeued).", type: "counter", samples: [{ value: counts.jobPreemptions }] },
  ]);
  return text + resumeHistogram(resumes.map(resumeDto)).join("\n") + "\n";
}
