import type { Repos } from "@daybox/db";
import type { Verdict } from "@daybox/policy";

/**
 * What the API returns. Plain JSON (ISO dates, string ids), never raw rows:
 * secrets such as agent secrets, token hashes and Jupyter tokens stay out.
 */
type SessionRow = NonNullable<Awaited<ReturnType<Repos["sessions"]["byId"]>>>;
type NodeRow = Awaited<ReturnType<Repos["nodes"]["list"]>>[number];
type EventRow = Awaited<ReturnType<Repos["sessions"]["eventsAfter"]>>[number];

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

export function sessionDto(s: SessionRow) {
  return {
    id: s.id,
    name: s.name,
    owner: s.owner.name,
    project: s.project.name,
    gpuType: s.gpuType,
    gpuCount: s.gpuCount,
    image: s.image,
    state: s.state,
    desiredState: s.desiredState,
    reason: s.reason,
    node: s.node?.name ?? null,
    gpuIndices: s.gpuIndices,
    hasJupyter: s.jupyterUrl !== null,
    createdAt: iso(s.createdAt)!,
    startedAt: iso(s.startedAt),
    stoppedAt: iso(s.stoppedAt),
    lastActivityAt: iso(s.lastActivityAt),
    keepAliveUntil: iso(s.keepAliveUntil),
    warnedAt: iso(s.warnedAt),
    parkedSnapshotId: s.parkedSnapshotId,
  };
}
export type SessionDto = ReturnType<typeof sessionDto>;

type ResumeRow = Awaited<ReturnType<Repos["resumes"]["forSession"]>>[number];

const between = (a: Date | null, b: Date | null) => (a && b ? b.getTime() - a.getTime() : null);

/**
 * One resume and where its time went: scheduling (request → placed on a
 * node, of which `preemptionMs` waiting for preempted batch jobs to exit),
 * restore, and start (the rest: claiming, Jupyter starting).
 */
export function resumeDto(r: ResumeRow) {
  const totalMs = between(r.requestedAt, r.runningAt);
  const preemptionMs = between(r.preemptionStartedAt, r.placedAt);
  const placedToRunning = between(r.placedAt, r.runningAt);
  return {
    requestedAt: r.requestedAt.toISOString(),
    runningAt: iso(r.runningAt),
    node: r.nodeName,
    totalMs,
    schedulingMs: between(r.requestedAt, r.placedAt),
    preemptionMs,
    restoreMs: r.restoreMs,
    startMs: placedToRunning === null ? null : Math.max(0, placedToRunning - (r.restoreMs ?? 0)),
    restoreSource: r.restoreSource as "local" | "cache" | "store" | null,
    fetchedBytes: r.fetchedBytes === null ? null : Number(r.fetchedBytes),
  };
}
export type ResumeDto = ReturnType<typeof resumeDto>;

type JobRow = NonNullable<Awaited<ReturnType<Repos["jobs"]["byId"]>>>;
type JobEventRow = Awaited<ReturnType<Repos["jobs"]["events"]>>[number];

export function jobDto(j: JobRow) {
  return {
    id: j.id,
    name: j.name,
    owner: j.owner.name,
    project: j.project.name,
    gpuType: j.gpuType,
    gpuCount: j.gpuCount,
    command: j.command,
    priority: j.priority,
    state: j.state,
    reason: j.reason,
    node: j.node?.name ?? null,
    gpuIndices: j.gpuIndices,
    attempts: j.attempts,
    preemptions: j.preemptions,
    gracePeriodSeconds: j.gracePeriodSeconds,
    exitCode: j.exitCode,
    submittedAt: j.submittedAt.toISOString(),
    startedAt: iso(j.startedAt),
    finishedAt: iso(j.finishedAt),
  };
}
export type JobDto = ReturnType<typeof jobDto>;

export function jobEventDto(e: JobEventRow) {
  return { id: e.id.toString(), fromState: e.fromState, toState: e.toState, reason: e.reason, actor: e.actor, at: e.at.toISOString() };
}

export function eventDto(e: EventRow) {
  return {
    id: e.id.toString(),
    sessionId: e.sessionId,
    sessionName: e.session.name,
    fromState: e.fromState,
    toState: e.toState,
    reason: e.reason,
    actor: e.actor,
    at: e.at.toISOString(),
  };
}
export type SessionEventDto = ReturnType<typeof eventDto>;

export function nodeDto(n: NodeRow) {
  const bySessions = n.sessions.reduce((sum, s) => sum + s.gpuIndices.length, 0);
  const byJobs = n.jobs.reduce((sum, j) => sum + j.gpuIndices.length, 0);
  return {
    id: n.id,
    name: n.name,
    cluster: n.cluster.name,
    gpuType: n.gpuType,
    gpuCount: n.gpuCount,
    gpusAllocated: bySessions + byJobs,
    gpusForJobs: byJobs,
    state: n.state,
    schedulable: n.schedulable,
    draining: n.drainingAt !== null,
    /** Why the node's cluster refuses work there (Kubernetes cordon, taints, NotReady), or null. */
    clusterStatus: n.clusterStatus,
    lostAt: n.lostAt?.toISOString() ?? null,
    lastHeartbeat: n.lastHeartbeat.toISOString(),
    agentVersion: n.agentVersion,
    sessions: n.sessions.map((s) => ({ id: s.id, name: s.name, owner: s.owner.name, state: s.state, gpuIndices: s.gpuIndices })),
    jobs: n.jobs.map((j) => ({ id: j.id, name: j.name, owner: j.owner.name, state: j.state, gpuIndices: j.gpuIndices })),
  };
}
export type NodeDto = ReturnType<typeof nodeDto>;

/** A reclaim verdict as the API returns it (the portal's banner, the dry run). */
export function verdictDto(v: Verdict) {
  return {
    sessionId: v.sessionId,
    kind: v.kind,
    reason: v.reason,
    policy: v.policy,
    action: v.action,
    idleSince: iso(v.idleSince),
    reclaimAt: iso(v.reclaimAt),
    canExtend: v.canExtend,
    extensionMs: v.extensionMs,
  };
}
