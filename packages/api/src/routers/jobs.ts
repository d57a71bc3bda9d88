import type { TRPCRouterRecord } from "@trpc/server";
import { z } from "zod";
import { GPU_TYPE_PATTERN, MAX_GPUS_PER_SESSION, NAME_PATTERN } from "@daybox/core";
import { sessionScope, visibleJob } from "../access.ts";
import { jobDto, jobEventDto } from "../dto.ts";
import { BadInput, Conflict } from "../errors.ts";
import { protectedProcedure } from "../trpc.ts";
import { resolveProject } from "./sessions.ts";

const jobId = z.string().regex(/^job-[a-z0-9]{12}$/, "expected a job id like job-0a1b2c3d4e5f");
export const JOB_STATES = ["Queued", "Scheduled", "Running", "Preempting", "Cancelling", "Succeeded", "Failed", "Cancelled"] as const;

export const submitJobInput = z.object({
  name: z.string().regex(NAME_PATTERN, "use lowercase letters, digits and dashes (at most 63)").optional(),
  project: z.string().regex(NAME_PATTERN, "not a valid project name").optional(),
  gpus: z.number({ error: "must be a number" }).int("must be a whole number").min(1, "must be at least 1").max(MAX_GPUS_PER_SESSION, `must be at most ${MAX_GPUS_PER_SESSION}`),
  gpuType: z.string().regex(GPU_TYPE_PATTERN, "not a valid GPU type (e.g. a100-80gb)").optional(),
  command: z
    .array(z.string().max(8192, "an argument is longer than 8192 characters"))
    .min(1, "give the command to run after `--`")
    .max(1000, "at most 1000 arguments")
    .refine((c) => c.length === 0 || c[0]!.trim() !== "", "the command is empty"),
  /** Higher runs first and is preempted last. */
  priority: z.number().int("must be a whole number").min(-100, "must be at least -100").max(100, "must be at most 100").default(0),
  /** Seconds between SIGTERM and SIGKILL when the job is preempted: time to checkpoint. */
  gracePeriodSeconds: z.number().int("must be a whole number of seconds").min(0, "must not be negative").max(3600, "must be at most 3600 (1h)").default(30),
});
export type SubmitJobInput = z.input<typeof submitJobInput>;

const actor = (name: string) => `user:${name}`;

export const jobsRouter = {
  submit: protectedProcedure.input(submitJobInput).mutation(async ({ ctx, input }) => {
    const project = await resolveProject(ctx.repos, ctx.principal, input.project);
    const types = [...new Set((await ctx.repos.nodes.list()).map((n) => n.gpuType))].toSorted();
    let gpuType = input.gpuType;
    if (!gpuType) {
      // The project's own GPU type, else the cluster's only one.
      const own = project.quotas.map((q) => q.gpuType);
      if (own.length === 1) gpuType = own[0]!;
      else if (types.length === 1) gpuType = types[0]!;
      else throw new BadInput(`several GPU types are possible (${(own.length ? own : types).join(", ")}); pass --gpu-type`);
    }
    if (!types.includes(gpuType)) {
      throw new BadInput(`no node has ${gpuType} GPUs` + (types.length ? ` (the cluster has ${types.join(", ")})` : " (no nodes have registered yet)"));
    }
    const guaranteed = project.quotas.find((q) => q.gpuType === gpuType)?.guaranteed ?? 0;
    const job = await ctx.repos.jobs.submit({
      name: input.name ?? `${ctx.principal.name}-job`,
      ownerId: ctx.principal.id,
      projectId: project.id,
      gpuType,
      gpuCount: input.gpus,
      command: input.command,
      priority: input.priority,
      gracePeriodSeconds: input.gracePeriodSeconds,
      reason:
        `submitted by ${ctx.principal.name}; queued` +
        (input.gpus > guaranteed ? ` (it will borrow GPUs beyond project ${project.name}'s guarantee of ${guaranteed} ${gpuType}, so it may be preempted)` : ""),
      actor: actor(ctx.principal.name),
      submittedAt: ctx.clock.now(),
    });
    ctx.notifier.notify();
    return jobDto((await ctx.repos.jobs.byId(job.id))!);
  }),

  list: protectedProcedure
    .input(z.object({ project: z.string().optional(), state: z.enum(JOB_STATES).optional(), all: z.boolean().default(false) }).default({ all: false }))
    .query(async ({ ctx, input }) => {
      const scope = await sessionScope(ctx.repos, ctx.principal);
      let projectId: string | undefined;
      if (input.project) {
        const project = await ctx.repos.projects.byName(input.project);
        if (!project) throw new BadInput(`project ${input.project} does not exist`);
        projectId = project.id;
      }
      const done = ["Succeeded", "Failed", "Cancelled"] as const;
      const states = input.state ? [input.state] : input.all ? undefined : JOB_STATES.filter((s) => !(done as readonly string[]).includes(s));
      const rows = await ctx.repos.jobs.list(scope, { ...(states ? { states: [...states] } : {}), ...(projectId ? { projectId } : {}) });
      return rows.map(jobDto);
    }),

  byId: protectedProcedure.input(z.object({ id: jobId })).query(async ({ ctx, input }) => jobDto(await visibleJob(ctx.repos, ctx.principal, input.id))),

  events: protectedProcedure.input(z.object({ id: jobId })).query(async ({ ctx, input }) => {
    await visibleJob(ctx.repos, ctx.principal, input.id);
    return (await ctx.repos.jobs.events(input.id)).map(jobEventDto);
  }),

  /** Output after chunk `after` (for `--follow`), oldest first; `cursor` is where to continue. */
  logs: protectedProcedure.input(z.object({ id: jobId, after: z.string().regex(/^\d+$/).nullish() })).query(async ({ ctx, input }) => {
    const job = await visibleJob(ctx.repos, ctx.principal, input.id);
    const chunks = await ctx.repos.jobs.logs(job.id, input.after ? BigInt(input.after) : null);
    return {
      state: job.state,
      chunks: chunks.map((c) => ({ attempt: c.attempt, data: c.data, at: c.at.toISOString() })),
      cursor: chunks.at(-1)?.id.toString() ?? input.after ?? null,
    };
  }),

  cancel: protectedProcedure.input(z.object({ id: jobId })).mutation(async ({ ctx, input }) => {
    const job = await visibleJob(ctx.repos, ctx.principal, input.id);
    if (["Succeeded", "Failed", "Cancelled", "Cancelling"].includes(job.state)) throw new Conflict(`cannot cancel ${job.id}: job is ${job.state}`);
    const moved = await ctx.repos.jobs.cancel({ id: job.id, reason: `cancelled by ${ctx.principal.name}`, actor: actor(ctx.principal.name), now: ctx.clock.now() });
    if (!moved) throw new Conflict(`job ${job.id} changed state while handling your request; check \`daybox job show ${job.id}\` and retry`);
    ctx.notifier.notify();
    return jobDto((await ctx.repos.jobs.byId(job.id))!);
  }),
} satisfies TRPCRouterRecord;
