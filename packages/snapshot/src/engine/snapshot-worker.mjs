// Reads, chunks, hashes and compresses files for createSnapshot (create.ts),
// so that all the per-byte work of a snapshot runs on every core while the
// main thread walks the tree, packs and uploads. Plain JavaScript, so it runs
// under any loader the parent process uses.
//
// workerData: { chunkHash (see chunk-id.mjs), root (the snapshot's directory, its real path),
//              chunker, smallFile, blockSize, flushBytes, ringBytes }
// setup:      { setup: { known: { ids, slots, mask } (the chunks the repository holds: ChunkTable.lookup()),
//              dict: { id, bytes } | null (the repository's zstd dictionary, see Repository.dictionary), level } },
//              first (the thread starts while the repository's index is read); no reply
// request:    { seq, files: [{ path, dir (its directory's identity, see openInTree), size, parent?: ChunkRef[], offset?, length?, trustLast? }] }
//             (offset/length: one segment of a big file, chunked on its own; trustLast: the parent's
//             chunks of the segment end at its end, see FileChunks). One request at a time.
// replies:    { seq, partial: true, ring, consumed, end, blobs }
//             { seq, ring, consumed, end, blobs, results: [{ size, chunks } | { vanished: true } | { error, code }] }
// A blob is a chunk new to this thread, at `offset` in its ring (see Output):
// { id, offset, length, rawLength, compressed, dict? } (dict: the dictionary's id, when compressed with it).
import { Buffer } from "node:buffer";
import { closeSync, read as readFd, readSync } from "node:fs";
import { createRequire } from "node:module";
import { promisify } from "node:util";
import { parentPort, workerData } from "node:worker_threads";
import { Chunker } from "../core/chunker.mjs";
import { chunkHasher, idPosition } from "./chunk-id.mjs";
import { openInTree } from "./walk.mjs";

const { chunker: params, chunkHash, smallFile, blockSize, flushBytes, ringBytes, root } = workerData;
const chunker = new Chunker(params);
const zstd = createRequire(import.meta.url)("zstd-napi/binding.js");
const cctx = new zstd.CCtx();
/** The repository's dictionary ({ id, bytes }) or null, and its compressed form (see setup). */
let dict = null;
let cdict = null;
const { maxSize } = chunker.params;
/**
 * The repository's chunk ids (setup's `known`: the main thread's ChunkTable,
 * its ids end to end and the table of their positions, in shared memory),
 * looked up in place (idPosition); and the ids this thread has sent since. No
 * string per id: for 100k ids a Set took each thread ~30 ms and ~8 MB to
 * build, with the snapshot's first reads waiting on it.
 */
class KnownIds {
  constructor({ ids, slots, mask }) {
    this.ids = ids;
    this.slots = slots;
    this.mask = mask;
    this.sent = new Set();
  }

  has(id) {
    return idPosition(this.ids, this.slots, this.mask, id) >= 0 || this.sent.has(id);
  }

  add(id) {
    this.sent.add(id);
  }
}
/** Chunks stored already or sent by this thread: never compressed (or sent) twice. */
let known = new KnownIds({ ids: "", slots: new Int32Array(1), mask: 0 });

/** What the thread learns once the repository's index and dictionary are read: before any request. */
function setup(msg) {
  known = new KnownIds(msg.known);
  cctx.setParameter(zstd.CParameter.compressionLevel, msg.level);
  // With a dictionary (content sampled from small files), a small file compresses at level 1 to less than at level 3
  // without: most of a snapshot's chunks are small files, and most of its CPU time is theirs.
  dict = msg.dict;
  cdict = dict ? new zstd.CDict(dict.bytes, msg.level) : null;
}
/** Runs of zero bytes up to this length are recorded as holes, not stored. */
const ZEROS = Buffer.alloc(4 * 1024 * 1024);
const EMPTY = new Uint8Array(0);
// One request at a time: a reply's `end` frees the ring up to there, so no other request may have chunks in it unsent.
let queue = Promise.resolve();
parentPort.on("message", (msg) => {
  if (msg.setup) return setup(msg.setup);
  queue = queue.then(() => run(msg)).catch((err) => parentPort.postMessage({ seq: msg.seq, error: String(err?.message ?? err) }));
});

const chunkId = chunkHasher(chunkHash);
const isZero = (data) =>
  data.length > 0 &&
  data.length <= ZEROS.length &&
  data[0] === 0 &&
  data[data.length - 1] === 0 &&
  Buffer.from(data.buffer, data.byteOffset, data.byteLength).equals(ZEROS.subarray(0, data.length));

/**
 * New chunks are compressed (or copied) straight into this thread's ring, a
 * SharedArrayBuffer the main thread copies them out of into packs; it then
 * advances `consumed` (bytes, ever growing) to the `end` the reply carried.
 * No buffer is allocated or moved per chunk.
 */
const RING = ringBytes;
const ring = new Uint8Array(new SharedArrayBuffer(RING));
const consumed = new BigInt64Array(new SharedArrayBuffer(8));
let written = 0; // bytes of the ring ever used (wrap-around skips included)
/** The most one feed() can add: a block's worth of chunks, each at its compress bound. */
const FEED_ROOM = 2 * (blockSize + maxSize);
if (FEED_ROOM > RING / 2) throw new Error(`snapshot worker: a ${RING}-byte ring cannot hold two feeds of ${FEED_ROOM} bytes`);

/** The new chunks of one request, handed over in parts while it runs. */
class Output {
  blobs = [];
  bytes = 0;

  constructor(seq) {
    this.seq = seq;
  }

  /** Records `data` as chunk `id`, compressing it if this thread has not seen it. */
  add(id, data) {
    if (known.has(id)) return;
    known.add(id);
    const room = zstd.compressBound(data.length);
    let at = written % RING;
    const skip = at + room > RING ? RING - at : 0; // no room before the end: start over at the front
    // Never past what the main thread has copied out (makeRoom() keeps a feed's worth free; this is the guard).
    if (written + skip + room - Number(Atomics.load(consumed, 0)) > RING) throw new Error("snapshot worker: output ring overflow");
    if (skip) {
      written += skip;
      at = 0;
    }
    const into = ring.subarray(at, at + room);
    let length = cdict ? cctx.compressUsingCDict(into, data, cdict) : cctx.compress2(into, data);
    // Compression that does not pay (already-compressed data) is not worth decompressing later.
    const compressed = length < data.length * 0.97;
    if (!compressed) {
      ring.set(data, at);
      length = data.length;
    }
    this.blobs.push(compressed && cdict ? { id, offset: at, length, rawLength: data.length, compressed, dict: dict.id } : { id, offset: at, length, rawLength: data.length, compressed });
    written += length;
    this.bytes += length;
  }

  /** The chunk reference for `data` (a hole, or [id, length]), storing it if new. */
  chunk(data) {
    if (isZero(data)) return { zero: data.length };
    const id = chunkId(data);
    this.add(id, data);
    return [id, data.length];
  }

  /** Before a feed: hands over what is ready if there is much of it, and waits until the ring has room for a feed. */
  async makeRoom() {
    if (this.bytes >= flushBytes) this.#post({ partial: true });
    for (;;) {
      const done = Atomics.load(consumed, 0);
      if (written - Number(done) + FEED_ROOM <= RING) return;
      if (this.blobs.length) this.#post({ partial: true });
      const wait = Atomics.waitAsync(consumed, 0, done, 1000);
      if (wait.async) await wait.value;
    }
  }

  finish(results) {
    this.#post({ results });
  }

  #post(extra) {
    parentPort.postMessage({ seq: this.seq, ring: ring.buffer, consumed: consumed.buffer, end: written, blobs: this.blobs, ...extra });
    this.blobs = [];
    this.bytes = 0;
  }
}

/** A buffer kept for reading small files whole (their chunks are consumed before the next read). */
const scratch = new Uint8Array(smallFile + 1);

/**
 * Reads a small file whole into the scratch buffer (no allocation per file);
 * returns a view of its bytes, or null if it has grown past a small file
 * since the walk (it is then streamed like a big one: a feed must fit the ring).
 */
function readSmall(f) {
  const { size } = f;
  const fd = openInTree(f.path, f.dir, root);
  try {
    let n = 0;
    for (;;) {
      const want = scratch.length - n;
      const got = readSync(fd, scratch, n, want, null);
      n += got;
      if (n > smallFile) return null;
      // Having read all the walk saw, a short read is the end: no extra read() to find it (a system call per
      // file saved). Short of that size, only a read of nothing is (a network filesystem may read short).
      if (got === 0 || (got < want && n >= size)) return scratch.subarray(0, n);
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Cuts one file's bytes into chunks as they arrive. With the parent
 * snapshot's chunk list for the same path (or segment), its chunks are first
 * checked by hash in order — an appended or partly rewritten file skips the
 * gear scan over its unchanged start (cut points depend only on the bytes
 * since the last cut, so a matching prefix cuts the same). The parent's last
 * chunk is not taken as is unless it ended at a segment's end: it ended at
 * the old end of file, not at a cut point.
 */
class FileChunks {
  chunks = [];

  /** `trustLast`: the parent's last chunk ended at a segment's end, a cut both snapshots make, not at its old end of file. */
  constructor(out, parent, trustLast = false) {
    this.out = out;
    this.usable = parent ? parent.length - (trustLast ? 0 : 1) : 0;
    this.parent = this.usable > 0 ? parent : null;
    this.next = 0;
  }

  /** Consumes chunks from the start of `data`; returns the bytes consumed. Without `eof`, a tail shorter than a maximal chunk waits for more. */
  feed(data, eof) {
    let off = 0;
    while (off < data.length && (eof || data.length - off >= maxSize)) {
      const reused = this.parent ? this.#reuse(data, off) : 0;
      if (reused) {
        off += reused;
        continue;
      }
      const len = chunker.cut(data.subarray(off), eof);
      if (len === 0) break; // no cut point before the end: wait for the next block
      this.chunks.push(this.out.chunk(data.subarray(off, off + len)));
      off += len;
    }
    return off;
  }

  /** The length of the parent's next chunk if the bytes at `off` are that chunk (it is then taken), else 0. */
  #reuse(data, off) {
    if (this.next >= this.usable) {
      this.parent = null; // the parent's list is used up: content-defined cutting from here on
      return 0;
    }
    const c = this.parent[this.next];
    const len = Array.isArray(c) ? c[1] : c.zero;
    const bytes = data.subarray(off, off + len);
    const same = bytes.length === len && (Array.isArray(c) ? chunkId(bytes) === c[0] : isZero(bytes));
    if (!same) {
      this.parent = null; // diverged: content-defined cutting from here on
      return 0;
    }
    if (Array.isArray(c)) this.out.add(c[0], bytes);
    this.chunks.push(c);
    this.next++;
    return len;
  }
}

async function run({ seq, files }) {
  const out = new Output(seq);
  const results = [];
  for (const f of files) {
    await out.makeRoom();
    try {
      let result;
      // Small files are read whole, synchronously: fewer system calls and thread hand-offs than
      // asynchronous reads, and the pool's other threads keep the disk's queue busy meanwhile.
      const data = f.size <= smallFile && !f.parent && f.offset === undefined ? readSmall(f) : null;
      if (data) {
        const chunks = new FileChunks(out, null);
        chunks.feed(data, true);
        result = { size: data.length, chunks: chunks.chunks };
      } else {
        result = await streamFile(f, out);
      }
      results.push(result);
    } catch (err) {
      // Gone, or no longer a file of this tree (a symlink now, or resolving outside it): left out, like a deleted file.
      results.push(GONE.has(err?.code) ? { vanished: true } : { error: String(err?.message ?? err), code: err?.code });
    }
  }
  out.finish(results);
}

/** Errors that mean the file is no longer one of the tree's (see openInTree; ENOTDIR: a directory above it is a file now). */
const GONE = new Set(["ENOENT", "ENOTDIR", "ELOOP", "EXDEV"]);

/** fs.read on the thread pool, as a promise of { bytesRead }. */
const readAsync = promisify(readFd);

/**
 * Three read blocks in turn, kept for the thread's life (one request, and one
 * file, at a time): one being chunked, one being read, and the one before
 * whose tail is being carried over. A chunk handed on is compressed or copied
 * into the ring: nothing keeps a view of a block.
 */
const blocks = [];

/**
 * Reads a file block by block — the next block is read while this one is
 * chunked — with `maxSize` bytes of headroom before each block, where the
 * previous block's uncut tail (always shorter than maxSize) is copied. The
 * size is what was actually read.
 */
async function streamFile(f, out) {
  const fd = openInTree(f.path, f.dir, root);
  let next = null;
  // A segment of a big file: `length` bytes from `offset` (the last segment: to the end of the file).
  const from = f.offset ?? 0;
  const limit = f.length ?? Infinity;
  try {
    let turn = 0;
    const readAt = (done) => {
      const block = (blocks[turn++ % 3] ??= new Uint8Array(maxSize + blockSize));
      const want = Math.min(blockSize, limit - done);
      const read = want === 0 ? Promise.resolve(block.subarray(0, maxSize)) : readAsync(fd, block, maxSize, want, from + done).then(({ bytesRead }) => block.subarray(0, maxSize + bytesRead));
      read.catch(() => {}); // awaited below; a failure while the previous block is chunked must not go unhandled
      return read;
    };
    const chunks = new FileChunks(out, f.parent, f.trustLast);
    let size = 0;
    let carry = EMPTY;
    next = readAt(0);
    for (;;) {
      const block = await next;
      const read = block.length - maxSize;
      const eof = read === 0;
      size += read;
      next = eof ? null : readAt(size);
      const start = maxSize - carry.length;
      block.set(carry, start);
      const data = block.subarray(start);
      carry = data.subarray(chunks.feed(data, eof));
      if (eof) return { size, chunks: chunks.chunks };
      await out.makeRoom();
    }
  } finally {
    await next?.catch(() => {});
    closeSync(fd);
  }
}
