/**
 * How sessions run on a node. One interface, two implementations: `local`
 * (process groups on this machine, the embedded default) and `kubernetes`.
 *
 * Contract:
 * - start() is idempotent: starting a session that already runs adopts it
 *   and returns the same endpoint, so an agent that died mid-start and
 *   retries never launches a second copy.
 * - stop() is idempotent: stopping a session that is not running succeeds.
 * - Errors are permanent for this attempt (the agent reports them); callers
 *   retry by issuing a new action, not inside the runtime.
 */
export interface SessionRuntime {
  readonly kind: "local" | "kubernetes";
  start(spec: SessionSpec): Promise<RunningSession>;
  stop(sessionId: string, opts?: { graceMs?: number }): Promise<void>;
  /** Deletes everything the node holds for a stopped session (its state directory included): a deleted session leaves nothing behind. */
  purge(sessionId: string): Promise<void>;
  /** The directory on this node holding the session's state (home, workspace, packages): what snapshots capture. */
  stateDir(sessionId: string): string;
  /** Sessions this runtime currently runs (adopted ones included). */
  list(): Promise<RunningSession[]>;
  /** A pty in the session's environment: a login shell, or `command` when given. */
  openTerminal(sessionId: string, opts: TerminalOptions): Promise<Terminal>;
  /** Called once when a session's processes exit without stop() being asked. */
  onExit(listener: (sessionId: string, detail: string) => void): void;
  close(): Promise<void>;
}

export interface SessionSpec {
  sessionId: string;
  name: string;
  gpuIndices: readonly number[];
  image: string;
  /** Labels for runtimes that show them (Kubernetes pods): the session's project and owner. */
  project?: string;
  owner?: string;
}

export interface RunningSession {
  sessionId: string;
  pid: number;
  /** Jupyter's base URL (no token) or null for a terminal-only session. */
  jupyterUrl: string | null;
  jupyterToken: string | null;
  /** The node's GPUs it runs on (CUDA indices), where the runtime knows them. */
  gpuIndices?: readonly number[];
}

export interface TerminalOptions {
  cols: number;
  rows: number;
  command?: readonly string[];
}

export interface Terminal {
  write(data: string | Buffer): void;
  resize(cols: number, rows: number): void;
  onData(listener: (data: Buffer) => void): void;
  onExit(listener: (code: number | null, signal: number | null) => void): void;
  kill(): void;
}

/** One run (attempt) of a batch job on a node. */
export interface JobSpec {
  jobId: string;
  /** Which run of the job this is (1 for the first, +1 after each requeue). */
  attempt: number;
  command: readonly string[];
  gpuIndices: readonly number[];
  /** For runtimes that label or configure what they run (Kubernetes pods). */
  name?: string;
  image?: string;
  project?: string;
  owner?: string;
  gracePeriodSeconds?: number;
}

export interface JobExit {
  jobId: string;
  attempt: number;
  exitCode: number | null;
  signal: string | null;
  /** Set when the job outlived its grace period after SIGTERM and was SIGKILLed. */
  killedAfterGraceMs: number | null;
  runtimeMs: number;
  /** What happened, in words, when the runtime knows more than the code (e.g. a pod's reason). */
  detail?: string;
}

/**
 * How batch jobs run on a node: `LocalJobRunner` (process groups) or
 * `KubernetesJobRunner` (pods). run() is idempotent per attempt; stop() is
 * SIGTERM, the grace period, then SIGKILL; every exit is reported once.
 */
export interface JobRunner {
  run(spec: JobSpec, onOutput: (data: string) => void): Promise<{ pid: number }>;
  /** False when the job does not run here. */
  stop(jobId: string, graceMs: number): boolean;
  running(): string[];
  onExit(listener: (exit: JobExit) => void): void;
  /** Ends jobs a previous agent left behind; returns their ids. */
  reapOrphans(): Promise<string[]>;
  close(): Promise<void>;
}
