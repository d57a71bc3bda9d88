import type { Clock } from "@daybox/core";
import type { Repos } from "@daybox/db";
import type { GpuNode, KubernetesCluster } from "@daybox/cluster/kubernetes";

/** What the watcher last wrote for a node (so steady heartbeats cost no database writes). */
interface NodeMark {
  status: string | null;
  lost: boolean;
  /** Allocatable GPUs as the cluster reports them (a device plugin may change them). */
  gpuCount?: number;
  cordoned?: boolean;
}

interface Watched {
  id: string;
  name: string;
  key: string;
  cluster: KubernetesCluster | null;
  /** Node name → when its cluster first said NotReady (cleared when Ready again). */
  notReadySince: Map<string, number>;
  /** Node name → what its cluster says; `applied` once written to a registered node. */
  marks: Map<string, NodeMark & { applied: boolean }>;
  gpuNodes: Set<string>;
  /** Serializes this cluster's node events. */
  chain: Promise<void>;
  retryAt: number;
}

/**
 * Follows the nodes of every registered Kubernetes cluster (one informer per
 * cluster) and tells the scheduler what each cluster says about its nodes:
 * cordoned, tainted or NotReady nodes get no new work (`clusterStatus`); a
 * deleted Node object, or one NotReady for longer than `lostAfterMs`, is lost
 * and the reconcile loop recovers its sessions and jobs elsewhere. Nodes
 * themselves are registered by their agents (the DaemonSet), which run the pods.
 */
export function createClusterWatcher(deps: { repos: Repos; clock: Clock; log: (m: string) => void; onChange: () => void; lostAfterMs: number }) {
  const { repos, clock, log } = deps;
  const watching = new Map<string, Watched>();

  async function open(w: Watched, row: { kubeconfigRef: string | null; namespace: string }) {
    const { KubernetesCluster } = await import("@daybox/cluster/kubernetes");
    const ref = row.kubeconfigRef ?? "in-cluster";
    const cluster = new KubernetesCluster({ namespace: row.namespace, ...(ref === "in-cluster" ? {} : { kubeconfig: ref }) });
    w.cluster = cluster;
    await cluster.watchNodes(
      (node, name, deleted) => {
        w.chain = w.chain.then(() => onNode(w, node, name, deleted)).catch((err: Error) => log(`cluster ${w.name}: node ${name}: ${err.message}`));
      },
      (err) => void repos.clusters.setStatus(w.id, `cannot watch nodes at ${cluster.server}: ${(err as Error).message ?? err}; retrying`).catch(() => {}),
    );
    await w.chain;
    await repos.clusters.setStatus(w.id, `watching ${w.gpuNodes.size} GPU node${w.gpuNodes.size === 1 ? "" : "s"} at ${cluster.server}`);
    log(`watching cluster ${w.name} at ${cluster.server} (${w.gpuNodes.size} GPU nodes)`);
  }

  async function onNode(w: Watched, node: GpuNode | null, name: string, deleted: boolean) {
    if (!node && !deleted && !w.gpuNodes.has(name)) return; // a node without GPUs: not Daybox's business
    const now = clock.now().getTime();
    let mark: NodeMark;
    if (deleted || !node) {
      w.gpuNodes.delete(name);
      w.notReadySince.delete(name);
      mark = { status: deleted ? `its Node object was deleted from cluster ${w.name}` : `it no longer offers GPUs in cluster ${w.name}`, lost: deleted };
    } else {
      w.gpuNodes.add(name);
      if (node.ready) w.notReadySince.delete(name);
      else if (!w.notReadySince.has(name)) w.notReadySince.set(name, now);
      const since = w.notReadySince.get(name);
      mark = { status: node.schedulable ? null : node.reason, lost: since !== undefined && now - since >= deps.lostAfterMs, gpuCount: node.gpuCount, cordoned: node.cordoned };
    }
    await apply(w, name, mark);
  }

  async function apply(w: Watched, name: string, mark: NodeMark) {
    const prev = w.marks.get(name);
    if (prev?.applied && prev.status === mark.status && prev.lost === mark.lost && prev.gpuCount === mark.gpuCount && prev.cordoned === mark.cordoned) return;
    const node = await repos.nodes.setClusterStatus({
      clusterName: w.name,
      name,
      status: mark.status,
      lost: mark.lost,
      cordoned: mark.cordoned ?? false,
      ...(mark.gpuCount === undefined ? {} : { gpuCount: mark.gpuCount }),
      at: clock.now(),
    });
    w.marks.set(name, { ...mark, applied: node !== null });
    if (!node) return;
    if (mark.lost && !prev?.lost) log(`cluster ${w.name}: node ${name} lost (${mark.status})`);
    deps.onChange();
  }

  return {
    /** Once per tick: start watching new clusters, stop removed ones, age NotReady nodes into lost ones. */
    async sync() {
      const rows = await repos.clusters.watched();
      const now = clock.now().getTime();
      for (const row of rows) {
        const key = `${row.kubeconfigRef}|${row.namespace}`;
        let w = watching.get(row.id);
        if (w && w.key !== key) {
          await w.cluster?.close();
          watching.delete(row.id);
          w = undefined;
        }
        if (!w) {
          w = { id: row.id, name: row.name, key, cluster: null, notReadySince: new Map(), marks: new Map(), gpuNodes: new Set(), chain: Promise.resolve(), retryAt: 0 };
          watching.set(row.id, w);
        }
        if (!w.cluster && now >= w.retryAt) {
          const current = w;
          await open(current, row).catch(async (err: Error) => {
            await current.cluster?.close();
            current.cluster = null;
            current.retryAt = now + 10_000;
            await repos.clusters.setStatus(current.id, `cannot reach it: ${err.message}; retrying every 10 s`);
            log(`cluster ${current.name}: ${err.message}`);
          });
        }
        // Age NotReady nodes, and apply what was seen before the node's agent registered it.
        for (const [name, since] of w.notReadySince) if (now - since >= deps.lostAfterMs) await apply(w, name, { ...w.marks.get(name), status: w.marks.get(name)?.status ?? "not ready", lost: true });
        for (const [name, mark] of w.marks) if (!mark.applied && (mark.status !== null || mark.lost)) await apply(w, name, mark);
      }
      for (const [id, w] of watching) {
        if (rows.some((r) => r.id === id)) continue;
        await w.cluster?.close();
        watching.delete(id);
      }
    },
    async close() {
      await Promise.all([...watching.values()].map((w) => w.cluster?.close()));
      watching.clear();
    },
  };
}
