// Pure: what Kubernetes says about pods and nodes, in Daybox's words. Every
// answer carries a reason a researcher or an admin can read.
import type { V1Node, V1Pod } from "@kubernetes/client-node";
import { GPU_RESOURCE, LABEL } from "./manifests.ts";

export type PodVerdict =
  /** Not placed yet, or starting; `waiting` says on what. */
  | { state: "pending"; reason: string }
  | { state: "running"; reason: string }
  /** Ended on its own: exit code 0 for jobs, or a session's server stopped. */
  | { state: "succeeded"; reason: string }
  /** Will not come back by itself: image errors, OOM, eviction, lost node, non-zero exit. */
  | { state: "failed"; reason: string; retryable: boolean };

const IMAGE_ERRORS = new Set(["ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"]);
const CONFIG_ERRORS = new Set(["CreateContainerConfigError", "CreateContainerError", "RunContainerError"]);

export function podVerdict(pod: V1Pod): PodVerdict {
  const status = pod.status ?? {};
  const container = status.containerStatuses?.[0];
  const waiting = container?.state?.waiting;
  const terminated = container?.state?.terminated ?? container?.lastState?.terminated;
  const node = pod.spec?.nodeName;

  if (pod.metadata?.deletionTimestamp && status.reason === "NodeLost") {
    return { state: "failed", reason: `node ${node ?? "?"} was lost`, retryable: true };
  }
  if (status.reason === "Evicted") return { state: "failed", reason: `evicted from node ${node ?? "?"}: ${status.message ?? "node under resource pressure"}`, retryable: true };
  if (status.reason === "NodeLost" || status.reason === "NodeAffinity" || status.reason === "Terminated") {
    return { state: "failed", reason: `node ${node ?? "?"} went away (${status.reason}${status.message ? `: ${status.message}` : ""})`, retryable: true };
  }
  const disruption = status.conditions?.find((c) => c.type === "DisruptionTarget" && c.status === "True");
  if (disruption) {
    return { state: "failed", reason: `stopped by the cluster (${disruption.reason ?? "disruption"}${disruption.message ? `: ${disruption.message}` : ""})`, retryable: true };
  }
  if (waiting?.reason && IMAGE_ERRORS.has(waiting.reason)) {
    const image = pod.spec?.containers[0]?.image ?? "?";
    return { state: "failed", reason: `image ${image} cannot be pulled (${waiting.reason}${waiting.message ? `: ${waiting.message}` : ""})`, retryable: false };
  }
  if (waiting?.reason && CONFIG_ERRORS.has(waiting.reason)) {
    return { state: "failed", reason: `container cannot start (${waiting.reason}${waiting.message ? `: ${waiting.message}` : ""})`, retryable: false };
  }
  if (terminated?.reason === "OOMKilled") {
    return { state: "failed", reason: `out of memory: the container was killed (OOMKilled, exit code ${terminated.exitCode})`, retryable: false };
  }

  switch (status.phase) {
    case "Succeeded":
      return { state: "succeeded", reason: `exited with code 0${node ? ` on node ${node}` : ""}` };
    case "Failed": {
      const code = terminated?.exitCode;
      const why = terminated?.reason && terminated.reason !== "Error" ? `${terminated.reason}, ` : "";
      return { state: "failed", reason: `exited with ${why}code ${code ?? "?"}${node ? ` on node ${node}` : ""}${status.message ? `: ${status.message}` : ""}`, retryable: false };
    }
    case "Running": {
      const ready = status.conditions?.find((c) => c.type === "Ready")?.status === "True";
      return ready ? { state: "running", reason: `running on node ${node}` } : { state: "pending", reason: `started on node ${node}; waiting for it to become ready` };
    }
    default: {
      const scheduled = status.conditions?.find((c) => c.type === "PodScheduled");
      if (scheduled?.status === "False") {
        return { state: "pending", reason: `waiting for the Kubernetes scheduler: ${scheduled.message ?? scheduled.reason ?? "not scheduled yet"}` };
      }
      if (waiting?.reason) return { state: "pending", reason: `starting on node ${node ?? "?"} (${waiting.reason})` };
      return { state: "pending", reason: node ? `starting on node ${node}` : "waiting to be scheduled" };
    }
  }
}

export interface GpuNode {
  name: string;
  gpuType: string;
  /** Allocatable GPUs (what pods can request). */
  gpuCount: number;
  ready: boolean;
  /** Cordoned (spec.unschedulable) or tainted NoSchedule/NoExecute by someone other than the GPU plugin. */
  schedulable: boolean;
  /** Cordoned: usually the first step of `kubectl drain`. */
  cordoned: boolean;
  reason: string;
  labels: Record<string, string>;
}

/** GPU type label, in the order Daybox looks: its own, NVIDIA's GPU feature discovery, then "gpu". */
const TYPE_LABELS = [LABEL.gpuType, "nvidia.com/gpu.product"];

/** A Node as Daybox sees it, or null when it offers no GPUs. */
export function gpuNode(node: V1Node): GpuNode | null {
  const name = node.metadata?.name ?? "";
  const labels = node.metadata?.labels ?? {};
  const gpuCount = Number.parseInt(String(node.status?.allocatable?.[GPU_RESOURCE] ?? "0"), 10) || 0;
  if (gpuCount <= 0) return null;
  const typeLabel = TYPE_LABELS.map((k) => labels[k]).find(Boolean);
  const gpuType = (typeLabel ?? "gpu").toLowerCase().replace(/[^a-z0-9.-]+/g, "-");
  const readyCondition = node.status?.conditions?.find((c) => c.type === "Ready");
  const ready = readyCondition?.status === "True";
  const blocking = (node.spec?.taints ?? []).filter((t) => (t.effect === "NoSchedule" || t.effect === "NoExecute") && t.key !== GPU_RESOURCE);
  const cordoned = node.spec?.unschedulable === true;
  const schedulable = ready && !cordoned && blocking.length === 0;
  const reason = !ready
    ? `not ready (${readyCondition?.reason ?? "no Ready condition"}${readyCondition?.message ? `: ${readyCondition.message}` : ""})`
    : cordoned
      ? "cordoned in Kubernetes"
      : blocking.length
        ? `tainted ${blocking.map((t) => `${t.key}${t.value ? `=${t.value}` : ""}:${t.effect}`).join(", ")}`
        : `ready with ${gpuCount} × ${gpuType}`;
  return { name, gpuType, gpuCount, ready, schedulable, cordoned, reason, labels };
}
