import { GPU_HOLDING_STATES } from "@daybox/core";
import { JOB_HOLDING_STATES, type JobView, type QuotaView, type SessionView } from "./view.ts";

/**
 * Which GPU-holding jobs borrow beyond their project's guarantee. A project's
 * guarantee covers its sessions first (interactive before batch), then its
 * jobs by priority and start time; whatever does not fit borrows other
 * projects' unused GPUs and may be preempted by them.
 */
export function borrowingJobs(sessions: readonly SessionView[], jobs: readonly JobView[], quotas: readonly QuotaView[]): Set<string> {
  const room = new Map<string, number>();
  const key = (projectId: string, gpuType: string) => `${projectId}/${gpuType}`;
  for (const q of quotas) room.set(key(q.projectId, q.gpuType), q.guaranteed);
  for (const s of sessions) {
    if (!GPU_HOLDING_STATES.includes(s.state)) continue;
    const k = key(s.projectId, s.gpuType);
    room.set(k, (room.get(k) ?? 0) - s.gpuCount);
  }
  const borrowing = new Set<string>();
  const holding = jobs
    .filter((j) => JOB_HOLDING_STATES.includes(j.state))
    .toSorted((a, b) => b.priority - a.priority || startOf(a) - startOf(b) || a.id.localeCompare(b.id));
  for (const j of holding) {
    const k = key(j.projectId, j.gpuType);
    const left = room.get(k) ?? 0;
    if (j.gpuCount <= left) room.set(k, left - j.gpuCount);
    else borrowing.add(j.id);
  }
  return borrowing;
}

/** The order victims are taken in: lowest priority first, then the one that has run least (least progress lost). */
export function victimOrder(a: JobView, b: JobView): number {
  return a.priority - b.priority || startOf(b) - startOf(a) || b.gpuCount - a.gpuCount || a.id.localeCompare(b.id);
}

export interface VictimChoice {
  victims: JobView[];
  /** Highest priority among the victims: lower is better. */
  worstPriority: number;
  /** Sum of the victims' run times so far: lower is better. */
  lostMs: number;
}

/**
 * The cheapest set of `candidates` (jobs on one node) whose GPUs, with
 * `free` already free, make room for `need` GPUs; null when even all of
 * them are not enough. Greedy in victim order, then jobs that turned out
 * unnecessary are spared again (most valuable first).
 */
export function chooseVictims(need: number, free: number, candidates: readonly JobView[], now: Date): VictimChoice | null {
  if (free >= need) return { victims: [], worstPriority: -Infinity, lostMs: 0 };
  const ordered = candidates.toSorted(victimOrder);
  const victims: JobView[] = [];
  let freed = free;
  for (const j of ordered) {
    if (freed >= need) break;
    victims.push(j);
    freed += j.gpuCount;
  }
  if (freed < need) return null;
  for (const j of victims.toReversed()) {
    if (freed - j.gpuCount >= need) {
      victims.splice(victims.indexOf(j), 1);
      freed -= j.gpuCount;
    }
  }
  return {
    victims,
    worstPriority: Math.max(...victims.map((v) => v.priority)),
    lostMs: victims.reduce((sum, v) => sum + Math.max(0, now.getTime() - startOf(v)), 0),
  };
}

/** Whether choice `a` costs less than `b`: spare higher priorities first, then lose less work, then stop fewer jobs. */
export function cheaper(a: VictimChoice, b: VictimChoice): boolean {
  if (a.worstPriority !== b.worstPriority) return a.worstPriority < b.worstPriority;
  if (a.lostMs !== b.lostMs) return a.lostMs < b.lostMs;
  return a.victims.length < b.victims.length;
}

const startOf = (j: JobView) => (j.startedAt ?? j.submittedAt).getTime();
