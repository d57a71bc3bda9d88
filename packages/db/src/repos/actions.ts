import { randomUUID } from "node:crypto";
import { newId } from "@daybox/core";
import type { PrismaClient, Prisma } from "../generated/prisma/client.ts";
import { jobTransitionIn, type JobTransition } from "./jobs.ts";
import { transitionIn, type Transition } from "./sessions.ts";

export type ActionOutcome =
  | { ok: true; result?: Record<string, unknown> }
  | { ok: false; error: string };

export function actionsRepo(db: PrismaClient) {
  return {
    /**
     * Claims the oldest claimable action of a node: pending, or claimed under
     * a lease that has expired (its agent died). The claim is a conditional
     * update on (status, attempts), so two agents racing for one action
     * cannot both win. Returns the action with its new claimToken, or null.
     */
    async claim(nodeId: string, now: Date, leaseMs: number) {
      for (let tries = 0; tries < 5; tries++) {
        const candidate = await db.agentAction.findFirst({
          where: {
            nodeId,
            OR: [{ status: "pending" }, { status: "claimed", leaseExpiresAt: { lt: now } }],
          },
          orderBy: { createdAt: "asc" },
        });
        if (!candidate) return null;
        const claimToken = randomUUID();
        const { count } = await db.agentAction.updateMany({
          where: { id: candidate.id, status: candidate.status, attempts: candidate.attempts },
          data: {
            status: "claimed",
            claimToken,
            attempts: { increment: 1 },
            leaseExpiresAt: new Date(now.getTime() + leaseMs),
          },
        });
        if (count === 1) return db.agentAction.findUniqueOrThrow({ where: { id: candidate.id } });
      }
      return null;
    },

    /** Which of these nodes have a claimable action now: one query for every agent waiting in a long poll. */
    async claimableNodes(nodeIds: string[], now: Date): Promise<string[]> {
      const rows = await db.agentAction.findMany({
        where: { nodeId: { in: nodeIds }, OR: [{ status: "pending" }, { status: "claimed", leaseExpiresAt: { lt: now } }] },
        select: { nodeId: true },
        distinct: ["nodeId"],
      });
      return rows.map((r) => r.nodeId);
    },

    /** Extends a lease; false when the claim is no longer this caller's. */
    async renew(id: string, claimToken: string, now: Date, leaseMs: number) {
      const { count } = await db.agentAction.updateMany({
        where: { id, claimToken, status: "claimed" },
        data: { leaseExpiresAt: new Date(now.getTime() + leaseMs) },
      });
      return count === 1;
    },

    /**
     * Completes an action from its current claim only, and applies the
     * session transition in the same transaction. Returns false for a stale
     * claim (the lease expired and someone else took it): the caller's work
     * must not be recorded, so an action completes exactly once.
     */
    async complete(input: { id: string; claimToken: string; outcome: ActionOutcome; now: Date; transition?: Transition; jobTransition?: JobTransition }) {
      return db.$transaction(async (tx) => {
        const { count } = await tx.agentAction.updateMany({
          where: { id: input.id, claimToken: input.claimToken, status: "claimed" },
          data: input.outcome.ok
            ? { status: "succeeded", result: (input.outcome.result ?? {}) as Prisma.InputJsonValue, completedAt: input.now }
            : { status: "failed", error: input.outcome.error, completedAt: input.now },
        });
        if (count === 0) return false;
        if (input.transition) await transitionIn(tx, input.transition);
        if (input.jobTransition) await jobTransitionIn(tx, input.jobTransition);
        return true;
      });
    },

    byId(id: string) {
      return db.agentAction.findUnique({ where: { id } });
    },

    /** Queues work for a session's node unless the same kind is already open; returns the open or new action. */
    async enqueueOnce(input: { kind: "snapshot" | "restore" | "stop"; nodeId: string; sessionId: string; payload: Record<string, unknown>; reason: string }) {
      return db.$transaction(async (tx) => {
        const open = await tx.agentAction.findFirst({ where: { sessionId: input.sessionId, kind: input.kind, status: { in: ["pending", "claimed"] } } });
        if (open) return { action: open, created: false };
        const action = await tx.agentAction.create({
          data: { id: newId("act"), kind: input.kind, nodeId: input.nodeId, sessionId: input.sessionId, payload: input.payload as Prisma.InputJsonValue, reason: input.reason },
        });
        return { action, created: true };
      });
    },

    /** Records the agent's latest progress report; false when the claim is stale. */
    async setProgress(id: string, claimToken: string, progress: Record<string, unknown>) {
      const { count } = await db.agentAction.updateMany({ where: { id, claimToken, status: "claimed" }, data: { progress: progress as Prisma.InputJsonValue } });
      return count === 1;
    },

    /** Actions for one session (newest first), for `session show`. */
    forSession(sessionId: string) {
      return db.agentAction.findMany({ where: { sessionId }, orderBy: { createdAt: "desc" }, take: 20 });
    },
  };
}
