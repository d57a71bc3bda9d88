// The tree walk, shared by the main thread (scan.ts) and the scan workers
// (scan-worker.mjs). Plain JavaScript, so worker threads run it under any
// loader the parent process uses. Types: walk.d.mts.
import { closeSync, constants, lstatSync, openSync, readdirSync, readlinkSync, realpathSync } from "node:fs";
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
  yield* walkPart(path.resolve(root), "");
}

/**
 * The walk of walkTree from directory `abs` (manifest path `rel`): of all
 * its entries, or of `names` only (sorted; a part of its listing).
 *
 * `split(abs, rel, names)` may hand part of a directory's listing to others:
 * it returns how many names (a prefix) this walk keeps and a token; once
 * those are walked (with everything below them), the token is yielded as
 * `{ after: token }`, where the others' parts belong in walk order.
 *
 * One explicit stack, not a generator per directory: an entry costs one
 * lstat and no path parsing (names from readdir never hold a "/").
 */
export function* walkPart(abs, rel, names, split) {
  const stack = [];
  const enter = (abs, rel, names) => {
    if (!names) {
      try {
        names = readdirSync(abs).sort();
      } catch (err) {
        // Removed (or replaced by a file) since its lstat: a live session's temp directory. Recorded empty.
        if (err.code !== "ENOENT" && err.code !== "ENOTDIR") throw err;
        return;
      }
    }
    const dir = abs === "/" ? "" : abs;
    const handed = split?.(dir, rel, names);
    stack.push({ abs: dir, rel, names, next: 0, end: handed ? handed.keep : names.length, after: handed?.after });
  };
  enter(abs, rel, names);
  while (stack.length) {
    const top = stack[stack.length - 1];
    if (top.next === top.end) {
      stack.pop();
      if (top.after !== undefined) yield { after: top.after };
      continue;
    }
    const name = top.names[top.next++];
    const abs = `${top.abs}/${name}`;
    const rel = top.rel ? `${top.rel}/${name}` : name;
    const found = look(abs);
    if (!found) continue; // removed while we walked
    yield { rel, abs, ...found };
    if (found.st.kind === "dir") enter(abs, rel);
  }
}

/** The lstat of `abs` (and its target, for a symlink); null if it is gone. */
function look(abs) {
  for (;;) {
    let big;
    try {
      big = lstatSync(abs, { bigint: true, throwIfNoEntry: false });
    } catch (err) {
      if (err.code === "ENOTDIR") return null; // its directory was replaced by a file since the listing
      throw err;
    }
    if (!big) return null;
    const st = statOf(big);
    if (st.kind !== "symlink") return { st };
    try {
      return { st, target: readlinkSync(abs) };
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
