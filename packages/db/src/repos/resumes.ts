import { newId } from "@daybox/core";
import type { PrismaClient } from "../generated/prisma/client.ts";

/**
 * Resume latency, one row per resume: request → placed (scheduling, of which
 * waiting for preempted batch jobs) → restored → Running (start). Each step
 * stamps the newest open row of the session; a row never reaching Running
 * (the resume failed or was stopped) stays open and is left out of figures.
 */
export function resumesRepo(db: PrismaClient) {
  const open = (sessionId: string) => db.sessionResume.findFirst({ where: { sessionId, runningAt: null }, orderBy: { requestedAt: "desc" } });
  return {
    begin(sessionId: string, requestedAt: Date) {
      return db.sessionResume.create({ data: { id: newId("rsm"), sessionId, requestedAt } });
    },
    async preempting(sessionId: string, at: Date) {
      await db.sessionResume.updateMany({ where: { sessionId, runningAt: null, placedAt: null, preemptionStartedAt: null }, data: { preemptionStartedAt: at } });
    },
    async placed(sessionId: string, at: Date, nodeName: string) {
      const row = await open(sessionId);
      if (row && !row.placedAt) await db.sessionResume.update({ where: { id: row.id }, data: { placedAt: at, nodeName } });
    },
    async running(sessionId: string, input: { at: Date; restoreMs: number | null; restoreSource: string | null; fetchedBytes: number | null }) {
      const row = await open(sessionId);
      if (!row) return null;
      return db.sessionResume.update({
        where: { id: row.id },
        data: { runningAt: input.at, restoreMs: input.restoreMs, restoreSource: input.restoreSource, fetchedBytes: input.fetchedBytes === null ? null : BigInt(input.fetchedBytes) },
      });
    },
    forSession(sessionId: string, limit = 20) {
      return db.sessionResume.findMany({ where: { sessionId }, orderBy: { requestedAt: "desc" }, take: limit });
    },
    /** Completed resumes, newest first (for /metrics and the fleet view). */
    completed(limit = 10_000) {
      return db.sessionResume.findMany({ where: { runningAt: { not: null } }, orderBy: { runningAt: "desc" }, take: limit });
    },
  };
}
