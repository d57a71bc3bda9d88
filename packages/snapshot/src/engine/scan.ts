import { lstatSync, readdirSync, type BigIntStats } from "node:fs";
import path from "node:path";
import type { FileEntry } from "../core/manifest.ts";

/** One entry of a walked tree: its manifest path, absolute path and lstat. */
export interface Scanned {
  rel: string;
  abs: string;
  st: BigIntStats;
}

/**
 * The tree under `root`, lazily: depth-first, names sorted, parents before
 * children (the order of a manifest's entries). One explicit stack, not a
 * generator per directory: an entry costs one lstat and no path parsing
 * (names from readdir never hold a "/").
 */
export function* walkTree(root: string): Generator<Scanned> {
  const stack: { abs: string; rel: string; names: string[]; next: number }[] = [];
  const enter = (abs: string, rel: string) => {
    try {
      stack.push({ abs: abs === "/" ? "" : abs, rel, names: readdirSync(abs).sort(), next: 0 });
    } catch (err) {
      // Removed (or replaced by a file) since its lstat: a live session's temp directory. Recorded empty.
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ENOTDIR") throw err;
    }
  };
  enter(path.resolve(root), "");
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    if (top.next === top.names.length) {
      stack.pop();
      continue;
    }
    const name = top.names[top.next++]!;
    const abs = `${top.abs}/${name}`;
    const rel = top.rel ? `${top.rel}/${name}` : name;
    const st = lstatSync(abs, { bigint: true, throwIfNoEntry: false });
    if (!st) continue; // removed while we walked
    yield { rel, abs, st };
    if (st.isDirectory()) enter(abs, rel);
  }
}

/** An iteration that can be looked ahead of: what `pull()` takes comes first when it is iterated. */
export class Lookahead<T> implements Iterable<T> {
  readonly #source: Iterator<T>;
  #ahead: T[] = [];
  #ended = false;

  constructor(source: Iterable<T>) {
    this.#source = source[Symbol.iterator]();
  }

  /** The next item, kept for the iteration; undefined at the end. */
  pull(): T | undefined {
    if (this.#ended) return undefined;
    const next = this.#source.next();
    if (next.done) {
      this.#ended = true;
      return undefined;
    }
    this.#ahead.push(next.value);
    return next.value;
  }

  *[Symbol.iterator](): Generator<T> {
    const ahead = this.#ahead;
    this.#ahead = [];
    yield* ahead;
    while (!this.#ended) {
      const next = this.#source.next();
      if (next.done) this.#ended = true;
      else yield next.value;
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

/** The metadata every non-hardlink entry records, as the manifest stores it. */
export function entryMeta(s: Scanned) {
  return { path: s.rel, mode: Number(s.st.mode & 0o7777n), uid: Number(s.st.uid), gid: Number(s.st.gid), mtimeNs: s.st.mtimeNs.toString() };
}

/**
 * The incremental snapshot's trust test: a file whose size, mtime, ctime and
 * inode are what the earlier manifest recorded still has that content.
 * (Writing a file changes its mtime and ctime; replacing it changes its inode.)
 */
export function unchanged(before: FileEntry, st: BigIntStats): boolean {
  return before.size === Number(st.size) && before.mtimeNs === st.mtimeNs.toString() && before.ctimeNs === st.ctimeNs.toString() && before.ino === Number(st.ino);
}

/** What a snapshot cannot hold: a name for the "skipped" list. */
export function specialKind(st: BigIntStats): string {
  if (st.isFIFO()) return "fifo";
  if (st.isSocket()) return "socket";
  if (st.isBlockDevice() || st.isCharacterDevice()) return "device";
  return "unknown type";
}
