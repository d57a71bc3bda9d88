import { closeSync, lstatSync, readSync, realpathSync } from "node:fs";
import { availableParallelism } from "node:os";
import path from "node:path";
import { chunkLength, isDataChunk, type ChunkRef, type Entry, type FileEntry, type HardlinkEntry, type Manifest } from "../core/manifest.ts";
import type { IndexFile } from "../core/pack.ts";
import type { PackCache } from "./pack-cache.ts";
import { PackWriter } from "./pack-writer.ts";
import { WorkerPool } from "./worker-pool.ts";
import { throttle, type Progress, type ProgressListener } from "./progress.ts";
import { CorruptObjectError } from "./codec.ts";
import { RepositoryBusyError } from "./maintenance.ts";
import { decodeManifest, type Item, type ParentManifest } from "./manifest-codec.ts";
import { keys, mapLimit, newSnapshotId, type Dictionary, type Repository } from "./repository.ts";
import { entryMeta, Lookahead, sameRecord, TreeScan, type Scanned, type Walked } from "./scan.ts";
import { closeTreeDirectory, devInoOf, lstatInTree, openInTree, statOf } from "./walk.mjs";

export interface CreateOptions {
  repo: Repository;
  /** The directory to snapshot. */
  source: string;
  /** Incremental against this snapshot: unchanged files are not read again. */
  parentId?: string | null;
  tags?: Record<string, string>;
  cache?: PackCache;
  /**
   * zstd level for chunks. Default 1 with the repository's dictionary (it
   * stores less than level 3 without one, in less time: docs/snapshot.md),
   * 3 without one.
   */
  compressionLevel?: number;
  packSize?: number;
  uploadConcurrency?: number;
  onProgress?: ProgressListener;
  now?: () => Date;
  /** How long the snapshot's lock outlives a crashed writer (it is refreshed while the snapshot runs). */
  lockTtlMs?: number;
  /** Files bigger than this are read in segments of this size on several threads (default SEGMENT, 64 MiB; tests use small ones). */
  segmentSize?: number;
  /** How long to wait for a prune in progress to end before giving up (default 2 minutes). */
  waitForPruneMs?: number;
  /**
   * Worker threads that read, chunk, hash and compress (each has a 64 MiB
   * output ring). Default: two per core, 2 to 8; one per core, at least 2,
   * for an incremental snapshot, which reads only what changed: its walk and
   * the main thread need the cores more (the bench's incremental: 1.29 s instead of 1.35 s; a
   * first snapshot with two threads on two cores takes ~5% longer than with four).
   */
  threads?: number;
  /**
   * The walk of `source`, if it was started already (a CLI starts it before it
   * loads the rest of the engine and opens the repository: that overlaps ~0.15 s
   * of start-up). The snapshot closes it, whatever happens.
   */
  scan?: TreeScan;
}

/** Files up to this size are read whole (a request's small files all at once); bigger ones stream block by block. */
const SMALL_FILE = 4 * 1024 * 1024;
const READ_BLOCK = 8 * 1024 * 1024;
/** A request's files: up to this many, or this many bytes (a big file ends its request). */
const BATCH_FILES = 64;
const BATCH_BYTES = 8 * 1024 * 1024;
/**
 * Files bigger than this are read in segments of this size, each chunked on
 * its own by whichever thread is free: a 10 GB checkpoint is not one thread's
 * task while the others idle. Segments start at fixed offsets, so they fall
 * alike in every snapshot of a file (an edit costs at most the chunks of its
 * own segment's edges in dedup).
 */
const SEGMENT = 64 * 1024 * 1024;
/** Entries are encoded into the manifest this many at a time, at least, as they are complete. */
const ENCODE_BATCH = 4096;
/** Requests queued per thread: the next one's reads run while a thread works on its current one. */
const JOBS_PER_THREAD = 2;
/** A thread hands over its new chunks at least every this many (compressed) bytes. */
const FLUSH_BYTES = 8 * 1024 * 1024;
/** Each thread's output ring (shared memory), which the main thread empties into packs. */
const RING_BYTES = 64 * 1024 * 1024;
/**
 * A repository's dictionary is sampled by its first snapshot: the first
 * DICT_SAMPLE bytes of each small source or text file (SAMPLED) the walk
 * meets first, up to DICT_BYTES (at most DICT_WALK entries are looked at);
 * none if there are fewer than DICT_MIN bytes to sample. Hidden files and
 * directories that hold credentials (.ssh, .aws…) are never sampled, nor
 * configuration files (.env, .json, .yaml…): the dictionary lives as long
 * as any chunk of the project uses it, past the snapshots it was sampled
 * from. zstd matches each small file against it, as if the file came after
 * that content in one stream.
 */
const DICT_SAMPLE = 4096;
const DICT_BYTES = 256 * 1024;
const DICT_MIN = 16 * 1024;
const DICT_WALK = 20_000;
const SAMPLED = /\.(py|pyi|pyx|pxd|js|mjs|cjs|ts|tsx|jsx|c|h|cc|cpp|hpp|cu|java|scala|go|rs|r|jl|sh|md|rst|txt|html|css|tex)$/i;
const SECRET_DIRS = new Set([".ssh", ".gnupg", ".aws", ".azure", ".docker", ".kube", ".password-store", ".netrc", "gcloud", "secrets"]);

/** A chunk new to the thread that sent it, at `offset` in that thread's ring (see snapshot-worker.mjs). */
interface Blob {
  id: string;
  offset: number;
  length: number;
  rawLength: number;
  compressed: boolean;
  dict?: string;
}
interface Output {
  ring: SharedArrayBuffer;
  consumed: SharedArrayBuffer;
  end: number;
  blobs: Blob[];
}
type FileResult = { size: number; chunks: ChunkRef[] } | { vanished: true } | { error: string; code?: string };
type WorkerReply = (Output & { error?: undefined; results: FileResult[] }) | { error: string; results?: undefined };

/**
 * Takes a snapshot of `source`. The commit protocol keeps the repository
 * consistent at every instant: packs first, then the index, then the
 * manifest (refusing to overwrite), then verification. A crash anywhere
 * leaves earlier snapshots intact and this one absent; its orphans are
 * removed by prune after a grace period.
 */
export async function createSnapshot(opts: CreateOptions): Promise<Manifest> {
  try {
    return await snapshot(opts);
  } finally {
    await opts.scan?.close();
  }
}

async function snapshot(opts: CreateOptions): Promise<Manifest> {
  const now = opts.now ?? (() => new Date());
  const started = Date.now();
  const { repo } = opts;
  const source = path.resolve(opts.source);
  if (opts.scan && opts.scan.root !== source) throw new Error(`the walk given is of ${opts.scan.root}, not of ${source}`);
  const rootStat = lstatSync(source, { bigint: true });
  if (!rootStat.isDirectory()) throw new Error(`${source} is not a directory`);
  const realRoot = realpathSync(source); // files are read through their directories as the walk saw them (openInTree; without /proc, only where they still resolve under this: openUnder)

  // The parent is read meanwhile (a manifest never changes; what the repository holds is read once the lock is).
  const parentRead = opts.parentId ? repo.readParent(opts.parentId) : null;
  parentRead?.catch(() => {}); // (awaited below; a failure to take the lock must not leave it unhandled)
  // A prune in progress (it never starts while a snapshot holds its lock) is waited for, up to a limit:
  // deleting one session must not fail another's park.
  const giveUpAt = Date.now() + (opts.waitForPruneMs ?? 2 * 60_000);
  let release: () => Promise<void>;
  for (let delay = 250; ; delay = Math.min(5000, 2 * delay)) {
    ({ release } = await repo.acquireLock("snapshot", opts.lockTtlMs ?? 5 * 60_000, now()));
    const pruning = await repo.activeLocks(now(), "prune").catch(async (err: unknown) => {
      await release().catch(() => {});
      throw err;
    });
    if (!pruning.length) break;
    await release();
    if (Date.now() + delay > giveUpAt) throw new RepositoryBusyError(`the repository is being pruned (since ${pruning[0]!.createdAt}); try again in a few minutes`);
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
  let scan: TreeScan | null = null;
  const writer = new PackWriter(repo, { packSize: opts.packSize ?? 16 * 1024 * 1024, concurrency: opts.uploadConcurrency ?? 3, cache: opts.cache });
  let workers: WorkerPool | null = null;
  const threads = opts.threads ?? Math.max(2, Math.min(8, (opts.parentId ? 1 : 2) * availableParallelism()));
  const running = new Set<Promise<void>>(); // requests on the worker threads
  try {
    // The walk starts now (unless it has already), on threads of its own: it overlaps loading the index and the parent.
    scan = opts.scan ?? new TreeScan(source);
    if (scan.rootId !== null && scan.rootId !== devInoOf(rootStat)) throw new Error(`${source} was replaced since its walk began; try again`);
    // So do the threads that read files (they are told what the repository holds once it is read, see step 3).
    workers = new WorkerPool(new URL("./snapshot-worker.mjs", import.meta.url), threads, "snapshot", {
      chunkHash: repo.chunkHash,
      root: realRoot,
      chunker: repo.config.chunker,
      smallFile: SMALL_FILE,
      blockSize: READ_BLOCK,
      flushBytes: FLUSH_BYTES,
      ringBytes: RING_BYTES,
    });
    // 1. What the repository already holds, and what the parent recorded.
    const [index, parent, found] = await Promise.all([repo.loadIndex(), parentRead, repo.dictionary()]);
    const known = index.chunks;
    // A parent's record is trusted if it is not racy and the repository still holds its chunks; the walk yields a
    // file whose lstat matches a trusted record as just that record's number.
    const compared = parent && parent.comparable(settledSince(parent.head.scanStartedNs), known);
    scan.compareWith(compared);
    // The walk is looked ahead of once, by a new repository's first snapshot, for the dictionary's sample.
    const tree = new Lookahead(scan);
    const dict =
      found ??
      (await sampleDictionary(repo, tree, realRoot).catch((err: unknown) => {
        if (err instanceof CorruptObjectError) return null; // the same sample stored already, damaged: this snapshot goes without
        throw err;
      }));

    // 2. Walk the tree (sorted, parents before children) and hand its files to the workers as they come:
    //    reading overlaps the walk. The totals grow until the walk is done.
    const progress: Progress = { phase: "scan", files: 0, filesTotal: 0, bytes: 0, bytesTotal: 0, transferredBytes: 0, elapsedMs: 0 };
    const report = throttle(opts.onProgress);
    const stats = { files: 0, dirs: 0, symlinks: 0, bytes: 0, newBytes: 0, uploadedBytes: 0, newChunks: 0, unchangedFiles: 0, skipped: [] as string[], durationMs: 0 };
    const hardlinks = new Map<string, string>(); // "dev:ino" → first path
    const linkDirs = new Map<string, string>(); // a hardlink entry's path → its directory's identity (see Scanned.dir)
    let entries: Item[] = []; // (a number: the parent's entry, unchanged)
    const vanished = new Set<string>(); // files deleted since the walk: left out, with their hardlinks
    // The manifest's entries are encoded as they come, while files are still read (ManifestEncoder); a file's
    // once its chunks are all back.
    const encoder = repo.manifestEncoder(parent);
    const reading = new Set<Item>();
    const complete = (e: Item) => !reading.has(e);

    // 3. Reading, chunking, hashing and compressing run on the worker threads (started above); here, new chunks go
    //    into packs. The ids they are told of go end to end in one string: one copy per thread, not 50k strings each.
    workers.broadcast({ setup: { known: known.lookup(), dict, level: opts.compressionLevel ?? (dict ? 1 : 3) } });
    const pending = new Set<string>(); // chunks added by this snapshot (two threads may both send one)
    let packing: Promise<void> = Promise.resolve();
    // Each reply's chunks are copied into packs, in arrival order; then (always, even when the snapshot has
    // failed) the thread may reuse its ring up to the reply's end, so no thread waits forever for room.
    const pack = (out: Output): Promise<void> => {
      const done = packing
        .then(async () => {
          if (failure) throw failure;
          const ring = new Uint8Array(out.ring);
          for (const b of out.blobs) {
            if (known.has(b.id) || pending.has(b.id)) continue;
            pending.add(b.id);
            stats.newBytes += b.rawLength;
            stats.newChunks++;
            await writer.add(b.id, ring.subarray(b.offset, b.offset + b.length), b.rawLength, b.compressed, b.dict);
          }
        })
        .finally(() => {
          const consumed = new BigInt64Array(out.consumed);
          Atomics.store(consumed, 0, BigInt(out.end));
          Atomics.notify(consumed, 0);
        });
      packing = done.catch(() => {});
      return done;
    };
    let failure: unknown = null;
    // A file is read in one piece, or in segments (see SEGMENT); its entry is complete when all are back.
    interface Reading {
      entry: FileEntry;
      s: Scanned;
      parts: FileResult[];
      /** Each part's length as sent (segments), to tell a part cut short. */
      lengths: number[];
      left: number;
    }
    interface Piece {
      file: Reading;
      part: number;
      bytes: number;
      offset?: number;
      length?: number;
      parent?: readonly ChunkRef[];
      trustLast?: boolean;
    }
    const finish = ({ entry, s, parts, lengths }: Reading) => {
      progress.files++;
      reading.delete(entry);
      if (parts.some((r) => "vanished" in r)) return void vanished.add(entry.path);
      entry.chunks = [];
      entry.size = 0;
      for (const [i, r] of parts.entries()) {
        if ("vanished" in r) continue; // (handled above)
        if ("error" in r) throw Object.assign(new Error(`read ${s.rel}: ${r.error}`), { code: r.code });
        entry.chunks = entry.chunks.concat(r.chunks);
        entry.size += r.size;
        if (i < parts.length - 1 && r.size < lengths[i]!) {
          // Shorter than its segment: the file was cut while it was read. Later segments may hold bytes
          // from after that, at offsets that no longer follow: keep the consistent start only.
          stats.skipped.push(`${s.rel} (changed while it was read: its first ${entry.size} bytes are kept)`);
          break;
        }
      }
      stats.bytes += entry.size;
      progress.bytes += entry.size;
    };
    let batch: Piece[] = [];
    let batchBytes = 0;
    const send = async () => {
      const pieces = batch;
      batch = [];
      batchBytes = 0;
      while (running.size >= threads * JOBS_PER_THREAD && !failure) await Promise.race(running);
      if (failure) throw failure;
      const files = pieces.map((p) => ({ path: p.file.s.abs, dir: p.file.s.dir, size: p.file.s.st.size, parent: p.parent, offset: p.offset, length: p.length, trustLast: p.trustLast }));
      const request: Promise<void> = workers!
        .run<WorkerReply>({ files }, [], (partial) => void pack(partial as unknown as Output).catch((err: unknown) => void (failure ??= err)))
        .then(async (reply) => {
          if (reply.error !== undefined) throw new Error(reply.error);
          await pack(reply);
          for (const [i, r] of reply.results.entries()) {
            const { file, part } = pieces[i]!;
            file.parts[part] = r;
            if (--file.left === 0) finish(file);
          }
          progress.transferredBytes = writer.uploadedBytes;
          progress.elapsedMs = Date.now() - started;
          report(progress);
          encoder.settle(complete);
        })
        .catch((err: unknown) => void (failure ??= err))
        .finally(() => running.delete(request));
      running.add(request);
    };
    const read = async (entry: FileEntry, s: Scanned, before: FileEntry | undefined) => {
      const size = s.st.size;
      const segment = opts.segmentSize ?? SEGMENT;
      const count = Math.max(1, Math.ceil(size / segment));
      const file: Reading = { entry, s, parts: [], lengths: [], left: count };
      reading.add(entry);
      for (let part = 0; part < count; part++) {
        let piece: Piece;
        if (count === 1) piece = { file, part, bytes: size, ...(before && before.chunks.length > 1 ? { parent: before.chunks } : {}) };
        else {
          const offset = part * segment;
          const last = part === count - 1;
          const seg = before ? parentSegment(before.chunks, offset, offset + segment) : null;
          piece = { file, part, offset, bytes: last ? size - offset : segment, ...(last ? {} : { length: segment }), ...(seg ? { parent: seg.chunks, trustLast: seg.complete && !last } : {}) };
        }
        file.lengths[part] = piece.bytes;
        batch.push(piece);
        batchBytes += piece.bytes;
        if (batch.length >= BATCH_FILES || batchBytes >= BATCH_BYTES) await send();
      }
    };
    /** Sends what is batched and waits until every file sent is read and its new chunks packed. */
    const drain = async () => {
      if (batch.length) await send();
      while (running.size) await Promise.race(running);
      if (failure) throw failure;
      await packing;
    };

    /**
     * The parent's record `n` is this file's, field for field (path, size, times, inode, owner, mode): it goes
     * into this manifest as it is stored (ManifestEncoder), never decoded.
     */
    const reuse = (n: number): number => {
      const size = parent!.size(n);
      entries.push(n);
      stats.unchangedFiles++;
      stats.bytes += size;
      progress.bytes += size;
      progress.files++;
      return size;
    };

    // Entries in walk order: unchanged files reuse the parent's chunks, the rest get theirs from a worker.
    let since = performance.now();
    for await (const batch of tree) {
      for (const s of batch) {
        if (performance.now() - since > 4) {
          await new Promise((r) => setImmediate(r)); // worker replies and uploads go on during the walk
          since = performance.now();
        }
        if (typeof s === "number") {
          // A file with one link the walk found unchanged (see TreeScan.compareWith).
          stats.files++;
          progress.filesTotal++;
          progress.bytesTotal += reuse(s);
          continue;
        }
        if (s.st.kind === "dir") {
          entries.push({ ...entryMeta(s), type: "dir" });
          stats.dirs++;
        } else if (s.st.kind === "symlink") {
          entries.push({ ...entryMeta(s), type: "symlink", target: s.target! });
          stats.symlinks++;
        } else if (s.st.kind === "file") {
          progress.filesTotal++;
          progress.bytesTotal += s.st.size;
          const first = s.st.nlink > 1 ? hardlinks.get(s.st.devIno) : undefined;
          stats.files++;
          if (first) {
            entries.push({ type: "hardlink", path: s.rel, link: first });
            linkDirs.set(s.rel, s.dir);
            progress.files++;
            continue;
          }
          if (s.st.nlink > 1) hardlinks.set(s.st.devIno, s.rel);
          const was = s.parent === undefined ? undefined : (parent!.entry(s.parent) as FileEntry);
          if (was && compared!.trusted[s.parent!] === 1 && sameRecord(was, s.st)) {
            reuse(s.parent!); // (a file with more than one link: the walk leaves the test to us)
            continue;
          }
          const entry: FileEntry = { ...entryMeta(s), type: "file", size: 0, chunks: [], ino: s.st.ino, ctimeNs: s.st.ctimeNs };
          entries.push(entry);
          await read(entry, s, was);
        } else {
          stats.skipped.push(`${s.rel} (${s.st.kind})`);
        }
      }
      if (entries.length - encoder.count >= ENCODE_BATCH) encoder.add(entries, entries.length, complete);
    }
    progress.phase = "upload";
    await drain();
    if (vanished.size) {
      encoder.reset(); // entries change below
      // A hardlinked file whose first name vanished: its other names may still hold the content. The first of
      // them that is still a file becomes the file entry (read now), the others link to it.
      const orphans = new Map<string, HardlinkEntry[]>();
      for (const e of entries) if (typeof e !== "number" && e.type === "hardlink" && vanished.has(e.link)) orphans.set(e.link, [...(orphans.get(e.link) ?? []), e]);
      for (const links of orphans.values()) {
        let heir: FileEntry | null = null;
        for (const link of links) {
          if (heir) {
            link.link = heir.path;
            continue;
          }
          const abs = path.join(source, link.path);
          const dir = linkDirs.get(link.path)!;
          const big = lstatInTree(abs, dir); // through its directory, as the walk saw it
          if (!big?.isFile()) {
            vanished.add(link.path); // gone too
            continue;
          }
          const found: Scanned = { rel: link.path, abs, dir, st: statOf(big) };
          const file: FileEntry = { ...entryMeta(found), type: "file", size: 0, chunks: [], ino: found.st.ino, ctimeNs: found.st.ctimeNs };
          entries[entries.indexOf(link)] = file;
          heir = file;
          await read(file, found, undefined);
        }
      }
      await drain();
      const gone = (e: Item): e is Entry => typeof e !== "number" && (vanished.has(e.path) || (e.type === "hardlink" && vanished.has(e.link)));
      for (const e of entries.filter(gone)) {
        stats.skipped.push(`${e.path} (vanished during the snapshot)`);
        stats.files--;
      }
      entries = entries.filter((e) => !gone(e));
    }
    progress.transferredBytes = writer.uploadedBytes;
    progress.elapsedMs = Date.now() - started;
    report(progress);

    // 4. Commit: packs, then index, then manifest.
    const packs = await writer.finish();
    let uploaded = writer.uploadedBytes;
    const newIndex = packs.length ? await repo.writeIndex({ version: 1, packs }) : null;
    uploaded += newIndex?.bytes ?? 0;
    const head = {
      version: repo.manifestFormat,
      id: newSnapshotId(now()),
      parent: parent?.id ?? null,
      createdAt: now().toISOString(),
      scanStartedNs: scan.startedNs,
      tags: opts.tags ?? {},
      stats: { ...stats, uploadedBytes: uploaded, durationMs: Date.now() - started },
    };
    const stored = await repo.writeManifest({ ...head, entries: [] }, encoder, entries);
    uploaded += stored.length;
    head.stats.uploadedBytes = uploaded;
    // The entries, decoded from what was stored when they are first asked for (the CLI and the agent never do).
    let decoded: Entry[] | null = null;
    const manifest = Object.defineProperty(head, "entries", { enumerable: true, get: () => (decoded ??= decodeManifest(stored, `snapshot ${head.id}`).entries) }) as Manifest;

    // 5. Verify: the manifest reads back, and every chunk it names is indexed and its pack stored.
    progress.phase = "verify";
    report(progress, true);
    await verifyCommitted(repo, head.id, stored, index, newIndex && { id: newIndex.id, packs }, entries, parent);
    manifest.stats.durationMs = Date.now() - started;
    progress.phase = "finish";
    progress.elapsedMs = Date.now() - started;
    report(progress, true);
    return manifest;
  } catch (err) {
    await workers?.close(); // a request still running fails with it, so none is left to wait for
    await Promise.allSettled(running);
    await writer.abort();
    throw err;
  } finally {
    // (Side by side: nothing in one waits for another.)
    await Promise.all([scan?.close(), workers?.close(), release().catch(() => {})]);
  }
}

/**
 * A new repository's dictionary, sampled from the first small files of the
 * walk (see DICT_SAMPLE), stored before any pack uses it; null if the tree
 * has too little to sample.
 */
async function sampleDictionary(repo: Repository, tree: Lookahead<Walked[]>, root: string): Promise<Dictionary | null> {
  // The header keeps zstd from reading the sample as a trained dictionary (they start with a magic number).
  const parts: Buffer[] = [DICT_HEADER];
  let bytes = 0;
  let looked = 0;
  while (looked < DICT_WALK && bytes < DICT_BYTES) {
    const batch = await tree.pull();
    if (!batch) break;
    for (const s of batch) {
      if (++looked > DICT_WALK || bytes >= DICT_BYTES) break;
      if (typeof s === "number" || s.st.kind !== "file" || s.st.size < 64 || s.st.size > SMALL_FILE || !sampleable(s.rel)) continue;
      try {
        const part = readHead(s, DICT_SAMPLE, root);
        parts.push(part);
        bytes += part.length;
      } catch {
        // unreadable or gone: the snapshot will say so; the sample does without it
      }
    }
  }
  closeTreeDirectory(); // (the reading threads' go with them)
  return bytes < DICT_MIN ? null : repo.writeDictionary(Buffer.concat(parts).subarray(0, DICT_HEADER.length + DICT_BYTES));
}

const DICT_HEADER = Buffer.from("daybox dictionary 1\n");
const sampleable = (rel: string) => {
  const parts = rel.split("/");
  const name = parts.at(-1)!;
  return !name.startsWith(".") && SAMPLED.test(name) && !parts.some((p) => SECRET_DIRS.has(p.toLowerCase()));
};

function readHead(s: Scanned, max: number, root: string): Buffer {
  const fd = openInTree(s.abs, s.dir, root);
  try {
    const buf = Buffer.allocUnsafe(max);
    return buf.subarray(0, readSync(fd, buf, 0, max, 0));
  } finally {
    closeSync(fd);
  }
}

/**
 * After commit: the manifest reads back exactly as written; every chunk it
 * names is in an index file that is still there (the ones read at the start,
 * or this snapshot's); the packs this snapshot wrote exist with their full
 * size (earlier packs were verified by the snapshots that wrote them; `check`
 * re-verifies all). Numbered entries repeat the parent's, whose chunks were
 * all looked up in `index` already: they need only their index files there.
 */
export async function verifyCommitted(
  repo: Repository,
  id: string,
  stored: Uint8Array,
  index: Awaited<ReturnType<Repository["loadIndex"]>>,
  added: { id: string; packs: IndexFile["packs"] } | null,
  entries: readonly Item[],
  parent: ParentManifest | null,
): Promise<void> {
  const fail = (what: string) => new Error(`verify snapshot ${id}: ${what}`);
  const [back, present] = await Promise.all([repo.store.get(keys.snapshot(id)), repo.indexIds().then((ids) => new Set(ids))]);
  if (!Buffer.from(back.buffer, back.byteOffset, back.byteLength).equals(stored)) throw fail("the manifest read back differs from the one written");
  const newPack = new Map<string, string>(); // chunk → pack, for this snapshot's chunks
  for (const p of added?.packs ?? []) for (const b of p.blobs) newPack.set(b[0], p.id);
  if (added && !present.has(added.id)) throw fail(`its index ${added.id} is missing`);
  const needed = new Set<string>();
  const indexesThere = [...index.packs.values()].every((p) => present.has(p.index));
  for (const item of entries) {
    if (typeof item === "number" && indexesThere) continue;
    const e = typeof item === "number" ? parent!.entry(item) : item;
    if (e.type !== "file") continue;
    for (const c of e.chunks) {
      if (!isDataChunk(c)) continue;
      const pack = newPack.get(c[0]);
      if (pack) {
        needed.add(pack);
        continue;
      }
      const loc = index.chunks.get(c[0]);
      if (!loc) throw fail(`chunk ${c[0]} of ${e.path} is in no index`);
      const indexId = index.packs.get(loc.pack)?.index;
      if (!indexId || !present.has(indexId)) throw fail(`chunk ${c[0]} of ${e.path} is listed by index ${indexId}, which is gone`);
    }
  }
  const sizes = new Map((added?.packs ?? []).map((p) => [p.id, p.size]));
  await mapLimit([...needed], 8, async (id) => {
    const head = await repo.store.head(keys.pack(id));
    if (!head || head.size !== sizes.get(id)) throw fail(`pack ${id} is missing or truncated`);
  });
}

/**
 * The parent's chunks of the segment [start, end) of a file, if one of them
 * starts exactly at `start` (else the parent cut that region otherwise, and
 * none can be reused); `complete` when they end exactly at `end`.
 */
function parentSegment(chunks: readonly ChunkRef[], start: number, end: number): { chunks: ChunkRef[]; complete: boolean } | null {
  const out: ChunkRef[] = [];
  let at = 0;
  let first = -1;
  for (const c of chunks) {
    const len = chunkLength(c);
    if (at >= start && at < end) {
      if (first < 0) first = at;
      out.push(c);
    }
    at += len;
    if (at >= end && out.length) return first === start ? { chunks: out, complete: at === end } : null;
  }
  return first === start && out.length ? { chunks: out, complete: at === end } : null;
}

/**
 * Timestamps have a granularity (the kernel's clock tick for most file
 * systems, a second or two for some): a file written again within the tick
 * in which the parent read it keeps its size, mtime and ctime. What the parent
 * recorded with a ctime this close to (or after) the start of its walk is
 * read again, never trusted (git's "racily clean" entries). A ctime in whole
 * seconds suggests a file system that keeps no finer times: it gets the
 * wider margin.
 */
const RACY_NS = 100e6;
const RACY_COARSE_NS = 2e9;

/**
 * Whether a parent's record of a file, by its ctime (and whether that is in
 * whole seconds), is old enough to be trusted (see RACY_NS); `scanStartedNs`:
 * the parent's. (A double's precision, ~256 ns, is plenty here.)
 */
function settledSince(scanStartedNs: string | undefined): { ns: number; wholeSecondsNs: number } {
  if (!scanStartedNs) return { ns: Infinity, wholeSecondsNs: Infinity }; // written before this was recorded
  const start = Number(scanStartedNs);
  return { ns: start - RACY_NS, wholeSecondsNs: start - RACY_COARSE_NS };
}
