import { GPU_HOLDING_STATES } from "@daybox/core";
import type { Action } from "./actions.ts";
import { defaultPlanOptions, type NodeView, type PlanOptions, type SessionView, type WorldView } from "./view.ts";

/**
 * Decide what should change, given one view of the world. Pure: the caller
 * applies the actions idempotently and calls plan again next tick.
 *
 * 1. node health from heartbeats
 * 2. sessions that should stop (user request, node drain)
 * 3. pending sessions placed first-come first-served under quota, best fit
 */
export function plan(view: WorldView, now: Date, options: PlanOptions = defaultPlanOptions): Action[] {
  const actions: Action[] = [];

  // 1. Node health: readiness follows the heartbeat.
  const nodes = view.nodes.map((node) => {
    const silentMs = now.getTime() - node.lastHeartbeat.getTime();
    const ready = silentMs <= options.heartbeatTimeoutMs;
    if (ready !== node.ready) {
      actions.push({
        kind: "node-health",
        nodeId: node.id,
        ready,
        reason: ready
          ? `node ${node.name} is heartbeating again`
          : `node ${node.name} has not heartbeated for ${Math.round(silentMs / 1000)}s`,
      });
    }
    return { ...node, ready };
  });
  const nodeById = new Map(nodes.map((n) => [n.id, n]));

  // 2. Sessions that should stop, or be finalized when they hold nothing.
  for (const s of view.sessions) {
    const node = s.nodeId ? nodeById.get(s.nodeId) : undefined;
    const wantsStop = s.desiredState === "stopped" || s.desiredState === "terminated";
    // A session being parked finishes its snapshot first; the park action releases its GPUs.
    const holdsGpus = GPU_HOLDING_STATES.includes(s.state) && s.state !== "Snapshotting";
    if (wantsStop && s.state === "Pending") {
      const to = s.desiredState === "terminated" ? "Terminated" : "Stopped";
      actions.push({ kind: "finalize", sessionId: s.id, to, reason: "stopped before it was placed" });
    } else if (holdsGpus && s.nodeId && s.openAction !== "stop" && (wantsStop || node?.draining)) {
      const reason = wantsStop
        ? s.state === "Stopping" && s.reason
          ? s.reason
          : `requested ${s.desiredState === "terminated" ? "delete" : "stop"}`
        : `node ${node?.name ?? s.nodeId} is draining`;
      actions.push({ kind: "stop", sessionId: s.id, nodeId: s.nodeId, reason });
    }
  }

  // 3. Placement. Allocations start from what sessions already hold.
  const allocated = new Map<string, Set<number>>(nodes.map((n) => [n.id, new Set<number>()]));
  const used = new Map<string, number>(); // `${projectId}/${gpuType}` -> GPUs held
  for (const s of view.sessions) {
    if (!GPU_HOLDING_STATES.includes(s.state)) continue;
    const key = `${s.projectId}/${s.gpuType}`;
    used.set(key, (used.get(key) ?? 0) + s.gpuCount);
    const held = s.nodeId ? allocated.get(s.nodeId) : undefined;
    for (const i of s.gpuIndices) held?.add(i);
  }

  const pending = view.sessions
    .filter((s) => s.state === "Pending" && s.desiredState === "running")
    .toSorted((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.id.localeCompare(b.id));

  for (const s of pending) {
    const decision = place(s, nodes, allocated, used, view);
    if (decision.kind === "place") {
      const key = `${s.projectId}/${s.gpuType}`;
      used.set(key, (used.get(key) ?? 0) + s.gpuCount);
      for (const i of decision.gpuIndices) allocated.get(decision.nodeId)?.add(i);
      actions.push(decision);
    } else if (decision.reason !== s.reason) {
      actions.push(decision);
    }
  }
  return actions;
}

function place(
  s: SessionView,
  nodes: readonly NodeView[],
  allocated: Map<string, Set<number>>,
  used: Map<string, number>,
  view: WorldView,
): Extract<Action, { kind: "place" | "wait" }> {
  const wait = (reason: string) => ({ kind: "wait" as const, sessionId: s.id, reason });
  const gpus = plural(s.gpuCount, `${s.gpuType} GPU`);

  // Quota first: a session over its project's guarantee waits even if GPUs are free.
  const quota = view.quotas.find((q) => q.projectId === s.projectId && q.gpuType === s.gpuType);
  if (!quota) return wait(`over quota: project ${s.projectName} has no quota for ${s.gpuType} GPUs`);
  const inUse = used.get(`${s.projectId}/${s.gpuType}`) ?? 0;
  if (inUse + s.gpuCount > quota.guaranteed) {
    return wait(
      `over quota: project ${s.projectName} uses ${inUse} of its ${quota.guaranteed} ${s.gpuType} GPUs; ` +
        `this session needs ${s.gpuCount} more — waiting for the project's other sessions to stop`,
    );
  }

  const ofType = nodes.filter((n) => n.gpuType === s.gpuType);
  if (ofType.length === 0) {
    const types = [...new Set(nodes.map((n) => n.gpuType))].toSorted();
    return wait(
      `waiting for capacity: no node has ${s.gpuType} GPUs` +
        (types.length ? ` (the cluster has ${types.join(", ")})` : " (no nodes have registered yet)"),
    );
  }
  const largest = Math.max(...ofType.map((n) => n.gpuCount));
  if (s.gpuCount > largest) {
    return wait(`waiting for capacity: no node has ${gpus}; the largest ${s.gpuType} node has ${largest}`);
  }
  const usable = ofType.filter((n) => n.ready && n.schedulable && !n.draining);
  if (usable.length === 0) {
    const why = ofType.map((n) => `${n.name} ${!n.ready ? "not ready" : n.draining ? "draining" : "cordoned"}`);
    return wait(`waiting for capacity: every ${s.gpuType} node is unavailable (${why.join(", ")})`);
  }

  // Best fit: the usable node with the fewest free GPUs that still fits, to keep big holes for big sessions.
  let best: { node: NodeView; free: number[] } | undefined;
  let mostFree = 0;
  for (const node of usable.toSorted((a, b) => a.name.localeCompare(b.name))) {
    const held = allocated.get(node.id) ?? new Set<number>();
    const free: number[] = [];
    for (let i = 0; i < node.gpuCount; i++) if (!held.has(i)) free.push(i);
    mostFree = Math.max(mostFree, free.length);
    if (free.length >= s.gpuCount && (!best || free.length < best.free.length)) best = { node, free };
  }
  if (!best) {
    return wait(`waiting for capacity: needs ${gpus} on one node; at most ${mostFree} free right now`);
  }
  const gpuIndices = best.free.slice(0, s.gpuCount);
  return {
    kind: "place",
    sessionId: s.id,
    nodeId: best.node.id,
    gpuIndices,
    reason: `placed on node ${best.node.name} (GPU ${gpuIndices.join(", ")}; ${best.free.length} of ${best.node.gpuCount} were free)`,
  };
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}
