import type { V1Node, V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { GPU_RESOURCE, jobPod, jobPodName, priorityClasses, sessionDisruptionBudget, sessionPod, sessionPodName, sessionService } from "./manifests.ts";
import { gpuNode, podVerdict } from "./status.ts";

const session = {
  sessionId: "ses-0a1b2c3d4e5f",
  name: "notebook-one",
  owner: "alice",
  project: "vision",
  gpuType: "sim-a100",
  gpuCount: 2,
  node: "gpu-node-3",
  image: "registry.example/daybox/session:1",
  jupyterToken: "t0ken",
  namespace: "daybox",
};

describe("session and job manifests", () => {
  it("asks for the GPUs as limits and requests, on the chosen node, as an interactive pod", () => {
    const pod = sessionPod(session);
    expect(pod.metadata?.name).toBe("daybox-ses-0a1b2c3d4e5f");
    expect(pod.metadata?.labels).toMatchObject({ "daybox.dev/session-id": session.sessionId, "daybox.dev/project": "vision", "daybox.dev/owner": "alice", "app.kubernetes.io/managed-by": "daybox" });
    const c = pod.spec!.containers[0]!;
    expect(c.resources).toEqual({ limits: { [GPU_RESOURCE]: "2" }, requests: { [GPU_RESOURCE]: "2" } });
    expect(pod.spec!.priorityClassName).toBe("daybox-interactive");
    const term = pod.spec!.affinity!.nodeAffinity!.requiredDuringSchedulingIgnoredDuringExecution!.nodeSelectorTerms[0]!;
    expect(term.matchExpressions).toEqual([{ key: "kubernetes.io/hostname", operator: "In", values: ["gpu-node-3"] }]);
    expect(c.args).toContain("--ServerApp.base_url=/v1/sessions/ses-0a1b2c3d4e5f/jupyter/");
    expect(pod.spec!.volumes![0]!.hostPath).toEqual({ path: "/var/lib/daybox/sessions/ses-0a1b2c3d4e5f", type: "DirectoryOrCreate" });
  });

  it("runs as a non-root user without privilege escalation or service-account token", () => {
    for (const pod of [sessionPod(session), jobPod({ ...session, jobId: "job-0a1b2c3d4e5f", command: ["python", "train.py"], attempt: 2, gracePeriodSeconds: 45 })]) {
      const sc = pod.spec!.containers[0]!.securityContext!;
      expect(sc).toMatchObject({ runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } });
      expect(pod.spec!.automountServiceAccountToken).toBe(false);
    }
  });

  it("gives each job attempt its own pod, the job's grace period and the batch priority", () => {
    const pod = jobPod({ ...session, jobId: "job-0a1b2c3d4e5f", command: ["python", "train.py"], attempt: 2, gracePeriodSeconds: 45 });
    expect(pod.metadata?.name).toBe(jobPodName("job-0a1b2c3d4e5f", 2));
    expect(pod.metadata?.name).not.toBe(jobPodName("job-0a1b2c3d4e5f", 1));
    expect(pod.spec).toMatchObject({ priorityClassName: "daybox-batch", terminationGracePeriodSeconds: 45, restartPolicy: "Never" });
    expect(pod.spec!.containers[0]!.command).toEqual(["python", "train.py"]);
  });

  it("names are deterministic DNS labels; the service selects the session's pod", () => {
    expect(sessionPodName(session.sessionId)).toBe(sessionPodName(session.sessionId));
    expect(sessionPodName(session.sessionId)).toMatch(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
    expect(sessionService(session).spec!.selector).toEqual({ "daybox.dev/session-id": session.sessionId });
    expect(sessionService(session).spec!.clusterIP, "headless: no address from the service range").toBe("None");
    expect(sessionDisruptionBudget(session).spec, "evictions wait for Daybox to park the session").toEqual({ maxUnavailable: 0, selector: { matchLabels: { "daybox.dev/session-id": session.sessionId } } });
  });

  it("interactive outranks batch, and batch never preempts", () => {
    const [interactive, batch] = priorityClasses();
    expect(interactive!.value).toBeGreaterThan(batch!.value);
    expect(batch!.preemptionPolicy).toBe("Never");
  });
});

const pod = (status: V1Pod["status"], extra: Partial<V1Pod> = {}): V1Pod => ({
  metadata: { name: "p" },
  spec: { nodeName: "gpu-1", containers: [{ name: "session", image: "img:1" }] },
  status,
  ...extra,
});

describe("podVerdict", () => {
  it.each([
    {
      name: "unschedulable",
      pod: pod({ phase: "Pending", conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable", message: "0/3 nodes are available: 3 Insufficient nvidia.com/gpu." }] }),
      want: { state: "pending", reason: expect.stringContaining("Insufficient nvidia.com/gpu") },
    },
    { name: "pulling", pod: pod({ phase: "Pending", containerStatuses: [{ name: "session", image: "img:1", imageID: "", ready: false, restartCount: 0, state: { waiting: { reason: "ContainerCreating" } } }] }), want: { state: "pending", reason: "starting on node gpu-1 (ContainerCreating)" } },
    {
      name: "image pull error",
      pod: pod({ phase: "Pending", containerStatuses: [{ name: "session", image: "img:1", imageID: "", ready: false, restartCount: 0, state: { waiting: { reason: "ImagePullBackOff", message: "not found" } } }] }),
      want: { state: "failed", retryable: false, reason: "image img:1 cannot be pulled (ImagePullBackOff: not found)" },
    },
    { name: "running, not ready", pod: pod({ phase: "Running", conditions: [{ type: "Ready", status: "False" }] }), want: { state: "pending", reason: expect.stringContaining("waiting for it to become ready") } },
    { name: "running and ready", pod: pod({ phase: "Running", conditions: [{ type: "Ready", status: "True" }] }), want: { state: "running", reason: "running on node gpu-1" } },
    {
      name: "OOMKilled",
      pod: pod({ phase: "Failed", containerStatuses: [{ name: "session", image: "img:1", imageID: "", ready: false, restartCount: 0, state: { terminated: { reason: "OOMKilled", exitCode: 137 } } }] }),
      want: { state: "failed", retryable: false, reason: expect.stringContaining("OOMKilled") },
    },
    { name: "evicted", pod: pod({ phase: "Failed", reason: "Evicted", message: "The node was low on resource: memory." }), want: { state: "failed", retryable: true, reason: expect.stringContaining("low on resource") } },
    { name: "node lost", pod: pod({ phase: "Running", reason: "NodeLost" }, { metadata: { name: "p", deletionTimestamp: new Date() } }), want: { state: "failed", retryable: true, reason: "node gpu-1 was lost" } },
    {
      name: "preempted",
      pod: pod({ phase: "Running", conditions: [{ type: "DisruptionTarget", status: "True", reason: "PreemptionByScheduler", message: "preempted by daybox-ses-x" }] }),
      want: { state: "failed", retryable: true, reason: expect.stringContaining("PreemptionByScheduler") },
    },
    { name: "succeeded", pod: pod({ phase: "Succeeded" }), want: { state: "succeeded", reason: "exited with code 0 on node gpu-1" } },
    {
      name: "failed exit",
      pod: pod({ phase: "Failed", containerStatuses: [{ name: "job", image: "img:1", imageID: "", ready: false, restartCount: 0, state: { terminated: { reason: "Error", exitCode: 3 } } }] }),
      want: { state: "failed", retryable: false, reason: "exited with code 3 on node gpu-1" },
    },
  ])("$name", ({ pod: p, want }) => {
    expect(podVerdict(p)).toEqual(want);
  });
});

const node = (over: { gpus?: string; labels?: Record<string, string>; ready?: boolean; unschedulable?: boolean; taints?: { key: string; effect: string; value?: string }[] }): V1Node => ({
  metadata: { name: "gpu-1", labels: over.labels ?? { "daybox.dev/gpu-type": "sim-a100" } },
  spec: { unschedulable: over.unschedulable ?? false, taints: over.taints ?? [] },
  status: {
    allocatable: over.gpus === undefined ? { [GPU_RESOURCE]: "8" } : over.gpus ? { [GPU_RESOURCE]: over.gpus } : {},
    conditions: [{ type: "Ready", status: over.ready === false ? "False" : "True", reason: over.ready === false ? "NodeStatusUnknown" : "KubeletReady" }],
  },
});

describe("gpuNode", () => {
  it.each([
    { name: "a ready GPU node", n: node({}), want: { name: "gpu-1", gpuType: "sim-a100", gpuCount: 8, ready: true, schedulable: true, reason: "ready with 8 × sim-a100" } },
    { name: "GPU type from NVIDIA's label", n: node({ labels: { "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3" } }), want: { gpuType: "nvidia-h100-80gb-hbm3" } },
    { name: "not ready", n: node({ ready: false }), want: { ready: false, schedulable: false, reason: expect.stringContaining("NodeStatusUnknown") } },
    { name: "cordoned", n: node({ unschedulable: true }), want: { schedulable: false, reason: "cordoned in Kubernetes" } },
    { name: "the GPU taint does not block", n: node({ taints: [{ key: GPU_RESOURCE, effect: "NoSchedule" }] }), want: { schedulable: true } },
    { name: "another taint blocks", n: node({ taints: [{ key: "maintenance", value: "true", effect: "NoSchedule" }] }), want: { schedulable: false, reason: "tainted maintenance=true:NoSchedule" } },
  ])("$name", ({ n, want }) => {
    expect(gpuNode(n)).toMatchObject(want);
  });

  it("ignores nodes without GPUs", () => {
    expect(gpuNode(node({ gpus: "" }))).toBeNull();
    expect(gpuNode(node({ gpus: "0" }))).toBeNull();
  });
});
