import type { PrismaClient } from "../generated/prisma/client.ts";
import type { Tx } from "./types.ts";

/** A session's committed snapshots, and where each is stored: what deleting the session deletes. */
export function purgeTargets(db: Pick<Tx, "snapshot">, sessionId: string) {
  return db.snapshot.findMany({ where: { sessionId, status: "committed" }, select: { id: true, storeUrl: true }, orderBy: { createdAt: "asc" } });
}

/** Snapshot metadata; the data itself lives in the snapshot repository (packages/snapshot). */
export function snapshotsRepo(db: PrismaClient) {
  return {
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
    purgeTargets(sessionId: string) {
      return purgeTargets(db, sessionId);
    },
    /** The snapshots the agent deleted from the repository (the session was deleted). */
    markDeleted(sessionId: string, ids: string[]) {
      return db.snapshot.updateMany({ where: { sessionId, id: { in: ids } }, data: { status: "deleted" } });
    },
    latestForSession(sessionId: string) {
      return db.snapshot.findFirst({ where: { sessionId, status: "committed" }, orderBy: { createdAt: "desc" } });
    },
  };
}
