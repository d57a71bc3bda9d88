import type { Repos } from "@daybox/db";

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
  const allocated = n.sessions.reduce((sum, s) => sum + s.gpuIndices.length, 0);
  return {
    id: n.id,
    name: n.name,
    cluster: n.cluster.name,
    gpuType: n.gpuType,
    gpuCount: n.gpuCount,
    gpusAllocated: allocated,
    state: n.state,
    schedulable: n.schedulable,
    draining: n.drainingAt !== null,
    lastHeartbeat: n.lastHeartbeat.toISOString(),
    agentVersion: n.agentVersion,
    sessions: n.sessions.map((s) => ({ id: s.id, name: s.name, owner: s.owner.name, state: s.state, gpuIndices: s.gpuIndices })),
  };
}
export type NodeDto = ReturnType<typeof nodeDto>;
