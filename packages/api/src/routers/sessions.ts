import { tracked, type TRPCRouterRecord } from "@trpc/server";
import { z } from "zod";
import { GPU_TYPE_PATTERN, MAX_GPUS_PER_SESSION, NAME_PATTERN, SESSION_STATES, checkRequest, newId, type UserRequest } from "@daybox/core";
import type { Repos } from "@daybox/db";
import { evaluate } from "@daybox/policy";
import { inScope, sessionScope, visibleSession } from "../access.ts";
import { loadReclaimInputs } from "../reclaim.ts";
import type { Principal } from "../auth.ts";
import { eventDto, resumeDto, sessionDto, verdictDto } from "../dto.ts";
import { BadInput, Conflict, Forbidden, QuotaError, toTRPCError } from "../errors.ts";
import { protectedProcedure, type ProtectedContext } from "../trpc.ts";

const sessionId = z.string().regex(/^ses-[a-z0-9]{12}$/, "expected a session id like ses-0a1b2c3d4e5f");

export const createSessionInput = z.object({
  name: z.string().regex(NAME_PATTERN, "use lowercase letters, digits and dashes (at most 63)").optional(),
  project: z.string().regex(NAME_PATTERN, "not a valid project name").optional(),
  gpus: z
    .number({ error: "must be a number" })
    .int("must be a whole number")
    .min(1, "must be at least 1")
    .max(MAX_GPUS_PER_SESSION, `must be at most ${MAX_GPUS_PER_SESSION}`),
  gpuType: z.string().regex(GPU_TYPE_PATTERN, "not a valid GPU type (e.g. a100-80gb)").optional(),
  image: z.string().min(1).max(200).default("default"),
});
export type CreateSessionInput = z.input<typeof createSessionInput>;

export const listSessionsInput = z
  .object({
    project: z.string().optional(),
    state: z.enum(SESSION_STATES).optional(),
    includeTerminated: z.boolean().default(false),
  })
  .default({ includeTerminated: false });

export const byIdInput = z.object({ id: sessionId });
export const watchInput = z.object({
  sessionId: sessionId.optional(),
  /** Resume after this event id (sent automatically by the SSE client on reconnect). */
  lastEventId: z.string().regex(/^\d+$/).nullish(),
});

const actor = (p: Principal) => `user:${p.name}`;


/** Picks the project for a new session: the named one, else the user's only one. */
export async function resolveProject(repos: Repos, p: Principal, name: string | undefined) {
  if (name) {
    const project = await repos.projects.byName(name);
    if (!project) throw new BadInput(`project ${name} does not exist; \`daybox project ls\` lists yours`);
    if (p.role !== "admin" && !project.memberships.some((m) => m.userId === p.id)) {
      throw new QuotaError(`you are not a member of project ${name}; ask an admin to add you`);
    }
    return project;
  }
  const memberships = await repos.projects.membershipsOf(p.id);
  if (memberships.length === 0) {
    throw new QuotaError("you are not a member of any project; ask an admin to add you (`daybox project add-member`)");
  }
  if (memberships.length > 1) {
    const names = memberships.map((m) => m.project.name).toSorted();
    throw new BadInput(`you are in several projects (${names.join(", ")}); pass --project`);
  }
  return (await repos.projects.byName(memberships[0]!.project.name))!;
}

/** Refuses requests the quota can never satisfy; a request that merely has to wait is accepted. */
function checkQuota(project: { name: string; quotas: { gpuType: string; guaranteed: number }[] }, gpuType: string, gpus: number) {
  const quota = project.quotas.find((q) => q.gpuType === gpuType);
  if (!quota) {
    const have = project.quotas.map((q) => `${q.gpuType}: ${q.guaranteed}`).join(", ");
    throw new QuotaError(
      `project ${project.name} has no quota for ${gpuType} GPUs` + (have ? ` (it has ${have})` : " (it has no GPU quota yet; ask an admin)"),
    );
  }
  if (gpus > quota.guaranteed) {
    throw new QuotaError(
      `project ${project.name} may use at most ${quota.guaranteed} ${gpuType} GPUs at once; this session asks for ${gpus}`,
    );
  }
}

async function requireState(ctx: ProtectedContext, id: string, request: UserRequest) {
  const s = await visibleSession(ctx.repos, ctx.principal, id);
  const verdict = checkRequest(request, s.state);
  if (!verdict.ok) throw new Conflict(`cannot ${request} ${s.name} (${s.id}): ${verdict.reason}`);
  return s;
}

/** Re-reads after a transition; a lost race (null) is a conflict the user can retry. */
async function afterTransition(ctx: ProtectedContext, id: string, moved: unknown) {
  if (!moved) throw new Conflict(`session ${id} changed state while handling your request; check \`daybox session show ${id}\` and retry`);
  ctx.notifier.notify();
  return sessionDto((await ctx.repos.sessions.byId(id))!);
}

export const sessionsRouter = {
  create: protectedProcedure.input(createSessionInput).mutation(async ({ ctx, input }) => {
    const project = await resolveProject(ctx.repos, ctx.principal, input.project);
    let gpuType = input.gpuType;
    if (!gpuType) {
      if (project.quotas.length === 1) gpuType = project.quotas[0]!.gpuType;
      else if (project.quotas.length === 0) throw new QuotaError(`project ${project.name} has no GPU quota yet; ask an admin`);
      else throw new BadInput(`project ${project.name} has quota for several GPU types (${project.quotas.map((q) => q.gpuType).join(", ")}); pass --gpu-type`);
    }
    checkQuota(project, gpuType, input.gpus);
    const s = await ctx.repos.sessions.create({
      name: input.name ?? `${ctx.principal.name}-${newId("x").slice(-5)}`,
      ownerId: ctx.principal.id,
      projectId: project.id,
      gpuType,
      gpuCount: input.gpus,
      image: input.image,
      reason: `created by ${ctx.principal.name}; waiting to be scheduled`,
      actor: actor(ctx.principal),
    });
    ctx.notifier.notify();
    return sessionDto((await ctx.repos.sessions.byId(s.id))!);
  }),

  list: protectedProcedure.input(listSessionsInput).query(async ({ ctx, input }) => {
    const scope = await sessionScope(ctx.repos, ctx.principal);
    let projectId: string | undefined;
    if (input.project) {
      const project = await ctx.repos.projects.byName(input.project);
      if (!project) throw new BadInput(`project ${input.project} does not exist`);
      projectId = project.id;
    }
    const rows = await ctx.repos.sessions.list(scope, {
      ...(input.state ? { states: [input.state] } : {}),
      ...(projectId ? { projectId } : {}),
      includeTerminated: input.includeTerminated || input.state === "Terminated",
    });
    return rows.map(sessionDto);
  }),

  byId: protectedProcedure.input(byIdInput).query(async ({ ctx, input }) => {
    const s = await visibleSession(ctx.repos, ctx.principal, input.id);
    const [last] = await ctx.repos.resumes.forSession(s.id, 1);
    return { ...sessionDto(s), lastResume: last ? resumeDto(last) : null };
  }),

  /** Every resume of the session, newest first, with where the time went. */
  resumes: protectedProcedure.input(byIdInput).query(async ({ ctx, input }) => {
    await visibleSession(ctx.repos, ctx.principal, input.id);
    return (await ctx.repos.resumes.forSession(input.id, 100)).map(resumeDto);
  }),

  events: protectedProcedure.input(byIdInput).query(async ({ ctx, input }) => {
    await visibleSession(ctx.repos, ctx.principal, input.id);
    const scope = await sessionScope(ctx.repos, ctx.principal);
    const rows = await ctx.repos.sessions.eventsAfter(scope, { afterId: 0n, sessionId: input.id, limit: 1000 });
    return rows.map(eventDto);
  }),

  /** The Jupyter URL with its token: for the session's owner only. */
  open: protectedProcedure.input(byIdInput).query(async ({ ctx, input }) => {
    const s = await visibleSession(ctx.repos, ctx.principal, input.id);
    if (s.ownerId !== ctx.principal.id) {
      throw new Forbidden(`only ${s.owner.name} can open ${s.name}: its Jupyter token is theirs alone`);
    }
    if (s.state !== "Running") throw new Conflict(`session ${s.name} is ${s.state}; it can be opened once Running`);
    if (!s.jupyterUrl) {
      throw new Conflict(`session ${s.name} is terminal-only (no \`jupyter\` on its node); use \`daybox attach ${s.id}\``);
    }
    const url = new URL(s.jupyterUrl);
    if (s.jupyterToken) url.searchParams.set("token", s.jupyterToken);
    return { url: url.toString() };
  }),

  stop: protectedProcedure.input(byIdInput).mutation(async ({ ctx, input }) => {
    const s = await requireState(ctx, input.id, "stop");
    const reason = `stopped by ${ctx.principal.name}`;
    // Pending, or Lost (recovered from a lost node, waiting to be placed again): nothing runs yet. A Lost session
    // keeps the snapshot it was to be restored from, and resumes from it.
    const moved =
      s.state === "Pending" || s.state === "Lost"
        ? await ctx.repos.sessions.request({ id: s.id, from: ["Pending", "Lost"], to: "Stopped", reason, actor: actor(ctx.principal), desiredState: "stopped", patch: { stoppedAt: ctx.clock.now() } })
        : await ctx.repos.sessions.request({ id: s.id, from: ["Scheduled", "Starting", "Running"], to: "Stopping", reason, actor: actor(ctx.principal), desiredState: "stopped" });
    return afterTransition(ctx, s.id, moved);
  }),

  resume: protectedProcedure.input(byIdInput).mutation(async ({ ctx, input }) => {
    const s = await requireState(ctx, input.id, "resume");
    const project = (await ctx.repos.projects.byName(s.project.name))!;
    checkQuota(project, s.gpuType, s.gpuCount);
    const parked = s.parkedSnapshotId !== null;
    const moved = await ctx.repos.sessions.request({
      id: s.id,
      from: ["Stopped", "Parked", "Failed"],
      to: "Pending",
      reason: `resumed by ${ctx.principal.name}; waiting to be scheduled` + (parked ? `, then restored from snapshot ${s.parkedSnapshotId}` : ""),
      actor: actor(ctx.principal),
      desiredState: "running",
      patch: { stoppedAt: null, resumeRequestedAt: ctx.clock.now() },
      at: ctx.clock.now(),
    });
    if (moved) await ctx.repos.resumes.begin(s.id, ctx.clock.now());
    return afterTransition(ctx, s.id, moved);
  }),

  /**
   * Snapshot a running session now, in the background (incremental against
   * its last snapshot). Parking (issue #4) will do this before releasing GPUs.
   */
  snapshot: protectedProcedure.input(byIdInput).mutation(async ({ ctx, input }) => {
    const s = await visibleSession(ctx.repos, ctx.principal, input.id);
    if (s.state !== "Running" || !s.nodeId) throw new Conflict(`cannot snapshot ${s.name} (${s.id}): session is ${s.state}; only Running sessions can be snapshotted`);
    const { action, created } = await ctx.repos.actions.enqueueOnce({
      kind: "snapshot",
      nodeId: s.nodeId,
      sessionId: s.id,
      payload: { sessionId: s.id, ...(await ctx.repos.snapshots.nextSnapshot(s.id, s.project.name)), requestedBy: ctx.principal.name },
      reason: `snapshot requested by ${ctx.principal.name}`,
    });
    return { actionId: action.id, alreadyRunning: !created };
  }),

  snapshots: protectedProcedure.input(byIdInput).query(async ({ ctx, input }) => {
    await visibleSession(ctx.repos, ctx.principal, input.id);
    const rows = await ctx.repos.snapshots.forSession(input.id);
    return rows.map((r) => ({
      id: r.id,
      parentId: r.parentId,
      sizeBytes: Number(r.sizeBytes),
      newBytes: Number(r.newBytes),
      files: r.fileCount,
      durationMs: r.durationMs,
      reason: r.reason,
      createdAt: r.createdAt.toISOString(),
    }));
  }),

  /**
   * Where each of the caller's Running sessions stands with its reclaim
   * policy right now: active, idle, warned (with when it will be reclaimed),
   * exempt — the same verdicts the control plane acts on.
   */
  reclaimStatus: protectedProcedure.query(async ({ ctx }) => {
    const scope = await sessionScope(ctx.repos, ctx.principal);
    const { rows, sessions, signals, policies } = await loadReclaimInputs(ctx.repos);
    const visible = new Set(rows.filter((r) => inScope(scope, r)).map((r) => r.id));
    return evaluate(sessions.filter((f) => visible.has(f.id)), signals, policies, ctx.clock.now()).map(verdictDto);
  }),

  /** The session's activity signals (last values and recent history, for charts) and its reclaim verdict. */
  signals: protectedProcedure.input(byIdInput).query(async ({ ctx, input }) => {
    const s = await visibleSession(ctx.repos, ctx.principal, input.id);
    const { rows, sessions, signals, policies } = await loadReclaimInputs(ctx.repos);
    const facts = sessions.find((f) => f.id === s.id);
    const sig = signals.get(s.id) ?? null;
    const kernelBusy = rows.find((r) => r.id === s.id)?.activity?.kernelBusy;
    const [verdict] = facts ? evaluate([facts], signals, policies, ctx.clock.now()) : [];
    return {
      collectedAt: sig?.collectedAt.toISOString() ?? null,
      kernel: sig?.kernel ? { busy: sig.kernel.busy, lastActivityAt: sig.kernel.lastActivityAt?.toISOString() ?? null } : null,
      terminalLastActivityAt: sig?.terminalLastActivityAt?.toISOString() ?? null,
      gpu: (sig?.gpu ?? []).map((p) => [p.at.getTime(), p.value] as [number, number]),
      cpu: (sig?.cpu ?? []).map((p) => [p.at.getTime(), p.value] as [number, number]),
      /** Kernel busy (100) or idle (0) at each report. */
      kernelBusy: Array.isArray(kernelBusy) ? (kernelBusy as [number, number][]) : [],
      verdict: verdict ? verdictDto(verdict) : null,
    };
  }),

  /** Recent agent work on the session (start, stop, snapshot, restore) with status and live progress. */
  activity: protectedProcedure.input(byIdInput).query(async ({ ctx, input }) => {
    await visibleSession(ctx.repos, ctx.principal, input.id);
    const rows = await ctx.repos.actions.forSession(input.id);
    return rows.map((a) => ({
      id: a.id,
      kind: a.kind,
      status: a.status,
      attempts: a.attempts,
      reason: a.reason,
      progress: (a.progress ?? null) as Record<string, number | string> | null,
      error: a.error,
      createdAt: a.createdAt.toISOString(),
      completedAt: a.completedAt?.toISOString() ?? null,
    }));
  }),

  /**
   * Park now: snapshot the session, stop it, snapshot the quiesced state,
   * verify, and only then release its GPUs. It resumes from that snapshot.
   */
  park: protectedProcedure.input(byIdInput).mutation(async ({ ctx, input }) => {
    const s = await requireState(ctx, input.id, "park");
    const action = await ctx.repos.sessions.startPark({
      at: ctx.clock.now(),
      id: s.id,
      reason: `park requested by ${ctx.principal.name}: snapshotting before the GPUs are released`,
      actor: actor(ctx.principal),
      payload: await ctx.repos.snapshots.nextSnapshot(s.id, s.project.name),
    });
    return afterTransition(ctx, s.id, action ? { id: s.id } : null);
  }),

  /** No reclaim until the lease ends ("I'm running a long job"): `daybox session keep-alive --for 2h`. */
  keepAlive: protectedProcedure
    .input(byIdInput.extend({ forMs: z.number().int().min(60_000, "keep-alive: at least 1 minute").max(7 * 86_400_000, "keep-alive: at most 7 days") }))
    .mutation(async ({ ctx, input }) => {
      const s = await visibleSession(ctx.repos, ctx.principal, input.id);
      if (s.ownerId !== ctx.principal.id && ctx.principal.role !== "admin") throw new Forbidden(`only ${s.owner.name} (or an admin) can keep ${s.name} alive`);
      if (s.state !== "Running") throw new Conflict(`session ${s.name} is ${s.state}; only Running sessions can be kept alive`);
      const until = new Date(ctx.clock.now().getTime() + input.forMs);
      await ctx.repos.sessions.keepAlive(s.id, until, { extension: false, reason: `kept alive by ${ctx.principal.name} until ${until.toISOString()}`, actor: actor(ctx.principal) });
      ctx.notifier.notify();
      return sessionDto(await visibleSession(ctx.repos, ctx.principal, s.id));
    }),

  /**
   * One of the extensions the session's reclaim policy allows: no reclaim for
   * the policy's `extensions.each`, cancelling a pending warning. Refused
   * with the reason when the policy allows none or all are used.
   */
  extend: protectedProcedure.input(byIdInput).mutation(async ({ ctx, input }) => {
    const s = await visibleSession(ctx.repos, ctx.principal, input.id);
    if (s.ownerId !== ctx.principal.id && ctx.principal.role !== "admin") throw new Forbidden(`only ${s.owner.name} (or an admin) can extend ${s.name}`);
    if (s.state !== "Running") throw new Conflict(`session ${s.name} is ${s.state}; only Running sessions can be extended`);
    const { sessions, signals, policies } = await loadReclaimInputs(ctx.repos);
    const facts = sessions.find((f) => f.id === s.id);
    const now = ctx.clock.now();
    const [v] = facts ? evaluate([facts], signals, policies, now) : [];
    if (!v?.policy) throw new Conflict(`no reclaim policy applies to ${s.name}, so it needs no extension`);
    const named = `policy '${v.policy.name}' v${v.policy.version}`;
    if (!v.extensionMs) throw new Conflict(`${named} allows no extensions; \`daybox session keep-alive ${s.id} --for 2h\` protects the session instead`);
    if (!v.canExtend) throw new Conflict(`${s.name} has used all ${v.extensionsAllowed} extensions ${named} allows this run; \`daybox session keep-alive\` still works`);
    const base = Math.max(now.getTime(), s.keepAliveUntil?.getTime() ?? 0);
    const until = new Date(base + v.extensionMs);
    const used = s.extensionsUsed + 1;
    await ctx.repos.sessions.keepAlive(s.id, until, {
      extension: true,
      reason: `extended by ${ctx.principal.name} until ${until.toISOString()} (extension ${used} of ${v.extensionsAllowed} under ${named})`,
      actor: actor(ctx.principal),
    });
    ctx.notifier.notify();
    return sessionDto(await visibleSession(ctx.repos, ctx.principal, s.id));
  }),

  delete: protectedProcedure.input(byIdInput).mutation(async ({ ctx, input }) => {
    const s = await requireState(ctx, input.id, "delete");
    const reason = `deleted by ${ctx.principal.name}`;
    // Lost: recovered from a lost node, waiting to be placed again; it holds nothing.
    const resting = s.state === "Pending" || s.state === "Stopped" || s.state === "Failed" || s.state === "Parked" || s.state === "Lost";
    const moved = resting
      ? await ctx.repos.sessions.request({ id: s.id, from: ["Pending", "Stopped", "Failed", "Parked", "Lost"], to: "Terminated", reason, actor: actor(ctx.principal), desiredState: "terminated", patch: { stoppedAt: s.stoppedAt ?? ctx.clock.now() }, at: ctx.clock.now() })
      : s.state === "Stopping"
        ? await ctx.repos.sessions.request({ id: s.id, from: ["Stopping"], to: "Stopping", reason, actor: actor(ctx.principal), desiredState: "terminated" })
        : await ctx.repos.sessions.request({ id: s.id, from: ["Scheduled", "Starting", "Running"], to: "Stopping", reason, actor: actor(ctx.principal), desiredState: "terminated" });
    // The node that last ran a resting session still holds its directory: it is told to delete it, and the
    // session's snapshots. If that node is gone, another that stores snapshots in the same repository deletes those.
    const holder = s.cacheNodeId && !(await ctx.repos.nodes.byId(s.cacheNodeId))?.lostAt ? s.cacheNodeId : null;
    const purger = moved && resting ? (holder ?? (await ctx.repos.snapshots.storeNode(s.id))) : null;
    if (purger) {
      await ctx.repos.actions.enqueueOnce({
        kind: "stop",
        nodeId: purger,
        sessionId: s.id,
        payload: await ctx.repos.snapshots.purgePayload(s.id, s.project.name),
        reason: `${reason}: delete ${holder ? "its directory and its snapshots" : "its snapshots (the node that held its directory is gone)"}`,
      });
    }
    return afterTransition(ctx, s.id, moved);
  }),

  /**
   * Live session events over SSE: every transition of every session the
   * caller can see (or of one session), resumable from the last event id.
   */
  watch: protectedProcedure.input(watchInput).subscription(async function* ({ ctx, input, signal }) {
    // Generators run after the error middleware has returned: map domain errors here,
    // or a NOT_FOUND would reach the client as a retryable internal error.
    const scope = await (async () => {
      if (input.sessionId) await visibleSession(ctx.repos, ctx.principal, input.sessionId);
      return sessionScope(ctx.repos, ctx.principal);
    })().catch((err: unknown) => {
      throw toTRPCError(err);
    });
    let cursor = input.lastEventId ? BigInt(input.lastEventId) : await ctx.repos.sessions.lastEventId();
    while (!signal?.aborted) {
      const rows = await ctx.repos.sessions.eventsAfter(scope, {
        afterId: cursor,
        limit: 200,
        ...(input.sessionId ? { sessionId: input.sessionId } : {}),
      });
      for (const row of rows) {
        cursor = row.id;
        yield tracked(row.id.toString(), eventDto(row));
      }
      if (rows.length < 200) await ctx.notifier.wait(1_000, signal);
    }
  }),
} satisfies TRPCRouterRecord;
