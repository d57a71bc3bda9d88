import { GPU_HOLDING_STATES } from "@daybox/core";
import type { PrismaClient } from "../generated/prisma/client.ts";

const JOB_HOLDING = ["Scheduled", "Running", "Preempting", "Cancelling"] as const;

/** Reads for capacity accounting and /metrics: who holds which GPUs, and the history of reclaims. */
export function usageRepo(db: PrismaClient) {
  return {
    /** One consistent read of the fleet: nodes, quotas, GPU-holding sessions (with activity) and jobs. */
    holdings() {
      return db.$transaction(
        async (tx) => ({
          nodes: await tx.node.findMany({ select: { id: true, gpuType: true, gpuCount: true, state: true } }),
          quotas: await tx.gpuQuota.findMany({ include: { project: { select: { name: true } } } }),
          sessions: await tx.session.findMany({
            where: { state: { in: [...GPU_HOLDING_STATES] } },
            select: { id: true, projectId: true, project: { select: { name: true } }, gpuType: true, gpuCount: true, state: true, activity: { select: { gpu: true, collectedAt: true } } },
          }),
          jobs: await tx.batchJob.findMany({
            where: { state: { in: [...JOB_HOLDING] } },
            select: { id: true, projectId: true, project: { select: { name: true } }, gpuType: true, gpuCount: true, state: true },
          }),
        }),
        { isolationLevel: "RepeatableRead" },
      );
    },

    /** The park/resume history of every session that was ever parked, oldest event first. */
    parkHistory() {
      return db.session.findMany({
        where: { events: { some: { toState: "Parked" } } },
        select: {
          id: true,
          projectId: true,
          project: { select: { name: true } },
          gpuType: true,
          gpuCount: true,
          events: { where: { toState: { in: ["Snapshotting", "Parked", "Pending", "Terminated"] } }, orderBy: { id: "asc" }, select: { toState: true, actor: true, reason: true, at: true } },
        },
      });
    },

    /** Counts by state, for gauges. */
    async counts() {
      const [sessions, jobs, preemptions] = await Promise.all([
        db.session.groupBy({ by: ["state"], _count: { _all: true } }),
        db.batchJob.groupBy({ by: ["state"], _count: { _all: true } }),
        db.batchJob.aggregate({ _sum: { preemptions: true } }),
      ]);
      return {
        sessions: sessions.map((r) => ({ state: r.state as string, count: r._count._all })),
        jobs: jobs.map((r) => ({ state: r.state as string, count: r._count._all })),
        jobPreemptions: preemptions._sum.preemptions ?? 0,
      };
    },
  };
}
