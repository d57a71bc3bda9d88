import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KubernetesCluster } from "@daybox/cluster/kubernetes";
import { createTestPostgresDatabase } from "@daybox/db/testing";
import { loadEnv, startControlPlane } from "../../apps/control-plane/src/index.ts";
import { daybox, eventually, readyLine, repoRoot, spawnNode, stopProc, tempDir, treeDigest, type Proc } from "./support.ts";

const endpoint = process.env.DAYBOX_TEST_S3_ENDPOINT;
const kubeconfigA = process.env.DAYBOX_TEST_KUBECONFIG;
const kubeconfigB = process.env.DAYBOX_TEST_KUBECONFIG_B;
if (!endpoint || !kubeconfigA || !kubeconfigB) {
  throw new Error(
    "DAYBOX_TEST_S3_ENDPOINT, DAYBOX_TEST_KUBECONFIG and DAYBOX_TEST_KUBECONFIG_B must be set: npm test starts the S3 server and two test-bed clusters " +
      "(bash infra/testbed/kube.sh up --nodes 4; bash infra/testbed/kube.sh up --name daybox-b --nodes 2)",
  );
}

/** The test-bed cluster a kubeconfig belongs to (kube.sh keeps them in kwok/clusters/<name>/). */
const clusterName = (kubeconfig: string) => path.basename(path.dirname(kubeconfig));

function kubectl(kubeconfig: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile("bash", [path.join(repoRoot, "infra/testbed/kube.sh"), "kubectl", "--name", clusterName(kubeconfig), ...args], { timeout: 60_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`kubectl ${args.join(" ")}: ${stderr || err.message}`)) : resolve(stdout),
    );
    if (input !== undefined) child.stdin!.end(input);
  });
}

/** A KWOK-managed GPU node of this test's own (a GPU type no other test uses, so nothing else lands on it). */
const GPU_TYPE = "sim-k8s-e2e";
const nodeManifest = (name: string) => `apiVersion: v1
kind: Node
metadata:
  name: ${name}
  annotations: { kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0" }
  labels: { kubernetes.io/hostname: ${name}, type: kwok, daybox.dev/gpu-type: ${GPU_TYPE}, nvidia.com/gpu.present: "true" }
spec: {}
status:
  capacity: &r { cpu: "64", memory: 512Gi, pods: "110", nvidia.com/gpu: "8" }
  allocatable: *r
`;

interface PodRow {
  name: string;
  node: string;
  phase: string;
  gpus: string;
  priorityClass: string;
  labels: Record<string, string>;
}
async function pods(kubeconfig: string, namespace: string): Promise<PodRow[]> {
  const out = JSON.parse(await kubectl(kubeconfig, ["get", "pods", "-n", namespace, "-o", "json"])) as {
    items: { metadata: { name: string; labels: Record<string, string>; deletionTimestamp?: string }; spec: { nodeName?: string; priorityClassName?: string; containers: { resources: { requests?: Record<string, string>; limits?: Record<string, string> } }[] }; status: { phase: string } }[];
  };
  return out.items
    .filter((p) => !p.metadata.deletionTimestamp)
    .map((p) => ({
      name: p.metadata.name,
      node: p.spec.nodeName ?? "",
      phase: p.status.phase,
      gpus: `${p.spec.containers[0]!.resources.requests?.["nvidia.com/gpu"]}/${p.spec.containers[0]!.resources.limits?.["nvidia.com/gpu"]}`,
      priorityClass: p.spec.priorityClassName ?? "",
      labels: p.metadata.labels,
    }));
}

/**
 * Daybox on Kubernetes, end to end on real parts: two real API servers (etcd,
 * kube-apiserver, kube-scheduler, controller-manager; KWOK plays the
 * kubelets), PostgreSQL, the S3 server, agents in Kubernetes mode. Sessions
 * become pods bound to the chosen GPU node with their GPUs requested; park
 * snapshots to S3 and only then deletes the pod, and a waiting batch pod is
 * bound to the freed GPUs; resume preempts the batch pod and recreates the
 * session pod with its state byte-identical; a cordoned cluster sends the
 * resume to the other cluster; deleting a node's object recovers its session
 * in the other cluster from its latest snapshot.
 */
describe("Kubernetes runtime: pods, park/resume, batch, multi-cluster, node loss", () => {
  const run = randomBytes(3).toString("hex");
  const namespace = `daybox-e2e-${run}`;
  const bucket = `daybox-k8s-${run}`;
  const nodeA = `e2e-a-${run}`;
  const nodeB = `e2e-b-${run}`;
  const nodeB2 = `e2e-b2-${run}`;
  const s3 = new S3Client({ endpoint, region: "us-east-1", forcePathStyle: true, credentials: { accessKeyId: "daybox", secretAccessKey: "daybox-secret" } });
  const clusters = [new KubernetesCluster({ kubeconfig: kubeconfigA, namespace }), new KubernetesCluster({ kubeconfig: kubeconfigB, namespace })];
  let dataDir: string;
  let pg: Awaited<ReturnType<typeof createTestPostgresDatabase>>;
  let cp: Awaited<ReturnType<typeof startControlPlane>>;
  const agents: Record<string, { proc: Proc; dataDir: string }> = {};
  let env: NodeJS.ProcessEnv;
  /** The control plane's log: shown when a step fails, it says what the platform decided and why. */
  const cpLog: string[] = [];
  const withLog = async <T,>(step: Promise<T>) => step.catch((err: Error) => Promise.reject(new Error(`${err.message}\ncontrol plane log (last 40):\n${cpLog.slice(-40).join("\n")}`)));
  const cli = async (args: string[], input?: string) => {
    const r = await daybox(args, env, input);
    expect(r.code, `daybox ${args.join(" ")}: ${r.stderr}`).toBe(0);
    return r;
  };
  const cliJson = async <T,>(args: string[]) => JSON.parse((await cli([...args, "--json"])).stdout) as T;
  type Shown = { session: { id: string; state: string; reason: string; node: string | null }; events: { toState: string; reason: string }[] };
  const show = (id: string) => cliJson<Shown>(["session", "show", id]);
  /** The session as shown once it runs again on `node`. */
  const runningOn = (id: string, node: string, what: string) =>
    withLog(
      eventually(
        what,
        async () => {
          const s = await show(id);
          return s.session.state === "Running" && s.session.node === node ? s : undefined;
        },
        90_000,
      ),
    );

  async function startAgent(node: string, kubeconfig: string, cluster: string) {
    const dir = await tempDir(`k8s-agent-${node}`);
    const proc = spawnNode(["--import", "tsx", "apps/agent/src/main.ts"], {
      DAYBOX_API_URL: cp.url,
      DAYBOX_DATA_DIR: dir,
      DAYBOX_AGENT_TOKEN_FILE: cp.agentTokenFile,
      DAYBOX_RUNTIME: "kubernetes",
      DAYBOX_KUBECONFIG: kubeconfig,
      DAYBOX_NAMESPACE: namespace,
      DAYBOX_CLUSTER: cluster,
      DAYBOX_NODE_NAME: node,
      DAYBOX_POLL_MS: "100",
      DAYBOX_HEARTBEAT_MS: "1000",
      DAYBOX_SNAPSHOT_REPO: `s3://${bucket}/snapshots`,
      DAYBOX_S3_ENDPOINT: endpoint,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "daybox",
      AWS_SECRET_ACCESS_KEY: "daybox-secret",
    });
    await readyLine(proc);
    agents[node] = { proc, dataDir: dir };
  }
  const homeOf = (node: string, sessionId: string) => path.join(agents[node]!.dataDir, "sessions", sessionId);

  beforeAll(async () => {
    dataDir = await tempDir("k8s-e2e");
    pg = await createTestPostgresDatabase();
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    for (const [i, kubeconfig] of [kubeconfigA, kubeconfigB].entries()) {
      await clusters[i]!.ensureSetup(); // the Helm chart's job in a real install
      await kubectl(kubeconfig, ["apply", "-f", "-"], nodeManifest(i === 0 ? nodeA : nodeB));
    }
    cp = await startControlPlane(
      loadEnv({
        DAYBOX_DATA_DIR: dataDir,
        DAYBOX_DATABASE_URL: pg.url,
        DAYBOX_API_PORT: "0",
        DAYBOX_TICK_MS: "200",
        DAYBOX_BOOTSTRAP_QUOTA: `${GPU_TYPE}=8`,
        // NotReady this long is lost (5 min by default; the test cannot wait that long)
        DAYBOX_NODE_LOST_AFTER_MS: "5000",
      }),
      { log: (m) => cpLog.push(m) },
    );
    env = { DAYBOX_URL: cp.url, DAYBOX_TOKEN: cp.adminToken!, DAYBOX_CONFIG: path.join(dataDir, "cli.json") };
  }, 180_000);

  afterAll(async () => {
    for (const a of Object.values(agents)) await stopProc(a.proc);
    await cp?.close();
    for (const [i, kubeconfig] of [kubeconfigA, kubeconfigB].entries()) {
      await kubectl(kubeconfig, ["delete", "node", ...(i === 0 ? [nodeA] : [nodeB, nodeB2]), "--ignore-not-found"]).catch(() => {});
      await clusters[i]!.deleteNamespace().catch(() => {});
      await clusters[i]!.close();
    }
    await pg?.drop();
    s3.destroy();
  });

  let sessionId = "";
  let jobId = "";
  let before: string[] = [];

  it("registers both clusters; the control plane watches their nodes", async () => {
    await cli(["cluster", "add", "east", "--kubeconfig", kubeconfigA, "--namespace", namespace]);
    await cli(["cluster", "add", "west", "--kubeconfig", kubeconfigB, "--namespace", namespace]);
    const listed = await eventually("both clusters to be watched", async () => {
      const cs = await cliJson<{ name: string; status: string }[]>(["cluster", "ls"]);
      return cs.every((c) => c.status.startsWith("watching")) && cs.length === 2 ? cs : undefined;
    });
    expect(listed.map((c) => c.name)).toEqual(["east", "west"]);
    // Bad input is named, not a stack trace.
    const bad = await daybox(["cluster", "add", "nowhere", "--kubeconfig", "/nonexistent/kubeconfig"], env);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("the control plane cannot read the kubeconfig file /nonexistent/kubeconfig");
    await startAgent(nodeA, kubeconfigA, "east");
  });

  it("runs a session as a pod bound to the chosen GPU node with its GPUs requested", async () => {
    const s = await cliJson<{ id: string; state: string }>(["session", "create", "--gpus", "8", "--gpu-type", GPU_TYPE, "--name", "k8s-notebook", "--wait"]);
    expect(s.state).toBe("Running");
    sessionId = s.id;
    const [pod] = (await pods(kubeconfigA, namespace)).filter((p) => p.labels["daybox.dev/session-id"] === sessionId);
    expect(pod).toMatchObject({ name: `daybox-${sessionId}`, node: nodeA, phase: "Running", gpus: "8/8", priorityClass: "daybox-interactive" });
    expect(pod!.labels).toMatchObject({ "daybox.dev/kind": "session", "daybox.dev/project": "default", "daybox.dev/gpu-type": GPU_TYPE });
    const wide = await kubectl(kubeconfigA, ["get", "pods", "-n", namespace, "-o", "wide"]);
    expect(wide).toMatch(new RegExp(`daybox-${sessionId}\\s+1/1\\s+Running\\s+0\\s+\\S+\\s+\\S+\\s+${nodeA}`));

    // The researcher's environment lives on the node, in the directory mounted as the pod's home.
    const home = homeOf(nodeA, sessionId);
    await mkdir(path.join(home, "venv/lib/site-packages/mypkg"), { recursive: true });
    await mkdir(path.join(home, "work"), { recursive: true });
    await writeFile(path.join(home, "venv/lib/site-packages/mypkg/__init__.py"), 'VERSION = "2.0"\n');
    await writeFile(path.join(home, "venv/lib/site-packages/mypkg/_core.so"), randomBytes(3_000_000));
    await symlink("../lib/site-packages/mypkg", path.join(home, "venv/mypkg"));
    await writeFile(path.join(home, "work/analysis.ipynb"), '{"cells": [], "nbformat": 4}');
    before = await treeDigest(home, ["venv", "work"]);
  });

  it("parks: snapshot in S3 first, then the pod is deleted and a waiting batch pod is bound to the freed GPUs", async () => {
    const job = JSON.parse((await cli(["job", "submit", "--gpus", "8", "--gpu-type", GPU_TYPE, "--name", "sweep", "--grace", "5s", "--json", "--", "python", "train.py"])).stdout) as { id: string };
    jobId = job.id;
    await eventually("the job to wait for GPUs", async () => ((await cliJson<{ job: { state: string; reason: string } }>(["job", "show", jobId])).job.reason.startsWith("queued: needs 8") ? true : undefined));

    await cli(["session", "park", sessionId, "--wait"]);
    const parked = await show(sessionId);
    expect(parked.session.state).toBe("Parked");
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "snapshots/" }));
    expect(listed.KeyCount ?? 0).toBeGreaterThan(0);
    expect((await pods(kubeconfigA, namespace)).some((p) => p.name === `daybox-${sessionId}`), "session pod deleted").toBe(false);

    const jobPod = await eventually("the batch pod to run on the freed GPUs", async () => (await pods(kubeconfigA, namespace)).find((p) => p.labels["daybox.dev/job-id"] === jobId && p.phase === "Running"));
    expect(jobPod).toMatchObject({ name: `daybox-${jobId}-a1`, node: nodeA, gpus: "8/8", priorityClass: "daybox-batch" });
    const j = await cliJson<{ job: { state: string } }>(["job", "show", jobId]);
    expect(j.job.state).toBe("Running");
  });

  it("resumes: the batch pod is preempted and requeued, the session pod comes back with its state byte-identical", async () => {
    await cli(["session", "resume", sessionId, "--wait"]);
    const pod = (await pods(kubeconfigA, namespace)).find((p) => p.name === `daybox-${sessionId}`);
    expect(pod).toMatchObject({ node: nodeA, phase: "Running", gpus: "8/8" });
    expect((await pods(kubeconfigA, namespace)).some((p) => p.labels["daybox.dev/job-id"] === jobId), "batch pod gone").toBe(false);
    const j = await cliJson<{ job: { state: string; preemptions: number }; events: { toState: string; reason: string }[] }>(["job", "show", jobId]);
    expect(j.job).toMatchObject({ state: "Queued", preemptions: 1 });
    expect(j.events.map((e) => `${e.toState}: ${e.reason}`)).toContainEqual(expect.stringMatching(new RegExp(`^Preempting: preempted for session ${sessionId} .* on node ${nodeA}`)));
    expect(j.events.map((e) => `${e.toState}: ${e.reason}`)).toContainEqual(expect.stringMatching(/^Queued: .*pod daybox-job-\S+-a1 stopped \(SIGTERM, then up to 5 s before SIGKILL\); requeued/));
    expect(await treeDigest(homeOf(nodeA, sessionId), ["venv", "work"])).toEqual(before);
    await cli(["job", "cancel", jobId]);
  });

  it("`kubectl drain` of its node waits while Daybox parks the session; it resumes in the other cluster", async () => {
    await startAgent(nodeB, kubeconfigB, "west");
    const pdb = JSON.parse(await kubectl(kubeconfigA, ["get", "pdb", "-n", namespace, `daybox-${sessionId}`, "-o", "json"])) as { spec: { maxUnavailable: number } };
    expect(pdb.spec.maxUnavailable).toBe(0);
    // (--force: Daybox pods have no controller.) The drain cordons the node, then its eviction of the session pod is refused by the disruption
    // budget until Daybox, seeing the cordon, has parked the session and deleted the pod itself.
    const drained = await withLog(kubectl(kubeconfigA, ["drain", nodeA, "--ignore-daemonsets", "--force", "--timeout=120s"]));
    expect(drained).toContain(`node/${nodeA} drained`);
    const parked = await show(sessionId);
    expect(parked.session.state).toBe("Parked");
    expect(parked.events.map((e) => `${e.toState}: ${e.reason}`)).toContainEqual(expect.stringMatching(new RegExp(`^Snapshotting: node ${nodeA} is draining: parking the session`)));
    const nodes = await cliJson<{ name: string; clusterStatus: string | null }[]>(["node", "ls"]);
    expect(nodes.find((n) => n.name === nodeA)?.clusterStatus).toBe("cordoned in Kubernetes");
    await cli(["session", "resume", sessionId, "--wait"]);
    const shown = await show(sessionId);
    expect(shown.session.node).toBe(nodeB);
    expect((await pods(kubeconfigB, namespace)).find((p) => p.name === `daybox-${sessionId}`)).toMatchObject({ node: nodeB, phase: "Running", gpus: "8/8" });
    expect((await pods(kubeconfigA, namespace)).some((p) => p.name === `daybox-${sessionId}`)).toBe(false);
    // Restored from S3 on a node that never held it.
    expect(await treeDigest(homeOf(nodeB, sessionId), ["venv", "work"])).toEqual(before);
    await kubectl(kubeconfigA, ["uncordon", nodeA]);
  });

  it("a lost node's session is marked Lost with the reason and resumed elsewhere from its latest snapshot", async () => {
    // The node dies: its agent with it, then its Node object is deleted.
    await stopProc(agents[nodeB]!.proc);
    await kubectl(kubeconfigB, ["delete", "node", nodeB]);
    const back = await runningOn(sessionId, nodeA, "the session to run again in the other cluster");
    const lost = back.events.filter((e) => e.toState === "Lost").at(-1);
    expect(lost?.reason).toMatch(new RegExp(`^node ${nodeB} was lost: resuming it elsewhere from snapshot \\S+ of \\S+ \\(work after that snapshot is lost\\)$`));
    expect((await pods(kubeconfigA, namespace)).find((p) => p.name === `daybox-${sessionId}`)).toMatchObject({ node: nodeA, phase: "Running" });
    expect(await treeDigest(homeOf(nodeA, sessionId), ["venv", "work"])).toEqual(before);
    const nodes = await cliJson<{ name: string; lostAt: string | null; clusterStatus: string | null }[]>(["node", "ls"]);
    expect(nodes.find((n) => n.name === nodeB)).toMatchObject({ clusterStatus: "its Node object was deleted from cluster west" });
    expect(nodes.find((n) => n.name === nodeB)?.lostAt).not.toBeNull();
  });

  it("a node that stays NotReady is lost too: its session comes back on another node", async () => {
    // A second node in the west cluster to recover onto; then the east node dies: its agent stops,
    // KWOK stops speaking for it, and its kubelet's Ready condition turns False.
    await kubectl(kubeconfigB, ["apply", "-f", "-"], nodeManifest(nodeB2));
    await startAgent(nodeB2, kubeconfigB, "west");
    await stopProc(agents[nodeA]!.proc);
    await kubectl(kubeconfigA, ["annotate", "node", nodeA, "kwok.x-k8s.io/node-"]);
    const now = new Date().toISOString();
    const notReady = { status: { conditions: [{ type: "Ready", status: "False", reason: "KubeletNotReady", message: "e2e: the node is down", lastHeartbeatTime: now, lastTransitionTime: now }] } };
    await kubectl(kubeconfigA, ["patch", "node", nodeA, "--subresource=status", "--type=merge", "-p", JSON.stringify(notReady)]);

    const back = await runningOn(sessionId, nodeB2, "the session to run again on the west cluster's second node");
    const lost = back.events.filter((e) => e.toState === "Lost").at(-1);
    expect(lost?.reason).toMatch(new RegExp(`^node ${nodeA} was lost: resuming it elsewhere from snapshot \\S+`));
    const nodes = await cliJson<{ name: string; lostAt: string | null; clusterStatus: string | null }[]>(["node", "ls"]);
    expect(nodes.find((n) => n.name === nodeA)?.clusterStatus).toBe("not ready (KubeletNotReady: e2e: the node is down)");
    expect(nodes.find((n) => n.name === nodeA)?.lostAt).not.toBeNull();
    expect((await pods(kubeconfigB, namespace)).find((p) => p.name === `daybox-${sessionId}`)).toMatchObject({ node: nodeB2, phase: "Running" });
    expect(await treeDigest(homeOf(nodeB2, sessionId), ["venv", "work"])).toEqual(before);
  });
});
