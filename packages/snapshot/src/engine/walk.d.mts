// Types of walk.mjs (plain JavaScript so worker threads can load it under any loader).
import type { BigIntStats } from "node:fs";

/** What an entry's lstat is, by the names skipped entries are reported with. */
export type Kind = "file" | "dir" | "symlink" | "fifo" | "socket" | "device" | "unknown type" | "name not UTF-8";

/** An lstat as snapshots record it: permission bits only, times as decimal nanoseconds (as manifests store them). */
export interface Stat {
  kind: Kind;
  /** Permission bits, set-id and sticky bits (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  ino: number;
  dev: number;
  /** "dev:ino", exact (inode numbers can pass 2^53): what identifies hardlinks. */
  devIno: string;
  nlink: number;
  mtimeNs: string;
  ctimeNs: string;
}

/** One entry of a walked tree: its manifest path, absolute path, its directory's identity and its lstat; a symlink's target. */
export interface Scanned {
  rel: string;
  abs: string;
  /** The identity ("dev:ino") of the directory it was found in: its file is opened only through that directory (openInTree). */
  dir: string;
  st: Stat;
  target?: string;
  /** The number of the parent snapshot's record of this path, if it was a file there (see TreeScan.compareWith). */
  parent?: number;
}

export declare function statOf(st: BigIntStats): Stat;

/** What identifies a file or directory: "dev:ino" of its stat (as Stat.devIno). */
export declare function devInoOf(st: BigIntStats): string;

/** The real path of `abs`, or `abs` if there is nothing there. */
export declare function realPath(abs: string): string;

/** What identifies the directory or file at `abs` ("dev:ino", as Stat.devIno), null if nothing is there. */
export declare function identityOf(abs: string): string | null;

/**
 * Opens file `file` of the tree under `root` (a real path) for reading,
 * through its directory as the walk saw it (identity `dirId`): a file in a
 * directory moved or reached through a symlink since is not opened (ENOENT),
 * a symlink in the file's place is not followed (ELOOP). Returns the file
 * descriptor.
 */
export declare function openInTree(file: string, dirId: string, root: string): number;

/** Closes the directory openInTree keeps open on this thread (for the next file there), if any. */
export declare function closeTreeDirectory(): void;

/** The lstat of `file`, through its directory as the walk saw it (identity `dirId`); null if either is gone or not what the walk saw. */
export declare function lstatInTree(file: string, dirId: string): BigIntStats | null;

/**
 * Opens a file of the tree under `root` (a real path) for reading, refusing
 * a symlink put in its place (ELOOP) and a file that lies outside `root`
 * (EXDEV: a directory above it swapped for a symlink). Returns the file
 * descriptor.
 */
export declare function openUnder(file: string, root: string): number;

/**
 * The tree under `root`, lazily: depth-first, names sorted, parents before
 * children (the order of a manifest's entries). Entries removed while it
 * walks are left out; a directory removed before its listing is recorded
 * empty; other errors are thrown.
 */
export declare function walkTree(root: string): Generator<Scanned>;

/**
 * The walk of walkTree under directory `abs` (a real path), if it is the
 * directory with identity `id` (else it fails, code ECHANGED). On Linux each
 * directory is read through itself, and only if it is the directory the walk
 * saw: nothing outside the tree is listed or looked at, whatever is swapped
 * meanwhile. `onListing(dir)` (tests) runs after each directory's listing,
 * before its entries are looked at.
 */
export declare function walkUnder(abs: string, id: string, onListing?: (dir: string) => void): Generator<Scanned>;
