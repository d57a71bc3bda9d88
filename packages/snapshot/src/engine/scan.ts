import path from "node:path";
import { MessageChannel, type MessagePort, type Worker } from "node:worker_threads";
import type { FileEntry } from "../core/manifest.ts";
import { identityOf, realPath, SCAN_SHARED as SHARED, unpackEntries, walkTree, type Kind, type PackedEntries, type Scanned, type Stat } from "./walk.mjs";
import { startWorker } from "./worker-pool.ts";

export { walkTree, type Kind, type Scanned, type Stat };

/** Entries per message from a scan thread. */
const SCAN_BATCH = 512;
/**
 * Threads that walk: on a cold cache most of a walk is waiting for the disk
 * to return directory and inode blocks, and three threads reading different
 * regions wait less than one (the benchmark's 54k entries on 2 cores: 0.9 s
 * → 0.65 s; two threads 0.7 s, four no better than three).
 */
const SCAN_THREADS = 3;
/** A directory with at least this many entries is shared with idle threads. */
const SPLIT_MIN = 64;
/**
 * Messages of entries the threads may have sent and the reader not yet read
 * before a thread ahead of the reader waits (~130k entries; without a bound a
 * first snapshot, whose reading lags far behind its walk, would hold the tree
 * twice over).
 */
const UNREAD_MAX = 256;

interface Task {
  id: string;
  abs: string;
  rel: string;
  /** The directory's identity (see identityOf): it is read only if it is still that directory. */
  dirId: string;
  names?: string[];
}
type Piece = { task: string; entries: PackedEntries } | { task: string; after: string[] } | { task: string; end: true };
type ScanMessage = Piece | { spawn: { id: string; runner: number }[] } | { error: string; code?: string; syscall?: string; path?: string };

/**
 * The walk of walkTree, run on threads of their own from the moment this is
 * made (its system calls overlap whatever the caller does meanwhile), read
 * here in the same order, in batches. A thread that meets a big directory
 * while others are idle hands them contiguous parts of its listing itself
 * (see scan-worker.mjs); their entries are read where those parts belong.
 *
 * Threads far ahead of the reader wait (UNREAD_MAX) — never the one running
 * the task being read, and none while this thread has not yet heard which
 * one runs it — so the reader always gets on. Iterated once; `close()` stops
 * the threads (always call it; iterating to the end or breaking off does too).
 */
export class TreeScan implements AsyncIterable<Scanned[]> {
  readonly #workers: Worker[] = [];
  readonly #shared: Int32Array;
  /** Which thread runs (or ran) each task, as far as this thread has heard. */
  readonly #runner = new Map<string, number>([["root", 0]]);
  /** Each task's messages not read yet, in order. */
  readonly #streams = new Map<string, Piece[]>();
  readonly #prefix: string;
  /** The directory walked (absolute). */
  readonly root: string;
  /** Its identity ("dev:ino") when the walk began; null if it could not be taken (the walk then fails). */
  readonly rootId: string | null = null;
  /** When the walk began (epoch nanoseconds, decimal): what a manifest records as its scanStartedNs. */
  readonly startedNs = `${Date.now()}000000`;
  /** The task being read. */
  #current = "root";
  #failure: Error | null = null;
  #wake: (() => void) | null = null;

  /** `threads`, `batch`, `splitMin`, `unreadMax`: see SCAN_THREADS, SCAN_BATCH, SPLIT_MIN, UNREAD_MAX (tests use small ones). */
  constructor(root: string, { threads = SCAN_THREADS, batch = SCAN_BATCH, splitMin = SPLIT_MIN, unreadMax = UNREAD_MAX } = {}) {
    this.root = path.resolve(root);
    const count = Math.max(1, threads);
    this.#shared = new Int32Array(new SharedArrayBuffer(4 * (SHARED.IDLE + count)));
    // Walked by its real path, from its identity now: each directory is read only if it is the one the walk saw.
    let abs: string;
    try {
      abs = realPath(this.root);
      this.rootId = identityOf(abs);
      if (this.rootId === null) throw Object.assign(new Error(`ENOENT: no such file or directory, walk '${this.root}'`), { code: "ENOENT", path: this.root });
    } catch (err) {
      this.#prefix = this.root;
      this.#fail(err as Error); // a symlink loop, say: the reader fails with it
      return;
    }
    this.#prefix = abs === "/" ? "" : abs;
    Atomics.store(this.#shared, SHARED.HOLD, 1);
    for (let index = 1; index < count; index++) Atomics.store(this.#shared, SHARED.IDLE + index, 1); // all but the root's
    // A channel between every two threads, for the parts of listings they hand each other.
    const peers: Record<number, MessagePort>[] = Array.from({ length: count }, () => ({}));
    for (let a = 0; a < count; a++) {
      for (let b = a + 1; b < count; b++) {
        const { port1, port2 } = new MessageChannel();
        peers[a]![b] = port1;
        peers[b]![a] = port2;
      }
    }
    for (let index = 0; index < count; index++) {
      let worker: Worker;
      try {
        const ports = peers[index]!;
        worker = startWorker(new URL("./scan-worker.mjs", import.meta.url), { index, batch, splitMin, unreadMax, shared: this.#shared.buffer, peers: ports }, Object.values(ports));
      } catch (err) {
        void this.close(); // the threads started so far
        throw err;
      }
      worker.on("message", (m: ScanMessage) => this.#receive(m));
      worker.on("error", (err) => this.#fail(new Error(`the scan of ${abs} failed: ${err.message}`, { cause: err })));
      worker.on("exit", (code) => this.#fail(new Error(`the scan of ${abs} stopped (thread exit code ${code})`)));
      this.#workers.push(worker);
      if (index === 0) worker.postMessage({ task: { id: "root", abs, rel: "", dirId: this.rootId } satisfies Task });
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Scanned[]> {
    const reading = ["root"]; // the tasks being read: the last one first
    try {
      while (reading.length) {
        if (this.#failure) throw this.#failure;
        const id = reading[reading.length - 1]!;
        if (id !== this.#current) this.#follow(id);
        const m = this.#streams.get(id)?.shift();
        if (!m) {
          await new Promise<void>((resolve) => (this.#wake = resolve));
          continue;
        }
        if ("end" in m) {
          reading.pop();
          this.#streams.delete(id);
        } else if ("after" in m) {
          for (let i = m.after.length - 1; i >= 0; i--) reading.push(m.after[i]!);
        } else {
          Atomics.sub(this.#shared, SHARED.UNREAD, 1);
          Atomics.notify(this.#shared, SHARED.UNREAD);
          yield unpackEntries(m.entries, this.#prefix);
        }
      }
    } finally {
      await this.close();
    }
  }

  /** Stops the threads; a reader waiting for entries fails. */
  async close(): Promise<void> {
    this.#fail(new Error("the scan was closed before its end"));
    for (const w of this.#workers) w.removeAllListeners("exit");
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }

  /** The reader moves on to task `id`: its thread must never wait, and until we know which thread that is, none does. */
  #follow(id: string) {
    this.#current = id;
    const runner = this.#runner.get(id);
    Atomics.store(this.#shared, SHARED.READING, runner ?? -1);
    Atomics.store(this.#shared, SHARED.HOLD, runner === undefined ? 0 : 1);
    Atomics.notify(this.#shared, SHARED.UNREAD);
  }

  #receive(m: ScanMessage) {
    if ("error" in m) return this.#fail(Object.assign(new Error(m.error), { code: m.code, syscall: m.syscall, path: m.path }));
    if ("spawn" in m) {
      for (const { id, runner } of m.spawn) {
        this.#runner.set(id, runner);
        if (id === this.#current) this.#follow(id);
      }
    } else {
      const stream = this.#streams.get(m.task);
      if (stream) stream.push(m);
      else this.#streams.set(m.task, [m]);
      this.#wakeReader();
    }
  }

  #fail(err: Error) {
    this.#failure ??= err;
    this.#wakeReader();
  }

  #wakeReader() {
    this.#wake?.();
    this.#wake = null;
  }
}

/** An iteration that can be looked ahead of: what `pull()` takes comes first when it is iterated. */
export class Lookahead<T> implements AsyncIterable<T> {
  readonly #source: AsyncIterator<T>;
  #ahead: T[] = [];
  #ended = false;

  constructor(source: AsyncIterable<T>) {
    this.#source = source[Symbol.asyncIterator]();
  }

  /** The next item, kept for the iteration; undefined at the end. */
  async pull(): Promise<T | undefined> {
    if (this.#ended) return undefined;
    const next = await this.#source.next();
    if (next.done) {
      this.#ended = true;
      return undefined;
    }
    this.#ahead.push(next.value);
    return next.value;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    try {
      const ahead = this.#ahead;
      this.#ahead = [];
      yield* ahead;
      while (!this.#ended) {
        const next = await this.#source.next();
        if (next.done) this.#ended = true;
        else yield next.value;
      }
    } finally {
      if (!this.#ended) await this.#source.return?.(); // broken off: the source stops too
    }
  }
}

/**
 * Visits the tree in scan order without holding it in memory; stops early when
 * `visit` returns false. Returns whether the walk went through to the end.
 */
export function walk(root: string, visit: (s: Scanned) => boolean | void): boolean {
  for (const s of walkTree(root)) if (visit(s) === false) return false;
  return true;
}

/**
 * Compares two manifest paths in walk order (walkTree's: depth-first, names
 * sorted by UTF-16 code units, a directory before its entries): as strings,
 * except that "/" comes before every other character ("a/x" before "a.b").
 */
export function walkOrder(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return x === SLASH ? -1 : y === SLASH ? 1 : x - y;
  }
  return a.length - b.length;
}
const SLASH = 47;

/** The metadata every non-hardlink entry records, as the manifest stores it. */
export function entryMeta(s: Scanned) {
  return { path: s.rel, mode: s.st.mode, uid: s.st.uid, gid: s.st.gid, mtimeNs: s.st.mtimeNs };
}

/**
 * The incremental snapshot's trust test: a file whose size, mtime, ctime and
 * inode are what the earlier manifest recorded still has that content.
 * (Writing a file changes its mtime and ctime; replacing it changes its inode.)
 */
export function unchanged(before: FileEntry, st: Stat): boolean {
  return before.size === st.size && before.mtimeNs === st.mtimeNs && before.ctimeNs === st.ctimeNs && before.ino === st.ino;
}
