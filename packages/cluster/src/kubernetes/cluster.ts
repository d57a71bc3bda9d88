// The only place Daybox talks to Kubernetes. Idempotent by construction:
// creating what exists (409) and deleting what is gone (404) are successes,
// so a retried or repeated apply never fails or duplicates.
import type { Readable, Writable } from "node:stream";
import {
  ApiException,
  CoreV1Api,
  Exec,
  KubeConfig,
  ListWatch,
  PolicyV1Api,
  SchedulingV1Api,
  Watch,
  makeInformer,
  type Informer,
  type V1Node,
  type V1Pod,
  type V1Status,
} from "@kubernetes/client-node";
import {
  GPU_RESOURCE,
  JUPYTER_PORT,
  type JobPodSpec,
  LABEL,
  WORKLOAD_SERVICE_ACCOUNT,
  type SessionPodSpec,
  jobPod,
  jobPodName,
  jupyterBasePath,
  priorityClasses,
  sessionPod,
  sessionDisruptionBudget,
  sessionPodName,
  sessionService,
} from "./manifests.ts";
import { type GpuNode, type PodVerdict, gpuNode, podVerdict } from "./status.ts";

export interface KubernetesClusterOptions {
  /** A kubeconfig file; default: in-cluster config, else ~/.kube/config. */
  kubeconfig?: string;
  /** Where Daybox's pods live (default "daybox"). */
  namespace?: string;
}

export interface PodEvent {
  kind: "session" | "job";
  /** Session or job id (from the pod's labels). */
  id: string;
  pod: string;
  node: string | null;
  /** null when the pod was deleted. */
  verdict: PodVerdict | null;
  /** Deletion has been asked for (the pod is terminating). */
  deleting: boolean;
  /** A job pod's attempt (0 for sessions). */
  attempt: number;
  /** The container's exit code once it terminated. */
  exitCode: number | null;
  /** A session pod's Jupyter token (an agent that restarted adopts the pod with it). */
  jupyterToken: string | null;
}

const status = (err: unknown): number | undefined => (err instanceof ApiException ? err.code : undefined);

async function tolerate<T>(codes: number[], fn: () => Promise<T>): Promise<T | null> {
  try {
    return await fn();
  } catch (err) {
    if (codes.includes(status(err) ?? -1)) return null;
    throw err;
  }
}

export class KubernetesCluster {
  readonly namespace: string;
  readonly #config: KubeConfig;
  readonly #core: CoreV1Api;
  readonly #scheduling: SchedulingV1Api;
  readonly #policy: PolicyV1Api;
  #informers: Informer<V1Pod | V1Node>[] = [];
  #closed = false;

  constructor(opts: KubernetesClusterOptions = {}) {
    this.namespace = opts.namespace ?? "daybox";
    this.#config = new KubeConfig();
    if (opts.kubeconfig) this.#config.loadFromFile(opts.kubeconfig);
    else this.#config.loadFromDefault();
    this.#core = this.#config.makeApiClient(CoreV1Api);
    this.#scheduling = this.#config.makeApiClient(SchedulingV1Api);
    this.#policy = this.#config.makeApiClient(PolicyV1Api);
  }

  /** The API server this talks to (for messages). */
  get server(): string {
    return this.#config.getCurrentCluster()?.server ?? "?";
  }

  /**
   * The namespace, the workload ServiceAccount and the priority classes:
   * created once, left alone after. (Daybox's own ServiceAccount also means a
   * pod never waits for the controller-manager to create a namespace's
   * "default" one.)
   */
  async ensureSetup(): Promise<void> {
    await tolerate([409], () => this.#core.createNamespace({ body: { metadata: { name: this.namespace, labels: { [LABEL.managedBy]: "daybox" } } } }));
    await tolerate([409], () =>
      this.#core.createNamespacedServiceAccount({
        namespace: this.namespace,
        body: { metadata: { name: WORKLOAD_SERVICE_ACCOUNT, labels: { [LABEL.managedBy]: "daybox" } }, automountServiceAccountToken: false },
      }),
    );
    for (const pc of priorityClasses()) await tolerate([409], () => this.#scheduling.createPriorityClass({ body: pc }));
  }

  /** GPU nodes: capacity, type, readiness, cordons and taints. */
  async gpuNodes(): Promise<GpuNode[]> {
    const list = await this.#core.listNode();
    return list.items.map(gpuNode).filter((n): n is GpuNode => n !== null);
  }

  /** One node as Daybox sees it: null when it does not exist or offers no GPUs. */
  async gpuNode(name: string): Promise<GpuNode | null> {
    const node = await tolerate([404], () => this.#core.readNode({ name }));
    return node ? gpuNode(node) : null;
  }

  /** GPUs requested by live pods (any namespace) per node: what kube-scheduler counts as taken. */
  async gpusInUse(): Promise<Map<string, number>> {
    const pods = await this.#core.listPodForAllNamespaces({ fieldSelector: "status.phase!=Succeeded,status.phase!=Failed" });
    const used = new Map<string, number>();
    for (const pod of pods.items) {
      const node = pod.spec?.nodeName;
      if (!node) continue;
      const gpus = (pod.spec?.containers ?? []).reduce((n, c) => n + (Number.parseInt(String(c.resources?.requests?.[GPU_RESOURCE] ?? c.resources?.limits?.[GPU_RESOURCE] ?? "0"), 10) || 0), 0);
      if (gpus) used.set(node, (used.get(node) ?? 0) + gpus);
    }
    return used;
  }

  /** Removes Daybox's namespace and everything in it (uninstall; test clean-up). Priority classes stay. */
  async deleteNamespace(opts: { waitMs?: number } = {}): Promise<void> {
    await tolerate([404], () => this.#core.deleteNamespace({ name: this.namespace }));
    const deadline = Date.now() + (opts.waitMs ?? 0);
    while (Date.now() < deadline && (await tolerate([404], () => this.#core.readNamespace({ name: this.namespace })))) await new Promise((r) => setTimeout(r, 500));
  }

  /** How many of Daybox's pods the cluster reports Running. */
  async runningPods(): Promise<number> {
    const list = await this.#core.listNamespacedPod({ namespace: this.namespace, labelSelector: `${LABEL.managedBy}=daybox`, fieldSelector: "status.phase=Running" });
    return list.items.length;
  }

  /** The session's pod, its Service, and a disruption budget that makes evictions (kubectl drain) wait for Daybox to park it. */
  async startSession(spec: Omit<SessionPodSpec, "namespace">): Promise<void> {
    const full = { ...spec, namespace: this.namespace };
    await tolerate([409], () => this.#policy.createNamespacedPodDisruptionBudget({ namespace: this.namespace, body: sessionDisruptionBudget(full) }));
    await tolerate([409], () => this.#core.createNamespacedPod({ namespace: this.namespace, body: sessionPod(full) }));
    await tolerate([409], () => this.#core.createNamespacedService({ namespace: this.namespace, body: sessionService(full) }));
  }

  /** Deletes the session's pod (SIGTERM, then its grace period), its service and its disruption budget. */
  async stopSession(sessionId: string, graceSeconds?: number): Promise<void> {
    const name = sessionPodName(sessionId);
    await tolerate([404], () => this.#core.deleteNamespacedPod({ name, namespace: this.namespace, ...(graceSeconds === undefined ? {} : { gracePeriodSeconds: graceSeconds }) }));
    await tolerate([404], () => this.#core.deleteNamespacedService({ name, namespace: this.namespace }));
    await tolerate([404], () => this.#policy.deleteNamespacedPodDisruptionBudget({ name, namespace: this.namespace }));
  }

  async startJob(spec: Omit<JobPodSpec, "namespace">): Promise<void> {
    await tolerate([409], () => this.#core.createNamespacedPod({ namespace: this.namespace, body: jobPod({ ...spec, namespace: this.namespace }) }));
  }

  /** Stops a job attempt: Kubernetes sends SIGTERM and waits its terminationGracePeriodSeconds before SIGKILL. */
  async stopJob(jobId: string, attempt: number, graceSeconds?: number): Promise<void> {
    await tolerate([404], () =>
      this.#core.deleteNamespacedPod({ name: jobPodName(jobId, attempt), namespace: this.namespace, ...(graceSeconds === undefined ? {} : { gracePeriodSeconds: graceSeconds }) }),
    );
  }

  /** A pod's verdict and the node it is bound to (null before scheduling), or null when it does not exist. */
  async podOn(name: string): Promise<{ verdict: PodVerdict; node: string | null } | null> {
    const pod = await tolerate([404], () => this.#core.readNamespacedPod({ name, namespace: this.namespace }));
    return pod ? { verdict: podVerdict(pod), node: pod.spec?.nodeName ?? null } : null;
  }

  /** The verdict on one Daybox pod right now, or null when it does not exist. */
  async podVerdict(name: string): Promise<PodVerdict | null> {
    return (await this.podOn(name))?.verdict ?? null;
  }

  /** Daybox's live (not terminating) pods on one node. */
  async podsOnNode(node: string): Promise<V1Pod[]> {
    const list = await this.#core.listNamespacedPod({ namespace: this.namespace, labelSelector: `${LABEL.managedBy}=daybox`, fieldSelector: `spec.nodeName=${node}` });
    return list.items.filter((p) => !p.metadata?.deletionTimestamp);
  }

  /** The last `limitBytes` of a pod's output ("" when there is none, e.g. on simulated nodes). */
  async podLog(name: string, limitBytes = 1 << 20): Promise<string> {
    return (await tolerate([400, 404], () => this.#core.readNamespacedPodLog({ name, namespace: this.namespace, limitBytes }))) ?? "";
  }

  /** Runs `command` in a pod's first container (a terminal: tty, resizable through `stdout`). */
  exec(pod: string, container: string, command: string[], io: { stdout: Writable; stdin: Readable; tty: boolean }, onStatus: (s: V1Status) => void) {
    return new Exec(this.#config).exec(this.namespace, pod, container, command, io.stdout, io.tty ? null : io.stdout, io.stdin, io.tty, onStatus);
  }

  /** The in-cluster URL of a session's Jupyter (through its Service). */
  sessionUrl(sessionId: string): string {
    return `http://${sessionPodName(sessionId)}.${this.namespace}.svc:${JUPYTER_PORT}${jupyterBasePath(sessionId)}`;
  }

  /**
   * Follows Daybox's pods: every add, change and delete as a PodEvent. The
   * informer lists first, then watches, re-lists on a 410 and reconnects on
   * errors, so a restarted control plane or a dropped connection misses
   * nothing.
   */
  async watchPods(onEvent: (e: PodEvent) => void, onError: (err: unknown) => void = () => {}, opts: { node?: string } = {}): Promise<void> {
    const selector = `${LABEL.managedBy}=daybox`;
    const fieldSelector = opts.node ? `spec.nodeName=${opts.node}` : undefined;
    const informer = new ListWatch<V1Pod>(
      `/api/v1/namespaces/${this.namespace}/pods`,
      new Watch(this.#config),
      () => this.#core.listNamespacedPod({ namespace: this.namespace, labelSelector: selector, ...(fieldSelector ? { fieldSelector } : {}) }),
      false,
      selector,
      fieldSelector,
    );
    const emit = (pod: V1Pod, deleted: boolean) => {
      const labels = pod.metadata?.labels ?? {};
      const kind = labels[LABEL.kind] === "job" ? "job" : "session";
      const id = kind === "job" ? labels[LABEL.job] : labels[LABEL.session];
      if (!id) return;
      onEvent({
        kind,
        id,
        pod: pod.metadata?.name ?? "",
        node: pod.spec?.nodeName ?? null,
        verdict: deleted ? null : podVerdict(pod),
        deleting: !!pod.metadata?.deletionTimestamp,
        attempt: Number(pod.metadata?.annotations?.["daybox.dev/attempt"] ?? 0),
        exitCode: pod.status?.containerStatuses?.[0]?.state?.terminated?.exitCode ?? null,
        jupyterToken: pod.spec?.containers[0]?.env?.find((v) => v.name === "JUPYTER_TOKEN")?.value ?? null,
      });
    };
    informer.on("add", (p) => emit(p, false));
    informer.on("update", (p) => emit(p, false));
    informer.on("delete", (p) => emit(p, true));
    informer.on("error", (err: unknown) => {
      onError(err);
      if (!this.#closed) setTimeout(() => void informer.start().catch(onError), 1_000);
    });
    this.#informers.push(informer as Informer<V1Pod | V1Node>);
    await informer.start();
  }

  /**
   * Follows nodes (added, changed, gone) so the scheduler's view stays current.
   * `node` is null for a node without GPUs; `deleted` says the Node object is gone.
   */
  async watchNodes(onChange: (node: GpuNode | null, name: string, deleted: boolean) => void, onError: (err: unknown) => void = () => {}): Promise<void> {
    const informer = makeInformer(this.#config, "/api/v1/nodes", () => this.#core.listNode());
    informer.on("add", (n) => onChange(gpuNode(n), n.metadata?.name ?? "", false));
    informer.on("update", (n) => onChange(gpuNode(n), n.metadata?.name ?? "", false));
    informer.on("delete", (n) => onChange(null, n.metadata?.name ?? "", true));
    informer.on("error", (err: unknown) => {
      onError(err);
      if (!this.#closed) setTimeout(() => void informer.start().catch(onError), 1_000);
    });
    this.#informers.push(informer as Informer<V1Pod | V1Node>);
    await informer.start();
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#informers.map((i) => i.stop()));
    this.#informers = [];
  }
}
