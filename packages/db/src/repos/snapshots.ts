import type { PrismaClient } from "../generated/prisma/client.ts";

/** Snapshot metadata; the data itself lives in the snapshot repository (packages/snapshot). */
export function snapshotsRepo(db: PrismaClient) {
  return {
    record(input: { id: string; sessionId: string; parentId: string | null; storeUrl: string; sizeBytes: number; newBytes: number; fileCount: number; durationMs: number; reason: string; committedAt: Date }) {
      return db.snapshot.upsert({
        where: { id: input.id },
        create: { ...input, manifestKey: `snapshots/${input.id}`, sizeBytes: BigInt(input.sizeBytes), newBytes: BigInt(input.newBytes), status: "committed" },
        update: {},
      });
    },
    forSession(sessionId: string) {
      return db.snapshot.findMany({ where: { sessionId, status: "committed" }, orderBy: { createdAt: "desc" } });
    },
    latestForSession(sessionId: string) {
      return db.snapshot.findFirst({ where: { sessionId, status: "committed" }, orderBy: { createdAt: "desc" } });
    },
  };
}
