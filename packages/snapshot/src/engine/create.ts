import { lstatSync, readlinkSync } from "node:fs";
import { open } from "node:fs/promises";
import path from "node:path";
import { Chunker } from "../core/chunker.ts";
import { isDataChunk, type ChunkRef, type Entry, type FileEntry, type Manifest } from "../core/manifest.ts";
import { sha256 } from "./codec.ts";
import { Compressor } from "./compressor.ts";
import type { PackCache } from "./pack-cache.ts";
import { PackWriter } from "./pack-writer.ts";
import { ReadAhead } from "./read-ahead.ts";
import { throttle, type Progress, type ProgressListener } from "./progress.ts";
import { RepositoryBusyError } from "./maintenance.ts";
import { newSnapshotId, type Repository } from "./repository.ts";
import { entryMeta, scan, specialKind, unchanged, type Scanned } from "./scan.ts";

export interface CreateOptions {
  repo: Repository;
  /** The directory to snapshot. */
  source: string;
  /** Incremental against this snapshot: unchanged files are not read again. */
  parentId?: string | null;
  tags?: Record<string, string>;
  cache?: PackCache;
  /** zstd level for chunks (default 3, as restic's "auto"; 1 is faster, bigger). */
  compressionLevel?: number;
  packSize?: number;
  uploadConcurrency?: number;
  onProgress?: ProgressListener;
  now?: () => Date;
  /** How long the snapshot's lock outlives a crashed writer (it is refreshed while the snapshot runs). */
  lockTtlMs?: number;
  /** Worker threads for compression. Default: cores - 1 (at least 1, at most 4). */
  compressionThreads?: number;
}

const ZEROS = Buffer.alloc(4 * 1024 * 1024);
const READ_BUFFER = 8 * 1024 * 1024;
/** Files up to this size are read ahead whole, on the thread pool; bigger ones block by block, one block ahead. */
const READ_AHEAD_MAX_FILE = 4 * 1024 * 1024;
const MAX_COMPRESSING = 64 * 1024 * 1024;

/**
 * Takes a snapshot of `source`. The commit protocol keeps the repository
 * consistent at every instant: packs first, then the index, then the
 * manifest (refusing to overwrite), then verification. A crash anywhere
 * leaves earlier snapshots intact and this one absent; its orphans are
 * removed by prune after a grace period.
 */
export async function createSnapshot(opts: CreateOptions): Promise<Manifest> {
  const now = opts.now ?? (() => new Date());
  const started = Date.now();
  const { repo } = opts;
  const source = path.resolve(opts.source);
  const rootStat = lstatSync(source, { bigint: true });
  if (!rootStat.isDirectory()) throw new Error(`${source} is not a directory`);

  const { release } = await repo.acquireLock("snapshot", opts.lockTtlMs ?? 5 * 60_000, now());
  const pruning = await repo.activeLocks(now(), "prune");
  if (pruning.length) {
    await release();
    throw new RepositoryBusyError(`the repository is being pruned (since ${pruning[0]!.createdAt}); try again in a few minutes`);
  }
  const compressor = new Compressor(opts.compressionThreads);
  const inflight = new Set<Promise<void>>(); // chunks being compressed and packed
  const writer = new PackWriter(repo, { packSize: opts.packSize ?? 16 * 1024 * 1024, concurrency: opts.uploadConcurrency ?? 3, cache: opts.cache });
  try {
    // 1. What the repository already holds, and what the parent recorded.
    const [{ chunks: known }, parent] = await Promise.all([repo.loadIndex(), opts.parentId ? repo.readManifest(opts.parentId) : null]);
    const previous = new Map<string, FileEntry>();
    for (const e of parent?.entries ?? []) if (e.type === "file") previous.set(e.path, e);

    // 2. Walk the tree (sorted, parents before children).
    const scanned = scan(source);
    const progress: Progress = {
      phase: "upload",
      files: 0,
      filesTotal: scanned.filter((s) => s.st.isFile()).length,
      bytes: 0,
      bytesTotal: scanned.reduce((sum, s) => sum + (s.st.isFile() ? Number(s.st.size) : 0), 0),
      transferredBytes: 0,
      elapsedMs: 0,
    };
    const report = throttle(opts.onProgress);
    const stats = { files: 0, dirs: 0, symlinks: 0, bytes: 0, newBytes: 0, uploadedBytes: 0, newChunks: 0, unchangedFiles: 0, skipped: [] as string[], durationMs: 0 };
    const chunker = new Chunker(repo.config.chunker);
    const level = opts.compressionLevel ?? 3;
    const pending = new Set<string>(); // chunks added by this snapshot
    const hardlinks = new Map<string, string>(); // "dev:ino" → first path
    const entries: Entry[] = [];

    // New chunks are compressed on worker threads while the walk goes on; at most
    // MAX_COMPRESSING bytes wait for compression (memory stays bounded).
    let compressing = 0;
    let failure: unknown = null;
    const addChunk = async (data: Uint8Array): Promise<ChunkRef> => {
      if (data.length <= ZEROS.length && ZEROS.subarray(0, data.length).equals(data)) return { zero: data.length };
      const id = sha256(data);
      if (!known.has(id) && !pending.has(id)) {
        pending.add(id);
        stats.newBytes += data.length;
        stats.newChunks++;
        while (compressing > MAX_COMPRESSING && !failure) await Promise.race(inflight);
        if (failure) throw failure;
        compressing += data.length;
        const job: Promise<void> = compressor
          .compress(data, level)
          .then((stored) => {
            compressing -= data.length;
            return writer.add(id, stored.data, data.length, stored.compressed);
          })
          .catch((err: unknown) => void (failure ??= err))
          .finally(() => inflight.delete(job));
        inflight.add(job);
      }
      return [id, data.length];
    };

    // 3. Entries: reuse unchanged files from the parent, read and chunk the rest.
    const reusable = (s: Scanned): FileEntry | undefined => {
      const before = previous.get(s.rel);
      return before && unchanged(before, s.st) && before.chunks.every((c) => !isDataChunk(c) || known.has(c[0])) ? before : undefined;
    };
    const readAhead = new ReadAhead(scanned, (s) =>
      s.st.isFile() && s.st.nlink === 1n && s.st.size <= READ_AHEAD_MAX_FILE && !reusable(s) ? { path: s.abs, size: Number(s.st.size) } : null,
    );
    let bytesSinceYield = 0;
    let itemsSinceYield = 0;
    for (const [index, s] of scanned.entries()) {
      const common = entryMeta(s);
      if (s.st.isDirectory()) {
        entries.push({ ...common, type: "dir" });
        stats.dirs++;
      } else if (s.st.isSymbolicLink()) {
        entries.push({ ...common, type: "symlink", target: readlinkSync(s.abs) });
        stats.symlinks++;
      } else if (s.st.isFile()) {
        const inode = `${s.st.dev}:${s.st.ino}`;
        const first = s.st.nlink > 1n ? hardlinks.get(inode) : undefined;
        if (first) {
          entries.push({ type: "hardlink", path: s.rel, link: first });
        } else {
          if (s.st.nlink > 1n) hardlinks.set(inode, s.rel);
          const before = reusable(s);
          let entry: FileEntry;
          if (before) {
            entry = { ...before, ...common, ino: Number(s.st.ino), ctimeNs: s.st.ctimeNs.toString() };
            stats.unchangedFiles++;
          } else {
            const read = await readAhead
              .take(index)
              .then((whole) => (whole === undefined ? readFileChunks(s.abs, chunker, addChunk) : whole && chunkBuffer(whole, chunker, addChunk)))
              .catch((err: NodeJS.ErrnoException) => {
                if (err.code === "ENOENT") return null; // deleted since the walk: a live session's temp file
                throw new Error(`read ${s.rel}`, { cause: err });
              });
            if (!read) {
              stats.skipped.push(`${s.rel} (vanished during the snapshot)`);
              continue;
            }
            const { chunks, size } = read;
            entry = { ...common, type: "file", size, chunks, ino: Number(s.st.ino), ctimeNs: s.st.ctimeNs.toString() };
            bytesSinceYield += size;
          }
          entries.push(entry);
          stats.bytes += entry.size;
          progress.bytes += entry.size;
        }
        stats.files++;
        progress.files++;
      } else {
        stats.skipped.push(`${s.rel} (${specialKind(s.st)})`);
      }
      progress.transferredBytes = writer.uploadedBytes;
      progress.elapsedMs = Date.now() - started;
      report(progress);
      // Sync reads are fastest for many small files; yield so uploads keep flowing.
      if (bytesSinceYield > 4 * 1024 * 1024 || ++itemsSinceYield >= 256) {
        bytesSinceYield = 0;
        itemsSinceYield = 0;
        await new Promise((r) => setImmediate(r));
      }
    }

    // 4. Commit: packs, then index, then manifest.
    await Promise.all(inflight);
    if (failure) throw failure;
    const packs = await writer.finish();
    let uploaded = writer.uploadedBytes;
    if (packs.length) uploaded += (await repo.writeIndex({ version: 1, packs })).bytes;
    const manifest: Manifest = {
      version: 1,
      id: newSnapshotId(now()),
      parent: parent?.id ?? null,
      createdAt: now().toISOString(),
      tags: opts.tags ?? {},
      stats: { ...stats, uploadedBytes: uploaded, durationMs: Date.now() - started },
      entries,
    };
    uploaded += await repo.writeManifest(manifest);
    manifest.stats.uploadedBytes = uploaded;

    // 5. Verify: the manifest reads back, and every chunk it names is indexed and its pack stored.
    progress.phase = "verify";
    report(progress, true);
    await verifyCommitted(repo, manifest, new Set(packs.map((p) => p.id)));
    manifest.stats.durationMs = Date.now() - started;
    progress.phase = "finish";
    progress.elapsedMs = Date.now() - started;
    report(progress, true);
    return manifest;
  } catch (err) {
    await Promise.allSettled(inflight);
    await writer.abort();
    throw err;
  } finally {
    await compressor.close();
    await release().catch(() => {});
  }
}

/** Cuts a whole file's content into content-defined chunks. */
async function chunkBuffer(data: Buffer, chunker: Chunker, addChunk: (data: Uint8Array) => Promise<ChunkRef>) {
  const chunks: ChunkRef[] = [];
  for (let off = 0; off < data.length; ) {
    const len = chunker.cut(data.subarray(off), true);
    chunks.push(await addChunk(data.subarray(off, off + len)));
    off += len;
  }
  return { chunks, size: data.length };
}

/**
 * Reads a file block by block — the next block is read while this one is
 * chunked, hashed and packed — and cuts it into content-defined chunks. The
 * size is what was actually read. Blocks are never reused, so chunks may
 * point into them.
 */
async function readFileChunks(file: string, chunker: Chunker, addChunk: (data: Uint8Array) => Promise<ChunkRef>) {
  const fh = await open(file, "r");
  const { maxSize } = chunker.params;
  let next: Promise<Buffer> | null = null;
  try {
    const blockSize = Math.max(1, Math.min(READ_BUFFER, Number((await fh.stat()).size) + 1));
    // Each block is read after `maxSize` bytes of headroom, where the previous block's uncut tail
    // (always shorter than maxSize) is copied: only that tail is ever copied, never the block.
    const readAt = (position: number) => {
      const block = Buffer.allocUnsafe(maxSize + blockSize);
      const read = fh.read(block, maxSize, blockSize, position).then(({ bytesRead }) => block.subarray(0, maxSize + bytesRead));
      // Handled now (it is awaited later): a read that fails while the last block is still being packed must fail
      // this snapshot, not surface as an unhandled rejection that ends the process.
      read.catch(() => {});
      return read;
    };
    const chunks: ChunkRef[] = [];
    let size = 0;
    let carry: Buffer = Buffer.alloc(0); // bytes after the last cut point, waiting for more
    next = readAt(0);
    for (;;) {
      const block = await next;
      const read = block.length - maxSize;
      const eof = read === 0;
      size += read;
      if (!eof) next = readAt(size);
      const start = maxSize - carry.length;
      carry.copy(block, start);
      const data = block.subarray(start);
      let off = 0;
      // Less than a maximal chunk left: its cut point may depend on bytes not read yet (and scanning now would be wasted).
      while (off < data.length && (eof || data.length - off >= maxSize)) {
        const len = chunker.cut(data.subarray(off), eof);
        if (len === 0) break; // no cut point before the end: wait for the next block
        chunks.push(await addChunk(data.subarray(off, off + len)));
        off += len;
      }
      carry = data.subarray(off);
      if (eof) return { chunks, size };
    }
  } finally {
    await next?.catch(() => {}); // a block read ahead when chunking failed: settled before the file closes
    await fh.close();
  }
}

/**
 * After commit: the manifest reads back, every chunk it names is indexed, and
 * the packs this snapshot wrote exist with their full size (earlier packs
 * were verified by the snapshots that wrote them; `check` re-verifies all).
 */
export async function verifyCommitted(repo: Repository, manifest: Manifest, newPacks: ReadonlySet<string>): Promise<void> {
  const back = await repo.readManifest(manifest.id);
  if (back.entries.length !== manifest.entries.length) throw new Error(`verify snapshot ${manifest.id}: manifest read back differs`);
  const { chunks, packs } = await repo.loadIndex();
  const needed = new Set<string>();
  for (const e of back.entries) {
    if (e.type !== "file") continue;
    for (const c of e.chunks) {
      if (!isDataChunk(c)) continue;
      const loc = chunks.get(c[0]);
      if (!loc) throw new Error(`verify snapshot ${manifest.id}: chunk ${c[0]} of ${e.path} is in no index`);
      needed.add(loc.pack);
    }
  }
  for (const id of needed) {
    if (!newPacks.has(id)) continue;
    const head = await repo.store.head(`packs/${id.slice(0, 2)}/${id}`);
    if (!head || head.size !== packs.get(id)?.size) throw new Error(`verify snapshot ${manifest.id}: pack ${id} is missing or truncated`);
  }
}
