import type { Clock, SessionStateName } from "@daybox/core";
import type { Repos, World } from "@daybox/db";
import { plan, type Action, type PlanOptions, type WorldView } from "@daybox/scheduler";

const ACTOR = "control-plane";
/** Placements applied per tick, and how many at once (the database pool has 20 connections). */
const PLACEMENTS_PER_TICK = 200;
const PLACEMENT_CONCURRENCY = 8;

/** The scheduler's view of the rows the database returned. */
export function toView(world: World): WorldView {
  return {
    nodes: world.nodes.map((n) => ({
      id: n.id,
      name: n.name,
      gpuType: n.gpuType,
      gpuCount: n.gpuCount,
      ready: n.state === "Ready",
      // Daybox's cordon, and the node's cluster refusing work there (Kubernetes cordon, NotReady, taints)
      schedulable: n.schedulable && n.clusterStatus === null,
      // `daybox node drain`, or cordoned in its cluster (how `kubectl drain` starts): sessions are parked first
      draining: n.drainingAt !== null || n.clusterCordoned,
      lastHeartbeat: n.lastHeartbeat,
      lost: n.lostAt !== null,
    })),
    sessions: world.sessions.map((s) => ({
      id: s.id,
      projectId: s.projectId,
      projectName: s.project.name,
      gpuType: s.gpuType,
      gpuCount: s.gpuCount,
      state: s.state as SessionStateName,
      desiredState: s.desiredState,
      reason: s.reason,
      nodeId: s.nodeId,
      gpuIndices: s.gpuIndices,
      createdAt: s.createdAt,
      cacheNodeId: s.cacheNodeId,
      openAction: s.actions.some((a) => a.kind === "stop") ? "stop" : s.actions.some((a) => a.kind === "start") ? "start" : null,
    })),
    jobs: world.jobs.map((j) => ({
      id: j.id,
      projectId: j.projectId,
      projectName: j.project.name,
      gpuType: j.gpuType,
      gpuCount: j.gpuCount,
      priority: j.priority,
      state: j.state,
      reason: j.reason,
      nodeId: j.nodeId,
      gpuIndices: j.gpuIndices,
      submittedAt: j.submittedAt,
      startedAt: j.startedAt,
      gracePeriodSeconds: j.gracePeriodSeconds,
    })),
    quotas: world.quotas,
  };
}

/**
 * The reconcile loop. Each tick:
 * 1. take one consistent view of the world from the database,
 * 2. plan (pure),
 * 3. apply each action idempotently; a failed action is logged and retried next tick.
 */
export function createReconciler(deps: { repos: Repos; clock: Clock; onChange: () => void; log: (msg: string) => void; options: PlanOptions }) {
  const { repos, clock, log } = deps;

  async function apply(action: Action, world: World): Promise<boolean> {
    switch (action.kind) {
      case "place": {
        const s = world.sessions.find((x) => x.id === action.sessionId)!;
        const placed = await repos.sessions.place({
          id: action.sessionId,
          nodeId: action.nodeId,
          gpuIndices: action.gpuIndices,
          reason: action.reason,
          actor: ACTOR,
          // A parked session is restored from its snapshot before it starts.
          payload: { sessionId: s.id, name: s.name, image: s.image, ownerId: s.ownerId, project: s.project.name, restoreSnapshotId: s.parkedSnapshotId },
        });
        if (placed && s.resumeRequestedAt) await repos.resumes.placed(s.id, clock.now(), world.nodes.find((n) => n.id === action.nodeId)?.name ?? action.nodeId);
        return placed !== null;
      }
      case "park": {
        const s = world.sessions.find((x) => x.id === action.sessionId)!;
        const started = await repos.sessions.startPark({
          id: s.id,
          reason: `${action.reason}: parking the session (snapshot, verify, release) so it can resume on another node; \`daybox session resume ${s.id}\``,
          actor: ACTOR,
          payload: await repos.snapshots.nextSnapshot(s.id, s.project.name),
          at: clock.now(),
        });
        if (started) log(`parking ${s.id}: ${action.reason}`);
        return started !== null;
      }
      case "wait":
        await repos.sessions.setReason(action.sessionId, action.reason, ACTOR);
        return true;
      case "stop": {
        const s = world.sessions.find((x) => x.id === action.sessionId)!;
        // A drain stops (only) sessions still starting: they end Stopped and the owner resumes them.
        const drained = s.desiredState === "running";
        const queued = await repos.sessions.queueStop({
          id: action.sessionId,
          nodeId: action.nodeId,
          reason: drained ? `${action.reason}; resume it with \`daybox session resume ${s.id}\`` : action.reason,
          actor: ACTOR,
          // A deleted session leaves nothing on the node.
          purge: s.desiredState === "terminated",
          ...(drained ? { desiredState: "stopped" as const } : {}),
        });
        if (queued && drained) log(`stopping ${s.id}: ${action.reason}`);
        return queued !== null;
      }
      case "finalize": {
        const moved = await repos.sessions.transition({
          id: action.sessionId,
          from: ["Pending", "Lost"],
          to: action.to,
          reason: action.reason,
          actor: ACTOR,
          patch: { stoppedAt: clock.now() },
        });
        return moved !== null;
      }
      case "place-job":
        return (await repos.jobs.place({ id: action.jobId, nodeId: action.nodeId, gpuIndices: action.gpuIndices, reason: action.reason, actor: ACTOR })) !== null;
      case "job-wait":
        await repos.jobs.setReason(action.jobId, action.reason, ACTOR);
        return true;
      case "preempt-job": {
        const moved = await repos.jobs.preempt({ id: action.jobId, reason: action.reason, actor: ACTOR, forSessionId: action.forSessionId });
        if (moved) log(`preempting job ${action.jobId}: ${action.reason}`);
        if (moved && action.forSessionId) await repos.resumes.preempting(action.forSessionId, clock.now());
        return moved !== null;
      }
      case "node-health":
        await repos.nodes.setState(action.nodeId, action.ready);
        log(action.reason);
        return true;
      case "recover": {
        const moved = await repos.sessions.recover({ id: action.sessionId, nodeId: action.nodeId, reason: action.reason, actor: ACTOR, at: clock.now() });
        if (moved) log(`recovering ${action.sessionId}: ${moved.reason}`);
        // Recovery is a resume the platform asked for: its latency is recorded like any other.
        if (moved?.state === "Lost") await repos.resumes.begin(moved.id, clock.now());
        return moved !== null;
      }
      case "requeue-job": {
        const moved = await repos.jobs.requeueLost({ id: action.jobId, nodeId: action.nodeId, reason: action.reason, actor: ACTOR, now: clock.now() });
        if (moved) log(`job ${action.jobId}: ${moved.reason}`);
        return moved !== null;
      }
    }
  }

  return {
    async tick(): Promise<Action[]> {
      const world = await repos.loadWorld();
      const actions = plan(toView(world), clock.now(), deps.options);
      let changed = false;
      const run = async (action: Action) => {
        try {
          changed = (await apply(action, world)) || changed;
        } catch (err) {
          log(`apply ${action.kind} for ${"sessionId" in action ? action.sessionId : "jobId" in action ? action.jobId : action.nodeId}: ${(err as Error).message}`);
        }
      };
      // Placements touch disjoint rows (the plan gave each its own GPUs): applied several at a time,
      // and at most PLACEMENTS_PER_TICK per tick, so a burst of launches keeps ticks short; the rest
      // stay Pending, in order, for the next tick. Everything else is applied in the plan's order first.
      const placements = actions.filter((a) => a.kind === "place" || a.kind === "place-job");
      for (const action of actions) if (action.kind !== "place" && action.kind !== "place-job") await run(action);
      const queue = placements.slice(0, PLACEMENTS_PER_TICK);
      await Promise.all(Array.from({ length: PLACEMENT_CONCURRENCY }, async () => {
        for (let a = queue.shift(); a; a = queue.shift()) await run(a);
      }));
      if (changed) deps.onChange();
      return actions;
    },
  };
}
