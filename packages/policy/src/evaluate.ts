import { formatDuration } from "@daybox/core";
import { mostSpecific } from "./scope.ts";
import type { Policy, ReclaimAction, Signal } from "./spec.ts";

/** What the control plane knows about a running session. */
export interface SessionFacts {
  id: string;
  owner: string;
  cluster: string;
  project: string;
  gpuType: string;
  labels: readonly string[];
  /** When the current run began (creation or last resume): idleness is never counted from before it. */
  runningSince: Date;
  /** A keep-alive lease or extension the owner set. */
  keepAliveUntil: Date | null;
  /** Extensions the owner used during this run. */
  extensionsUsed: number;
  /** When the owner was warned of the pending reclaim (null: not warned). */
  warnedAt: Date | null;
  lastSnapshotAt: Date | null;
}

export interface Sample {
  at: Date;
  /** Percent: GPU utilisation (the busiest of the session's GPUs), or CPU use of its processes (100 = one core). */
  value: number;
}

/** Activity the agent collected for a session, oldest samples first. */
export interface ActivitySignals {
  /** When the agent last reported; older than STALE_MS and nothing is reclaimed on it. */
  collectedAt: Date;
  /** null: the session runs no Jupyter. */
  kernel: { busy: boolean; lastActivityAt: Date | null } | null;
  terminalLastActivityAt: Date | null;
  gpu: readonly Sample[];
  cpu: readonly Sample[];
}

export type VerdictKind = "active" | "idle" | "warn" | "reclaim" | "exempt";

export interface Verdict {
  sessionId: string;
  kind: VerdictKind;
  /** One sentence a researcher can read. */
  reason: string;
  policy: { name: string; version: number } | null;
  /** What a reclaim does under this policy. */
  action: ReclaimAction | null;
  idleSince: Date | null;
  /** When the session will be reclaimed if nothing changes. */
  reclaimAt: Date | null;
  /** The policy asks for a periodic background snapshot now. */
  snapshotDue: boolean;
  /** The policy's periodic snapshot interval, if it has one. */
  snapshotIntervalMs: number | null;
  /** Higher-priority work may preempt this session (it is parked first). */
  preemptible: boolean;
  /** The owner may still extend. */
  canExtend: boolean;
  /** How long one extension keeps the session, when the policy allows extensions. */
  extensionMs: number | null;
  /** Extensions the policy allows per run. */
  extensionsAllowed: number;
}

/** Signals older than this say nothing about the present: the agent may be down. */
export const STALE_MS = 3 * 60_000;
/** Idle for less than this reads as "active". */
const ACTIVE_WINDOW_MS = 60_000;

const verbs: Record<ReclaimAction, string> = { park: "parks", stop: "stops", notify: "notifies the owner" };

/**
 * The policy engine: for every running session, the most specific policy
 * that applies and what it says now. Pure: no clock, no I/O. A session is
 * reclaimed only after its owner was warned at least the policy's warning
 * period earlier, for the same idle stretch; stale signals never reclaim.
 */
export function evaluate(sessions: readonly SessionFacts[], signals: ReadonlyMap<string, ActivitySignals>, policies: readonly Policy[], now: Date): Verdict[] {
  return sessions.map((s) => evaluateOne(s, signals.get(s.id) ?? null, policies, now));
}

function evaluateOne(s: SessionFacts, sig: ActivitySignals | null, policies: readonly Policy[], now: Date): Verdict {
  const p = mostSpecific(policies, s);
  const base = { sessionId: s.id, idleSince: null, reclaimAt: null, snapshotDue: false, snapshotIntervalMs: null, canExtend: false, extensionMs: null, extensionsAllowed: 0 };
  if (!p) return { ...base, kind: "exempt", reason: "no reclaim policy applies to this session", policy: null, action: null, preemptible: false };

  const policy = { name: p.name, version: p.version };
  const named = `policy '${p.name}' v${p.version}`;
  const common = {
    ...base,
    policy,
    action: p.action,
    preemptible: p.preemptible,
    snapshotIntervalMs: p.snapshotInterval,
    snapshotDue: p.snapshotInterval !== null && now.getTime() - (s.lastSnapshotAt ?? s.runningSince).getTime() >= p.snapshotInterval,
    canExtend: s.extensionsUsed < p.extensions.max,
    extensionMs: p.extensions.max > 0 ? p.extensions.each : null,
    extensionsAllowed: p.extensions.max,
  };

  if (p.exempt.users.includes(s.owner)) return { ...common, kind: "exempt", reason: `${s.owner} is exempt from ${named}`, canExtend: false };
  const label = s.labels.find((l) => p.exempt.labels.includes(l));
  if (label) return { ...common, kind: "exempt", reason: `label '${label}' is exempt from ${named}`, canExtend: false };

  // Maximum lifetime: a hard limit that keep-alive does not lift.
  if (p.maxLifetime !== null) {
    const deadline = s.runningSince.getTime() + p.maxLifetime;
    if (now.getTime() >= deadline - p.warning) {
      const life = `running for ${formatDuration(now.getTime() - s.runningSince.getTime())}; ${named} ${verbs[p.action]} after a maximum lifetime of ${formatDuration(p.maxLifetime)}`;
      return warnOrReclaim(common, s, p, now, deadline, s.runningSince, life);
    }
  }

  if (s.keepAliveUntil && s.keepAliveUntil > now) {
    return { ...common, kind: "exempt", reason: `kept alive by its owner until ${s.keepAliveUntil.toISOString()} (${formatDuration(s.keepAliveUntil.getTime() - now.getTime())} left)` };
  }

  if (!sig || now.getTime() - sig.collectedAt.getTime() > STALE_MS) {
    const age = sig ? `the last came ${formatDuration(now.getTime() - sig.collectedAt.getTime())} ago` : "none yet";
    return { ...common, kind: "active", reason: `no fresh activity signals from its node (${age}); ${named} never reclaims on missing data` };
  }

  const { at: lastActive, what, seen } = lastActivity(p, sig, now);
  const floors = [s.runningSince.getTime(), s.keepAliveUntil?.getTime() ?? 0];
  const idleSinceMs = Math.max(lastActive?.getTime() ?? 0, ...floors);
  const idleSince = new Date(idleSinceMs);
  const idleFor = now.getTime() - idleSinceMs;
  const deadline = idleSinceMs + p.idle.after;
  const rule = `${named} ${verbs[p.action]} after ${formatDuration(p.idle.after)}`;

  if (now.getTime() < deadline - p.warning) {
    if (idleFor < ACTIVE_WINDOW_MS && seen && lastActive && lastActive.getTime() >= Math.max(...floors)) {
      return { ...common, kind: "active", idleSince: null, reclaimAt: new Date(deadline), reason: `active: ${what} ${ago(now, lastActive)}; ${rule} idle` };
    }
    return { ...common, kind: "idle", idleSince, reclaimAt: new Date(deadline), reason: `${idleDescription(p)} for ${formatDuration(idleFor)}; ${rule}` };
  }
  return warnOrReclaim({ ...common, idleSince }, s, p, now, deadline, idleSince, `${idleDescription(p)} for ${formatDuration(idleFor)}; ${rule}`);
}

type Common = Omit<Verdict, "kind" | "reason">;

/** Past the warning point: warn (once, for this stretch), and reclaim only a full warning period after the warning. */
function warnOrReclaim(common: Common, s: SessionFacts, p: Policy, now: Date, deadline: number, stretchStart: Date, why: string): Verdict {
  const warned = s.warnedAt && s.warnedAt >= stretchStart ? s.warnedAt : null;
  const reclaimAt = new Date(Math.max(deadline, (warned ?? now).getTime() + p.warning));
  if (p.action !== "notify" && warned && now >= reclaimAt) return { ...common, kind: "reclaim", reclaimAt: now, reason: why };
  if (p.action === "notify" && warned) return { ...common, kind: "warn", reclaimAt: null, reason: `${why} (owner notified)` };
  const extend = common.canExtend ? "; activity, keep-alive or an extension cancels this" : "; activity or keep-alive cancels this";
  return { ...common, kind: "warn", reclaimAt: p.action === "notify" ? null : reclaimAt, reason: p.action === "notify" ? why : `${why}: ${p.action} at ${reclaimAt.toISOString()}${extend}` };
}

/** The latest moment any counted signal showed activity, and which. */
function lastActivity(p: Policy, sig: ActivitySignals, now: Date): { at: Date | null; what: string; seen: boolean } {
  // `seen: false` marks the start of a signal's history: it bounds idleness but is not activity.
  const candidates: { at: Date; what: string; seen?: boolean }[] = [];
  const counts = (x: Signal) => p.idle.signals.includes(x);
  if (counts("kernel") && sig.kernel) {
    if (sig.kernel.busy) candidates.push({ at: now, what: "a kernel is busy" });
    else if (sig.kernel.lastActivityAt) candidates.push({ at: sig.kernel.lastActivityAt, what: "kernel activity" });
  }
  if (counts("terminal") && sig.terminalLastActivityAt) candidates.push({ at: sig.terminalLastActivityAt, what: "terminal activity" });
  const busy = (samples: readonly Sample[], below: number, what: string) => {
    for (let i = samples.length - 1; i >= 0; i--) {
      const x = samples[i]!;
      if (x.value >= below) return void candidates.push({ at: x.at, what: `${what} ${Math.round(x.value)}%` });
    }
    // Idle through the whole (short) history: idle only since it begins, never longer than we can tell.
    if (samples[0]) candidates.push({ at: samples[0].at, what: `${what} history begins`, seen: false });
  };
  if (counts("gpu")) busy(sig.gpu, p.idle.gpuUtilBelow, "GPU util");
  if (counts("cpu")) busy(sig.cpu, p.idle.cpuBelow, "CPU");
  let best: (typeof candidates)[number] | null = null;
  for (const c of candidates) if (!best || c.at > best.at) best = c;
  return best ? { at: best.at, what: best.what, seen: best.seen ?? true } : { at: null, what: "", seen: false };
}

/** "no kernel or terminal activity and GPU util < 5%" for the signals the policy counts. */
export function idleDescription(p: Pick<Policy, "idle">): string {
  const sig = p.idle.signals;
  const events = sig.filter((x) => x === "kernel" || x === "terminal");
  const parts: string[] = [];
  if (events.length) parts.push(`no ${events.join(" or ")} activity`);
  if (sig.includes("gpu")) parts.push(`GPU util < ${p.idle.gpuUtilBelow}%`);
  if (sig.includes("cpu")) parts.push(`CPU < ${p.idle.cpuBelow}%`);
  return parts.join(" and ");
}

function ago(now: Date, at: Date): string {
  const ms = now.getTime() - at.getTime();
  return ms < 1000 ? "now" : `${formatDuration(ms)} ago`;
}
