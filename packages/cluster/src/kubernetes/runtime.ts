// The `kubernetes` runtime: what an agent on a Kubernetes GPU node uses in
// place of the local one. Sessions and batch jobs are pods pinned to this
// node; session state stays on the node's disk (a hostPath under the agent's
// data directory), so the agent snapshots and restores it exactly as it does
// locally, and the pull protocol with the control plane is unchanged.
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import path from "node:path";
import { PassThrough, Writable } from "node:stream";
import type { JobExit, JobRunner, JobSpec, RunningSession, SessionRuntime, SessionSpec, Terminal, TerminalOptions } from "../runtime.ts";
import type { KubernetesCluster, PodEvent } from "./cluster.ts";
import type { PodVerdict } from "./status.ts";
import { sessionPodName } from "./manifests.ts";

export interface KubernetesRuntimeOptions {
  cluster: KubernetesCluster;
  /** This node's name in Kubernetes: every pod this runtime creates is pinned to it. */
  node: string;
  /** The node's GPU type (a pod label). */
  gpuType: string;
  /** Where session state lives on this node; pods mount `<root>/<session-id>` as their home. */
  root: string;
  /** How long a pod may take to become ready (image pull included). Default 10 min. */
  startTimeoutMs?: number;
  /** While waiting on a pod, how often it is re-read from the API server in case a watch event was missed. Default 3 s. */
  pollMs?: number;
  /** Default image for sessions that name none (the "default" image). */
  defaultImage?: string;
}

/**
 * Sessions as pods on one node. One watch over the node's Daybox pods keeps
 * their latest state in memory: starting and stopping wait on it, list()
 * reads it, and exits nobody asked for are reported from it. The API server
 * is asked directly only as a fallback (every few seconds while waiting), so
 * a node costs one watch, not a poll per session.
 */
export class KubernetesRuntime implements SessionRuntime {
  readonly kind = "kubernetes" as const;
  readonly #o: Required<KubernetesRuntimeOptions>;
  readonly #exitListeners: ((sessionId: string, detail: string) => void)[] = [];
  /** Sessions this runtime started or adopted, and has not been asked to stop. */
  readonly #live = new Set<string>();
  /** Session id → its pod as last seen (absent: no pod). */
  readonly #pods = new Map<string, { verdict: PodVerdict; deleting: boolean; token: string | null }>();
  readonly #changed = new Set<() => void>();

  private constructor(o: KubernetesRuntimeOptions) {
    this.#o = { startTimeoutMs: 10 * 60_000, pollMs: 3_000, defaultImage: "quay.io/jupyter/base-notebook:latest", ...o };
  }

  /** A runtime following this node's session pods (exits it did not ask for are reported through onExit). */
  static async open(o: KubernetesRuntimeOptions): Promise<KubernetesRuntime> {
    const runtime = new KubernetesRuntime(o);
    // The watch lists first, so the cache holds every existing pod (adopted after an agent restart) before this returns.
    await o.cluster.watchPods((e) => runtime.#onPod(e), () => {}, { node: o.node });
    for (const [id, p] of runtime.#pods) if (!p.deleting && (p.verdict.state === "pending" || p.verdict.state === "running")) runtime.#live.add(id);
    return runtime;
  }

  #onPod(e: PodEvent) {
    if (e.kind !== "session") return;
    if (e.verdict) this.#pods.set(e.id, { verdict: e.verdict, deleting: e.deleting, token: e.jupyterToken });
    else this.#pods.delete(e.id);
    for (const wake of [...this.#changed]) wake();
    if (!this.#live.has(e.id)) return;
    const detail = e.verdict === null ? `its pod ${e.pod} was deleted outside Daybox` : e.verdict.state === "failed" || e.verdict.state === "succeeded" ? e.verdict.reason : null;
    if (!detail) return;
    this.#live.delete(e.id);
    for (const l of this.#exitListeners) l(e.id, detail);
  }

  /**
   * Waits until `done` holds for the session's pod (as the watch reports it),
   * re-reading it from the API server every pollMs in case an event was missed.
   */
  async #until<T>(sessionId: string, done: (pod: { verdict: PodVerdict; deleting: boolean } | null) => T | null, timeoutMs: number): Promise<T | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const answer = done(this.#pods.get(sessionId) ?? null);
      if (answer !== null) return answer;
      const left = deadline - Date.now();
      if (left <= 0) return null;
      const woken = await new Promise<boolean>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.#changed.delete(wake);
          resolve(true);
        };
        const timer = setTimeout(() => {
          this.#changed.delete(wake);
          resolve(false);
        }, Math.min(left, this.#o.pollMs));
        this.#changed.add(wake);
      });
      if (!woken) {
        // Only a pod on this node counts (one left on a lost node has the same name).
        const pod = await this.#o.cluster.podOn(sessionPodName(sessionId));
        const known = this.#pods.get(sessionId);
        if (pod && (pod.node === null || pod.node === this.#o.node)) this.#pods.set(sessionId, { verdict: pod.verdict, deleting: known?.deleting ?? false, token: known?.token ?? null });
        else this.#pods.delete(sessionId);
      }
    }
  }

  async start(spec: SessionSpec): Promise<RunningSession> {
    const { cluster } = this.#o;
    const name = sessionPodName(spec.sessionId);
    // Adopt a pod that already runs (an agent that restarted mid-start retries): never a second copy.
    const existing = this.#pods.get(spec.sessionId);
    let token = existing && !existing.deleting ? existing.token : null;
    if (!token) {
      if (existing) await this.#waitGone(spec.sessionId, 60_000); // a previous pod still terminating keeps the name
      await this.#removeLeftover(spec.sessionId);
      token = randomBytes(24).toString("base64url");
      await cluster.startSession({
        sessionId: spec.sessionId,
        name: spec.name,
        owner: spec.owner ?? "unknown",
        project: spec.project ?? "unknown",
        gpuType: this.#o.gpuType,
        gpuCount: Math.max(1, spec.gpuIndices.length),
        node: this.#o.node,
        image: spec.image === "default" ? this.#o.defaultImage : spec.image,
        jupyterToken: token,
        stateRoot: this.#o.root,
      });
      // The API server answered before the watch told us: the pod exists now (a later event supersedes this).
      if (!this.#pods.has(spec.sessionId)) this.#pods.set(spec.sessionId, { verdict: { state: "pending", reason: `created on node ${this.#o.node}` }, deleting: false, token });
    }
    this.#live.add(spec.sessionId);
    const problem = await this.#until(
      spec.sessionId,
      (pod) => (!pod ? `its pod ${name} was deleted while starting` : pod.verdict.state === "running" ? "" : pod.verdict.state === "pending" ? null : pod.verdict.reason),
      this.#o.startTimeoutMs,
    );
    if (problem === "") return { sessionId: spec.sessionId, pid: 0, jupyterUrl: cluster.sessionUrl(spec.sessionId), jupyterToken: token };
    this.#live.delete(spec.sessionId);
    await cluster.stopSession(spec.sessionId, 0);
    const why = problem ?? `its pod did not become ready within ${Math.round(this.#o.startTimeoutMs / 1000)} s (${this.#pods.get(spec.sessionId)?.verdict.reason ?? "no pod"})`;
    throw new Error(`session ${spec.sessionId} could not start on node ${this.#o.node}: ${why}`);
  }

  /** Deletes the pod and waits until it is gone: only then are its GPUs free for the next pod. */
  async stop(sessionId: string, opts: { graceMs?: number } = {}): Promise<void> {
    this.#live.delete(sessionId);
    const graceSeconds = opts.graceMs === undefined ? undefined : Math.ceil(opts.graceMs / 1000);
    await this.#o.cluster.stopSession(sessionId, graceSeconds);
    await this.#waitGone(sessionId, (graceSeconds ?? 30) * 1000 + 60_000);
  }

  /**
   * The session's pod name is the same on every node: a pod left on another
   * node (one that was lost, or that its cluster still lists) would make the
   * create a no-op (409). It is deleted for good first.
   */
  async #removeLeftover(sessionId: string) {
    const name = sessionPodName(sessionId);
    const pod = await this.#o.cluster.podOn(name);
    if (!pod || pod.node === this.#o.node) return;
    await this.#o.cluster.stopSession(sessionId, 0);
    const deadline = Date.now() + 60_000;
    while (await this.#o.cluster.podOn(name)) {
      if (Date.now() > deadline) throw new Error(`pod ${name} left on node ${pod.node ?? "?"} could not be removed`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  async #waitGone(sessionId: string, timeoutMs: number) {
    const gone = await this.#until(sessionId, (pod) => (pod ? null : true), timeoutMs);
    if (!gone) throw new Error(`pod ${sessionPodName(sessionId)} on node ${this.#o.node} is still terminating after ${Math.round(timeoutMs / 1000)} s`);
  }

  async purge(sessionId: string): Promise<void> {
    await rm(this.stateDir(sessionId), { recursive: true, force: true });
  }

  stateDir(sessionId: string): string {
    return path.join(this.#o.root, sessionId);
  }

  async list(): Promise<RunningSession[]> {
    return [...this.#pods]
      .filter(([, p]) => !p.deleting && (p.verdict.state === "pending" || p.verdict.state === "running"))
      .map(([sessionId, p]) => ({ sessionId, pid: 0, jupyterUrl: this.#o.cluster.sessionUrl(sessionId), jupyterToken: p.token }));
  }

  /** A shell in the session's pod (pod exec, with a tty). */
  async openTerminal(sessionId: string, opts: TerminalOptions): Promise<Terminal> {
    const stdin = new PassThrough();
    const dataListeners: ((d: Buffer) => void)[] = [];
    const exitListeners: ((code: number | null, signal: number | null) => void)[] = [];
    const stdout = Object.assign(
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          for (const l of dataListeners) l(chunk);
          cb();
        },
      }),
      { columns: opts.cols, rows: opts.rows },
    );
    let code: number | null = null;
    const command = opts.command ? [...opts.command] : ["/bin/sh", "-c", "exec bash -l 2>/dev/null || exec sh -l"];
    const ws = await this.#o.cluster.exec(sessionPodName(sessionId), "session", command, { stdout, stdin, tty: true }, (status) => {
      const exit = status.details?.causes?.find((c) => c.reason === "ExitCode")?.message;
      code = status.status === "Success" ? 0 : exit ? Number(exit) : 1;
    });
    ws.on("close", () => {
      for (const l of exitListeners) l(code, null);
    });
    return {
      write: (data) => stdin.write(data),
      resize: (cols, rows) => {
        Object.assign(stdout, { columns: cols, rows });
        stdout.emit("resize");
      },
      onData: (l) => dataListeners.push(l),
      onExit: (l) => exitListeners.push(l),
      kill: () => ws.close(),
    };
  }

  onExit(listener: (sessionId: string, detail: string) => void): void {
    this.#exitListeners.push(listener);
  }

  async close(): Promise<void> {
    // Sessions outlive the agent (an agent restart adopts them); the shared cluster client is closed by its owner.
  }
}

type JobRunnerOptions = Pick<Required<KubernetesRuntimeOptions>, "cluster" | "node" | "gpuType" | "defaultImage">;

/**
 * Batch jobs as pods on one node: the same surface as LocalJobRunner. Stopping
 * deletes the pod with the job's grace period (Kubernetes sends SIGTERM, waits,
 * then SIGKILL); the exit is reported when the pod ends or is gone. A job's
 * output is read from the pod's log when it ends.
 */
export class KubernetesJobRunner implements JobRunner {
  readonly #o: JobRunnerOptions;
  readonly #jobs = new Map<string, { spec: JobSpec; startedAt: number; stopping: boolean; onOutput: (data: string) => void }>();
  readonly #exitListeners: ((exit: JobExit) => void)[] = [];
  #watching: Promise<void> | null = null;

  private constructor(o: JobRunnerOptions) {
    this.#o = o;
  }

  static async open(o: Pick<KubernetesRuntimeOptions, "cluster" | "node" | "gpuType" | "defaultImage">): Promise<KubernetesJobRunner> {
    return new KubernetesJobRunner({ defaultImage: "python:3.12-slim", ...o });
  }

  /** The node's job pods are watched from the first job on (a node that never runs one costs no watch). */
  #watch(): Promise<void> {
    this.#watching ??= this.#o.cluster.watchPods((e) => void this.#onPod(e), () => {}, { node: this.#o.node }).catch((err: unknown) => {
      this.#watching = null;
      throw err;
    });
    return this.#watching;
  }

  async #onPod(e: PodEvent) {
    const job = this.#jobs.get(e.id);
    if (e.kind !== "job" || !job || e.attempt !== job.spec.attempt) return;
    const ended = e.verdict === null || e.verdict.state === "succeeded" || e.verdict.state === "failed";
    if (!ended) return;
    this.#jobs.delete(e.id);
    const log = await this.#o.cluster.podLog(e.pod).catch(() => "");
    if (log) job.onOutput(log);
    if (e.verdict) await this.#o.cluster.stopJob(e.id, job.spec.attempt).catch(() => {}); // an ended pod is removed once its output is read
    const exitCode = e.verdict?.state === "succeeded" ? 0 : e.verdict ? (e.exitCode ?? 1) : null;
    const exit = {
      jobId: e.id,
      attempt: job.spec.attempt,
      exitCode,
      signal: e.verdict === null && job.stopping ? "SIGTERM" : null,
      killedAfterGraceMs: null,
      runtimeMs: Date.now() - job.startedAt,
      detail: e.verdict ? e.verdict.reason : job.stopping ? `pod ${e.pod} stopped (SIGTERM, then up to ${job.spec.gracePeriodSeconds ?? 30} s before SIGKILL)` : `pod ${e.pod} was deleted outside Daybox`,
    };
    for (const l of this.#exitListeners) l(exit);
  }

  async run(spec: JobSpec, onOutput: (data: string) => void): Promise<{ pid: number }> {
    if (this.#jobs.get(spec.jobId)?.spec.attempt === spec.attempt) return { pid: 0 }; // a retried claim
    await this.#watch();
    this.#jobs.set(spec.jobId, { spec, startedAt: Date.now(), stopping: false, onOutput });
    await this.#o.cluster.startJob({
      jobId: spec.jobId,
      name: spec.name ?? spec.jobId,
      owner: spec.owner ?? "unknown",
      project: spec.project ?? "unknown",
      gpuType: this.#o.gpuType,
      gpuCount: Math.max(1, spec.gpuIndices.length),
      node: this.#o.node,
      image: !spec.image || spec.image === "default" ? this.#o.defaultImage : spec.image,
      command: spec.command,
      attempt: spec.attempt,
      gracePeriodSeconds: spec.gracePeriodSeconds ?? 30,
    });
    return { pid: 0 };
  }

  stop(jobId: string, graceMs: number): boolean {
    const job = this.#jobs.get(jobId);
    if (!job) return false;
    job.stopping = true;
    void this.#o.cluster.stopJob(jobId, job.spec.attempt, Math.ceil(graceMs / 1000)).catch(() => {});
    return true;
  }

  running(): string[] {
    return [...this.#jobs.keys()];
  }

  onExit(listener: (exit: JobExit) => void): void {
    this.#exitListeners.push(listener);
  }

  /** Job pods on this node that no one here runs (a previous agent's): deleted; the control plane requeues them. */
  async reapOrphans(): Promise<string[]> {
    const reaped: string[] = [];
    for (const pod of await this.#o.cluster.podsOnNode(this.#o.node)) {
      const labels = pod.metadata?.labels ?? {};
      const jobId = labels["daybox.dev/job-id"];
      if (labels["daybox.dev/kind"] !== "job" || !jobId || this.#jobs.has(jobId)) continue;
      await this.#o.cluster.stopJob(jobId, Number(pod.metadata?.annotations?.["daybox.dev/attempt"] ?? 0), 0);
      reaped.push(jobId);
    }
    return reaped;
  }

  /** Job pods keep running when the agent goes away; the next agent reaps them and the control plane requeues. */
  async close(): Promise<void> {}
}

