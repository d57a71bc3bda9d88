import { randomBytes } from "node:crypto";
import path from "node:path";
import { LocalJobRunner, LocalRuntime, type JobRunner, type SessionRuntime } from "@daybox/cluster";
import { createApiClient, type ApiClient } from "./api-client.ts";
import type { AgentEnv } from "./env.ts";
import { detectGpus } from "./gpus.ts";
import { createActivityCollector, fileGpuSource, nvidiaGpuSource } from "./activity.ts";
import { createJobWorker } from "./jobs.ts";
import { createSnapshotter } from "./snapshots.ts";
import { startTerminalServer } from "./terminal-server.ts";
import type { Progress } from "@daybox/snapshot";

export const AGENT_VERSION = "0.1.0";
/** How long one claim waits at the API for work (an idle node costs one request per this; close() aborts the wait). */
const CLAIM_WAIT_MS = 20_000;

type ClaimedAction = NonNullable<Awaited<ReturnType<ApiClient["agent"]["claim"]["mutate"]>>>;

/**
 * The node agent. It registers its node, heartbeats, and pulls actions for
 * its node one at a time under a lease it renews while working. Sessions run
 * detached, so an agent restart adopts them instead of restarting them.
 */
type Outcome = { ok: true; result: Record<string, unknown> } | { ok: false; error: string; result?: Record<string, unknown> };
/** Snapshots as the control plane records them: which, and in which repository. */
type SnapshotRefs = { id: string; storeUrl: string }[];
/** What a snapshot or park action names besides the session: see the control plane's nextSnapshot. */
interface SnapshotPayload {
  project: string;
  parentSnapshotId?: string | null;
  /** Older snapshots to delete once the new one is committed and verified (retention). */
  retire?: SnapshotRefs;
}
interface ParkPayload extends SnapshotPayload {
  name: string;
  image: string;
  gpuIndices: number[];
}

export async function startAgent(env: AgentEnv, token: string, log = (m: string) => console.log(`[agent] ${m}`)) {
  const api = createApiClient(env.DAYBOX_API_URL, token);
  const { runtime, jobRunner, gpus, closeRuntime } = env.DAYBOX_RUNTIME === "kubernetes" ? await kubernetesRuntime(env) : await localRuntime(env);
  const secret = randomBytes(32).toString("base64url");
  const terminals = await startTerminalServer({ runtime, secret, host: env.DAYBOX_AGENT_HOST, port: env.DAYBOX_AGENT_PORT, log });
  const snapshots = createSnapshotter(env, log);
  /** Deletes snapshots the control plane named; a store that fails is reported in the result, never fails the action. */
  const forget = (project: string | undefined, refs: SnapshotRefs | undefined, retention = false) =>
    project && refs?.length ? snapshots.forget({ project, snapshots: refs, retention }).catch((err: Error) => ({ forgetError: err.message.slice(0, 2000) })) : Promise.resolve({});
  /** Retention, once `fresh` (the snapshots just committed) are: the older ones the action named, never one of those. */
  const retire = (p: SnapshotPayload, ...fresh: string[]) =>
    forget(
      p.project,
      p.retire?.filter((r) => !fresh.includes(r.id)),
      true,
    );

  let nodeId = "";
  const register = async () => {
    const r = await api.agent.register.mutate({
      cluster: env.DAYBOX_CLUSTER,
      runtime: runtime.kind,
      name: env.nodeName,
      gpuType: gpus.gpuType,
      gpuCount: gpus.gpuCount,
      agentUrl: terminals.url,
      agentSecret: secret,
      version: AGENT_VERSION,
    });
    nodeId = r.nodeId;
  };
  const jobs = createJobWorker({ api, runner: jobRunner, nodeId: () => nodeId, log });
  await retry(register, log, "register node");
  await jobs.reconcile().catch((e: Error) => log(`reconcile jobs: ${e.message}`));
  log(`node ${env.nodeName} registered: ${gpus.gpuCount} × ${gpus.gpuType} (${gpus.source})`);

  // Sessions that ended on their own become Failed, with what happened.
  runtime.onExit((sessionId, detail) => {
    log(`session ${sessionId} exited: ${detail}`);
    api.agent.sessionExited.mutate({ nodeId, sessionId, detail }).catch((e: Error) => log(`report exit of ${sessionId}: ${e.message}`));
  });
  for (const sessionId of (await runtime.reapDead?.()) ?? []) {
    await api.agent.sessionExited
      .mutate({ nodeId, sessionId, detail: "its processes were gone when the agent restarted" })
      .catch((e: Error) => log(`report exit of ${sessionId}: ${e.message}`));
  }

  let stopping = false;
  const heartbeat = setInterval(() => {
    api.agent.heartbeat.mutate({ nodeId }).catch(async (e: Error) => {
      log(`heartbeat: ${e.message}`);
      if (/not found/.test(e.message)) await register().then(() => jobs.reconcile()).catch(() => {});
    });
  }, env.DAYBOX_HEARTBEAT_MS);

  // Activity signals for the reclaim policies, every DAYBOX_ACTIVITY_MS.
  const collector = createActivityCollector({
    list: () => runtime.list(),
    gpu: gpus.source === "nvidia-smi" ? nvidiaGpuSource() : fileGpuSource(env.simGpuDir),
    terminalActivity: terminals.activity,
  });
  let collecting = false;
  const activity = setInterval(() => {
    if (collecting || !nodeId) return;
    collecting = true;
    collector
      .collect()
      .then((reports) => (reports.length ? api.agent.activity.mutate({ nodeId, reports }) : null))
      .catch((e: Error) => log(`activity report: ${e.message}`))
      .finally(() => (collecting = false));
  }, env.DAYBOX_ACTIVITY_MS);

  /**
   * Park: a pre-copy snapshot while the session runs (most data moves now),
   * then stop it and take the final snapshot of the quiesced state, verified.
   * Only success lets the API release the GPUs. If the final snapshot cannot
   * be taken, the session is started again: a failed park loses nothing.
   */
  async function park(sessionId: string, p: ParkPayload, onProgress: (p: Progress) => void): Promise<Outcome> {
    const dir = runtime.stateDir(sessionId);
    let parentId = p.parentSnapshotId ?? null;
    let preCopy: Record<string, unknown> | null = null;
    if ((await runtime.list()).some((s) => s.sessionId === sessionId)) {
      const pre = await snapshots.snapshot({ sessionId, project: p.project, dir, parentId, onProgress });
      preCopy = { ...pre };
      parentId = pre.snapshotId;
      await runtime.stop(sessionId);
    }
    let lastError: Error | null = null;
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        const final = await snapshots.snapshot({ sessionId, project: p.project, dir, parentId, onProgress, parked: true });
        return { ok: true, result: { ...final, preCopy, ...(await retire(p, final.snapshotId, ...(parentId ? [parentId] : []))) } };
      } catch (err) {
        lastError = err as Error;
        log(`park ${sessionId}: final snapshot attempt ${attempt} failed: ${lastError.message}`);
      }
    }
    const running = await runtime.start({ sessionId, name: p.name, image: p.image, gpuIndices: p.gpuIndices, project: p.project });
    return { ok: false, error: `the final snapshot failed (${lastError?.message}); the session was started again and keeps its GPUs`, result: { jupyterUrl: running.jupyterUrl, jupyterToken: running.jupyterToken, pid: running.pid } };
  }

  async function execute(action: ClaimedAction) {
    const ref = { actionId: action.id, claimToken: action.claimToken };
    // Keep the lease while working; a lost lease means another agent owns the action now.
    const renew = setInterval(() => {
      api.agent.renew.mutate(ref).catch((e: Error) => log(`renew ${action.id}: ${e.message}`));
    }, Math.max(100, Math.floor(action.leaseMs / 3)));
    // Progress of long actions goes to the API at most once a second.
    let lastProgress = 0;
    const reportProgress = (p: Progress) => {
      if (p.elapsedMs - lastProgress < 1_000 && p.phase !== "finish") return;
      lastProgress = p.elapsedMs;
      api.agent.progress.mutate({ ...ref, progress: { ...p } }).catch(() => {});
    };
    try {
      if (env.DAYBOX_AGENT_FAULT === "exit-after-claim") crash(`fault injected after claiming ${action.id}`);
      const sessionId = action.sessionId ?? action.jobId!;
      let outcome: Outcome;
      try {
        if (action.kind === "job_run") {
          outcome = { ok: true, result: await jobs.run(action.payload as { jobId: string; attempt: number; command: string[]; gpuIndices: number[] }) };
        } else if (action.kind === "job_stop") {
          outcome = { ok: true, result: jobs.stop(action.payload as { jobId: string; attempt: number; graceMs: number }) };
        } else if (action.kind === "start") {
          const p = action.payload as { name?: string; image?: string; gpuIndices?: number[]; project?: string; ownerId?: string; restoreSnapshotId?: string | null };
          // A parked session comes back from its snapshot first (unless it already runs here: an adopted retry).
          const restoring = !!p.restoreSnapshotId && !(await runtime.list()).some((s) => s.sessionId === sessionId);
          await api.agent.starting.mutate({ ...ref, ...(restoring ? { restoring: p.restoreSnapshotId! } : {}) });
          let restored: Record<string, number | string> = {};
          const spec = { sessionId, name: p.name ?? sessionId, image: p.image ?? "default", gpuIndices: p.gpuIndices ?? [], ...(p.project ? { project: p.project } : {}), ...(p.ownerId ? { owner: p.ownerId } : {}) };
          if (restoring) {
            // The copy this node kept when it parked the session is reused when it is verifiably the
            // snapshot; anything else restores in full. Jupyter starts after that, on the verified state
            // (it writes into the home as it starts, and reads the user's config from it).
            const r = await snapshots.restore({ project: p.project!, snapshotId: p.restoreSnapshotId!, dir: runtime.stateDir(sessionId), onProgress: reportProgress, reuseLocal: true });
            log(`restore ${sessionId}: ${r.source === "local" ? "kept the local copy" : `from the ${r.source}`} in ${r.durationMs} ms (${r.targetCheck})`);
            restored = { restoreMs: r.durationMs, restoredBytes: r.bytes, fetchedBytes: r.fetchedBytes, restoreSource: r.source };
          }
          const running = await runtime.start(spec);
          if (env.DAYBOX_AGENT_FAULT === "exit-after-start") crash(`fault injected after starting ${sessionId}`);
          outcome = { ok: true, result: { jupyterUrl: running.jupyterUrl, jupyterToken: running.jupyterToken, pid: running.pid, ...restored } };
        } else if (action.kind === "park") {
          outcome = await park(sessionId, action.payload as unknown as ParkPayload, reportProgress);
        } else if (action.kind === "stop") {
          await runtime.stop(sessionId);
          // A deleted session's directory goes too, and its snapshots (the project's repository is pruned).
          const p = action.payload as { purge?: boolean; project?: string; snapshots?: SnapshotRefs };
          const purge = p.purge === true;
          if (purge) await runtime.purge(sessionId);
          // The GPUs are free and the directory gone whatever happens here: a store that fails is reported, not retried forever.
          const forgotten = purge ? await forget(p.project, p.snapshots) : {};
          outcome = { ok: true, result: { purged: purge, ...forgotten } };
        } else if (action.kind === "snapshot") {
          const p = action.payload as unknown as SnapshotPayload;
          const result = await snapshots.snapshot({ sessionId, project: p.project, dir: runtime.stateDir(sessionId), parentId: p.parentSnapshotId ?? null, onProgress: reportProgress });
          outcome = { ok: true, result: { ...result, ...(await retire(p, result.snapshotId)) } };
        } else {
          const p = action.payload as { project: string; snapshotId: string };
          if ((await runtime.list()).some((s) => s.sessionId === sessionId)) throw new Error("the session is running; it must be stopped before its state is restored");
          const r = await snapshots.restore({ project: p.project, snapshotId: p.snapshotId, dir: runtime.stateDir(sessionId), onProgress: reportProgress });
          outcome = { ok: true, result: { files: r.files, bytes: r.bytes, fetchedBytes: r.fetchedBytes, durationMs: r.durationMs } };
        }
      } catch (err) {
        outcome = { ok: false, error: (err as Error).message };
      }
      await api.agent.complete.mutate({ ...ref, outcome });
      log(`${action.kind} ${sessionId} (attempt ${action.attempts}): ${outcome.ok ? "done" : `failed: ${outcome.error}`}`);
    } finally {
      clearInterval(renew);
    }
  }

  let failures = 0;
  const closing = new AbortController();
  const loop = (async () => {
    while (!stopping) {
      let action: ClaimedAction | null = null;
      try {
        // A long poll: the API answers as soon as this node has work (or after CLAIM_WAIT_MS with nothing).
        action = await api.agent.claim.mutate({ nodeId, waitMs: CLAIM_WAIT_MS }, { signal: closing.signal });
        if (action) await execute(action);
        failures = 0;
      } catch (err) {
        if (closing.signal.aborted) break;
        failures++;
        log(`${action ? `${action.kind} ${action.id}` : "claim"}: ${(err as Error).message}`);
      }
      // Back off only after errors (the API is away); an empty long poll already waited.
      if (!action && failures > 0) await new Promise((r) => setTimeout(r, Math.min(10_000, env.DAYBOX_POLL_MS * failures)));
    }
  })();

  return {
    nodeName: env.nodeName,
    runtime,
    async close() {
      stopping = true;
      closing.abort();
      clearInterval(heartbeat);
      clearInterval(activity);
      await loop;
      await snapshots.close();
      await jobs.close();
      await runtime.close();
      await closeRuntime();
      await terminals.close();
    },
  };
}

type Runtimes = { runtime: SessionRuntime & { reapDead?: () => Promise<string[]> }; jobRunner: JobRunner; gpus: { gpuType: string; gpuCount: number; source: string }; closeRuntime: () => Promise<void> };

/** Sessions and jobs as processes on this machine; GPUs from nvidia-smi or the configured simulation. */
async function localRuntime(env: AgentEnv): Promise<Runtimes> {
  const runtime = new LocalRuntime({
    root: path.join(env.DAYBOX_DATA_DIR, "sessions"),
    ...(env.DAYBOX_JUPYTER === "never" ? { jupyter: null } : {}),
    jupyterZygote: env.DAYBOX_JUPYTER === "auto",
  });
  const gpus = await detectGpus({ gpuType: env.DAYBOX_LOCAL_GPU_TYPE, gpuCount: env.DAYBOX_LOCAL_GPUS });
  return { runtime, jobRunner: new LocalJobRunner(path.join(env.DAYBOX_DATA_DIR, "jobs")), gpus, closeRuntime: async () => {} };
}

/**
 * Sessions and jobs as pods pinned to this Kubernetes node (DAYBOX_NODE_NAME, the
 * DaemonSet's spec.nodeName); its GPUs as the API server reports them. Session
 * state stays on the node under <data-dir>/sessions, mounted into the pods.
 */
async function kubernetesRuntime(env: AgentEnv): Promise<Runtimes> {
  const { KubernetesCluster, KubernetesJobRunner, KubernetesRuntime } = await import("@daybox/cluster/kubernetes");
  const cluster = new KubernetesCluster({ namespace: env.DAYBOX_NAMESPACE, ...(env.DAYBOX_KUBECONFIG ? { kubeconfig: env.DAYBOX_KUBECONFIG } : {}) });
  const node = await cluster.gpuNode(env.nodeName);
  if (!node) throw new Error(`node ${env.nodeName} is not a GPU node of the Kubernetes cluster at ${cluster.server} (no allocatable nvidia.com/gpu); set DAYBOX_NODE_NAME to the node's name`);
  const common = { cluster, node: node.name, gpuType: node.gpuType };
  const runtime = await KubernetesRuntime.open({ ...common, root: path.join(env.DAYBOX_DATA_DIR, "sessions") });
  const jobRunner = await KubernetesJobRunner.open(common);
  return { runtime, jobRunner, gpus: { gpuType: node.gpuType, gpuCount: node.gpuCount, source: `Kubernetes node ${node.name}` }, closeRuntime: () => cluster.close() };
}

function crash(message: string): never {
  console.error(`[agent] ${message}`);
  process.exit(86);
}

async function retry(fn: () => Promise<void>, log: (m: string) => void, what: string) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= 60) throw new Error(what, { cause: err });
      if (attempt === 1 || attempt % 10 === 0) log(`${what}: ${(err as Error).message}; retrying`);
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
}
