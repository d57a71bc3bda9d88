// Decompresses, verifies (the chunk's id, see chunk-id.mjs) and writes restored chunks off the main
// thread (see restoreSnapshot in restore.ts): the main thread fetches packs. Plain JavaScript, so
// it runs under any loader the parent process uses.
// workerData: { chunkHash, creator: { uid, gid, umask } (what a file this process creates gets),
//              maxChunk (the repository chunker's maximum: no chunk is bigger) }
// messages:   { dicts: { [id]: bytes } } (the dictionaries the snapshot's chunks were compressed with,
//              before any pack that needs them; no reply), then { seq, prepare } or { seq, pack, buffers, blobs }
import { Buffer } from "node:buffer";
import { closeSync, constants, fchmodSync, fchownSync, ftruncateSync, futimesSync, mkdirSync, openSync, writeFileSync, writeSync } from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { parentPort, workerData } from "node:worker_threads";
import { chunkHasher } from "./chunk-id.mjs";

const zstd = createRequire(import.meta.url)("zstd-napi/binding.js");
const dctx = new zstd.DCtx();
const chunkId = chunkHasher(workerData.chunkHash);
const ddicts = new Map();
/** Chunks decompress into this buffer (grown as needed): they are written before the next one is. */
let scratch = Buffer.alloc(0);

/** A stored chunk's raw bytes (a view of the scratch buffer), or null if they do not decompress to `rawLength`. */
function unpack(stored, b) {
  if (!b.compressed) return stored;
  if (b.rawLength > workerData.maxChunk) return null; // a damaged index: not worth the allocation
  if (scratch.length < b.rawLength) scratch = Buffer.allocUnsafeSlow(Math.max(b.rawLength, 2 * scratch.length));
  const into = scratch.subarray(0, b.rawLength);
  try {
    if (!b.dict) return into.subarray(0, dctx.decompress(into, stored));
    const ddict = ddicts.get(b.dict);
    return ddict ? into.subarray(0, dctx.decompressUsingDDict(into, stored, ddict)) : null;
  } catch {
    return null; // not a zstd frame, or more than rawLength bytes: as corrupt as a hash mismatch
  }
}

const BLOCK = 64 * 1024;
const ZERO_BLOCK = Buffer.alloc(BLOCK);

/** Writes `buf` at `offset` into a pre-sized file, leaving all-zero blocks as holes (sparse files stay sparse). */
function writeSkippingZeros(fd, buf, offset) {
  let start = -1; // start of the pending run of data blocks
  for (let at = 0; at < buf.length; at += BLOCK) {
    const end = Math.min(at + BLOCK, buf.length);
    const zero = ZERO_BLOCK.subarray(0, end - at).equals(buf.subarray(at, end));
    if (!zero && start < 0) start = at;
    if (zero && start >= 0) {
      writeSync(fd, buf, start, at - start, offset + start);
      start = -1;
    }
  }
  if (start >= 0) writeSync(fd, buf, start, buf.length - start, offset + start);
}

/**
 * Opens a file of the restore directory to write, creating the directories it
 * lies in if they are not there yet: they are made as the packs that fill
 * them are written, not all before the first (see restore.ts). Only
 * directories of the manifest are made (it names every file's parent as a
 * directory), and nothing in the restore directory is a symlink yet.
 */
function openCreating(file, flags, mode = 0o600) {
  try {
    return openSync(file, flags, mode);
  } catch (err) {
    if (err.code !== "ENOENT") throw err;
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 }); // writable while we fill it; final modes at the end
    return openSync(file, flags, mode);
  }
}

const WRITE = constants.O_WRONLY | constants.O_CREAT;

const { creator } = workerData;

/**
 * Writes a one-chunk file and sets its owner, mode and mtime through the open
 * file (no path lookups after). It is created with its permission bits (the
 * restore directory is ours alone until it is swapped in), so the common case
 * — owned by whoever restores, a mode the umask leaves whole, no set-id bits —
 * needs neither fchown nor fchmod: 100k system calls fewer for 50k files.
 */
function writeWhole(t, raw) {
  const fd = openCreating(t.file, WRITE | constants.O_TRUNC, t.meta ? t.meta.mode & 0o777 : 0o600);
  try {
    writeFileSync(fd, raw);
    if (t.meta) {
      const chown = t.meta.uid !== null && (t.meta.uid !== creator.uid || t.meta.gid !== creator.gid);
      if (chown) fchownSync(fd, t.meta.uid, t.meta.gid);
      // After chown, which clears set-id bits; and where open's mode lost bits to the umask, or had none to carry.
      if (chown || (t.meta.mode & 0o7777) !== (t.meta.mode & 0o777 & ~creator.umask)) fchmodSync(fd, t.meta.mode);
      futimesSync(fd, t.meta.mtime, t.meta.mtime);
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Alongside the first packs: every directory (parents first; those a pack
 * needed exist already), and the files no pack writes (empty, or holes only),
 * sized.
 */
function prepare({ dirs, dataless }) {
  for (const dir of dirs) mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const [file, size] of dataless) {
    const fd = openSync(file, "w", 0o600);
    try {
      ftruncateSync(fd, size);
    } finally {
      closeSync(fd);
    }
  }
}

parentPort.on("message", ({ seq, pack, buffers, blobs, prepare: layout, dicts }) => {
  if (dicts) {
    for (const [id, bytes] of Object.entries(dicts)) ddicts.set(id, new zstd.DDict(bytes));
    return;
  }
  if (layout) {
    try {
      prepare(layout);
      parentPort.postMessage({ seq });
    } catch (err) {
      parentPort.postMessage({ seq, error: String(err && err.message ? err.message : err), code: err && err.code });
    }
    return;
  }
  let written = 0;
  try {
    for (const b of blobs) {
      const stored = Buffer.from(buffers[b.buf], b.offset, b.length);
      const raw = unpack(stored, b);
      if (!raw || raw.length !== b.rawLength || chunkId(raw) !== b.id) {
        parentPort.postMessage({ seq, corrupt: `chunk ${b.id} in pack ${pack} is corrupt (hash mismatch); run check` });
        return;
      }
      for (const t of b.targets) {
        if (t.whole) writeWhole(t, raw);
        else {
          // A file of several chunks is sized by whichever of its chunks comes first (the others find it so),
          // so that holes stay holes and only data chunks are written.
          const fd = openCreating(t.file, WRITE);
          try {
            ftruncateSync(fd, t.size);
            writeSkippingZeros(fd, raw, t.offset);
          } finally {
            closeSync(fd);
          }
        }
        written += raw.length;
      }
    }
    parentPort.postMessage({ seq, written });
  } catch (err) {
    parentPort.postMessage({ seq, error: String(err && err.message ? err.message : err), code: err && err.code });
  }
});
