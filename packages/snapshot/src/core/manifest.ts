/**
 * The manifest: one per snapshot, written last (its existence commits the
 * snapshot). Lists every entry of the tree with full metadata and, for
 * files, the chunks that make up their content.
 */

/** A chunk of a file: [content id, length], or a run of zero bytes stored as a hole. */
export type ChunkRef = DataChunk | ZeroRun;
export type DataChunk = readonly [id: string, length: number];
export type ZeroRun = { readonly zero: number };
export const isDataChunk = (c: ChunkRef): c is DataChunk => Array.isArray(c);
/** The bytes a chunk reference stands for. */
export const chunkLength = (c: ChunkRef): number => (isDataChunk(c) ? c[1] : c.zero);

interface Common {
  path: string; // relative, "/"-separated, no "." or ".." segments
  mode: number; // permission bits (07777)
  uid: number;
  gid: number;
  mtimeNs: string; // bigint as decimal string
}

export interface DirEntry extends Common {
  type: "dir";
}
export interface FileEntry extends Common {
  type: "file";
  size: number;
  chunks: ChunkRef[];
  /** What the incremental check compares against the next snapshot's lstat. */
  ino: number;
  ctimeNs: string;
}
export interface SymlinkEntry extends Common {
  type: "symlink";
  target: string;
}
export interface HardlinkEntry {
  type: "hardlink";
  path: string;
  /** The path of an earlier file entry with the same inode. */
  link: string;
}
export type Entry = DirEntry | FileEntry | SymlinkEntry | HardlinkEntry;

export interface SnapshotStats {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  /** Bytes of chunks this snapshot added to the repository (before compression). */
  newBytes: number;
  /** Bytes this snapshot uploaded (compressed packs + index + manifest). */
  uploadedBytes: number;
  newChunks: number;
  /** Files whose content was reused from the parent without reading. */
  unchangedFiles: number;
  skipped: string[];
  durationMs: number;
}

export interface Manifest {
  /** The format it is stored in (see engine/manifest-codec.ts): the same entries either way. */
  version: 1 | 2;
  id: string;
  parent: string | null;
  createdAt: string;
  /**
   * When the walk began, as nanoseconds since 1970 in decimal (the file times' clock);
   * absent from manifests written before it was recorded. See RACY_NS in create.ts.
   */
  scanStartedNs?: string;
  tags: Record<string, string>;
  stats: SnapshotStats;
  entries: Entry[];
}

export class ManifestError extends Error {
  constructor(readonly problems: string[]) {
    super(`refusing a malformed or hostile manifest: ${problems.slice(0, 5).join("; ")}${problems.length > 5 ? ` (and ${problems.length - 5} more)` : ""}`);
  }
}

/** The largest file a manifest may claim: well past any real file, far below what would exhaust a disk by accident. */
export const MAX_FILE_SIZE = 2 ** 44; // 16 TiB

/** An empty, "." or ".." segment: a leading or trailing "/", "//", "/./", "/../" (the slow path says which). */
const UNSAFE_SEGMENT = /(?:^|\/)\.{0,2}(?:\/|$)/;

/** Why a manifest path is unsafe, or null if it is safe: relative, "/"-separated, no empty, "." or ".." segment, no NUL. */
export function pathProblem(path: string): string | null {
  // One regular expression and one scan for the 50k paths of a big manifest; the checks below say what is wrong.
  if (typeof path === "string" && path.length > 0 && path.length <= 4096 && !UNSAFE_SEGMENT.test(path) && !path.includes("\0")) return null;
  if (typeof path !== "string" || path.length === 0) return "empty path";
  if (path.length > 4096) return `path longer than 4096 bytes: ${path.slice(0, 40)}…`;
  if (path.includes("\0")) return `path with a NUL byte: ${JSON.stringify(path)}`;
  if (path.startsWith("/")) return `absolute path ${JSON.stringify(path)}`;
  for (const seg of path.split("/")) {
    if (seg === "" || seg === "." || seg === "..") return `path ${JSON.stringify(path)} has a "${seg || "//"}" segment`;
  }
  return null;
}

/** Whether `id` is 64 lowercase hex digits. */
export const isChunkId = (id: unknown): boolean => typeof id === "string" && CHUNK_ID.test(id);
const CHUNK_ID = /^[0-9a-f]{64}$/;

/** Where a relative symlink at `linkPath` points, as a path under the root; null if it climbs out. */
export function resolveInside(linkPath: string, target: string): string | null {
  const parts = linkPath.split("/").slice(0, -1);
  for (const seg of target.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (parts.length === 0) return null;
      parts.pop();
    } else parts.push(seg);
  }
  return parts.join("/");
}

/**
 * Checks a manifest before anything is written. Refuses: unsafe paths
 * (absolute, "..", NUL), duplicates, entries whose parent is missing or is
 * not a directory (so no write can pass through a symlink), relative symlinks
 * that climb out of the tree, hardlinks to anything but an earlier file,
 * impossible sizes, and chunk lists that do not add up to the file size.
 * Absolute symlink targets are kept as they are (virtualenvs point at the
 * system Python): they are created last and nothing is written through them.
 */
export function validateManifest(m: Manifest): void {
  const problems: string[] = [];
  if ((m?.version !== 1 && m?.version !== 2) || !Array.isArray(m.entries)) throw new ManifestError(["not a version 1 or 2 manifest"]);
  const types = new Map<string, Entry["type"]>();
  let dir = "\0"; // the last parent found to be a directory (no path holds a NUL): its entries need no lookup
  for (const e of m.entries) {
    const bad = pathProblem(e?.path);
    if (bad) {
      problems.push(bad);
      continue;
    }
    if (types.has(e.path)) {
      problems.push(`duplicate entry ${e.path}`);
      dir = "\0"; // it may have been that directory, and is now something else
    }
    const slash = e.path.lastIndexOf("/");
    if (slash > 0 && !(slash === dir.length && e.path.startsWith(dir))) {
      const parent = e.path.slice(0, slash);
      const parentType = types.get(parent);
      if (parentType === "dir") dir = parent;
      else problems.push(`${e.path}: parent ${parent} ${parentType ? `is a ${parentType}, not a directory` : "is not listed before it"}`);
    }
    switch (e.type) {
      case "dir":
        break;
      case "file": {
        if (!Number.isSafeInteger(e.size) || e.size < 0 || e.size > MAX_FILE_SIZE) {
          problems.push(`${e.path}: impossible size ${e.size}`);
          break;
        }
        let sum = 0;
        for (const c of e.chunks ?? []) {
          const len = chunkLength(c);
          if (isDataChunk(c) && !isChunkId(c[0])) problems.push(`${e.path}: bad chunk id ${String(c[0]).slice(0, 70)}`);
          if (!Number.isSafeInteger(len) || len <= 0) problems.push(`${e.path}: bad chunk length ${len}`);
          sum += len;
        }
        if (sum !== e.size) problems.push(`${e.path}: chunks add up to ${sum} bytes, but the size is ${e.size}`);
        break;
      }
      case "symlink":
        if (typeof e.target !== "string" || e.target.length === 0 || e.target.includes("\0")) {
          problems.push(`${e.path}: bad symlink target`);
        } else if (!e.target.startsWith("/") && resolveInside(e.path, e.target) === null) {
          problems.push(`${e.path}: symlink target ${JSON.stringify(e.target)} escapes the restore directory`);
        }
        break;
      case "hardlink": {
        const bad = pathProblem(e.link);
        if (bad) problems.push(`${e.path}: hardlink to ${bad}`);
        else if (types.get(e.link) !== "file") problems.push(`${e.path}: hardlink to ${e.link}, which is not an earlier file in the snapshot`);
        break;
      }
      default:
        problems.push(`${(e as { path: string }).path}: unknown entry type ${JSON.stringify((e as { type: unknown }).type)}`);
    }
    if (e.type !== "hardlink") {
      if (!Number.isInteger(e.mode) || e.mode < 0 || e.mode > 0o7777) problems.push(`${e.path}: bad mode ${e.mode}`);
      if (typeof e.mtimeNs !== "string" || !/^-?\d{1,20}$/.test(e.mtimeNs)) problems.push(`${e.path}: bad mtime ${e.mtimeNs}`);
    }
    types.set(e.path, e.type);
  }
  if (problems.length) throw new ManifestError(problems);
}
