// The tree walk in JavaScript (walkTree: what TreeScan runs where the native
// walk, native/walk.c, is not built, and what tests compare it with), and how
// files of a walked tree are opened. Plain JavaScript, so worker threads run
// it under any loader the parent process uses. Types: walk.d.mts.
import { closeSync, constants, existsSync, fstatSync, lstatSync, openSync, readdirSync, readlinkSync, realpathSync } from "node:fs";
import path from "node:path";

/** What identifies a file or directory: "dev:ino" of its (bigint) stat, exact (inode numbers can pass 2^53). */
export const devInoOf = (st) => `${st.dev}:${st.ino}`;

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
    devIno: devInoOf(st),
    nlink: Number(st.nlink),
    mtimeNs: st.mtimeNs.toString(),
    ctimeNs: st.ctimeNs.toString(),
  };
}

/**
 * The tree under `root`, lazily: depth-first, names sorted, parents before
 * children (the order of a manifest's entries). A symlink comes with its
 * target. Nothing there: nothing walked.
 */
export function* walkTree(root) {
  const abs = realPath(path.resolve(root));
  const st = lstatSync(abs, { bigint: true, throwIfNoEntry: false });
  if (st?.isDirectory()) yield* walkUnder(abs, devInoOf(st));
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

/** What identifies the directory or file at `abs` ("dev:ino", as Stat.devIno), null if nothing is there. */
export function identityOf(abs) {
  const st = lstatSync(abs, { bigint: true, throwIfNoEntry: false });
  return st ? devInoOf(st) : null;
}

/**
 * The walk of walkTree under directory `abs` (a real path), if it is the
 * directory with identity `id` (see identityOf): else it fails (ECHANGED).
 *
 * Each directory is read through itself, and only if it is the directory
 * the walk saw (see readDir): nothing outside the tree is listed or looked
 * at, whatever a session swaps meanwhile. Each entry comes with its
 * directory's identity (`dir`), by which its file is opened later (see
 * openInTree). One explicit stack, not a generator per directory.
 * `onListing(dir)` (tests) runs after each listing, before its entries are
 * looked at.
 */
export function* walkUnder(abs, id, onListing) {
  const stack = [];
  const enter = (abs, rel, id) => {
    const dir = abs === "/" ? "" : abs;
    const found = readDir(dir, id, onListing);
    if (found) stack.push({ abs: dir, rel, id, found, next: 0 });
    return found !== null;
  };
  if (!enter(abs, "", id)) throw Object.assign(new Error(`${abs} was moved or replaced as its walk began`), { code: "ECHANGED" });
  while (stack.length) {
    const top = stack[stack.length - 1];
    if (top.next === top.found.length) {
      stack.pop();
      continue;
    }
    const [name, found] = top.found[top.next];
    top.found[top.next++] = undefined; // yielded: not kept while the walk goes on below
    const abs = `${top.abs}/${name}`;
    const rel = top.rel ? `${top.rel}/${name}` : name;
    yield { rel, abs, dir: top.id, ...found };
    if (found.st.kind === "dir") enter(abs, rel, found.st.devIno);
  }
}

/** This process's open files by number, where the kernel takes `<n>/<name>` as `name` inside open directory n. */
const OPEN_FILES = existsSync("/proc/self/fd") ? "/proc/self/fd/" : null;
const DIRECTORY = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/**
 * Opens directory `dir` ("" for "/") if it is the one with identity `id`
 * (see identityOf; the walk takes it from the directory's lstat, made
 * inside its verified parent), else returns null: it was moved, removed, or
 * its path now leads elsewhere (through a symlink swapped in above it, or a
 * mount). Identity, not the path the kernel reports: another mount
 * namespace's directory can report the same path text.
 */
function openDirectory(dir, id) {
  let fd;
  try {
    fd = openSync(dir || "/", DIRECTORY);
  } catch (err) {
    if (err.code === "ENOENT" || err.code === "ENOTDIR" || err.code === "ELOOP") return null;
    throw err;
  }
  if (devInoOf(fstatSync(fd, { bigint: true })) === id) return fd;
  closeSync(fd);
  return null;
}

/**
 * The entries of directory `dir` ("" for "/"), identity `id`, sorted, each
 * with its lstat (and a symlink's target); null if it is not the directory
 * the walk saw (see openDirectory). `onListing(dir)`: see walkUnder.
 *
 * On Linux it is listed and its entries looked at through the open
 * directory (/proc/self/fd/<n>/<name>, which the kernel resolves inside it),
 * so a directory swapped for a symlink, or one above it, while the walk runs
 * never leads it out of the tree. (Elsewhere, by path.)
 */
function readDir(dir, id, onListing) {
  if (!OPEN_FILES) return listed(readdirOf(dir), onListing, dir, `${dir}/`);
  const fd = openDirectory(dir, id);
  if (fd === null) return null;
  const inside = `${OPEN_FILES}${fd}/`;
  try {
    return listed(readdirOf(inside), onListing, dir, inside);
  } catch (err) {
    throw shownAt(err, inside, `${dir}/`);
  } finally {
    closeSync(fd);
  }
}

/** `err` with the path it names under `inside` (/proc/self/fd/<n>/) shown under `dir` (the path the walk knows). */
function shownAt(err, inside, dir) {
  if (typeof err?.message === "string") err.message = err.message.replaceAll(inside, dir);
  if (typeof err?.path === "string" && err.path.startsWith(inside)) err.path = dir + err.path.slice(inside.length);
  return err;
}

function readdirOf(dir) {
  try {
    return readdirSync(dir || "/").sort();
  } catch (err) {
    if (err.code !== "ENOENT" && err.code !== "ENOTDIR") throw err;
    return []; // removed since it was opened
  }
}

/** The entries named, looked at as `${at}${name}`; those gone meanwhile left out. */
function listed(names, onListing, dir, at) {
  onListing?.(dir || "/");
  const found = [];
  for (const name of names) {
    const seen = look(at + name);
    if (seen) found.push([name, seen]);
  }
  return found;
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
 * The lstat of `file` (bigint), looked at through its directory as the walk
 * saw it (identity `dirId`, see openDirectory); null if it or its directory
 * is gone or not what the walk saw. (Without /proc: by path.)
 */
export function lstatInTree(file, dirId) {
  if (!OPEN_FILES) return lstatSync(file, { bigint: true, throwIfNoEntry: false }) ?? null;
  const slash = file.lastIndexOf("/");
  const fd = openDirectory(file.slice(0, slash), dirId);
  if (fd === null) return null;
  try {
    return lstatSync(`${OPEN_FILES}${fd}/${file.slice(slash + 1)}`, { bigint: true, throwIfNoEntry: false }) ?? null;
  } finally {
    closeSync(fd);
  }
}

/** The directory this thread opened files in last (its path and identity), kept open for the next file there. */
let lastDirectory = null;

/** Closes the directory openInTree keeps open on this thread, if any. */
export function closeTreeDirectory() {
  if (lastDirectory) closeSync(lastDirectory.fd);
  lastDirectory = null;
}

/**
 * Opens file `file` of the tree under `root` (real path) for reading, through
 * its directory as the walk saw it (identity `dirId`, see openDirectory): a
 * file in a directory that was moved, or whose path now leads elsewhere, is
 * not opened (ENOENT: gone), and a symlink put in the file's place is not
 * followed (ELOOP). A file replaced in its directory since the walk (an
 * editor's atomic save) is read as it is now. The directory stays open for
 * the thread's next file: files come in walk order, directory by directory.
 * (Without /proc: openUnder.)
 */
export function openInTree(file, dirId, root) {
  if (!OPEN_FILES) return openUnder(file, root);
  const slash = file.lastIndexOf("/");
  const dir = file.slice(0, slash);
  if (lastDirectory?.dir !== dir || lastDirectory.id !== dirId) {
    closeTreeDirectory();
    const fd = openDirectory(dir, dirId);
    if (fd === null) throw Object.assign(new Error(`${dir || "/"} is not the directory the walk saw (moved or replaced): ${file} not read`), { code: "ENOENT" });
    lastDirectory = { dir, id: dirId, fd };
  }
  const inside = `${OPEN_FILES}${lastDirectory.fd}/`;
  try {
    return openSync(inside + file.slice(slash + 1), NO_FOLLOW);
  } catch (err) {
    throw shownAt(err, inside, `${dir}/`);
  }
}

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
