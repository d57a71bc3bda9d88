import { newId } from "@daybox/core";
import type { PrismaClient } from "../generated/prisma/client.ts";
import type { Tx } from "./types.ts";

/** A session's committed snapshots, and where each is stored: what deleting the session deletes. */
function purgeTargets(db: Pick<Tx, "snapshot">, sessionId: string) {
  return db.snapshot.findMany({ where: { sessionId, status: "committed" }, select: { id: true, storeUrl: true }, orderBy: { createdAt: "asc" } });
}

/** What a stop that purges a deleted session tells its agent: delete the directory, and these snapshots. */
export async function purgePayload(db: Pick<Tx, "snapshot">, sessionId: string, project: string) {
  return { sessionId, purge: true, project, snapshots: await purgeTargets(db, sessionId) };
}

/** Repositories every node reaches alike; a file:// one is each node's own, even under the same URL. */
const SHARED_STORE = /^s3:\/\//;

/**
 * A node that can delete a session's snapshots when none holds its directory
 * any more (its node was lost): a Ready one, not lost, that committed a
 * snapshot to the same shared repository — the session's own snapshots'
 * nodes first, then any. Null if there is none (a file:// repository was only
 * its node's).
 */
export async function storeNode(db: Pick<Tx, "snapshot" | "agentAction">, sessionId: string): Promise<string | null> {
  const urls = [...new Set((await purgeTargets(db, sessionId)).map((s) => s.storeUrl))].filter((url) => SHARED_STORE.test(url));
  if (!urls.length) return null;
  const where = { kind: { in: ["snapshot" as const, "park" as const] }, status: "succeeded" as const, node: { lostAt: null, state: "Ready" as const }, OR: urls.map((url) => ({ result: { path: ["storeUrl"], equals: url } })) };
  const first = (extra: { sessionId?: string }) => db.agentAction.findFirst({ where: { ...where, ...extra }, orderBy: { completedAt: "desc" }, select: { nodeId: true } });
  return ((await first({ sessionId })) ?? (await first({})))?.nodeId ?? null;
}

/**
 * Queues a deleted session's purge on a node of the same shared repository
 * (see storeNode), for its snapshots: the node that held its directory is
 * gone. Nothing if there is none.
 */
export async function purgeElsewhere(tx: Pick<Tx, "snapshot" | "agentAction" | "project" | "session">, sessionId: string, reason: string) {
  const to = await storeNode(tx, sessionId);
  if (!to) return;
  const s = await tx.session.findUniqueOrThrow({ where: { id: sessionId }, select: { project: { select: { name: true } } } });
  await tx.agentAction.create({ data: { id: newId("act"), kind: "stop", nodeId: to, sessionId, payload: await purgePayload(tx, sessionId, s.project.name), reason: `${reason}: delete its snapshots` } });
}

/** Committed snapshots a session keeps by default: the newest; older ones go once a newer one is committed. */
export const DEFAULT_SNAPSHOTS_KEPT = 5;
/** Snapshots one action retires at most (the oldest first): a long history goes over a few snapshots, not in one park. */
const RETIRE_MAX = 100;

/**
 * Snapshot metadata; the data itself lives in the snapshot repository
 * (packages/snapshot). `kept`: committed snapshots each session keeps (0:
 * all, no retention).
 */
export function snapshotsRepo(db: PrismaClient, { kept = DEFAULT_SNAPSHOTS_KEPT } = {}) {
  return {
    /**
     * What an agent needs for a session's next snapshot (a park's too): where
     * they go, the parent to be incremental against, and the snapshots to
     * retire once the new one is committed and verified: those past the
     * newest `kept - 1` (the new one makes `kept`), at most RETIRE_MAX.
     * Never the newest recorded (an agent that dies after deleting and before
     * reporting must not leave the latest snapshot the control plane knows
     * deleted), nor the one the session was parked with (a parked session
     * takes no snapshot: a guard).
     */
    async nextSnapshot(sessionId: string, project: string) {
      const [committed, session] = await Promise.all([
        db.snapshot.findMany({ where: { sessionId, status: "committed" }, select: { id: true, storeUrl: true }, orderBy: [{ createdAt: "desc" }, { id: "desc" }] }),
        db.session.findUnique({ where: { id: sessionId }, select: { parkedSnapshotId: true } }),
      ]);
      const retire = kept === 0 ? [] : committed.slice(Math.max(1, kept - 1)).filter((s) => s.id !== session?.parkedSnapshotId).slice(-RETIRE_MAX);
      return { project, parentSnapshotId: committed[0]?.id ?? null, retire };
    },
    record(input: { id: string; sessionId: string; parentId: string | null; storeUrl: string; sizeBytes: number; newBytes: number; fileCount: number; durationMs: number; reason: string; committedAt: Date }) {
      return db.snapshot.upsert({
        where: { id: input.id },
        // Fields named one by one: a caller's extra properties never reach the query.
        create: {
          id: input.id,
          sessionId: input.sessionId,
          parentId: input.parentId,
          storeUrl: input.storeUrl,
          manifestKey: `snapshots/${input.id}`,
          sizeBytes: BigInt(input.sizeBytes),
          newBytes: BigInt(input.newBytes),
          fileCount: input.fileCount,
          durationMs: input.durationMs,
          reason: input.reason,
          committedAt: input.committedAt,
          // The control plane's clock, like every other timestamp a policy compares (not the database's).
          createdAt: input.committedAt,
          status: "committed",
        },
        update: {},
      });
    },
    forSession(sessionId: string) {
      return db.snapshot.findMany({ where: { sessionId, status: "committed" }, orderBy: { createdAt: "desc" } });
    },
    purgePayload(sessionId: string, project: string) {
      return purgePayload(db, sessionId, project);
    },
    storeNode(sessionId: string) {
      return storeNode(db, sessionId);
    },
    /** The snapshots the agent deleted from the repository (the session was deleted, or they were retired). */
    markDeleted(sessionId: string, ids: string[]) {
      return db.snapshot.updateMany({ where: { sessionId, id: { in: ids } }, data: { status: "deleted" } });
    },
  };
}
