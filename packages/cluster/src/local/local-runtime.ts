import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, readdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import * as pty from "node-pty";
import type { RunningSession, SessionRuntime, SessionSpec, Terminal, TerminalOptions } from "../runtime.ts";
import { explainFailure, findJupyter, jupyterArgs, jupyterBaseUrl } from "./jupyter.ts";
import { alive, describeExit, environOf, freePort, killGroup, startTicksOf, waitFor } from "./process.ts";
import { JupyterZygote } from "./zygote.ts";

export interface LocalRuntimeOptions {
  /** Sessions live in `<root>/<session-id>/` with `home/` as their HOME. */
  root: string;
  /** Path to `jupyter`; undefined = look on PATH; null = never (terminal-only sessions). */
  jupyter?: string | null;
  /** How long Jupyter may take to answer before start() fails. */
  startTimeoutMs?: number;
  /** How often sessions not started as child processes are checked for exit. */
  pollMs?: number;
  /**
   * Fork Jupyter servers from a zygote that has imported Jupyter Server once
   * (~0.2 s to a listening server instead of ~2.5 s). Default true; false, or
   * a `jupyter` that is not a Python script, spawns `jupyter server` per start.
   */
  jupyterZygote?: boolean;
}

/** What start() records, so a restarted agent can adopt the session instead of starting it again. */
interface RuntimeRecord {
  sessionId: string;
  pid: number;
  jupyterUrl: string | null;
  jupyterToken: string | null;
  startedAt: string;
  /** The main process's start time: with the pid, it identifies the process after an agent restart (older records: its environment). */
  startTicks?: number;
  gpuIndices?: number[];
}

/** A session's main process as launched: `exited` resolves with how it ended, if this agent can learn it. */
interface Launched {
  pid: number;
  exited: Promise<string> | null;
}

/**
 * Sessions as process groups on this machine. Each session's processes run
 * detached from the agent, so restarting the agent never kills a session.
 */
export class LocalRuntime implements SessionRuntime {
  readonly kind = "local" as const;
  readonly #root: string;
  readonly #startTimeoutMs: number;
  readonly #pollMs: number;
  #jupyter: Promise<string | null>;
  readonly #useZygote: boolean;
  #zygote: Promise<JupyterZygote | null>;
  #exitListeners: ((sessionId: string, detail: string) => void)[] = [];
  #stopping = new Set<string>();
  #watched = new Map<string, NodeJS.Timeout>();
  #terminals = new Map<string, Set<pty.IPty>>();

  constructor(opts: LocalRuntimeOptions) {
    this.#root = path.resolve(opts.root);
    this.#startTimeoutMs = opts.startTimeoutMs ?? 60_000;
    this.#pollMs = opts.pollMs ?? 2_000;
    this.#jupyter = opts.jupyter === undefined ? findJupyter() : Promise.resolve(opts.jupyter);
    this.#useZygote = opts.jupyterZygote ?? true;
    this.#zygote = this.#startZygote();
  }

  #startZygote(): Promise<JupyterZygote | null> {
    if (!this.#useZygote) return Promise.resolve(null);
    return this.#jupyter.then((j) => (j ? JupyterZygote.start(j) : null)).catch(() => null);
  }

  /** The zygote if it can fork; a dead one is replaced for the next start. */
  async #liveZygote(): Promise<JupyterZygote | null> {
    const zygote = await this.#zygote;
    if (zygote && !zygote.alive) this.#zygote = this.#startZygote();
    return zygote?.alive ? zygote : null;
  }

  sessionDir(sessionId: string): string {
    if (!/^[a-z0-9-]+$/.test(sessionId)) throw new Error(`invalid session id ${JSON.stringify(sessionId)}`);
    return path.join(this.#root, sessionId);
  }

  stateDir(sessionId: string): string {
    return this.homeDir(sessionId);
  }

  homeDir(sessionId: string): string {
    return path.join(this.sessionDir(sessionId), "home");
  }

  /** Whether sessions started now get Jupyter. */
  async hasJupyter(): Promise<boolean> {
    return (await this.#jupyter) !== null;
  }

  async start(spec: SessionSpec): Promise<RunningSession> {
    const adopted = await this.#adopt(spec.sessionId);
    if (adopted) return adopted;

    const dir = this.sessionDir(spec.sessionId);
    const home = this.homeDir(spec.sessionId);
    await mkdir(home, { recursive: true });
    const env = this.#env(spec.sessionId, home, spec.gpuIndices);
    const log = await open(path.join(dir, "session.log"), "a");
    const jupyter = await this.#jupyter;
    let launched: Launched;
    let jupyterUrl: string | null = null;
    let jupyterToken: string | null = null;
    try {
      if (jupyter) {
        const port = await freePort();
        jupyterToken = randomBytes(24).toString("hex");
        // Served under the API's proxy path, so the proxy forwards paths unchanged and Jupyter's own links work.
        const baseUrl = jupyterBaseUrl(spec.sessionId);
        jupyterUrl = `http://127.0.0.1:${port}${baseUrl}`;
        const args = jupyterArgs({ port, token: jupyterToken, rootDir: home, baseUrl });
        const zygote = await this.#liveZygote();
        const forked = await zygote?.fork({ argv: args, env, cwd: home, log: path.join(dir, "session.log") }).catch(() => null); // spawned instead
        launched = forked ?? spawnDetached(jupyter, args, home, env, log.fd);
      } else {
        // Terminal-only: a placeholder process keeps the session's process group alive.
        launched = spawnDetached("sleep", ["infinity"], home, env, log.fd);
      }
    } finally {
      await log.close();
    }
    let exited: string | null = null;
    void launched.exited?.then((detail) => (exited = detail));
    const startTicks = await startTicksOf(launched.pid);
    const record: RuntimeRecord = {
      sessionId: spec.sessionId,
      pid: launched.pid,
      jupyterUrl,
      jupyterToken,
      startedAt: new Date().toISOString(),
      ...(startTicks !== null ? { startTicks } : {}),
      gpuIndices: [...spec.gpuIndices],
    };
    await writeFile(path.join(dir, "runtime.json"), JSON.stringify(record, null, 2));

    if (record.jupyterUrl) {
      const ready = await waitFor(async () => exited !== null || (await jupyterAnswers(record)), this.#startTimeoutMs, 200);
      if (exited !== null || !ready) {
        await this.stop(spec.sessionId, { graceMs: 2_000 });
        const tail = explainFailure(await readFile(path.join(dir, "session.log"), "utf8").catch(() => ""));
        throw new Error(
          exited !== null
            ? `jupyter server exited during start (${exited}): ${tail}`
            : `jupyter server did not answer within ${Math.round(this.#startTimeoutMs / 1000)}s: ${tail}`,
        );
      }
    }
    this.#watch(spec.sessionId, record.pid, launched.exited);
    return toRunning(record);
  }

  async stop(sessionId: string, opts: { graceMs?: number } = {}): Promise<void> {
    const record = await this.#record(sessionId);
    this.#stopping.add(sessionId);
    try {
      for (const term of this.#terminals.get(sessionId) ?? []) term.kill("SIGHUP");
      this.#terminals.delete(sessionId);
      if (record && (await this.#isOurs(record))) {
        killGroup(record.pid, "SIGTERM");
        const gone = await waitFor(() => !groupAlive(record.pid), opts.graceMs ?? 10_000, 100);
        if (!gone) killGroup(record.pid, "SIGKILL");
        await waitFor(() => !groupAlive(record.pid), 5_000, 50);
      }
      this.#unwatch(sessionId);
      await rm(path.join(this.sessionDir(sessionId), "runtime.json"), { force: true });
    } finally {
      this.#stopping.delete(sessionId);
    }
  }

  async purge(sessionId: string): Promise<void> {
    if ((await this.list()).some((s) => s.sessionId === sessionId)) throw new Error(`session ${sessionId} is running; stop it before purging`);
    await rm(this.sessionDir(sessionId), { recursive: true, force: true });
  }

  async list(): Promise<RunningSession[]> {
    const entries = await readdir(this.#root).catch(() => [] as string[]);
    const out: RunningSession[] = [];
    for (const id of entries) {
      const record = await this.#record(id);
      if (record && (await this.#isOurs(record))) out.push(toRunning(record));
    }
    return out;
  }

  /**
   * Session directories whose recorded processes are gone (they died while no
   * agent watched). Cleans up their records and returns their ids.
   */
  async reapDead(): Promise<string[]> {
    const entries = await readdir(this.#root).catch(() => [] as string[]);
    const dead: string[] = [];
    for (const id of entries) {
      const record = await this.#record(id);
      if (record && !(await this.#isOurs(record))) {
        await rm(path.join(this.sessionDir(id), "runtime.json"), { force: true });
        dead.push(id);
      }
    }
    return dead;
  }

  async openTerminal(sessionId: string, opts: TerminalOptions): Promise<Terminal> {
    const record = await this.#record(sessionId);
    if (!record || !(await this.#isOurs(record))) throw new Error(`session ${sessionId} is not running on this node`);
    const home = this.homeDir(sessionId);
    const [file, ...args] = opts.command?.length ? opts.command : ["/bin/bash"];
    const proc = pty.spawn(file!, args, {
      name: "xterm-256color",
      cols: opts.cols,
      rows: opts.rows,
      cwd: home,
      env: { ...this.#env(sessionId, home, await gpuIndicesOf(record)), TERM: "xterm-256color" },
    });
    const set = this.#terminals.get(sessionId) ?? new Set();
    set.add(proc);
    this.#terminals.set(sessionId, set);
    proc.onExit(() => set.delete(proc));
    return {
      write: (data) => proc.write(typeof data === "string" ? data : data.toString("utf8")),
      resize: (cols, rows) => proc.resize(Math.max(1, cols), Math.max(1, rows)),
      onData: (listener) => proc.onData((d) => listener(Buffer.from(d, "utf8"))),
      onExit: (listener) => proc.onExit(({ exitCode, signal }) => listener(exitCode, signal ?? null)),
      kill: () => proc.kill("SIGHUP"),
    };
  }

  onExit(listener: (sessionId: string, detail: string) => void): void {
    this.#exitListeners.push(listener);
  }

  /** Stops watching; sessions keep running (they belong to the node, not to this process). */
  async close(): Promise<void> {
    for (const id of [...this.#watched.keys()]) this.#unwatch(id);
    for (const set of this.#terminals.values()) for (const t of set) t.kill("SIGHUP");
    this.#terminals.clear();
    const zygote = await this.#zygote;
    this.#zygote = Promise.resolve(null);
    zygote?.close();
  }

  #env(sessionId: string, home: string, gpuIndices: readonly number[]): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
      LANG: process.env.LANG ?? "C.UTF-8",
      HOME: home,
      SHELL: "/bin/bash",
      TERM: "xterm-256color",
      CUDA_VISIBLE_DEVICES: gpuIndices.join(","),
      DAYBOX_SESSION_ID: sessionId,
      // Jupyter's runtime files (server info, kernel connection files) stay with the session but out of
      // its snapshotted home: they are stale in any other run, and starting Jupyter then leaves the home
      // untouched, so a resume can start it while it verifies the node's kept copy.
      JUPYTER_RUNTIME_DIR: path.join(this.sessionDir(sessionId), "jupyter-runtime"),
    };
  }

  async #record(sessionId: string): Promise<RuntimeRecord | null> {
    try {
      return JSON.parse(await readFile(path.join(this.sessionDir(sessionId), "runtime.json"), "utf8")) as RuntimeRecord;
    } catch {
      return null;
    }
  }

  /** The pid is alive and is still this session's process (pids get reused). */
  async #isOurs(record: RuntimeRecord): Promise<boolean> {
    if (!alive(record.pid)) return false;
    if (record.startTicks !== undefined) return (await startTicksOf(record.pid)) === record.startTicks;
    return (await environOf(record.pid)).get("DAYBOX_SESSION_ID") === record.sessionId;
  }

  async #adopt(sessionId: string): Promise<RunningSession | null> {
    const record = await this.#record(sessionId);
    if (!record || !(await this.#isOurs(record))) return null;
    this.#watch(sessionId, record.pid);
    return toRunning(record);
  }

  /** Reports the session's exit: at once when `exited` tells, else within a poll (an adopted session, or a zygote that died). */
  #watch(sessionId: string, pid: number, exited?: Promise<string> | null) {
    if (this.#watched.has(sessionId)) return;
    const timer = setInterval(() => {
      if (!alive(pid)) fire("its main process is gone");
    }, this.#pollMs);
    timer.unref();
    const fire = (detail: string) => {
      if (this.#watched.get(sessionId) !== timer) return; // unwatched, or watching a later start
      this.#unwatch(sessionId);
      if (this.#stopping.has(sessionId)) return;
      for (const l of this.#exitListeners) l(sessionId, detail);
    };
    this.#watched.set(sessionId, timer);
    void exited?.then(fire);
  }

  #unwatch(sessionId: string) {
    clearInterval(this.#watched.get(sessionId));
    this.#watched.delete(sessionId);
  }
}

function toRunning(r: RuntimeRecord): RunningSession {
  return { sessionId: r.sessionId, pid: r.pid, jupyterUrl: r.jupyterUrl, jupyterToken: r.jupyterToken, ...(r.gpuIndices ? { gpuIndices: r.gpuIndices } : {}) };
}

/** Spawns a session's main process in its own process group; it outlives the agent. */
function spawnDetached(command: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv, logFd: number): Launched {
  const child = spawn(command, args, { cwd, env, detached: true, stdio: ["ignore", logFd, logFd] });
  if (!child.pid) throw new Error(`spawn ${command}: no pid`);
  child.unref();
  return { pid: child.pid, exited: new Promise((resolve) => child.once("exit", (code, signal) => resolve(describeExit(code, signal)))) };
}

/** The GPUs a session was started with (older records: from its process's environment). */
async function gpuIndicesOf(r: RuntimeRecord): Promise<number[]> {
  if (r.gpuIndices) return r.gpuIndices;
  return (await environOf(r.pid)).get("CUDA_VISIBLE_DEVICES")?.split(",").filter(Boolean).map(Number) ?? [];
}

/** A process group exists while any of its members does. */
const groupAlive = (pgid: number) => alive(-pgid);

async function jupyterAnswers(r: RuntimeRecord): Promise<boolean> {
  try {
    const res = await fetch(new URL("api/status", r.jupyterUrl!), {
      headers: { authorization: `token ${r.jupyterToken}` },
      signal: AbortSignal.timeout(2_000),
    });
    return res.ok;
  } catch {
    return false;
  }
}

