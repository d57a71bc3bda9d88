import { GPU_HOLDING_STATES, newId } from "@daybox/core";
import type { PrismaClient, Session } from "../generated/prisma/client.ts";
import type { DesiredState, SessionState } from "../generated/prisma/enums.ts";
import type { Prisma } from "../generated/prisma/client.ts";
import { purgeElsewhere, purgePayload } from "./snapshots.ts";
import type { Actor, Tx } from "./types.ts";

export interface Transition {
  id: string;
  /** The transition happens only from one of these states; otherwise nothing changes. */
  from: readonly SessionState[];
  to: SessionState;
  reason: string;
  actor: Actor;
  patch?: Prisma.SessionUncheckedUpdateManyInput;
  /** When it happened on the caller's clock (accounting compares these); the database's clock otherwise. */
  at?: Date;
}

/** Visibility filter for a principal: own sessions, plus managed projects'. */
export interface SessionScope {
  all?: boolean;
  ownerId?: string;
  projectIds?: string[];
}

export function scopeWhere(scope: SessionScope): Prisma.SessionWhereInput {
  if (scope.all) return {};
  const or: Prisma.SessionWhereInput[] = [];
  if (scope.ownerId) or.push({ ownerId: scope.ownerId });
  if (scope.projectIds?.length) or.push({ projectId: { in: scope.projectIds } });
  return or.length ? { OR: or } : { id: { in: [] } };
}

/**
 * Moves a session between states inside `tx`, recording the event. Returns
 * null when the session is not in one of `from` (someone else moved it first),
 * so callers can treat a lost race as a conflict rather than overwrite it.
 */
export async function transitionIn(tx: Tx, t: Transition): Promise<Session | null> {
  const { count } = await tx.session.updateMany({
    where: { id: t.id, state: { in: [...t.from] } },
    data: { ...t.patch, state: t.to, reason: t.reason, version: { increment: 1 } },
  });
  if (count === 0) return null;
  const session = await tx.session.findUniqueOrThrow({ where: { id: t.id } });
  const last = await tx.sessionEvent.findFirst({ where: { sessionId: t.id }, orderBy: { id: "desc" } });
  await tx.sessionEvent.create({
    data: { sessionId: t.id, fromState: last?.toState ?? null, toState: t.to, reason: t.reason, actor: t.actor, ...(t.at ? { at: t.at } : {}) },
  });
  return session;
}

export function sessionsRepo(db: PrismaClient) {
  return {
    async create(input: {
      name: string;
      ownerId: string;
      projectId: string;
      gpuType: string;
      gpuCount: number;
      image: string;
      reason: string;
      actor: Actor;
    }) {
      const id = newId("ses");
      return db.$transaction(async (tx) => {
        const { reason, actor, ...rest } = input;
        const session = await tx.session.create({ data: { id, ...rest, state: "Pending", reason } });
        await tx.sessionEvent.create({ data: { sessionId: id, fromState: null, toState: "Pending", reason, actor } });
        return session;
      });
    },

    /** Sessions placed on a node (any live state). */
    onNode(nodeId: string) {
      return db.session.findMany({ where: { nodeId, state: { notIn: ["Stopped", "Parked", "Failed", "Terminated"] } }, select: { id: true, state: true } });
    },
    byId(id: string) {
      return db.session.findUnique({
        where: { id },
        include: { owner: { select: { name: true } }, project: { select: { name: true } }, node: { select: { name: true } } },
      });
    },

    list(scope: SessionScope, filter: { states?: SessionState[]; projectId?: string; includeTerminated?: boolean }) {
      const states = filter.states ?? (filter.includeTerminated ? undefined : undefined);
      return db.session.findMany({
        where: {
          AND: [
            scopeWhere(scope),
            states ? { state: { in: states } } : filter.includeTerminated ? {} : { state: { not: "Terminated" } },
            filter.projectId ? { projectId: filter.projectId } : {},
          ],
        },
        include: { owner: { select: { name: true } }, project: { select: { name: true } }, node: { select: { name: true } } },
        orderBy: { createdAt: "desc" },
      });
    },

    transition(t: Transition) {
      return db.$transaction((tx) => transitionIn(tx, t));
    },

    /** Sets desired state and transitions in one step (user requests). */
    request(t: Transition & { desiredState: DesiredState }) {
      const { desiredState, ...rest } = t;
      return db.$transaction((tx) => transitionIn(tx, { ...rest, patch: { ...rest.patch, desiredState } }));
    },

    /** Updates why a session waits; records an event only when the reason changed. */
    async setReason(id: string, reason: string, actor: Actor) {
      await db.$transaction(async (tx) => {
        const s = await tx.session.findUnique({ where: { id } });
        if (!s || s.reason === reason) return;
        await tx.session.update({ where: { id }, data: { reason } });
        await tx.sessionEvent.create({ data: { sessionId: id, fromState: s.state, toState: s.state, reason, actor } });
      });
    },

    /** Places a pending session and queues its start on the node, atomically. */
    async place(input: { id: string; nodeId: string; gpuIndices: number[]; reason: string; actor: Actor; payload: Record<string, unknown> }) {
      return db.$transaction(async (tx) => {
        const s = await transitionIn(tx, {
          id: input.id,
          // Lost: recovered from a lost node, placed again like a pending session
          from: ["Pending", "Lost"],
          to: "Scheduled",
          reason: input.reason,
          actor: input.actor,
          patch: { nodeId: input.nodeId, gpuIndices: input.gpuIndices },
        });
        if (!s) return null;
        await tx.agentAction.create({
          data: {
            id: newId("act"),
            kind: "start",
            nodeId: input.nodeId,
            sessionId: input.id,
            payload: { ...input.payload, gpuIndices: input.gpuIndices } as Prisma.InputJsonValue,
            reason: input.reason,
          },
        });
        return s;
      });
    },

    /**
     * Starts parking a Running session, atomically: Running → Snapshotting
     * (GPUs still held) and a `park` action for its node, which snapshots,
     * quiesces, snapshots again and only then lets the GPUs go. Null if the
     * session was not Running or a park is already under way.
     */
    async startPark(input: { id: string; reason: string; actor: Actor; payload: Record<string, unknown>; at?: Date }) {
      return db.$transaction(async (tx) => {
        const s = await transitionIn(tx, { id: input.id, from: ["Running"], to: "Snapshotting", reason: input.reason, actor: input.actor, patch: { desiredState: "parked", warnedAt: null }, ...(input.at ? { at: input.at } : {}) });
        if (!s || !s.nodeId) return null;
        return tx.agentAction.create({
          data: { id: newId("act"), kind: "park", nodeId: s.nodeId, sessionId: s.id, payload: { ...input.payload, sessionId: s.id, gpuIndices: s.gpuIndices, name: s.name, image: s.image } as Prisma.InputJsonValue, reason: input.reason },
        });
      });
    },

    /** Records that the owner was warned of a pending reclaim (an event on the session's stream). */
    async warn(id: string, reason: string, actor: Actor, at: Date) {
      return db.$transaction(async (tx) => {
        const s = await tx.session.findUnique({ where: { id } });
        if (!s || s.state !== "Running") return false;
        await tx.session.update({ where: { id }, data: { warnedAt: at, reason } });
        await tx.sessionEvent.create({ data: { sessionId: id, fromState: s.state, toState: s.state, reason, actor } });
        return true;
      });
    },

    /** Keep-alive or extension: no reclaim until `until`. */
    async keepAlive(id: string, until: Date, opts: { extension: boolean; reason: string; actor: Actor }) {
      return db.$transaction(async (tx) => {
        const s = await tx.session.findUnique({ where: { id } });
        if (!s) return null;
        const updated = await tx.session.update({ where: { id }, data: { keepAliveUntil: until, warnedAt: null, ...(opts.extension ? { extensionsUsed: { increment: 1 } } : {}) } });
        await tx.sessionEvent.create({ data: { sessionId: id, fromState: s.state, toState: s.state, reason: opts.reason, actor: opts.actor } });
        return updated;
      });
    },

    /**
     * Queues a stop on the session's node and marks it Stopping, atomically.
     * Cancels a start still waiting to be claimed. No-op if a stop is already open.
     */
    async queueStop(input: { id: string; nodeId: string; reason: string; actor: Actor; purge: boolean; desiredState?: DesiredState }) {
      return db.$transaction(async (tx) => {
        const open = await tx.agentAction.findFirst({
          where: { sessionId: input.id, kind: "stop", status: { in: ["pending", "claimed"] } },
        });
        if (open) return null;
        await tx.agentAction.updateMany({
          where: { sessionId: input.id, kind: "start", status: "pending" },
          data: { status: "cancelled", reason: input.reason },
        });
        const s = await tx.session.findUnique({ where: { id: input.id }, include: { project: { select: { name: true } } } });
        if (!s) return null;
        if (s.state !== "Stopping") {
          const moved = await transitionIn(tx, {
            id: input.id,
            from: ["Scheduled", "Starting", "Running"],
            to: "Stopping",
            reason: input.reason,
            actor: input.actor,
            ...(input.desiredState ? { patch: { desiredState: input.desiredState } } : {}),
          });
          if (!moved) return null;
        }
        return tx.agentAction.create({
          data: {
            id: newId("act"),
            kind: "stop",
            nodeId: input.nodeId,
            sessionId: input.id,
            // A purge (the session is deleted) also deletes its snapshots from the project's repository.
            payload: input.purge ? await purgePayload(tx, input.id, s.project.name) : { sessionId: input.id, purge: false },
            reason: input.reason,
          },
        });
      });
    },

    /**
     * The session's node was lost. Its GPUs there are released and what was
     * queued for that node is cancelled; a session meant to run becomes Lost,
     * to be placed again and restored from its latest committed snapshot (the
     * reason says which, and that later work is gone); one being parked or
     * stopped ends as it was meant to.
     */
    async recover(input: { id: string; nodeId: string; reason: string; actor: Actor; at: Date }) {
      return db.$transaction(async (tx) => {
        const s = await tx.session.findUnique({ where: { id: input.id } });
        if (!s || s.nodeId !== input.nodeId || !GPU_HOLDING_STATES.includes(s.state)) return null;
        const snap = await tx.snapshot.findFirst({ where: { sessionId: s.id, status: "committed" }, orderBy: [{ createdAt: "desc" }, { id: "desc" }] });
        await tx.agentAction.updateMany({ where: { sessionId: s.id, status: { in: ["pending", "claimed"] } }, data: { status: "cancelled", reason: input.reason } });
        const released = { nodeId: null, gpuIndices: [], jupyterUrl: null, jupyterToken: null, warnedAt: null, cacheNodeId: null };
        const from = [...GPU_HOLDING_STATES];
        const base = { id: s.id, from, actor: input.actor, at: input.at };
        const snapWords = snap ? `snapshot ${snap.id} of ${snap.createdAt.toISOString()}` : null;
        if (s.desiredState === "running") {
          const reason = snapWords
            ? `${input.reason}: resuming it elsewhere from ${snapWords} (work after that snapshot is lost)`
            : `${input.reason}: it had no snapshot yet, so it starts again elsewhere with an empty environment`;
          return transitionIn(tx, { ...base, to: "Lost", reason, patch: { ...released, parkedSnapshotId: snap?.id ?? null, resumeRequestedAt: input.at } });
        }
        if (s.desiredState === "parked" && snap) {
          return transitionIn(tx, { ...base, to: "Parked", reason: `${input.reason} while it was being parked; it resumes from ${snapWords}`, patch: { ...released, parkedSnapshotId: snap.id, stoppedAt: input.at } });
        }
        const to = s.desiredState === "terminated" ? "Terminated" : "Stopped";
        const ended = await transitionIn(tx, { ...base, to, reason: `${input.reason} while it was being ${to === "Terminated" ? "deleted" : "stopped"}`, patch: { ...released, stoppedAt: input.at } });
        // Deleted: its purge went with the lost node's actions; its snapshots are deleted by a node of the same repository.
        if (ended && to === "Terminated") await purgeElsewhere(tx, s.id, `${input.reason} while it was being deleted`);
        return ended;
      });
    },

    /** Events after `afterId` for sessions in scope (optionally one session), oldest first. */
    eventsAfter(scope: SessionScope, input: { afterId: bigint; sessionId?: string; limit: number }) {
      return db.sessionEvent.findMany({
        where: {
          id: { gt: input.afterId },
          ...(input.sessionId ? { sessionId: input.sessionId } : {}),
          session: scopeWhere(scope),
        },
        include: { session: { select: { name: true, state: true } } },
        orderBy: { id: "asc" },
        take: input.limit,
      });
    },

    lastEventId() {
      return db.sessionEvent.findFirst({ orderBy: { id: "desc" }, select: { id: true } }).then((e) => e?.id ?? 0n);
    },
  };
}
