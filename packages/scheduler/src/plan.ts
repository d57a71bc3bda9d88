import { GPU_HOLDING_STATES } from "@daybox/core";
import type { Action } from "./actions.ts";
import { borrowingJobs, chooseVictims, cheaper, type VictimChoice } from "./preempt.ts";
import { defaultPlanOptions, JOB_HOLDING_STATES, type JobView, type NodeView, type PlanOptions, type SessionView, type WorldView } from "./view.ts";

/**
 * Decide what should change, given one view of the world. Pure: the caller
 * applies the actions idempotently and calls plan again next tick.
 *
 * 1. node health from heartbeats
 * 2. sessions that should stop (user request), running sessions on draining
 *    nodes are parked (they resume elsewhere), jobs there are requeued
 * 3. pending sessions placed first-come first-served under quota, best fit;
 *    one that finds no room preempts batch jobs borrowing beyond their
 *    project's guarantee (or its own project's jobs), cheapest victims first
 * 4. queued batch jobs by priority then submit time, on whatever is left,
 *    borrowing other projects' unused GPUs
 */
export function plan(view: WorldView, now: Date, options: PlanOptions = defaultPlanOptions): Action[] {
  const actions: Action[] = [];

  // 1. Node health: readiness follows the heartbeat; a node its cluster lost is never ready.
  const nodes = view.nodes.map((node) => {
    const silentMs = now.getTime() - node.lastHeartbeat.getTime();
    const ready = !node.lost && silentMs <= options.heartbeatTimeoutMs;
    if (ready !== node.ready) {
      actions.push({
        kind: "node-health",
        nodeId: node.id,
        ready,
        reason: ready
          ? `node ${node.name} is heartbeating again`
          : node.lost
            ? `node ${node.name} was lost by its cluster`
            : `node ${node.name} has not heartbeated for ${Math.round(silentMs / 1000)}s`,
      });
    }
    return { ...node, ready };
  });
  const nodeById = new Map(nodes.map((n) => [n.id, n]));

  // 1b. Recovery: what held GPUs on a lost node is released; sessions come back elsewhere, jobs are requeued.
  const recovered = new Set<string>();
  for (const s of view.sessions) {
    const node = s.nodeId ? nodeById.get(s.nodeId) : undefined;
    if (!node?.lost || !GPU_HOLDING_STATES.includes(s.state)) continue;
    recovered.add(s.id);
    actions.push({ kind: "recover", sessionId: s.id, nodeId: node.id, reason: `node ${node.name} was lost` });
  }
  for (const j of view.jobs) {
    const node = j.nodeId ? nodeById.get(j.nodeId) : undefined;
    if (!node?.lost || !JOB_HOLDING_STATES.includes(j.state)) continue;
    recovered.add(j.id);
    actions.push({ kind: "requeue-job", jobId: j.id, nodeId: node.id, reason: `node ${node.name} was lost` });
  }

  // 2. Sessions that should stop, or be finalized when they hold nothing.
  for (const s of view.sessions) {
    if (recovered.has(s.id)) continue;
    const node = s.nodeId ? nodeById.get(s.nodeId) : undefined;
    const wantsStop = s.desiredState === "stopped" || s.desiredState === "terminated";
    // A session being parked finishes its snapshot first; the park action releases its GPUs.
    const holdsGpus = GPU_HOLDING_STATES.includes(s.state) && s.state !== "Snapshotting";
    if (wantsStop && (s.state === "Pending" || s.state === "Lost")) {
      const to = s.desiredState === "terminated" ? "Terminated" : "Stopped";
      actions.push({ kind: "finalize", sessionId: s.id, to, reason: s.state === "Lost" ? "stopped while waiting to be recovered" : "stopped before it was placed" });
    } else if (s.state === "Running" && s.desiredState === "running" && s.nodeId && node?.draining) {
      actions.push({ kind: "park", sessionId: s.id, nodeId: s.nodeId, reason: `node ${node.name} is draining` });
    } else if (holdsGpus && s.nodeId && s.openAction !== "stop" && (wantsStop || node?.draining)) {
      const reason = wantsStop
        ? s.state === "Stopping" && s.reason
          ? s.reason
          : `requested ${s.desiredState === "terminated" ? "delete" : "stop"}`
        : `node ${node?.name ?? s.nodeId} is draining`;
      actions.push({ kind: "stop", sessionId: s.id, nodeId: s.nodeId, reason });
    }
  }
  const preempted = new Set<string>();
  for (const j of view.jobs) {
    const node = j.nodeId ? nodeById.get(j.nodeId) : undefined;
    if (!recovered.has(j.id) && node?.draining && (j.state === "Scheduled" || j.state === "Running")) {
      actions.push({ kind: "preempt-job", jobId: j.id, nodeId: node.id, forSessionId: null, reason: `node ${node.name} is draining` });
      preempted.add(j.id);
    }
  }

  // 3. Placement. Allocations start from what sessions already hold.
  const allocated = new Map<string, Set<number>>(nodes.map((n) => [n.id, new Set<number>()]));
  const used = new Map<string, number>(); // `${projectId}/${gpuType}` -> GPUs held
  for (const s of view.sessions) {
    if (!GPU_HOLDING_STATES.includes(s.state) || recovered.has(s.id)) continue;
    const key = `${s.projectId}/${s.gpuType}`;
    used.set(key, (used.get(key) ?? 0) + s.gpuCount);
    const held = s.nodeId ? allocated.get(s.nodeId) : undefined;
    for (const i of s.gpuIndices) held?.add(i);
  }
  // Jobs hold GPUs too; those being stopped will release theirs soon.
  const releasing = new Map<string, Set<number>>(nodes.map((n) => [n.id, new Set<number>()]));
  for (const j of view.jobs) {
    if (!JOB_HOLDING_STATES.includes(j.state) || !j.nodeId || recovered.has(j.id)) continue;
    for (const i of j.gpuIndices) allocated.get(j.nodeId)?.add(i);
    if (j.state === "Preempting" || j.state === "Cancelling" || preempted.has(j.id)) for (const i of j.gpuIndices) releasing.get(j.nodeId)?.add(i);
  }
  const borrowing = borrowingJobs(view.sessions, view.jobs, view.quotas);

  const pending = view.sessions
    .filter((s) => (s.state === "Pending" || s.state === "Lost") && s.desiredState === "running")
    .toSorted((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.id.localeCompare(b.id));

  for (const s of pending) {
    const decision = place(s, nodes, allocated, used, view);
    if (decision.kind === "place") {
      const key = `${s.projectId}/${s.gpuType}`;
      used.set(key, (used.get(key) ?? 0) + s.gpuCount);
      for (const i of decision.gpuIndices) allocated.get(decision.nodeId)?.add(i);
      actions.push(decision);
      continue;
    }
    let wait: Extract<Action, { kind: "wait" }> = decision;
    if (decision.capacity) {
      const eligible = (j: JobView) => !preempted.has(j.id) && (j.projectId === s.projectId || borrowing.has(j.id));
      const p = preemptFor(s, nodes, view.jobs, allocated, releasing, eligible, now);
      if (p) {
        // Promise the node's free GPUs, then GPUs being released, to this session, so neither a
        // queued job nor a later session counts on them.
        const held = allocated.get(p.node.id)!;
        const stopping = releasing.get(p.node.id)!;
        for (const j of p.victims) for (const i of j.gpuIndices) stopping.add(i);
        let taken = 0;
        for (let i = 0; i < p.node.gpuCount && taken < s.gpuCount; i++) {
          if (held.has(i)) continue;
          held.add(i);
          taken++;
        }
        for (const i of [...stopping]) {
          if (taken >= s.gpuCount) break;
          stopping.delete(i);
          taken++;
        }
        for (const j of p.victims) {
          preempted.add(j.id);
          const why = j.projectId === s.projectId ? `sessions come before batch jobs within project ${s.projectName}'s guarantee` : `the job borrows beyond project ${j.projectName}'s guarantee`;
          actions.push({ kind: "preempt-job", jobId: j.id, nodeId: p.node.id, forSessionId: s.id, reason: `preempted for session ${s.id} (project ${s.projectName}), which needs ${plural(s.gpuCount, `${s.gpuType} GPU`)} on node ${p.node.name}: ${why}` });
        }
        const ids = p.jobs.map((j) => j.id).join(", ");
        const grace = Math.max(...p.jobs.map((j) => j.gracePeriodSeconds));
        wait = {
          kind: "wait",
          sessionId: s.id,
          reason: p.victims.length
            ? `waiting for capacity: preempting batch ${p.jobs.length === 1 ? "job" : "jobs"} ${ids} on node ${p.node.name} (grace period up to ${grace}s)`
            : `waiting for capacity: batch ${p.jobs.length === 1 ? "job" : "jobs"} ${ids} on node ${p.node.name} ${p.jobs.length === 1 ? "is" : "are"} being stopped (grace period up to ${grace}s)`,
        };
      }
    }
    if (wait.reason !== s.reason) actions.push({ kind: "wait", sessionId: wait.sessionId, reason: wait.reason });
  }

  // 4. Batch jobs, by priority then submit time; a smaller job may fill a gap a bigger one cannot.
  const holdsOf = new Map<string, number>(); // `${projectId}/${gpuType}` -> GPUs held by sessions and jobs
  const add = (k: string, n: number) => holdsOf.set(k, (holdsOf.get(k) ?? 0) + n);
  for (const s of view.sessions) if (GPU_HOLDING_STATES.includes(s.state) && !recovered.has(s.id)) add(`${s.projectId}/${s.gpuType}`, s.gpuCount);
  for (const j of view.jobs) if (JOB_HOLDING_STATES.includes(j.state) && !recovered.has(j.id)) add(`${j.projectId}/${j.gpuType}`, j.gpuCount);
  const queued = view.jobs
    .filter((j) => j.state === "Queued")
    .toSorted((a, b) => b.priority - a.priority || a.submittedAt.getTime() - b.submittedAt.getTime() || a.id.localeCompare(b.id));
  for (const [ahead, j] of queued.entries()) {
    const decision = placeJob(j, nodes, allocated, ahead);
    if (decision.kind === "job-wait") {
      if (decision.reason !== j.reason) actions.push(decision);
      continue;
    }
    const k = `${j.projectId}/${j.gpuType}`;
    const guaranteed = view.quotas.find((q) => q.projectId === j.projectId && q.gpuType === j.gpuType)?.guaranteed ?? 0;
    const held = holdsOf.get(k) ?? 0;
    add(k, j.gpuCount);
    for (const i of decision.gpuIndices) allocated.get(decision.nodeId)?.add(i);
    const within = held + j.gpuCount <= guaranteed;
    const borrowed = Math.min(j.gpuCount, held + j.gpuCount - guaranteed);
    actions.push({
      ...decision,
      reason: within
        ? `${decision.reason}; within project ${j.projectName}'s guarantee of ${guaranteed}`
        : `${decision.reason}; borrows ${plural(borrowed, "GPU")} beyond project ${j.projectName}'s guarantee of ${guaranteed}, so another project's session may preempt it`,
    });
  }
  return actions;
}

/**
 * Room for `s` by stopping batch jobs: first a node where jobs already being
 * stopped will free enough (wait for them), else the node where the cheapest
 * set of eligible jobs frees enough.
 */
function preemptFor(
  s: SessionView,
  nodes: readonly NodeView[],
  jobs: readonly JobView[],
  allocated: Map<string, Set<number>>,
  releasing: Map<string, Set<number>>,
  eligible: (j: JobView) => boolean,
  now: Date,
): { node: NodeView; jobs: JobView[]; victims: JobView[] } | null {
  const usable = nodes.filter((n) => n.gpuType === s.gpuType && n.ready && n.schedulable && !n.draining).toSorted((a, b) => a.name.localeCompare(b.name));
  const freeOn = (n: NodeView) => n.gpuCount - allocated.get(n.id)!.size;
  for (const n of usable) {
    const stopping = releasing.get(n.id)!;
    if (stopping.size > 0 && freeOn(n) + stopping.size >= s.gpuCount) {
      return { node: n, jobs: jobs.filter((j) => j.nodeId === n.id && j.gpuIndices.some((i) => stopping.has(i))), victims: [] };
    }
  }
  let best: { node: NodeView; choice: VictimChoice } | undefined;
  for (const n of usable) {
    const candidates = jobs.filter((j) => j.nodeId === n.id && (j.state === "Scheduled" || j.state === "Running") && eligible(j));
    const choice = chooseVictims(s.gpuCount, freeOn(n) + releasing.get(n.id)!.size, candidates, now);
    if (choice && choice.victims.length > 0 && (!best || cheaper(choice, best.choice))) best = { node: n, choice };
  }
  return best ? { node: best.node, jobs: best.choice.victims, victims: best.choice.victims } : null;
}

function placeJob(j: JobView, nodes: readonly NodeView[], allocated: Map<string, Set<number>>, ahead: number): Extract<Action, { kind: "place-job" | "job-wait" }> {
  const wait = (reason: string) => ({ kind: "job-wait" as const, jobId: j.id, reason: `queued: ${reason}` });
  const gpus = plural(j.gpuCount, `${j.gpuType} GPU`);
  const ofType = nodes.filter((n) => n.gpuType === j.gpuType);
  if (ofType.length === 0) return wait(`no node has ${j.gpuType} GPUs`);
  const largest = Math.max(...ofType.map((n) => n.gpuCount));
  if (j.gpuCount > largest) return wait(`no node has ${gpus}; the largest ${j.gpuType} node has ${largest}`);
  const usable = ofType.filter((n) => n.ready && n.schedulable && !n.draining);
  if (usable.length === 0) return wait(`every ${j.gpuType} node is unavailable`);
  const fit = bestFit(usable, allocated, j.gpuCount);
  if (!fit.best) return wait(`needs ${gpus} on one node; at most ${fit.mostFree} free right now` + (ahead ? ` (${ahead} ahead in the queue)` : ""));
  const gpuIndices = fit.best.free.slice(0, j.gpuCount);
  return {
    kind: "place-job",
    jobId: j.id,
    nodeId: fit.best.node.id,
    gpuIndices,
    reason: `placed on node ${fit.best.node.name} (GPU ${gpuIndices.join(", ")})`,
  };
}

/**
 * The usable node with the fewest free GPUs that still fits `need`, to keep
 * big holes for big requests — or `preferred` (where a session's cache is)
 * whenever it fits.
 */
function bestFit(usable: readonly NodeView[], allocated: Map<string, Set<number>>, need: number, preferred: string | null = null) {
  let best: { node: NodeView; free: number[] } | undefined;
  let mostFree = 0;
  for (const node of usable.toSorted((a, b) => a.name.localeCompare(b.name))) {
    const held = allocated.get(node.id) ?? new Set<number>();
    const free: number[] = [];
    for (let i = 0; i < node.gpuCount; i++) if (!held.has(i)) free.push(i);
    mostFree = Math.max(mostFree, free.length);
    if (free.length < need || best?.node.id === preferred) continue;
    if (!best || node.id === preferred || free.length < best.free.length) best = { node, free };
  }
  return { best, mostFree };
}

function place(
  s: SessionView,
  nodes: readonly NodeView[],
  allocated: Map<string, Set<number>>,
  used: Map<string, number>,
  view: WorldView,
): Extract<Action, { kind: "place" }> | (Extract<Action, { kind: "wait" }> & { capacity?: true }) {
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

  const { best, mostFree } = bestFit(usable, allocated, s.gpuCount, s.cacheNodeId ?? null);
  if (!best) {
    return { ...wait(`waiting for capacity: needs ${gpus} on one node; at most ${mostFree} free right now`), capacity: true };
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
