import { Prisma, type PrismaClient } from "../generated/prisma/client.ts";
import type { InputJsonValue } from "../generated/prisma/internal/prismaNamespace.ts";

/** One report from the agent: current values and new samples ([epoch ms, percent]). */
export interface ActivityReport {
  sessionId: string;
  collectedAt: Date;
  kernel: { busy: boolean; lastActivityAt: string | null } | null;
  terminalLastActivityAt: Date | null;
  gpu: [number, number][];
  cpu: [number, number][];
}

/** Samples older than this are dropped: enough for charts and idle windows of hours, one row per session. */
export const ACTIVITY_HISTORY_MS = 6 * 3_600_000;
const MAX_SAMPLES = 2_000;

function merge(old: unknown, fresh: [number, number][], now: number): [number, number][] {
  const prior = Array.isArray(old) ? (old as [number, number][]) : [];
  const last = prior.at(-1)?.[0] ?? -Infinity;
  return [...prior, ...fresh.filter(([t]) => t > last)].filter(([t]) => t >= now - ACTIVITY_HISTORY_MS).slice(-MAX_SAMPLES);
}

export function activityRepo(db: PrismaClient) {
  return {
    /** Stores a report: last values overwritten, samples appended to a bounded history. */
    async record(r: ActivityReport) {
      const now = r.collectedAt.getTime();
      await db.$transaction(async (tx) => {
        const prev = await tx.sessionActivity.findUnique({ where: { sessionId: r.sessionId } });
        const data = {
          collectedAt: r.collectedAt,
          kernel: r.kernel === null ? Prisma.DbNull : (r.kernel as InputJsonValue),
          terminalLastActivityAt: r.terminalLastActivityAt ?? prev?.terminalLastActivityAt ?? null,
          gpu: merge(prev?.gpu, r.gpu, now) as InputJsonValue,
          cpu: merge(prev?.cpu, r.cpu, now) as InputJsonValue,
          kernelBusy: merge(prev?.kernelBusy, r.kernel ? [[now, r.kernel.busy ? 100 : 0]] : [], now) as InputJsonValue,
        };
        await tx.sessionActivity.upsert({ where: { sessionId: r.sessionId }, create: { sessionId: r.sessionId, ...data }, update: data });
      });
    },
    /** Running sessions with what the policy engine needs: owner, project, cluster, signals, last snapshot. */
    runningForReclaim() {
      return db.session.findMany({
        where: { state: "Running" },
        include: {
          owner: { select: { name: true } },
          project: { select: { name: true, webhookUrl: true } },
          node: { select: { cluster: { select: { name: true } } } },
          activity: true,
          snapshots: { where: { status: "committed" }, orderBy: { createdAt: "desc" }, take: 1, select: { createdAt: true } },
        },
        orderBy: { createdAt: "asc" },
      });
    },
    forSessions(ids: string[]) {
      return db.sessionActivity.findMany({ where: { sessionId: { in: ids } } });
    },
  };
}
