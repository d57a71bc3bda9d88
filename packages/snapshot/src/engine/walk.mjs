// The tree walk, shared by the main thread (scan.ts) and the scan workers
// (scan-worker.mjs). Plain JavaScript, so worker threads run it under any
// loader the parent process uses. Types: walk.d.mts.
import { closeSync, constants, existsSync, lstatSync, openSync, readdirSync, readlinkSync, realpathSync } from "node:fs";
import path from "node:path";

/** An lstat as snapshots record it (see walk.d.mts). */
export function statOf(st) {
  return {
    kind: st.isFile() ? "file" : st.isDirectory() ? "dir" : st.isSymbolicLink() ? "symlink" : st.isFIFO() ? "fifo" : st.isSocket() ? "socket" : st.isBlockDevice() || st.isCharacterDevice() ? "device" : "unknown type",
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: Number(st.size),
    ino: Number(st.ino),
    dev: Number(st.dev),
    devIno: `${st.dev}:${st.ino}`,
    nlink: Number(st.nlink),
    mtimeNs: st.mtimeNs.toString(),
    ctimeNs: st.ctimeNs.toString(),
  };
}

// ---- Scan messages (TreeScan in scan.ts, its threads in scan-worker.mjs) ----

/** Values per entry in a scan message's flat list: rel, the Stat's fields, the symlink target (or null). */
export const ENTRY_FIELDS = 13;

/** Appends a walked entry to a scan message's flat list. */
export function packEntry(list, { rel, st, target }) {
  list.push(rel, st.kind, st.mode, st.uid, st.gid, st.size, st.ino, st.dev, st.devIno, st.nlink, st.mtimeNs, st.ctimeNs, target ?? null);
}

/** The entries of a scan message's flat list; `prefix` is the root's absolute path ("" for "/"). */
export function unpackEntries(list, prefix) {
  const out = [];
  for (let i = 0; i < list.length; i += ENTRY_FIELDS) {
    const rel = list[i];
    const st = { kind: list[i + 1], mode: list[i + 2], uid: list[i + 3], gid: list[i + 4], size: list[i + 5], ino: list[i + 6], dev: list[i + 7], devIno: list[i + 8], nlink: list[i + 9], mtimeNs: list[i + 10], ctimeNs: list[i + 11] };
    const target = list[i + 12];
    const abs = `${prefix}/${rel}`;
    out.push(target === null ? { rel, abs, st } : { rel, abs, st, target });
  }
  return out;
}

/**
 * Int32 slots a TreeScan shares with its threads: entry messages sent and not
 * yet read; the thread running the task being read; whether a thread ahead
 * of the reader waits (1) or not (0: the reader does not know yet which thread
 * runs its task); then, from IDLE on, one flag per thread: 1 while it has no
 * task (a thread that splits a listing claims idle ones by clearing theirs).
 */
export const SCAN_SHARED = Object.freeze({ UNREAD: 0, READING: 1, HOLD: 2, IDLE: 3 });

/**
 * The tree under `root`, lazily: depth-first, names sorted, parents before
 * children (the order of a manifest's entries). A symlink comes with its target.
 */
export function* walkTree(root) {
  yield* walkPart(realPath(path.resolve(root)), "");
}

/** The real path of `abs`, or `abs` if there is nothing there (its walk is then empty). */
export function realPath(abs) {
  try {
    return realpathSync(abs);
  } catch (err) {
    if (err.code === "ENOENT" || err.code === "ENOTDIR") return abs;
    throw err;
  }
}

/**
 * The walk of walkTree from directory `abs` (a real path; manifest path
 * `rel`): of all its entries, or of `names` only (sorted; a part of its
 * listing).
 *
 * `split(abs, rel, names)` may hand part of a directory's listing to others:
 * it returns how many names (a prefix) this walk keeps and a token; once
 * those are walked (with everything below them), the token is yielded as
 * `{ after: token }`, where the others' parts belong in walk order.
 *
 * Each directory is read through itself (see readDir): a directory swapped
 * for a symlink while the walk runs is never followed out of the tree. One
 * explicit stack, not a generator per directory.
 */
export function* walkPart(abs, rel, names, split) {
  const stack = [];
  const enter = (abs, rel, names) => {
    const dir = abs === "/" ? "" : abs;
    const read = readDir(dir, names, split && ((names) => split(dir, rel, names)));
    if (read) stack.push({ abs: dir, rel, found: read.found, next: 0, after: read.after });
  };
  enter(abs, rel, names);
  while (stack.length) {
    const top = stack[stack.length - 1];
    if (top.next === top.found.length) {
      stack.pop();
      if (top.after !== undefined) yield { after: top.after };
      continue;
    }
    const [name, found] = top.found[top.next];
    top.found[top.next++] = undefined; // yielded: not kept while the walk goes on below
    const abs = `${top.abs}/${name}`;
    const rel = top.rel ? `${top.rel}/${name}` : name;
    yield { rel, abs, ...found };
    if (found.st.kind === "dir") enter(abs, rel);
  }
}

/** This process's open files by number, where the kernel takes `<dir>/<name>` as `name` inside that open directory. */
const OPEN_FILES = existsSync(`/proc/${process.pid}/fd`) ? `/proc/${process.pid}/fd/` : null;
const DIRECTORY = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/**
 * The entries of directory `dir` ("" for "/"): of all its names, or of
 * `names`, sorted, each with its lstat (and a symlink's target); `keep` may
 * take a prefix of the listing (see split), returning `{ keep, after }`.
 * null if the directory is gone, or is no longer one at this path.
 *
 * On Linux the directory is opened first (O_NOFOLLOW; its path as the kernel
 * reports it must be `dir`: no symlink on the way), then listed and its
 * entries looked at through that open directory (/proc/<pid>/fd/<n>/<name>,
 * which the kernel resolves inside it). A session that swaps a directory, or
 * one above it, for a symlink while its snapshot walks cannot have the walk
 * list or look at anything outside its tree. (Elsewhere, by path.)
 */
function readDir(dir, names, keep) {
  if (!OPEN_FILES) return listed(names ?? readdirOf(dir), keep, `${dir}/`);
  let fd;
  try {
    fd = openSync(dir || "/", DIRECTORY);
  } catch (err) {
    // Removed (or replaced by a file or a symlink) since its lstat: a live session's temp directory. Recorded empty.
    if (err.code === "ENOENT" || err.code === "ENOTDIR" || err.code === "ELOOP") return null;
    throw err;
  }
  try {
    if (readlinkSync(`${OPEN_FILES}${fd}`) !== (dir || "/")) return null; // moved, or reached through a symlink
    const inside = `${OPEN_FILES}${fd}/`;
    return listed(names ?? readdirOf(inside), keep, inside);
  } finally {
    closeSync(fd);
  }
}

function readdirOf(dir) {
  try {
    return readdirSync(dir || "/").sort();
  } catch (err) {
    if (err.code !== "ENOENT" && err.code !== "ENOTDIR") throw err;
    return []; // removed since it was opened
  }
}

/** The names this walk keeps (see readDir), looked at as `${at}${name}`. */
function listed(names, keep, at) {
  const handed = keep?.(names);
  const end = handed ? handed.keep : names.length;
  const found = [];
  for (let i = 0; i < end; i++) {
    const seen = look(at + names[i]);
    if (seen) found.push([names[i], seen]); // else removed while we walked
  }
  return { found, after: handed?.after };
}

/** The lstat of `file` (and its target, for a symlink); null if it is gone. */
function look(file) {
  for (;;) {
    let big;
    try {
      big = lstatSync(file, { bigint: true, throwIfNoEntry: false });
    } catch (err) {
      if (err.code === "ENOTDIR") return null; // its directory was replaced by a file since the listing
      throw err;
    }
    if (!big) return null;
    const st = statOf(big);
    if (st.kind !== "symlink") return { st };
    try {
      return { st, target: readlinkSync(file) };
    } catch (err) {
      if (err.code === "ENOENT") return null;
      if (err.code !== "EINVAL") throw err;
      // replaced by something other than a symlink since its lstat: look again
    }
  }
}

const NO_FOLLOW = constants.O_RDONLY | constants.O_NOFOLLOW;

/**
 * Opens a file of the tree under `root` (real path) for reading, and only if
 * it is still one: a symlink put in its place is not followed (ELOOP), and
 * the file opened must lie under `root` (a directory above it swapped for a
 * symlink, before the walk listed it or after: EXDEV). A session cannot have
 * a snapshot read what lies outside its directory by swapping entries while
 * it runs. A file replaced under `root` since the walk (an editor's atomic
 * save) is read as it is now.
 */
export function openUnder(file, root) {
  const fd = openSync(file, NO_FOLLOW);
  try {
    const real = whereIs(fd, file);
    if (!real.startsWith(root === "/" ? "/" : `${root}/`)) throw Object.assign(new Error(`${file} resolves to ${real}, outside ${root}: not read`), { code: "EXDEV" });
    return fd;
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** The path an open file has now: from /proc on Linux, else (racily) its path's real path. */
function whereIs(fd, file) {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch (err) {
    if (err.code !== "ENOENT") throw err;
    return realpathSync.native(file);
  }
}
