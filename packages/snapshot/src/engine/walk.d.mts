// Types of walk.mjs (plain JavaScript so worker threads can load it under any loader).
import type { BigIntStats } from "node:fs";

/** What an entry's lstat is, by the names skipped entries are reported with. */
export type Kind = "file" | "dir" | "symlink" | "fifo" | "socket" | "device" | "unknown type";

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

/** A scan message's entries, flat: ENTRY_FIELDS values each (see packEntry). */
export type PackedEntries = (string | number | null)[];
export declare const ENTRY_FIELDS: number;
/** Appends a walked entry to a scan message's flat list. */
export declare function packEntry(list: PackedEntries, entry: Scanned): void;
/** The entries of a scan message's flat list; `prefix` is the root's absolute path ("" for "/"). */
export declare function unpackEntries(list: PackedEntries, prefix: string): Scanned[];
/** Int32 slots a TreeScan shares with its threads (see walk.mjs); one idle flag per thread from IDLE on. */
export declare const SCAN_SHARED: Readonly<{ UNREAD: 0; READING: 1; HOLD: 2; IDLE: 3 }>;

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
 * The walk of walkTree from directory `abs` (a real path; manifest path
 * `rel`; identity `id`), of all its entries or of `names` only. On Linux each
 * directory is read through itself, and only if it is the directory the walk
 * saw: nothing outside the tree is listed or looked at, whatever is swapped
 * meanwhile. `split` may keep a prefix of a listing and hand
 * the rest to others: `{ after: token }` is yielded where those belong. The
 * `abs` that `split` is given is "" for the root directory "/" (paths are
 * `${abs}/${name}`).
 */
export declare function walkPart<T>(
  abs: string,
  rel: string,
  names: string[] | undefined,
  split: ((abs: string, rel: string, names: string[], id: string) => { keep: number; after: T } | null) | undefined,
  id: string,
): Generator<Scanned | { after: T }>;
