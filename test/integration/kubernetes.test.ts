import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KubernetesCluster, type GpuNode, type PodEvent, type PodVerdict } from "@daybox/cluster/kubernetes";

/**
 * The Kubernetes cluster manager against a real API server, etcd and
 * kube-scheduler, with KWOK playing the GPU nodes' kubelets
 * (infra/testbed/kube.sh). Session and job pods land on the node Daybox chose
 * with their GPU requests; a batch pod waits while GPUs are taken and is
 * bound when a session's pod goes away; deleting a node is seen at once.
 */
const kubeconfig = process.env.DAYBOX_TEST_KUBECONFIG;

describe("Kubernetes cluster manager", () => {
  let cluster: KubernetesCluster;
  const namespace = `daybox-it-${Date.now().toString(36)}`;
  const events: PodEvent[] = [];

  beforeAll(async () => {
    if (!kubeconfig) {
      throw new Error("DAYBOX_TEST_KUBECONFIG is not set: start the test cluster with `export DAYBOX_TEST_KUBECONFIG=$(bash infra/testbed/kube.sh up | tail -1)` (npm test does this)");
    }
    cluster = new KubernetesCluster({ kubeconfig, namespace });
    await cluster.ensureSetup();
    await cluster.watchPods((e) => events.push(e));
  });
  afterAll(async () => {
    await cluster?.deleteNamespace();
    await cluster?.close();
  });

  /** Polls until `check` returns a value (the API server and KWOK work asynchronously). */
  async function until<T>(what: string, check: () => Promise<T | null | undefined | false>, timeoutMs = 30_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await check();
      if (v) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const verdictOf = (pod: string) => cluster.podVerdict(pod);
  const running = (pod: string) => until(`${pod} to run`, async () => ((await verdictOf(pod))?.state === "running" ? verdictOf(pod) : null));

  let nodes: GpuNode[];
  it("discovers the GPU nodes with their type, count and readiness, and what their pods hold", async () => {
    // Only the test-bed's own nodes: other tests add nodes of their own to the shared cluster.
    const all = (await cluster.gpuNodes()).filter((n) => n.labels["daybox.dev/testbed"] === "true");
    expect(all.length).toBeGreaterThanOrEqual(2);
    for (const n of all) expect(n).toMatchObject({ gpuCount: 8, ready: true, schedulable: true });
    expect(new Set(all.map((n) => n.gpuType)).size, "mixed GPU types").toBeGreaterThanOrEqual(2);
    // The test-bed is shared (smoke tests, other runs): work on nodes nobody's pods hold GPUs on.
    const used = await cluster.gpusInUse();
    nodes = all.filter((n) => !used.get(n.name));
    expect(nodes.length, `a GPU node with no GPU pods on it (in use: ${JSON.stringify([...used])})`).toBeGreaterThanOrEqual(1);
  });

  it("runs a session as a pod on the node Daybox chose, with its GPUs requested; creating it twice is harmless", async () => {
    const node = nodes[0]!;
    const spec = { sessionId: "ses-k8sit0000001", name: "it-session", owner: "alice", project: "vision", gpuType: node.gpuType, gpuCount: 8, node: node.name, image: "daybox/session:test", jupyterToken: "secret" };
    await cluster.startSession(spec);
    await cluster.startSession(spec);
    const v = (await running("daybox-ses-k8sit0000001")) as PodVerdict;
    expect(v.reason).toBe(`running on node ${node.name}`);
    await until("the informer to report it Running", async () => events.some((e) => e.id === spec.sessionId && e.verdict?.state === "running" && e.node === node.name));
    expect((await cluster.gpusInUse()).get(node.name)).toBe(8);
  });

  it("keeps a batch pod waiting while the node's GPUs are taken, and binds it when the session's pod goes away", async () => {
    const node = nodes[0]!;
    await cluster.startJob({ jobId: "job-k8sit0000001", name: "train", owner: "bob", project: "nlp", gpuType: node.gpuType, gpuCount: 4, node: node.name, image: "daybox/job:test", command: ["python", "train.py"], attempt: 1, gracePeriodSeconds: 1 });
    const waiting = await until("the scheduler's verdict", async () => {
      const v = await verdictOf("daybox-job-k8sit0000001-a1");
      return v?.state === "pending" && v.reason.includes("Insufficient nvidia.com/gpu") ? v : null;
    });
    expect(waiting.reason).toMatch(/waiting for the Kubernetes scheduler/);

    await cluster.stopSession("ses-k8sit0000001", 0);
    await cluster.stopSession("ses-k8sit0000001", 0);
    await running("daybox-job-k8sit0000001-a1");
    await until("the informer to report the session's pod deleted", async () => events.some((e) => e.id === "ses-k8sit0000001" && e.verdict === null));
    await cluster.stopJob("job-k8sit0000001", 1);
    await until("the job's pod to go", async () => (await verdictOf("daybox-job-k8sit0000001-a1")) === null);
  });
});
