import type { FleetSampleInput, Repos } from "@daybox/db";

/** A session GPU is idle-but-allocated when its latest utilization sample is below this (percent)… */
export const IDLE_UTIL_BELOW = 5;
/** …and that sample is at most this old; older means unknown (the agent is silent). */
export const FRESH_SAMPLE_MS = 2 * 60_000;

type Holdings = Awaited<ReturnType<Repos["usage"]["holdings"]>>;
type ParkHistory = Awaited<ReturnType<Repos["usage"]["parkHistory"]>>;

export interface ProjectUsage {
  project: string;
  gpuType: string;
  guaranteed: number;
  /** GPUs held by the project's sessions. */
  sessions: number;
  /** GPUs held by the project's batch jobs. */
  batch: number;
  /** GPUs held beyond the guarantee (other projects' unused capacity). */
  borrowed: number;
  /** Session GPUs whose latest utilization sample is below IDLE_UTIL_BELOW. */
  idleAllocated: number;
  /** GPU-hours the project's sessions were parked by a reclaim policy within the window. */
  gpuHoursReclaimed: number;
}

export interface FleetUsage {
  gpuType: string;
  /** GPUs on Ready nodes. */
  total: number;
  allocated: number;
  sessions: number;
  batch: number;
  /** Batch GPUs plus session GPUs with a fresh sample at or above the threshold. */
  busy: number;
  idleAllocated: number;
  /** Session GPUs without a fresh sample. */
  unknown: number;
  free: number;
  gpuHoursReclaimed: number;
}

/** What a session's GPUs are doing, from its latest sample. */
export function gpuActivity(gpu: unknown, now: Date): "busy" | "idle" | "unknown" {
  const samples = Array.isArray(gpu) ? (gpu as [number, number][]) : [];
  const last = samples.at(-1);
  if (!last || now.getTime() - last[0] > FRESH_SAMPLE_MS) return "unknown";
  return last[1] < IDLE_UTIL_BELOW ? "idle" : "busy";
}

/**
 * How long, within [since, now], a session sat parked because a reclaim
 * policy parked it: from each policy-initiated park (its Snapshotting event
 * is the control plane's "reclaimed: …") until the next resume or delete.
 * Manual parks free GPUs too, but they are the user's choice, not a reclaim.
 */
export function reclaimedMs(events: readonly { toState: string; actor: string; reason: string; at: Date }[], since: Date, now: Date): number {
  let byPolicy = false;
  let parkedAt: Date | null = null;
  let total = 0;
  const add = (from: Date, to: Date) => (total += Math.max(0, Math.min(to.getTime(), now.getTime()) - Math.max(from.getTime(), since.getTime())));
  for (const e of events) {
    if (e.toState === "Snapshotting") byPolicy = e.actor === "control-plane" && e.reason.startsWith("reclaimed:");
    else if (e.toState === "Parked") parkedAt = byPolicy ? e.at : null;
    else {
      if (parkedAt) add(parkedAt, e.at);
      parkedAt = null;
      byPolicy = false;
    }
  }
  if (parkedAt) add(parkedAt, now);
  return total;
}

/** Capacity accounting per project and GPU type, and fleet totals per GPU type. */
export function computeUsage(h: Holdings, history: ParkHistory, since: Date, now: Date): { projects: ProjectUsage[]; fleet: FleetUsage[] } {
  const projects = new Map<string, ProjectUsage>();
  const row = (projectId: string, project: string, gpuType: string) => {
    const key = `${projectId}/${gpuType}`;
    let r = projects.get(key);
    if (!r) projects.set(key, (r = { project, gpuType, guaranteed: 0, sessions: 0, batch: 0, borrowed: 0, idleAllocated: 0, gpuHoursReclaimed: 0 }));
    return r;
  };
  const fleet = new Map<string, FleetUsage>();
  const fleetRow = (gpuType: string) => {
    let f = fleet.get(gpuType);
    if (!f) fleet.set(gpuType, (f = { gpuType, total: 0, allocated: 0, sessions: 0, batch: 0, busy: 0, idleAllocated: 0, unknown: 0, free: 0, gpuHoursReclaimed: 0 }));
    return f;
  };

  for (const n of h.nodes) if (n.state === "Ready") fleetRow(n.gpuType).total += n.gpuCount;
  for (const q of h.quotas) row(q.projectId, q.project.name, q.gpuType).guaranteed = q.guaranteed;
  for (const s of h.sessions) {
    const r = row(s.projectId, s.project.name, s.gpuType);
    const f = fleetRow(s.gpuType);
    r.sessions += s.gpuCount;
    f.sessions += s.gpuCount;
    const activity = gpuActivity(s.activity?.gpu, now);
    if (activity === "idle") {
      r.idleAllocated += s.gpuCount;
      f.idleAllocated += s.gpuCount;
    } else if (activity === "busy") f.busy += s.gpuCount;
    else f.unknown += s.gpuCount;
  }
  for (const j of h.jobs) {
    row(j.projectId, j.project.name, j.gpuType).batch += j.gpuCount;
    const f = fleetRow(j.gpuType);
    f.batch += j.gpuCount;
    f.busy += j.gpuCount;
  }
  for (const s of history) {
    const hours = (reclaimedMs(s.events, since, now) / 3_600_000) * s.gpuCount;
    if (hours <= 0) continue;
    row(s.projectId, s.project.name, s.gpuType).gpuHoursReclaimed += hours;
    fleetRow(s.gpuType).gpuHoursReclaimed += hours;
  }
  for (const r of projects.values()) r.borrowed = Math.max(0, r.sessions + r.batch - r.guaranteed);
  for (const f of fleet.values()) {
    f.allocated = f.sessions + f.batch;
    f.free = Math.max(0, f.total - f.allocated);
  }
  const byName = <T extends { gpuType: string }>(a: T & { project?: string }, b: T & { project?: string }) => (a.project ?? "").localeCompare(b.project ?? "") || a.gpuType.localeCompare(b.gpuType);
  return { projects: [...projects.values()].toSorted(byName), fleet: [...fleet.values()].toSorted(byName) };
}

/** The fleet's figures now, summed over GPU types: what the control plane samples each minute for the utilization chart. */
export async function fleetSample(repos: Repos, now: Date): Promise<FleetSampleInput> {
  const [holdings, history] = await Promise.all([repos.usage.holdings(), repos.usage.parkHistory()]);
  const { fleet } = computeUsage(holdings, history, new Date(0), now);
  const sum = (k: "total" | "allocated" | "busy" | "idleAllocated" | "batch" | "gpuHoursReclaimed") => fleet.reduce((n, f) => n + f[k], 0);
  return {
    at: now,
    gpusTotal: sum("total"),
    gpusAllocated: sum("allocated"),
    gpusBusy: sum("busy"),
    gpusIdleAllocated: sum("idleAllocated"),
    gpusForJobs: sum("batch"),
    gpuHoursReclaimed: sum("gpuHoursReclaimed"),
  };
}
