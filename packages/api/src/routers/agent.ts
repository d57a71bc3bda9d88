import type { TRPCRouterRecord } from "@trpc/server";
import { z } from "zod";
import { formatDuration, GPU_TYPE_PATTERN, NAME_PATTERN } from "@daybox/core";
import type { JobTransition } from "@daybox/db";
import { BadInput, Conflict, NotFound } from "../errors.ts";
import { agentProcedure, type ProtectedContext } from "../trpc.ts";

/**
 * The node agent's side of the API. Agents pull: they claim actions for their
 * node under a lease, renew it while working, and complete with the claim
 * token they were given. A completion from a stale claim is refused.
 */

const claimRef = z.object({ actionId: z.string().min(1), claimToken: z.string().uuid() });

export const startResult = z.object({
  jupyterUrl: z.string().url().nullable().default(null),
  jupyterToken: z.string().nullable().default(null),
  pid: z.number().int().optional(),
});
export type StartResult = z.infer<typeof startResult>;

/** What a committed snapshot action reports: the snapshot is in the repository and verified. */
export const snapshotResult = z.object({
  snapshotId: z.string().regex(/^[0-9A-Za-z-]{8,80}$/),
  parentId: z.string().nullable(),
  storeUrl: z.string().min(1),
  sizeBytes: z.number().int().min(0),
  newBytes: z.number().int().min(0),
  fileCount: z.number().int().min(0),
  durationMs: z.number().int().min(0),
});
export type SnapshotResult = z.infer<typeof snapshotResult>;

/**
 * What an agent reports of the snapshots it was asked to delete (see its
 * forget): a purging stop's (the session was deleted), or a snapshot's and a
 * park's (retention, once the new snapshot is committed).
 */
const forgetReport = z.object({
  forgottenSnapshots: z.array(z.string().regex(/^[0-9A-Za-z-]{8,80}$/)).max(100_000).optional(),
  /** Recorded in a repository other than the node's (another node's file:// store, a moved one): left. */
  elsewhere: z.number().int().min(0).optional(),
  forgetError: z.string().optional(),
});

/** What was wrong with an agent's report, field by field. */
const issuesOf = (error: z.ZodError) => error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");

const outcome = z.discriminatedUnion("ok", [
  z.object({ ok: z.literal(true), result: z.record(z.string(), z.unknown()).default({}) }),
  z.object({ ok: z.literal(false), error: z.string().max(4000), result: z.record(z.string(), z.unknown()).optional() }),
]);

const bytes = (n: number) => (n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KB` : n < 1024 ** 3 ? `${(n / 1024 ** 2).toFixed(1)} MB` : `${(n / 1024 ** 3).toFixed(2)} GB`);

/** "resumed in 2.4s (restore 1.1s, 3.2 MB from the store)": the latency a researcher waited. */
function resumeLatency(totalMs: number, result: Record<string, unknown>): string {
  const restoreMs = typeof result["restoreMs"] === "number" ? result["restoreMs"] : null;
  const fetched = typeof result["fetchedBytes"] === "number" ? result["fetchedBytes"] : null;
  const parts = restoreMs === null ? [] : [`restore ${(restoreMs / 1000).toFixed(1)}s`, ...(fetched === null ? [] : [`${bytes(fetched)} from the store`])];
  return `resumed in ${(totalMs / 1000).toFixed(1)}s${parts.length ? ` (${parts.join(", ")})` : ""}`;
}

/** A failed park that restarted the session reports its new Jupyter address. */
function restartedJupyter(o: { ok: true } | { ok: false; result?: Record<string, unknown> | undefined }) {
  const r = o.ok ? null : startResult.safeParse(o.result ?? null);
  return r?.success ? { jupyterUrl: r.data.jupyterUrl, jupyterToken: r.data.jupyterToken } : {};
}

async function loadClaim(ctx: ProtectedContext, actionId: string, claimToken: string) {
  const action = await ctx.repos.actions.byId(actionId);
  if (!action) throw new NotFound("action", actionId);
  if (action.claimToken !== claimToken || action.status !== "claimed") {
    throw new Conflict(`action ${actionId} is no longer claimed by this agent (lease expired or completed elsewhere)`);
  }
  return action;
}

export const agentRouter = {
  register: agentProcedure
    .input(
      z.object({
        cluster: z.string().regex(NAME_PATTERN).default("local"),
        runtime: z.enum(["local", "kubernetes"]),
        name: z.string().regex(NAME_PATTERN, "node names use lowercase letters, digits and dashes"),
        gpuType: z.string().regex(GPU_TYPE_PATTERN),
        gpuCount: z.number().int().min(0).max(1024),
        agentUrl: z.string().url(),
        agentSecret: z.string().min(32),
        version: z.string().max(100),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const node = await ctx.repos.nodes.register({ ...input, clusterName: input.cluster, agentVersion: input.version }, ctx.clock.now());
      await ctx.repos.audit.record({ actorId: ctx.principal.id, action: "node.register", target: `node:${node.name}`, details: { gpuType: node.gpuType, gpuCount: node.gpuCount } });
      ctx.notifier.notify();
      return { nodeId: node.id, leaseMs: ctx.actionLeaseMs };
    }),

  heartbeat: agentProcedure.input(z.object({ nodeId: z.string() })).mutation(async ({ ctx, input }) => {
    if (!(await ctx.repos.nodes.heartbeat(input.nodeId, ctx.clock.now()))) {
      throw new NotFound("node", input.nodeId, "; register again");
    }
    return { ok: true };
  }),

  /**
   * Activity signals for the sessions running on this node (kernels, terminal,
   * GPU and CPU samples), every few seconds. Reports for sessions not on this
   * node are ignored: an agent speaks only for its own sessions.
   */
  activity: agentProcedure
    .input(
      z.object({
        nodeId: z.string(),
        reports: z
          .array(
            z.object({
              sessionId: z.string(),
              kernel: z.object({ busy: z.boolean(), lastActivityAt: z.string().datetime().nullable() }).nullable(),
              terminalLastActivityAt: z.string().datetime().nullable(),
              gpu: z.array(z.tuple([z.number().int(), z.number().min(0).max(100)])).max(1000),
              cpu: z.array(z.tuple([z.number().int(), z.number().min(0).max(100_000)])).max(1000),
            }),
          )
          .max(1000),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const now = ctx.clock.now();
      const onNode = new Set((await ctx.repos.sessions.onNode(input.nodeId)).map((s) => s.id));
      let accepted = 0;
      for (const r of input.reports) {
        if (!onNode.has(r.sessionId)) continue;
        await ctx.repos.activity.record({ ...r, collectedAt: now, terminalLastActivityAt: r.terminalLastActivityAt ? new Date(r.terminalLastActivityAt) : null });
        accepted++;
      }
      return { accepted };
    }),

  /** The node's next action, or null; with `waitMs`, a long poll that answers as soon as there is one. */
  claim: agentProcedure.input(z.object({ nodeId: z.string(), waitMs: z.number().int().min(0).max(30_000).default(0) })).mutation(async ({ ctx, input, signal }) => {
    const deadline = Date.now() + input.waitMs;
    let action = await ctx.repos.actions.claim(input.nodeId, ctx.clock.now(), ctx.actionLeaseMs);
    while (!action && ctx.claims && Date.now() < deadline && !signal?.aborted) {
      await ctx.claims.wait(input.nodeId, deadline - Date.now(), signal);
      action = await ctx.repos.actions.claim(input.nodeId, ctx.clock.now(), ctx.actionLeaseMs);
    }
    if (!action) return null;
    return {
      id: action.id,
      kind: action.kind,
      sessionId: action.sessionId,
      jobId: action.jobId,
      payload: action.payload as Record<string, unknown>,
      claimToken: action.claimToken!,
      attempts: action.attempts,
      leaseMs: ctx.actionLeaseMs,
    };
  }),

  renew: agentProcedure.input(claimRef).mutation(async ({ ctx, input }) => {
    const ok = await ctx.repos.actions.renew(input.actionId, input.claimToken, ctx.clock.now(), ctx.actionLeaseMs);
    return { ok };
  }),

  /** Progress of a long action (snapshot, restore): files/bytes done, throughput, ETA. */
  progress: agentProcedure
    .input(claimRef.extend({ progress: z.record(z.string(), z.union([z.number(), z.string()])) }))
    .mutation(async ({ ctx, input }) => {
      const ok = await ctx.repos.actions.setProgress(input.actionId, input.claimToken, input.progress);
      return { ok };
    }),

  /** The agent began starting a session: Scheduled → Starting. */
  starting: agentProcedure.input(claimRef.extend({ restoring: z.string().optional() })).mutation(async ({ ctx, input }) => {
    const action = await loadClaim(ctx, input.actionId, input.claimToken);
    const node = await ctx.repos.nodes.byId(action.nodeId);
    if (action.sessionId) {
      await ctx.repos.sessions.transition({
        id: action.sessionId,
        from: ["Scheduled"],
        to: "Starting",
        reason: input.restoring ? `restoring snapshot ${input.restoring} on node ${node?.name ?? action.nodeId}, then starting` : `starting on node ${node?.name ?? action.nodeId}`,
        actor: `agent:${node?.name ?? action.nodeId}`,
      });
      ctx.notifier.notify();
    }
    return { ok: true };
  }),

  complete: agentProcedure.input(claimRef.extend({ outcome })).mutation(async ({ ctx, input }) => {
    const action = await loadClaim(ctx, input.actionId, input.claimToken);
    const node = await ctx.repos.nodes.byId(action.nodeId);
    const nodeName = node?.name ?? action.nodeId;
    const now = ctx.clock.now();
    const session = action.sessionId ? await ctx.repos.sessions.byId(action.sessionId) : null;
    // The node keeps the session's directory and pack cache: a resume prefers it.
    const released = { nodeId: null, gpuIndices: [], jupyterUrl: null, jupyterToken: null, stoppedAt: now, cacheNodeId: action.nodeId };
    let transition;
    let stopNote = ""; // what became of a deleted session's snapshots
    if (session && action.kind === "start") {
      if (input.outcome.ok) {
        const parsed = startResult.safeParse(input.outcome.result);
        if (!parsed.success) throw new BadInput(`invalid start result — ${issuesOf(parsed.error)}`);
        const r = parsed.data;
        transition = {
          id: session.id,
          from: ["Scheduled", "Starting"] as const,
          to: "Running" as const,
          reason:
            `running on node ${nodeName} (GPU ${session.gpuIndices.join(", ")})` +
            (r.jupyterUrl ? " with Jupyter" : ", terminal only: no `jupyter` on the node") +
            (session.resumeRequestedAt ? `; ${resumeLatency(now.getTime() - session.resumeRequestedAt.getTime(), input.outcome.result)}` : ""),
          actor: `agent:${nodeName}`,
          patch: { jupyterUrl: r.jupyterUrl, jupyterToken: r.jupyterToken, startedAt: now, lastActivityAt: now, parkedSnapshotId: null, resumeRequestedAt: null, warnedAt: null, extensionsUsed: 0, keepAliveUntil: null },
        };
      } else {
        transition = {
          id: session.id,
          from: ["Scheduled", "Starting"] as const,
          to: "Failed" as const,
          reason: `failed to start on node ${nodeName}: ${input.outcome.error}`,
          actor: `agent:${nodeName}`,
          patch: released,
        };
      }
    } else if (session && action.kind === "stop" && input.outcome.ok) {
      const terminated = session.desiredState === "terminated";
      const stopped = forgetReport.safeParse(input.outcome.result);
      if (!stopped.success) throw new BadInput(`invalid stop result — ${issuesOf(stopped.error)}`);
      const { forgottenSnapshots: forgotten = [], elsewhere = 0, forgetError } = stopped.data;
      // Deleted from the repository already: recorded whatever becomes of this report.
      if (forgotten.length) await ctx.repos.snapshots.markDeleted(session.id, forgotten);
      stopNote =
        (forgotten.length ? `; ${forgotten.length} snapshot(s) deleted from the store (node ${nodeName} prunes the data only they held)` : "") +
        (forgetError ? `; ${forgotten.length ? "others" : "its snapshots"} could not be deleted (${forgetError.slice(0, 500)}): \`daybox snapshot rm\` against the project's repository does it` : "") +
        (elsewhere ? `; ${elsewhere} snapshot(s) in another repository than node ${nodeName}'s were left` : "");
      transition = {
        id: session.id,
        from: ["Stopping"] as const,
        to: terminated ? ("Terminated" as const) : ("Stopped" as const),
        reason: `${session.reason || "stopped"}; GPUs released on node ${nodeName}${stopNote}`,
        actor: `agent:${nodeName}`,
        patch: released,
      };
    }
    let jobTransition: JobTransition | undefined;
    if (action.jobId && action.kind === "job_run") {
      const job = await ctx.repos.jobs.byId(action.jobId);
      const attempt = (action.payload as { attempt?: number }).attempt;
      if (job && job.attempts === attempt) {
        jobTransition = input.outcome.ok
          ? { id: job.id, from: ["Scheduled"], to: "Running", reason: `running on node ${nodeName} (GPU ${job.gpuIndices.join(", ")}), attempt ${job.attempts}`, actor: `agent:${nodeName}`, patch: { startedAt: now } }
          : { id: job.id, from: ["Scheduled"], to: "Failed", reason: `failed to start on node ${nodeName}: ${input.outcome.error}`, actor: `agent:${nodeName}`, patch: { nodeId: null, gpuIndices: [], finishedAt: now } };
      }
    }
    const snapshots: { result: SnapshotResult; reason: string; at: Date }[] = [];
    let retired: string[] = [];
    if (session && (action.kind === "snapshot" || action.kind === "park") && input.outcome.ok) {
      const parse = (value: unknown) => {
        const parsed = snapshotResult.safeParse(value);
        if (!parsed.success) throw new BadInput(`invalid snapshot result — ${issuesOf(parsed.error)}`);
        return parsed.data;
      };
      const pre = input.outcome.result["preCopy"];
      const final = parse(input.outcome.result);
      // The pre-copy was committed before the final snapshot began.
      if (action.kind === "park" && pre) snapshots.push({ result: parse(pre), reason: "park: pre-copy while the session ran", at: new Date(now.getTime() - Math.max(1, final.durationMs)) });
      // Retention: the older snapshots the action named, deleted once this one was committed (only those).
      // An unreadable report of them must not keep the committed snapshot from being recorded: those stay listed
      // and the next snapshot names them again.
      const report = forgetReport.safeParse(input.outcome.result);
      const named = new Set(((action.payload as { retire?: { id: string }[] }).retire ?? []).map((r) => r.id));
      retired = report.success ? (report.data.forgottenSnapshots ?? []).filter((id) => named.has(id)) : [];
      const failed = report.success ? report.data.forgetError : `the agent's report of them was unreadable (${issuesOf(report.error)})`;
      const retention =
        (retired.length ? `; ${retired.length} older snapshot(s) deleted (retention keeps the newest)` : "") +
        (failed ? `; ${retired.length ? "others" : "older snapshots"} not deleted (${failed.slice(0, 500)}): the next snapshot tries again` : "");
      snapshots.push({ result: final, reason: `${action.kind === "park" ? `park: final, after the session stopped (${action.reason})` : action.reason}${retention}`, at: now });
    }
    if (session && action.kind === "park") {
      const final = snapshots.at(-1)?.result;
      transition = final
        ? {
            id: session.id,
            from: ["Snapshotting"] as const,
            to: "Parked" as const,
            at: now,
            reason: `parked: snapshot ${final.snapshotId} committed and verified (${final.fileCount} files, ${bytes(final.sizeBytes)}, ${bytes(final.newBytes)} new); GPUs released on node ${nodeName}`,
            actor: `agent:${nodeName}`,
            patch: { ...released, parkedSnapshotId: final.snapshotId, desiredState: "parked" as const },
          }
        : {
            id: session.id,
            from: ["Snapshotting"] as const,
            to: "Running" as const,
            reason: `park failed, the session keeps running on node ${nodeName}: ${input.outcome.ok ? "no snapshot" : input.outcome.error}`,
            actor: `agent:${nodeName}`,
            patch: { desiredState: "running" as const, ...restartedJupyter(input.outcome) },
          };
    }
    // Snapshots are committed in the repository already: record them before the action reads as
    // done, so whoever waits on the action finds them (record is idempotent for a retried report).
    for (const { result, reason, at } of snapshots) {
      const { snapshotId, ...stats } = result;
      await ctx.repos.snapshots.record({ ...stats, id: snapshotId, sessionId: session!.id, reason, committedAt: at });
    }
    if (retired.length) await ctx.repos.snapshots.markDeleted(session!.id, retired);
    const accepted = await ctx.repos.actions.complete({
      id: action.id,
      claimToken: input.claimToken,
      outcome: input.outcome,
      now,
      ...(transition ? { transition } : {}),
      ...(jobTransition ? { jobTransition } : {}),
    });
    if (!accepted) throw new Conflict(`action ${action.id} is no longer claimed by this agent`);
    if (session?.resumeRequestedAt && action.kind === "start" && input.outcome.ok) {
      const r = input.outcome.result;
      const num = (k: string) => (typeof r[k] === "number" ? (r[k] as number) : null);
      const source = r["restoreSource"];
      await ctx.repos.resumes.running(session.id, {
        at: now,
        restoreMs: num("restoreMs"),
        restoreSource: source === "local" || source === "cache" || source === "store" ? source : num("fetchedBytes") === null ? null : num("fetchedBytes") === 0 ? "cache" : "store",
        fetchedBytes: num("fetchedBytes"),
      });
    }
    // Deleted while a plain stop ran (`session stop`, then `session rm`): what a purge does is still to do.
    if (session && action.kind === "stop" && input.outcome.ok && session.desiredState === "terminated" && (action.payload as { purge?: boolean }).purge !== true) {
      await ctx.repos.actions.enqueueOnce({
        kind: "stop",
        nodeId: action.nodeId,
        sessionId: session.id,
        payload: await ctx.repos.snapshots.purgePayload(session.id, session.project.name),
        reason: `${session.reason || "deleted"}: delete its directory and its snapshots`,
      });
    }
    // A resting session was Terminated when it was deleted: the note goes on its reason.
    if (session && action.kind === "stop" && stopNote && session.state !== "Stopping") {
      await ctx.repos.sessions.setReason(session.id, `${session.reason}${stopNote}`, `agent:${nodeName}`);
    }
    if (session && action.kind === "stop" && !input.outcome.ok) {
      await ctx.repos.sessions.setReason(session.id, `stop failed on node ${nodeName}, retrying: ${input.outcome.error}`, `agent:${nodeName}`);
    }
    ctx.notifier.notify();
    return { ok: true };
  }),

  /** A batch job's processes exited (or were killed after the grace period): requeue, cancel or finish it. */
  jobExited: agentProcedure
    .input(
      z.object({
        nodeId: z.string(),
        jobId: z.string(),
        attempt: z.number().int().min(1),
        exitCode: z.number().int().nullable(),
        signal: z.string().max(20).nullable(),
        /** SIGKILLed because the grace period after SIGTERM ran out. */
        killedAfterGraceMs: z.number().int().min(0).nullable().default(null),
        runtimeMs: z.number().int().min(0),
        detail: z.string().max(2000).optional(),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const node = await ctx.repos.nodes.byId(input.nodeId);
      const nodeName = node?.name ?? input.nodeId;
      const ran = `after ${formatDuration(input.runtimeMs)}`;
      const how =
        input.detail ??
        (input.killedAfterGraceMs !== null
          ? `killed with SIGKILL on node ${nodeName} ${ran}: it was still running ${Math.round(input.killedAfterGraceMs / 1000)}s after SIGTERM`
          : input.signal
            ? `killed by ${input.signal} on node ${nodeName} ${ran}`
            : `exited with code ${input.exitCode} on node ${nodeName} ${ran}`);
      const moved = await ctx.repos.jobs.exited({ jobId: input.jobId, nodeId: input.nodeId, attempt: input.attempt, exitCode: input.exitCode, detail: how, actor: `agent:${nodeName}`, now: ctx.clock.now() });
      if (moved) ctx.notifier.notify();
      return { ok: moved !== null };
    }),

  /** Output of a running job, in order; kept up to a cap per job. */
  jobLog: agentProcedure
    .input(z.object({ nodeId: z.string(), jobId: z.string(), attempt: z.number().int().min(1), data: z.string().max(256 * 1024) }))
    .mutation(async ({ ctx, input }) => {
      const job = await ctx.repos.jobs.byId(input.jobId);
      if (!job || job.nodeId !== input.nodeId) return { ok: false };
      await ctx.repos.jobs.appendLog(input.jobId, input.attempt, input.data);
      return { ok: true };
    }),

  /**
   * A (re)started agent says which jobs it still runs; any other job the
   * control plane believes runs on the node was lost with the old agent and
   * is requeued (or finished, if it was being cancelled).
   */
  jobsPresent: agentProcedure.input(z.object({ nodeId: z.string(), jobIds: z.array(z.string()).max(1000) })).mutation(async ({ ctx, input }) => {
    const node = await ctx.repos.nodes.byId(input.nodeId);
    const nodeName = node?.name ?? input.nodeId;
    let lost = 0;
    for (const job of await ctx.repos.jobs.onNode(input.nodeId)) {
      if (input.jobIds.includes(job.id)) continue;
      if (job.state === "Running") {
        await ctx.repos.jobs.transition({ id: job.id, from: ["Running"], to: "Preempting", reason: `the agent on node ${nodeName} restarted and no longer runs it`, actor: `agent:${nodeName}` });
      }
      const moved = await ctx.repos.jobs.exited({ jobId: job.id, nodeId: input.nodeId, attempt: job.attempts, exitCode: null, detail: "its processes were gone", actor: `agent:${nodeName}`, now: ctx.clock.now() });
      if (moved) lost++;
    }
    if (lost) ctx.notifier.notify();
    return { lost };
  }),

  /** A session's processes ended on their own (crash, user `exit`): it is Failed unless it was being stopped. */
  sessionExited: agentProcedure
    .input(z.object({ nodeId: z.string(), sessionId: z.string(), detail: z.string().max(2000) }))
    .mutation(async ({ ctx, input }) => {
      const node = await ctx.repos.nodes.byId(input.nodeId);
      const nodeName = node?.name ?? input.nodeId;
      // Only the node a session runs on may say it died: a late report from a node it
      // left (stopped there, resumed elsewhere) must not fail the healthy session.
      const session = await ctx.repos.sessions.byId(input.sessionId);
      if (!session || session.nodeId !== input.nodeId) return { ok: false };
      const moved = await ctx.repos.sessions.transition({
        id: input.sessionId,
        from: ["Running"],
        to: "Failed",
        reason: `the session's processes exited on node ${nodeName}: ${input.detail}`,
        actor: `agent:${nodeName}`,
        patch: { nodeId: null, gpuIndices: [], jupyterUrl: null, jupyterToken: null, stoppedAt: ctx.clock.now() },
      });
      if (moved) ctx.notifier.notify();
      return { ok: moved !== null };
    }),
} satisfies TRPCRouterRecord;
