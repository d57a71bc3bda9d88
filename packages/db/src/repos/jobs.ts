import { newId } from "@daybox/core";
import type { BatchJob, PrismaClient, Prisma } from "../generated/prisma/client.ts";
import type { JobState } from "../generated/prisma/enums.ts";
import type { SessionScope } from "./sessions.ts";
import type { Actor, Tx } from "./types.ts";

export interface JobTransition {
  id: string;
  /** The transition happens only from one of these states; otherwise nothing changes. */
  from: readonly JobState[];
  to: JobState;
  reason: string;
  actor: Actor;
  patch?: Prisma.BatchJobUncheckedUpdateManyInput;
}

/** Output kept per job; older chunks are dropped beyond this. */
export const JOB_LOG_CAP_BYTES = 4 * 1024 * 1024;

const released = { nodeId: null, gpuIndices: [] } satisfies Prisma.BatchJobUncheckedUpdateManyInput;
const include = { owner: { select: { name: true } }, project: { select: { name: true } }, node: { select: { name: true } } } as const;

/** Moves a job between states inside `tx`, recording the event; null if it was not in `from`. */
export async function jobTransitionIn(tx: Tx, t: JobTransition): Promise<BatchJob | null> {
  const { count } = await tx.batchJob.updateMany({
    where: { id: t.id, state: { in: [...t.from] } },
    data: { ...t.patch, state: t.to, reason: t.reason, version: { increment: 1 } },
  });
  if (count === 0) return null;
  const job = await tx.batchJob.findUniqueOrThrow({ where: { id: t.id } });
  const last = await tx.jobEvent.findFirst({ where: { jobId: t.id }, orderBy: { id: "desc" } });
  await tx.jobEvent.create({ data: { jobId: t.id, fromState: last?.toState ?? null, toState: t.to, reason: t.reason, actor: t.actor } });
  return job;
}

function jobScopeWhere(scope: SessionScope): Prisma.BatchJobWhereInput {
  if (scope.all) return {};
  const or: Prisma.BatchJobWhereInput[] = [];
  if (scope.ownerId) or.push({ ownerId: scope.ownerId });
  if (scope.projectIds?.length) or.push({ projectId: { in: scope.projectIds } });
  return or.length ? { OR: or } : { id: { in: [] } };
}

export function jobsRepo(db: PrismaClient) {
  /** Stops a job that holds GPUs: cancels a run nobody claimed yet, else asks its node to signal it. */
  async function stopIn(tx: Tx, job: BatchJob, to: "Preempting" | "Cancelling", input: { reason: string; actor: Actor; forSessionId?: string | null }) {
    const unstarted = await tx.agentAction.updateMany({ where: { jobId: job.id, kind: "job_run", status: "pending" }, data: { status: "cancelled", reason: input.reason } });
    if (unstarted.count > 0) {
      // It never ran: straight back to the queue (preempted) or cancelled, GPUs released.
      return to === "Preempting"
        ? jobTransitionIn(tx, { id: job.id, from: ["Scheduled"], to: "Queued", reason: `${input.reason}; it had not started, so it was requeued`, actor: input.actor, patch: { ...released, attempts: { decrement: 1 } } })
        : jobTransitionIn(tx, { id: job.id, from: ["Scheduled"], to: "Cancelled", reason: input.reason, actor: input.actor, patch: { ...released, finishedAt: new Date() } });
    }
    const moved = await jobTransitionIn(tx, {
      id: job.id,
      from: ["Scheduled", "Running", ...(to === "Cancelling" ? (["Preempting"] as const) : [])],
      to,
      reason: input.reason,
      actor: input.actor,
      patch: to === "Preempting" ? { preemptedFor: input.forSessionId ?? null } : {},
    });
    if (!moved || !job.nodeId) return moved;
    const open = await tx.agentAction.findFirst({ where: { jobId: job.id, kind: "job_stop", status: { in: ["pending", "claimed"] } } });
    if (!open) {
      await tx.agentAction.create({
        data: {
          id: newId("act"),
          kind: "job_stop",
          nodeId: job.nodeId,
          jobId: job.id,
          payload: { jobId: job.id, attempt: job.attempts, graceMs: job.gracePeriodSeconds * 1000 },
          reason: input.reason,
        },
      });
    }
    return moved;
  }

  return {
    async submit(input: {
      name: string;
      ownerId: string;
      projectId: string;
      gpuType: string;
      gpuCount: number;
      command: string[];
      priority: number;
      gracePeriodSeconds: number;
      reason: string;
      actor: Actor;
      submittedAt: Date;
    }) {
      const { reason, actor, ...rest } = input;
      const id = newId("job");
      return db.$transaction(async (tx) => {
        const job = await tx.batchJob.create({ data: { id, ...rest, state: "Queued", reason } });
        await tx.jobEvent.create({ data: { jobId: id, fromState: null, toState: "Queued", reason, actor } });
        return job;
      });
    },

    byId(id: string) {
      return db.batchJob.findUnique({ where: { id }, include });
    },

    list(scope: SessionScope, filter: { states?: JobState[]; projectId?: string; limit?: number }) {
      return db.batchJob.findMany({
        where: { AND: [jobScopeWhere(scope), filter.states ? { state: { in: filter.states } } : {}, filter.projectId ? { projectId: filter.projectId } : {}] },
        include,
        orderBy: { submittedAt: "desc" },
        take: filter.limit ?? 200,
      });
    },

    events(jobId: string) {
      return db.jobEvent.findMany({ where: { jobId }, orderBy: { id: "asc" } });
    },

    transition(t: JobTransition) {
      return db.$transaction((tx) => jobTransitionIn(tx, t));
    },

    /** Updates why a job waits; an event only when the reason changed. */
    async setReason(id: string, reason: string, actor: Actor) {
      await db.$transaction(async (tx) => {
        const j = await tx.batchJob.findUnique({ where: { id } });
        if (!j || j.reason === reason) return;
        await tx.batchJob.update({ where: { id }, data: { reason } });
        await tx.jobEvent.create({ data: { jobId: id, fromState: j.state, toState: j.state, reason, actor } });
      });
    },

    /** Places a queued job and queues its run on the node, atomically; the attempt is counted here. */
    async place(input: { id: string; nodeId: string; gpuIndices: number[]; reason: string; actor: Actor }) {
      return db.$transaction(async (tx) => {
        const job = await jobTransitionIn(tx, {
          id: input.id,
          from: ["Queued"],
          to: "Scheduled",
          reason: input.reason,
          actor: input.actor,
          patch: { nodeId: input.nodeId, gpuIndices: input.gpuIndices, attempts: { increment: 1 }, preemptedFor: null, exitCode: null },
        });
        if (!job) return null;
        const names = await tx.batchJob.findUniqueOrThrow({ where: { id: job.id }, select: { project: { select: { name: true } }, owner: { select: { name: true } } } });
        await tx.agentAction.create({
          data: {
            id: newId("act"),
            kind: "job_run",
            nodeId: input.nodeId,
            jobId: job.id,
            payload: {
              jobId: job.id,
              name: job.name,
              command: job.command,
              gpuIndices: input.gpuIndices,
              attempt: job.attempts,
              gracePeriodSeconds: job.gracePeriodSeconds,
              // for runtimes that label what they run (Kubernetes pods)
              project: names.project.name,
              owner: names.owner.name,
            },
            reason: input.reason,
          },
        });
        return job;
      });
    },

    /** Preempts a job (SIGTERM, grace period, SIGKILL on its node); it is requeued when it has exited. */
    preempt(input: { id: string; reason: string; actor: Actor; forSessionId: string | null }) {
      return db.$transaction(async (tx) => {
        const job = await tx.batchJob.findUnique({ where: { id: input.id } });
        if (!job || (job.state !== "Scheduled" && job.state !== "Running")) return null;
        return stopIn(tx, job, "Preempting", input);
      });
    },

    /** Cancels a job: at once when queued, else via its node like a preemption (but not requeued). */
    cancel(input: { id: string; reason: string; actor: Actor; now: Date }) {
      return db.$transaction(async (tx) => {
        const job = await tx.batchJob.findUnique({ where: { id: input.id } });
        if (!job) return null;
        if (job.state === "Queued") return jobTransitionIn(tx, { id: job.id, from: ["Queued"], to: "Cancelled", reason: input.reason, actor: input.actor, patch: { finishedAt: input.now } });
        return stopIn(tx, job, "Cancelling", input);
      });
    },

    /**
     * The job's processes ended (or its node lost them). Only the node and
     * attempt it runs as may report it. Preempted → Queued again (the next
     * placement counts a new attempt); cancelled → Cancelled; otherwise the
     * exit code decides Succeeded or Failed.
     */
    exited(input: { jobId: string; nodeId: string; attempt: number; exitCode: number | null; detail: string; actor: Actor; now: Date }) {
      return db.$transaction(async (tx) => {
        const job = await tx.batchJob.findUnique({ where: { id: input.jobId } });
        if (!job || job.nodeId !== input.nodeId || job.attempts !== input.attempt) return null;
        const base = { id: job.id, actor: input.actor };
        // Work still queued for this run (a stop not yet claimed) is moot now.
        await tx.agentAction.updateMany({ where: { jobId: job.id, status: "pending" }, data: { status: "cancelled", reason: "the job's processes already exited" } });
        switch (job.state) {
          case "Preempting":
            return jobTransitionIn(tx, {
              ...base,
              from: ["Preempting"],
              to: "Queued",
              reason: `${job.reason}; ${input.detail}; requeued (attempt ${job.attempts} of this job was preempted)`,
              patch: { ...released, preemptions: { increment: 1 }, exitCode: input.exitCode, startedAt: null },
            });
          case "Cancelling":
            return jobTransitionIn(tx, { ...base, from: ["Cancelling"], to: "Cancelled", reason: `${job.reason}; ${input.detail}`, patch: { ...released, exitCode: input.exitCode, finishedAt: input.now } });
          case "Scheduled":
          case "Running": {
            const ok = input.exitCode === 0;
            return jobTransitionIn(tx, {
              ...base,
              from: ["Scheduled", "Running"],
              to: ok ? "Succeeded" : "Failed",
              reason: input.detail,
              patch: { ...released, exitCode: input.exitCode, finishedAt: input.now },
            });
          }
          default:
            return null;
        }
      });
    },

    /** The job's node was lost: whatever it was doing there is over; it is requeued (or cancelled, if that was asked). */
    requeueLost(input: { id: string; nodeId: string; reason: string; actor: Actor; now: Date }) {
      return db.$transaction(async (tx) => {
        const job = await tx.batchJob.findUnique({ where: { id: input.id } });
        if (!job || job.nodeId !== input.nodeId) return null;
        await tx.agentAction.updateMany({ where: { jobId: job.id, status: { in: ["pending", "claimed"] } }, data: { status: "cancelled", reason: input.reason } });
        const base = { id: job.id, actor: input.actor };
        if (job.state === "Cancelling") {
          return jobTransitionIn(tx, { ...base, from: ["Cancelling"], to: "Cancelled", reason: `${job.reason}; ${input.reason}`, patch: { ...released, finishedAt: input.now } });
        }
        return jobTransitionIn(tx, {
          ...base,
          from: ["Scheduled", "Running", "Preempting"],
          to: "Queued",
          reason: `${input.reason}; requeued (attempt ${job.attempts} ended with the node)`,
          patch: { ...released, startedAt: null },
        });
      });
    },

    /** Jobs the control plane believes run on a node (for an agent that restarted and lost some). */
    onNode(nodeId: string) {
      return db.batchJob.findMany({ where: { nodeId, state: { in: ["Running", "Preempting", "Cancelling"] } } });
    },

    /** Appends output; beyond the cap the oldest chunks are dropped. */
    async appendLog(jobId: string, attempt: number, data: string) {
      await db.$transaction(async (tx) => {
        await tx.jobLogChunk.create({ data: { jobId, attempt, data } });
        const job = await tx.batchJob.update({ where: { id: jobId }, data: { logBytes: { increment: Buffer.byteLength(data) } } });
        if (job.logBytes <= JOB_LOG_CAP_BYTES) return;
        let excess = job.logBytes - JOB_LOG_CAP_BYTES;
        const oldest = await tx.jobLogChunk.findMany({ where: { jobId }, orderBy: { id: "asc" }, take: 50 });
        const drop: bigint[] = [];
        for (const c of oldest) {
          if (excess <= 0) break;
          drop.push(c.id);
          excess -= Buffer.byteLength(c.data);
        }
        const freed = oldest.filter((c) => drop.includes(c.id)).reduce((n, c) => n + Buffer.byteLength(c.data), 0);
        await tx.jobLogChunk.deleteMany({ where: { id: { in: drop } } });
        await tx.batchJob.update({ where: { id: jobId }, data: { logBytes: { decrement: freed } } });
      });
    },

    /** Output after chunk `afterId` (exclusive), oldest first. */
    logs(jobId: string, afterId: bigint | null, limit = 500) {
      return db.jobLogChunk.findMany({ where: { jobId, ...(afterId !== null ? { id: { gt: afterId } } : {}) }, orderBy: { id: "asc" }, take: limit });
    },
  };
}
