import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { open } from "node:fs/promises";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { describeExit } from "./process.ts";

const SCRIPT = fileURLToPath(new URL("./jupyter-zygote.py", import.meta.url));

/** What a forked Jupyter server runs as: the arguments of `jupyter`, its environment, directory and log file. */
export interface ForkRequest {
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  log: string;
}

/** A forked server: `exited` resolves with how it ended ("exit code 1", "killed by SIGKILL") while the zygote lives. */
export interface ForkedServer {
  pid: number;
  exited: Promise<string>;
}

type Reply = { id: number; pid?: number; error?: string } | { exit: number; detail: string } | { ready: boolean; preloadMs?: number; error?: string };

/**
 * A Python process that has imported Jupyter Server once and forks a ready
 * server per session start (jupyter-zygote.py): ~0.2 s to a listening server
 * instead of ~2.5 s for `jupyter server`. It never holds the agent's event
 * loop open and ends with the agent; the servers it forked keep running.
 */
export class JupyterZygote {
  readonly #proc: ChildProcessWithoutNullStreams;
  readonly #pending = new Map<number, { resolve: (server: ForkedServer) => void; reject: (err: Error) => void }>();
  readonly #exits = new Map<number, (detail: string) => void>();
  #nextId = 1;
  #gone: string | null = null;

  private constructor(proc: ChildProcessWithoutNullStreams) {
    this.#proc = proc;
  }

  /**
   * Starts a zygote on the Python interpreter of `jupyter` (a pip console
   * script). Resolves null when that is not possible — no Python shebang, or
   * Jupyter Server fails to import — and the caller spawns `jupyter` instead.
   */
  static async start(jupyter: string, opts: { timeoutMs?: number } = {}): Promise<JupyterZygote | null> {
    const python = await interpreterOf(jupyter);
    if (!python) return null;
    // A minimal environment: forked servers show the zygote's in /proc/<pid>/environ, never the agent's secrets.
    const proc = spawn(python, ["-s", SCRIPT], {
      env: { PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin", LANG: process.env.LANG ?? "C.UTF-8", PYTHONDONTWRITEBYTECODE: "1" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const lines = createInterface({ input: proc.stdout });
    const first = await new Promise<Reply | null>((resolve) => {
      const timer = setTimeout(() => settle(null), opts.timeoutMs ?? 60_000);
      const settle = (reply: Reply | null) => {
        clearTimeout(timer);
        resolve(reply);
      };
      lines.once("line", (line) => settle(parse(line)));
      proc.once("error", () => settle(null));
      proc.once("exit", () => settle(null));
    });
    if (!first || !("ready" in first) || !first.ready) {
      proc.kill("SIGKILL");
      return null;
    }
    const zygote = new JupyterZygote(proc);
    lines.on("line", (line) => zygote.#onReply(parse(line)));
    proc.stderr.resume(); // Python warnings; never let the pipe fill
    // "close", not "exit": replies still in the pipe (a pid forked just before dying) are read first.
    proc.once("close", (code, signal) => zygote.#fail(`the Jupyter zygote exited (${describeExit(code, signal)})`));
    // Writing to a zygote that just died fails with EPIPE: that fails its requests, never the agent.
    proc.stdin.on("error", (err) => zygote.#fail(`the Jupyter zygote is gone (${err.message})`));
    proc.unref();
    for (const stream of [proc.stdin, proc.stdout, proc.stderr]) (stream as unknown as { unref?: () => void }).unref?.();
    return zygote;
  }

  /** Whether it can still fork servers. */
  get alive(): boolean {
    return this.#gone === null;
  }

  /** Forks a Jupyter server: its pid (a process group leader, as with a detached spawn) and when it exits. */
  fork(req: ForkRequest): Promise<ForkedServer> {
    if (this.#gone) return Promise.reject(new Error(this.#gone));
    const id = this.#nextId++;
    const env = Object.fromEntries(Object.entries(req.env).filter((e): e is [string, string] => e[1] !== undefined));
    return new Promise<ForkedServer>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#proc.stdin.write(`${JSON.stringify({ id, argv: req.argv, env, cwd: req.cwd, log: req.log })}\n`);
    });
  }

  /** Ends the zygote; the servers it forked keep running. */
  close(): void {
    this.#fail("the Jupyter zygote was closed");
    this.#proc.stdin.end();
  }

  #onReply(reply: Reply | null) {
    if (!reply) return;
    if ("exit" in reply) {
      this.#exits.get(reply.exit)?.(reply.detail);
      this.#exits.delete(reply.exit);
    } else if ("id" in reply) {
      const waiter = this.#pending.get(reply.id);
      this.#pending.delete(reply.id);
      const pid = reply.pid;
      if (pid && !waiter) {
        // Forked for a request already given up (the zygote was closed or failed meanwhile): nobody owns it.
        try {
          process.kill(-pid, "SIGKILL");
        } catch {
          // already gone
        }
        return;
      }
      // The exit promise exists before the next line is read: a server that dies at once is not missed.
      if (pid) waiter?.resolve({ pid, exited: new Promise<string>((resolve) => this.#exits.set(pid, resolve)) });
      else waiter?.reject(new Error(`the Jupyter zygote could not fork a server: ${reply.error ?? "no pid"}`));
    }
  }

  #fail(reason: string) {
    this.#gone ??= reason;
    for (const w of this.#pending.values()) w.reject(new Error(reason));
    this.#pending.clear();
  }
}

function parse(line: string): Reply | null {
  try {
    return JSON.parse(line) as Reply;
  } catch {
    return null;
  }
}

/** The interpreter named by a script's `#!` line (`#!/usr/bin/env python3` included), or null. */
export async function interpreterOf(script: string): Promise<string | null> {
  const file = await open(script, "r").catch(() => null);
  if (!file) return null;
  try {
    const { buffer, bytesRead } = await file.read(Buffer.alloc(512), 0, 512, 0);
    const first = buffer.subarray(0, bytesRead).toString("utf8").split("\n")[0]!;
    if (!first.startsWith("#!")) return null;
    const words = first.slice(2).trim().split(/\s+/);
    const program = words[0]?.endsWith("/env") ? words.slice(1).find((w) => !w.startsWith("-")) : words[0];
    return program && /python[\d.]*$/.test(program) ? program : null;
  } finally {
    await file.close();
  }
}
