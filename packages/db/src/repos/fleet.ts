import type { PrismaClient } from "../generated/prisma/client.ts";

export interface FleetSampleInput {
  at: Date;
  gpusTotal: number;
  gpusAllocated: number;
  gpusBusy: number;
  gpusIdleAllocated: number;
  gpusForJobs: number;
  gpuHoursReclaimed: number;
}

/** Samples are kept this long. */
export const FLEET_HISTORY_MS = 30 * 86_400_000;

export function fleetRepo(db: PrismaClient) {
  return {
    /** Records a sample and drops those past the retention window. */
    async record(s: FleetSampleInput) {
      await db.$transaction([db.fleetSample.create({ data: s }), db.fleetSample.deleteMany({ where: { at: { lt: new Date(s.at.getTime() - FLEET_HISTORY_MS) } } })]);
    },
    /** Samples at or after `since`, oldest first. */
    since(since: Date) {
      return db.fleetSample.findMany({ where: { at: { gte: since } }, orderBy: { at: "asc" } });
    },
    async latestAt() {
      return (await db.fleetSample.findFirst({ orderBy: { at: "desc" }, select: { at: true } }))?.at ?? null;
    },
  };
}
