import path from "node:path";
import type { Entry, FileEntry } from "../core/manifest.ts";
import { nativeWalk, type NativeError, type NativeOptions, type NativeWalk } from "./native.ts";
import { identityOf, realPath, walkTree, walkUnder, type Kind, type Scanned, type Stat } from "./walk.mjs";

export { nativeWalk, walkTree, type Kind, type Scanned, type Stat };

/** Entries per batch. */
const SCAN_BATCH = 512;
/**
 * Threads that walk (besides the one that sends their entries in order): on
 * a cold cache most of a walk is waiting for the disk to return directory and
 * inode blocks, and more threads keep more of those reads in flight (the
 * benchmark's 54k entries: 0.6 s with one thread, 0.35-0.38 s with three,
 * 0.30 s with six, 0.29 s with eight; its incremental snapshot, 7 alternating
 * runs: 0.98 s with three, 0.94 s with six, 0.97 s with eight).
 */
const SCAN_THREADS = 6;
/**
 * Batches the walk may have sent and the reader not yet taken before it
 * waits (~130k entries; without a bound a first snapshot, whose reading lags
 * far behind its walk, would hold the tree twice over).
 */
const UNREAD_MAX = 256;

const KINDS: Kind[] = ["unknown type", "file", "dir", "symlink", "fifo", "socket", "device", "unknown type", "name not UTF-8"];

/** The entries of one of the native walk's batches (its format: native/walk.c); `prefix` is the root's absolute path ("" for "/"). */
function decode(buf: Buffer, prefix: string): Walked[] {
  const out: Walked[] = [];
  let dirRel = "";
  let dir = "";
  let i = 0;
  while (i < buf.length) {
    const tag = buf[i++];
    if (tag === 3) {
      out.push(buf.readUInt32LE(i));
      i += 4;
      continue;
    }
    if (tag === 1) {
      const n = buf.readUInt32LE(i);
      dirRel = buf.toString("utf8", i + 4, i + 4 + n);
      i += 4 + n;
      const m = buf[i++]!;
      dir = buf.toString("latin1", i, i + m);
      i += m;
      continue;
    }
    const kind = KINDS[buf[i]!]!;
    const nameLen = buf.readUInt16LE(i + 1);
    i += 3;
    const name = buf.toString("utf8", i, i + nameLen);
    i += nameLen;
    const mode = buf.readUInt32LE(i);
    const uid = buf.readUInt32LE(i + 4);
    const gid = buf.readUInt32LE(i + 8);
    const nlink = buf.readUInt32LE(i + 12);
    const size = buf.readDoubleLE(i + 16);
    const ino = buf.readDoubleLE(i + 24);
    const dev = buf.readDoubleLE(i + 32);
    i += 40;
    let n = buf[i++]!;
    const devIno = buf.toString("latin1", i, i + n);
    i += n;
    n = buf[i++]!;
    const mtimeNs = buf.toString("latin1", i, i + n);
    i += n;
    n = buf[i++]!;
    const ctimeNs = buf.toString("latin1", i, i + n);
    i += n;
    const targetLen = buf.readUInt32LE(i);
    i += 4;
    const rel = dirRel ? `${dirRel}/${name}` : name;
    const st: Stat = { kind, mode, uid, gid, size, ino, dev, devIno, nlink, mtimeNs, ctimeNs };
    const s: Scanned = { rel, abs: `${prefix}/${rel}`, dir, st };
    if (targetLen !== 0xffffffff) {
      s.target = buf.toString("utf8", i, i + targetLen);
      i += targetLen;
    }
    const parent = buf.readInt32LE(i);
    i += 4;
    if (parent >= 0) s.parent = parent;
    out.push(s);
  }
  return out;
}

/**
 * What a TreeScan yields for each entry: the entry, or, for a file that is
 * unchanged since the parent snapshot (see compareWith), the number of the
 * parent's record of it.
 */
export type Walked = Scanned | number;

/**
 * A parent snapshot as the walk compares with it (ParentManifest.comparable):
 * its entries by number, the same as manifest records (format 2, as the
 * native walk reads them), and for each entry whether it may be trusted at
 * all (1: a file whose record may stand for it if the walk finds it as it was).
 */
export interface WalkParent {
  readonly count: number;
  entry(i: number): Entry;
  readonly records: Buffer;
  readonly trusted: Uint8Array;
}

export interface TreeScanOptions {
  /** See SCAN_THREADS, SCAN_BATCH, UNREAD_MAX (tests use small ones). */
  threads?: number;
  batch?: number;
  unreadMax?: number;
  /** Names looked at per task (native walk; tests use small ones). */
  range?: number;
  /**
   * Tests: the walk stops at directory `at` (a manifest path), before it
   * opens it ("open") or after its listing ("stat"), and awaits `then()`.
   */
  hold?: { at: string; before: "open" | "stat"; then: () => void | Promise<void> };
  /** Tests: false runs walkTree on this thread even where the native walk is built. */
  native?: boolean;
}

/**
 * The walk of walkTree (the same entries, in the same order), run by the
 * native walk (native/walk.c) on threads of its own from the moment this is
 * made, so its system calls overlap whatever the caller does meanwhile; read
 * here in batches. Without the native walk, walkTree runs on this thread as
 * it is read.
 *
 * The walk holds back while the reader has UNREAD_MAX batches it has not
 * taken. Iterated once; `close()` stops the walk (always call it; iterating
 * to the end or breaking off does too) and resolves once its threads have
 * let go of the tree.
 */
export class TreeScan implements AsyncIterable<Walked[]> {
  readonly #prefix: string;
  readonly #batch: number;
  /** The native walk and its handle; null without it. */
  readonly #native: { walk: NativeWalk; handle: object } | null = null;
  /** Batches received and not read yet. */
  readonly #batches: Walked[][] = [];
  /** Resolved once the native walk sent its last message (its threads are done with the tree). */
  readonly #ended: Promise<void>;
  #end: () => void = () => {};
  #done = false;
  #failure: Error | null = null;
  /** What compareWith was given (null: nothing to compare with); undefined until then. */
  #parent: WalkParent | null | undefined;
  #wake: (() => void) | null = null;
  /** The directory walked (absolute). */
  readonly root: string;
  /** Its identity ("dev:ino") when the walk began; null if it could not be taken (the walk then fails). */
  readonly rootId: string | null = null;
  /** When the walk began (epoch nanoseconds, decimal): what a manifest records as its scanStartedNs. */
  readonly startedNs = `${Date.now()}000000`;

  constructor(root: string, { threads = SCAN_THREADS, batch = SCAN_BATCH, unreadMax = UNREAD_MAX, range, hold, native = true }: TreeScanOptions = {}) {
    this.root = path.resolve(root);
    this.#batch = batch;
    this.#ended = new Promise((resolve) => (this.#end = resolve));
    // Walked by its real path, from its identity now: each directory is read only if it is the one the walk saw.
    let abs: string;
    try {
      abs = realPath(this.root);
      this.rootId = identityOf(abs);
      if (this.rootId === null) throw Object.assign(new Error(`ENOENT: no such file or directory, walk '${this.root}'`), { code: "ENOENT", path: this.root });
    } catch (err) {
      this.#prefix = this.root;
      this.#end();
      this.#fail(err as Error); // a symlink loop, say: the reader fails with it
      return;
    }
    this.#prefix = abs === "/" ? "" : abs;
    const walk = native ? nativeWalk() : null;
    if (!walk) {
      this.#end();
      return;
    }
    const options: NativeOptions = { threads: Math.max(1, threads), batch, unreadMax, range };
    if (hold) Object.assign(options, { holdAt: hold.at, holdBefore: hold.before === "open" ? 1 : 2 });
    const handle = walk.start(abs, this.rootId, options, (err, data) => {
      if (err) {
        this.#fail(this.#error(err)); // the last message: the walk's threads are done
        return this.#end();
      }
      if (data === true) return void Promise.resolve(hold?.then()).then(() => walk.resume(handle), (e: Error) => this.#fail(e));
      if (data === null) {
        this.#done = true;
        this.#end();
      } else {
        this.#batches.push(decode(data, this.#prefix));
      }
      this.#wakeReader();
    });
    this.#native = { walk, handle };
  }

  /**
   * The parent snapshot (its entries in walk order) to compare the walk with:
   * a file whose record may be trusted (see createSnapshot) and still holds
   * (sameRecord(), with one link) is yielded as the number of its record; any
   * other entry at the path of one of its files comes with that number
   * (Scanned.parent). Before iterating (without it, nothing is compared).
   */
  compareWith(parent: WalkParent | null): void {
    if (this.#parent !== undefined) throw new Error("compareWith: the walk is compared with a parent already");
    this.#parent = parent;
    if (this.#native && !this.#failure) this.#native.walk.setParent(this.#native.handle, parent && parent.records, parent?.trusted);
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Walked[]> {
    try {
      if (this.#parent === undefined) this.compareWith(null);
      if (!this.#native) {
        if (this.#failure) throw this.#failure;
        let batch: Walked[] = [];
        const parent = this.#parent ? parentFiles(this.#parent) : () => undefined;
        for (const s of walkUnder(this.#prefix || "/", this.rootId!)) {
          const before = parent(s.rel);
          if (before && s.st.kind === "file" && s.st.nlink === 1 && this.#parent!.trusted[before.number] === 1 && sameRecord(before.entry, s.st)) batch.push(before.number);
          else batch.push(before ? Object.assign(s, { parent: before.number }) : s);
          if (batch.length >= this.#batch) {
            yield batch;
            batch = [];
          }
          if (this.#failure) throw this.#failure; // closed
        }
        if (batch.length) yield batch;
        return;
      }
      for (;;) {
        if (this.#failure) throw this.#failure;
        const batch = this.#batches.shift();
        if (batch) {
          this.#native.walk.ack(this.#native.handle);
          yield batch;
        } else if (this.#done) {
          return;
        } else {
          await new Promise<void>((resolve) => (this.#wake = resolve));
        }
      }
    } finally {
      await this.close();
    }
  }

  /** Stops the walk; a reader waiting for entries fails. Resolves once the walk's threads are done with the tree. */
  async close(): Promise<void> {
    this.#fail(new Error("the scan was closed before its end"));
    if (this.#native) this.#native.walk.stop(this.#native.handle);
    await this.#ended;
  }

  /** A failure the native walk reported, as Node reports the same failure of a system call. */
  #error({ code, description, syscall, rel }: NativeError): Error {
    const where = rel.length ? `${this.#prefix}/${rel.toString("utf8")}` : this.#prefix || "/";
    if (code === "ECHANGED") return Object.assign(new Error(`${where} ${description}`), { code });
    return Object.assign(new Error(`${code}: ${description.charAt(0).toLowerCase()}${description.slice(1)}, ${syscall} '${where}'`), { code, syscall, path: where });
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

/**
 * What lets an incremental snapshot keep the parent's record of a file as it
 * is: unchanged(), and the same mode and owner (chmod and chown change a
 * file's ctime, so that only matters if the parent was written by hand or by
 * another tool). The native walk applies the same test (native/walk.c:
 * emitEntry), to files with one link.
 */
export const sameRecord = (before: FileEntry, st: Stat) => unchanged(before, st) && before.mode === st.mode && before.uid === st.uid && before.gid === st.gid;

/**
 * The parent's record of each path, asked for in walk order: the parent's
 * entries are in that order too, so a cursor finds them (the next entry, or
 * past a few deleted ones) without a map of 50k paths. A parent in any other
 * order only misses: its files are read again. (The native walk does the same.)
 */
function parentFiles(parent: WalkParent): (rel: string) => { entry: FileEntry; number: number } | undefined {
  let next = 0;
  return (rel) => {
    while (next < parent.count) {
      const e = parent.entry(next);
      if (e.path === rel) return e.type === "file" ? { entry: e, number: next++ } : void next++;
      if (walkOrder(e.path, rel) > 0) return undefined; // new since the parent
      next++; // gone since the parent, or not a file asked for
    }
    return undefined;
  };
}
