// Pure: what Daybox asks a Kubernetes cluster for. Sessions and batch jobs
// become pods with `nvidia.com/gpu` limits, a priority class (interactive
// above batch), Daybox labels, placement on the node Daybox's scheduler chose
// (required node affinity, so kube-scheduler still does the resource
// accounting and can preempt lower-priority batch pods), and a locked-down
// security context. Names are deterministic, so create/delete are idempotent.
import type { V1Pod, V1PodDisruptionBudget, V1PriorityClass, V1SecurityContext, V1Service } from "@kubernetes/client-node";

export const GPU_RESOURCE = "nvidia.com/gpu";
export const LABEL = {
  managedBy: "app.kubernetes.io/managed-by",
  kind: "daybox.dev/kind",
  session: "daybox.dev/session-id",
  job: "daybox.dev/job-id",
  project: "daybox.dev/project",
  owner: "daybox.dev/owner",
  gpuType: "daybox.dev/gpu-type",
} as const;
export const PRIORITY_CLASS = { interactive: "daybox-interactive", batch: "daybox-batch" } as const;
export const JUPYTER_PORT = 8888;
/** Daybox's pods run as this ServiceAccount: no roles bound, no token mounted. */
export const WORKLOAD_SERVICE_ACCOUNT = "daybox-workload";
/** Where session state lives on a node: the agent snapshots and restores it there. */
export const NODE_STATE_ROOT = "/var/lib/daybox/sessions";
const HOME = "/home/daybox";
const UID = 1000;

export interface SessionPodSpec {
  sessionId: string;
  name: string;
  owner: string;
  project: string;
  gpuType: string;
  gpuCount: number;
  /** The node Daybox's scheduler placed the session on. */
  node: string;
  image: string;
  /** Jupyter's token (kept in the pod's env; never in Daybox's API answers). */
  jupyterToken: string;
  namespace: string;
  /** Where session state lives on the node (the agent's directory); default NODE_STATE_ROOT. */
  stateRoot?: string;
}

export interface JobPodSpec {
  jobId: string;
  name: string;
  owner: string;
  project: string;
  gpuType: string;
  gpuCount: number;
  node: string;
  image: string;
  command: readonly string[];
  attempt: number;
  gracePeriodSeconds: number;
  namespace: string;
}

/** `ses-0a1b2c3d4e5f` → `daybox-ses-0a1b2c3d4e5f`: a valid DNS label, the same every time. */
export const sessionPodName = (sessionId: string) => `daybox-${sessionId}`;
/** One pod per attempt, so a requeued job never collides with its terminating predecessor. */
export const jobPodName = (jobId: string, attempt: number) => `daybox-${jobId}-a${attempt}`;

export const jupyterBasePath = (sessionId: string) => `/v1/sessions/${sessionId}/jupyter/`;

const securityContext: V1SecurityContext = {
  runAsNonRoot: true,
  runAsUser: UID,
  runAsGroup: UID,
  allowPrivilegeEscalation: false,
  capabilities: { drop: ["ALL"] },
  seccompProfile: { type: "RuntimeDefault" },
};

const onNode = (node: string) => ({
  nodeAffinity: {
    requiredDuringSchedulingIgnoredDuringExecution: {
      nodeSelectorTerms: [{ matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values: [node] }] }],
    },
  },
});

/** GPU pods tolerate the usual GPU-node taint. */
const gpuTolerations = [{ key: GPU_RESOURCE, operator: "Exists", effect: "NoSchedule" }];

export function sessionPod(s: SessionPodSpec): V1Pod {
  const gpus = String(s.gpuCount);
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: sessionPodName(s.sessionId),
      namespace: s.namespace,
      labels: {
        [LABEL.managedBy]: "daybox",
        [LABEL.kind]: "session",
        [LABEL.session]: s.sessionId,
        [LABEL.project]: s.project,
        [LABEL.owner]: s.owner,
        [LABEL.gpuType]: s.gpuType,
      },
      annotations: { "daybox.dev/session-name": s.name },
    },
    spec: {
      priorityClassName: PRIORITY_CLASS.interactive,
      affinity: onNode(s.node),
      tolerations: gpuTolerations,
      restartPolicy: "Never",
      serviceAccountName: WORKLOAD_SERVICE_ACCOUNT,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      securityContext: { fsGroup: UID, runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
      terminationGracePeriodSeconds: 30,
      containers: [
        {
          name: "session",
          image: s.image,
          command: ["jupyter", "lab"],
          args: [
            "--no-browser",
            "--ServerApp.ip=0.0.0.0",
            `--ServerApp.port=${JUPYTER_PORT}`,
            `--ServerApp.base_url=${jupyterBasePath(s.sessionId)}`,
            `--ServerApp.root_dir=${HOME}`,
            "--IdentityProvider.token=$(JUPYTER_TOKEN)",
          ],
          env: [
            { name: "JUPYTER_TOKEN", value: s.jupyterToken },
            { name: "HOME", value: HOME },
            { name: "DAYBOX_SESSION_ID", value: s.sessionId },
          ],
          ports: [{ name: "jupyter", containerPort: JUPYTER_PORT }],
          resources: { limits: { [GPU_RESOURCE]: gpus }, requests: { [GPU_RESOURCE]: gpus } },
          securityContext,
          readinessProbe: { httpGet: { path: `${jupyterBasePath(s.sessionId)}api`, port: "jupyter" }, periodSeconds: 2 },
          volumeMounts: [{ name: "state", mountPath: HOME }],
        },
      ],
      volumes: [{ name: "state", hostPath: { path: `${s.stateRoot ?? NODE_STATE_ROOT}/${s.sessionId}`, type: "DirectoryOrCreate" } }],
    },
  };
}

/**
 * The session's Jupyter inside the cluster; the API proxies to it (owner
 * only). Headless: its DNS name resolves to the one pod, and it takes no
 * address from the cluster's service range (1,000 sessions would exhaust a
 * /24, as the scale benchmark found).
 */
export function sessionService(s: Pick<SessionPodSpec, "sessionId" | "namespace" | "project" | "owner">): V1Service {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: sessionPodName(s.sessionId),
      namespace: s.namespace,
      labels: { [LABEL.managedBy]: "daybox", [LABEL.kind]: "session", [LABEL.session]: s.sessionId, [LABEL.project]: s.project, [LABEL.owner]: s.owner },
    },
    spec: { clusterIP: "None", selector: { [LABEL.session]: s.sessionId }, ports: [{ name: "jupyter", port: JUPYTER_PORT, targetPort: "jupyter" }] },
  };
}

/**
 * No voluntary disruption of a session pod: `kubectl drain` (and any other
 * eviction) waits instead of killing it. The drain's cordon makes Daybox park
 * the session — snapshot, verify, then delete the pod itself (a delete is not
 * an eviction) — and the drain goes on with nothing lost.
 */
export function sessionDisruptionBudget(s: Pick<SessionPodSpec, "sessionId" | "namespace" | "project" | "owner">): V1PodDisruptionBudget {
  return {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: {
      name: sessionPodName(s.sessionId),
      namespace: s.namespace,
      labels: { [LABEL.managedBy]: "daybox", [LABEL.kind]: "session", [LABEL.session]: s.sessionId, [LABEL.project]: s.project, [LABEL.owner]: s.owner },
    },
    spec: { maxUnavailable: 0, selector: { matchLabels: { [LABEL.session]: s.sessionId } } },
  };
}

export function jobPod(j: JobPodSpec): V1Pod {
  const gpus = String(j.gpuCount);
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: jobPodName(j.jobId, j.attempt),
      namespace: j.namespace,
      labels: {
        [LABEL.managedBy]: "daybox",
        [LABEL.kind]: "job",
        [LABEL.job]: j.jobId,
        [LABEL.project]: j.project,
        [LABEL.owner]: j.owner,
        [LABEL.gpuType]: j.gpuType,
      },
      annotations: { "daybox.dev/job-name": j.name, "daybox.dev/attempt": String(j.attempt) },
    },
    spec: {
      priorityClassName: PRIORITY_CLASS.batch,
      affinity: onNode(j.node),
      tolerations: gpuTolerations,
      restartPolicy: "Never",
      serviceAccountName: WORKLOAD_SERVICE_ACCOUNT,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
      // SIGTERM, then this long to checkpoint, then SIGKILL: Kubernetes does what the local runner does.
      terminationGracePeriodSeconds: j.gracePeriodSeconds,
      containers: [
        {
          name: "job",
          image: j.image,
          command: [...j.command],
          env: [
            { name: "DAYBOX_JOB_ID", value: j.jobId },
            { name: "DAYBOX_JOB_ATTEMPT", value: String(j.attempt) },
          ],
          resources: { limits: { [GPU_RESOURCE]: gpus }, requests: { [GPU_RESOURCE]: gpus } },
          securityContext,
        },
      ],
    },
  };
}

/** Interactive sessions outrank batch pods: kube-scheduler preempts batch to place a session, never the reverse. */
export function priorityClasses(): V1PriorityClass[] {
  return [
    {
      apiVersion: "scheduling.k8s.io/v1",
      kind: "PriorityClass",
      metadata: { name: PRIORITY_CLASS.interactive, labels: { [LABEL.managedBy]: "daybox" } },
      value: 100_000,
      preemptionPolicy: "PreemptLowerPriority",
      description: "Daybox interactive sessions: may preempt Daybox batch jobs",
    },
    {
      apiVersion: "scheduling.k8s.io/v1",
      kind: "PriorityClass",
      metadata: { name: PRIORITY_CLASS.batch, labels: { [LABEL.managedBy]: "daybox" } },
      value: 1_000,
      preemptionPolicy: "Never",
      description: "Daybox batch jobs: run on free and idle-reclaimed GPUs, never preempt",
    },
  ];
}
