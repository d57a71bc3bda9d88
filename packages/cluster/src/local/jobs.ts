import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import type { JobExit, JobSpec } from "../runtime.ts";
import { alive, environOf, killGroup } from "./process.ts";

interface Running {
  spec: JobSpec;
  child: ChildProcess;
  log: WriteStream;
  startedAt: number;
  killTimer?: NodeJS.Timeout;
  killedAfterGraceMs: number | null;
}

/**
 * Batch jobs as process groups on this node. A job runs in
 * `<root>/<job-id>/work` (kept across attempts on the node, and named in
 * DAYBOX_CHECKPOINT_DIR so the job can checkpoint there), with
 * CUDA_VISIBLE_DEVICES set to its GPUs, its output in `attempt-N.log`.
 *
 * Stopping is SIGTERM to the group, then SIGKILL when the grace period runs
 * out. Unlike sessions, jobs are children of the agent: an agent that
 * restarts kills the ones it left behind (reapOrphans) and the control plane
 * requeues them.
 */
export class LocalJobRunner {
  readonly #root: string;
  readonly #jobs = new Map<string, Running>();
  readonly #exitListeners: ((exit: JobExit) => void)[] = [];

  constructor(root: string) {
    this.#root = root;
  }

  /** Starts the job; `onOutput` gets its stdout and stderr as they come. Rejects if the command cannot be started. */
  async run(spec: JobSpec, onOutput: (data: string) => void): Promise<{ pid: number }> {
    const existing = this.#jobs.get(spec.jobId);
    if (existing?.spec.attempt === spec.attempt) return { pid: existing.child.pid! }; // a retried claim: already running
    const dir = path.join(this.#root, spec.jobId);
    const work = path.join(dir, "work");
    await mkdir(work, { recursive: true });
    const log = createWriteStream(path.join(dir, `attempt-${spec.attempt}.log`), { flags: "a" });
    const [file, ...args] = spec.command;
    const child = spawn(file!, args, {
      cwd: work,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
        LANG: process.env.LANG ?? "C.UTF-8",
        HOME: work,
        CUDA_VISIBLE_DEVICES: spec.gpuIndices.join(","),
        DAYBOX_JOB_ID: spec.jobId,
        DAYBOX_JOB_ATTEMPT: String(spec.attempt),
        DAYBOX_CHECKPOINT_DIR: work,
      },
    });
    // Listeners go on before anything is awaited: a quick command may be gone (output and all) by then.
    const running: Running = { spec, child, log, startedAt: Date.now(), killedAfterGraceMs: null };
    let spawned = false;
    const output = (d: Buffer) => {
      log.write(d);
      onOutput(d.toString("utf8"));
    };
    child.stdout!.on("data", output);
    child.stderr!.on("data", output);
    child.once("close", (code, signal) => {
      clearTimeout(running.killTimer);
      log.end();
      if (!spawned) return;
      this.#jobs.delete(spec.jobId);
      void rm(path.join(dir, "pid"), { force: true });
      const exit: JobExit = { jobId: spec.jobId, attempt: spec.attempt, exitCode: code, signal, killedAfterGraceMs: running.killedAfterGraceMs, runtimeMs: Date.now() - running.startedAt };
      for (const l of this.#exitListeners) l(exit);
    });
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", () => {
        spawned = true;
        this.#jobs.set(spec.jobId, running);
        resolve();
      });
      child.once("error", (err: NodeJS.ErrnoException) => {
        if (spawned) return; // a later signalling error; the exit is reported on close
        reject(new Error(err.code === "ENOENT" ? `command not found: ${file}` : err.code === "EACCES" ? `permission denied: ${file}` : err.message));
      });
    });
    if (this.#jobs.has(spec.jobId)) await writeFile(path.join(dir, "pid"), String(child.pid));
    return { pid: child.pid! };
  }

  /** SIGTERM now, SIGKILL after `graceMs`. False when the job does not run here. */
  stop(jobId: string, graceMs: number): boolean {
    const job = this.#jobs.get(jobId);
    if (!job) return false;
    if (job.killTimer) return true; // already stopping
    killGroup(job.child.pid!, "SIGTERM");
    job.killTimer = setTimeout(() => {
      job.killedAfterGraceMs = graceMs;
      killGroup(job.child.pid!, "SIGKILL");
    }, graceMs);
    return true;
  }

  /** Ids of the jobs running here. */
  running(): string[] {
    return [...this.#jobs.keys()];
  }

  onExit(listener: (exit: JobExit) => void): void {
    this.#exitListeners.push(listener);
  }

  /** Kills jobs a previous agent left running (their pid files name them); returns their ids. */
  async reapOrphans(): Promise<string[]> {
    const reaped: string[] = [];
    for (const jobId of await readdir(this.#root).catch(() => [] as string[])) {
      const pid = Number(await readFile(path.join(this.#root, jobId, "pid"), "utf8").catch(() => ""));
      if (!pid || this.#jobs.has(jobId)) continue;
      if (alive(pid) && (await environOf(pid)).get("DAYBOX_JOB_ID") === jobId) {
        killGroup(pid, "SIGKILL");
        reaped.push(jobId);
      }
      await rm(path.join(this.#root, jobId, "pid"), { force: true });
    }
    return reaped;
  }

  /** Kills every job (the agent is going away; the control plane requeues them). */
  async close(): Promise<void> {
    const exits = [...this.#jobs.values()].map((j) => new Promise((r) => j.child.once("close", r)));
    for (const j of this.#jobs.values()) killGroup(j.child.pid!, "SIGKILL");
    await Promise.all(exits);
  }
}
