import type { PrismaClient } from "../generated/prisma/client.ts";

/** One consistent read of what the scheduler needs, in a repeatable-read transaction. */
export async function loadWorld(db: PrismaClient) {
  return db.$transaction(
    async (tx) => {
      const nodes = await tx.node.findMany();
      const sessions = await tx.session.findMany({
        where: { state: { notIn: ["Stopped", "Parked", "Failed", "Terminated"] } },
        include: {
          project: { select: { name: true } },
          actions: { where: { status: { in: ["pending", "claimed"] } }, select: { kind: true } },
        },
      });
      const jobs = await tx.batchJob.findMany({
        where: { state: { in: ["Queued", "Scheduled", "Running", "Preempting", "Cancelling"] } },
        include: { project: { select: { name: true } } },
      });
      const quotas = await tx.gpuQuota.findMany();
      return { nodes, sessions, jobs, quotas };
    },
    { isolationLevel: "RepeatableRead" },
  );
}
export type World = Awaited<ReturnType<typeof loadWorld>>;
