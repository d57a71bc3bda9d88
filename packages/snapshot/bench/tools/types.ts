import { spawn, type SpawnOptions } from "node:child_process";
import type { S3Client } from "@aws-sdk/client-s3";
import type { S3Env } from "../s3.ts";

/** What every adapter gets: the S3 server, its own bucket, a scratch dir, and a unique prefix per run. */
export interface ToolContext {
  s3: S3Env;
  client: S3Client;
  bucket: string;
  /** Unique per run: a fresh repository every run. */
  prefix: string;
  /** Scratch space for this tool and run (caches, state files); removed after the run. */
  scratch: string;
  log: (msg: string) => void;
  /** Extra node flags for Node-based tools (e.g. --cpu-prof). */
  nodeArgs: string[];
}

/**
 * One method under test. The orchestrator times each call from outside
 * (wall clock), after evicting the page cache; adapters just do the work.
 */
export interface Tool {
  readonly name: string;
  /** Creates the (fresh) repository; not timed. */
  init(): Promise<void>;
  /** First snapshot of `dir`. */
  snapshot(dir: string): Promise<void>;
  /** Snapshot of `dir` after the mutation (incremental where the tool can). */
  incremental(dir: string): Promise<void>;
  /** Whether restore({warm: true}) means something for this tool. */
  readonly warmRestore: boolean;
  /** Restores the latest snapshot into `target` (which does not exist yet). */
  restore(target: string, opts: { warm: boolean }): Promise<void>;
  /** Bytes stored by this run (both snapshots), from listing the bucket/prefix. */
  storedBytes(): Promise<number>;
  /** Extra facts to report (e.g. engine-internal timings). */
  notes?(): Record<string, number | string>;
  /** Removes this run's objects. */
  cleanup(): Promise<void>;
}

/** Runs a command; rejects with its stderr on a non-zero exit. Returns stdout. */
export function run(cmd: string, args: string[], opts: SpawnOptions & { input?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...opts, stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(" ")} failed (${signal ?? `exit ${code}`}):\n${err.slice(-4000)}`));
    });
    child.stdin!.end(opts.input ?? "");
  });
}
