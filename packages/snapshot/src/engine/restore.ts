import { randomBytes } from "node:crypto";
import {
  chmodSync,
  existsSync,
  lchownSync,
  linkSync,
  lutimesSync,
  mkdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  utimesSync,
} from "node:fs";
import { availableParallelism } from "node:os";
import path from "node:path";
import { isDataChunk, validateManifest, type Entry, type FileEntry } from "../core/manifest.ts";
import type { BlobEntry } from "../core/pack.ts";
import { ObjectNotFoundError, type Allocate } from "../object-store.ts";
import { compareWithManifest } from "./local-copy.ts";
import type { PackCache } from "./pack-cache.ts";
import { throttle, type Progress, type ProgressListener } from "./progress.ts";
import { WorkerPool } from "./worker-pool.ts";
import { keys, mapLimit, type Repository } from "./repository.ts";

export interface RestoreOptions {
  repo: Repository;
  snapshotId: string;
  /** The directory to restore into; replaced as a whole, never half-overwritten. */
  target: string;
  cache?: PackCache;
  /** Packs fetched at once (default 4). */
  concurrency?: number;
  /** Worker threads that decompress, verify and write chunks (default: the cores, at most 4). */
  threads?: number;
  onProgress?: ProgressListener;
  /**
   * Keep `target` untouched when it already holds exactly this snapshot
   * (compared as localCopyMatches does; nothing is read or fetched). Any
   * difference means a full restore, as without this option.
   */
  reuseTarget?: boolean;
}

export interface RestoreResult {
  files: number;
  bytes: number;
  /** Bytes read from the object store (0 when every pack came from the node cache). */
  fetchedBytes: number;
  durationMs: number;
  /** Where the content came from: the target already held it (reuseTarget), the node cache alone, or the object store. */
  source: "local" | "cache" | "store";
  /** With reuseTarget: why the target was kept, or the first difference that ruled it out. */
  targetCheck?: string;
}

interface Target {
  file: string; // absolute path inside the temp dir
  offset: number;
  whole: boolean; // the chunk is the file's only content: write it in one go
  /** For a chunk of a file of several: the file's size (the writer sizes the file before its first chunk). */
  size?: number;
  /** For a whole file: owner (null: not root, left as is), mode and mtime, set by the writer through the open file. */
  meta?: { uid: number | null; gid: number; mode: number; mtime: number | string };
}

/** A chunk of a pack to restore: where it goes, and the files it belongs to (one countdown per file, of its chunks not yet written). */
interface Slot {
  entry: BlobEntry;
  targets: Target[];
  files: Countdown[];
}
interface Countdown {
  left: number;
}

/** A file made of one data chunk is written in one go, and its metadata set there and then. */
const isWhole = (f: FileEntry) => f.chunks.length === 1 && isDataChunk(f.chunks[0]!);

/** Without a cache, fetch the whole pack when at least this share of it is needed. */
const WHOLE_PACK_SHARE = 0.5;
/** Packs up to this size are read into recycled buffers (bigger ones, rare, get their own). */
const MAX_SLOT = 64 * 1024 * 1024;
/** Ranged reads closer than this are merged into one request. */
const RANGE_GAP = 256 * 1024;

/**
 * Restores a snapshot byte-exact, with metadata, into a temporary directory
 * next to `target`, then swaps it in. Every chunk is verified against its
 * hash before it is written. Hostile manifests are refused before anything
 * is written (see validateManifest), and symlinks are created last, so no
 * write ever passes through one.
 */
export async function restoreSnapshot(opts: RestoreOptions): Promise<RestoreResult> {
  const started = Date.now();
  const { repo } = opts;
  const indexed = repo.loadIndex(); // loads while the manifest is read and checked
  indexed.catch(() => {});
  // The writer threads start now, while the manifest and index load (~0.25 s of a cold restore in paired runs);
  // not before a kept target might make them needless.
  const run: RestoreRun = { writers: opts.reuseTarget ? null : startWriters(opts), tmp: null };
  try {
    return await restoreInto(opts, run, indexed, started);
  } catch (err) {
    await run.writers?.close(); // nothing writes into the directory being removed
    if (run.tmp) rmSync(run.tmp, { recursive: true, force: true });
    throw err;
  } finally {
    await run.writers?.close();
  }
}

/** What a failed restore must clean up: its writer threads, its temporary directory. */
interface RestoreRun {
  writers: WorkerPool | null;
  tmp: string | null;
}

const startWriters = (opts: RestoreOptions) =>
  new WorkerPool(new URL("./restore-worker.mjs", import.meta.url), opts.threads ?? Math.min(4, availableParallelism()), "restore", {
    chunkHash: opts.repo.chunkHash,
    // What a file this process creates gets: its owner, and the permission bits the umask leaves (read here,
    // where nothing else changes the umask meanwhile).
    creator: { uid: process.geteuid?.() ?? -1, gid: process.getegid?.() ?? -1, umask: process.umask() },
    maxChunk: opts.repo.config.chunker.maxSize,
  });

async function restoreInto(opts: RestoreOptions, run: RestoreRun, indexed: ReturnType<Repository["loadIndex"]>, started: number): Promise<RestoreResult> {
  const { repo } = opts;
  const manifest = await repo.readManifest(opts.snapshotId);
  // Comparing writes nothing, so it may come before validation: a kept target needs none.
  const check = opts.reuseTarget ? compareWithManifest(manifest, opts.target) : null;
  if (check?.matches) return { files: check.files, bytes: check.bytes, fetchedBytes: 0, durationMs: Date.now() - started, source: "local", targetCheck: check.reason };
  validateManifest(manifest);
  const pool = (run.writers ??= startWriters(opts));
  const { chunks, packs } = await indexed;

  const target = path.resolve(opts.target);
  const parent = path.dirname(target);
  mkdirSync(parent, { recursive: true });
  const tmp = path.join(parent, `.${path.basename(target)}.restore-${randomBytes(4).toString("hex")}`);
  mkdirSync(tmp, { mode: 0o700 });
  run.tmp = tmp;
  const inTmp = (rel: string) => `${tmp}/${rel}`; // validated: relative, "/"-separated, no empty, "." or ".." segment

  const files = manifest.entries.filter((e): e is FileEntry => e.type === "file");
  const asRoot = process.getuid?.() === 0;
  // A time as utimes takes it, in seconds: whole microseconds (Node passes times on as doubles, and libuv cuts them
  // to microseconds), plus half of one away from zero, so that the double's rounding never lands in the microsecond
  // before (without it, half of all restored times were a microsecond early). Before 1970, as a decimal string: Node
  // takes a negative number of seconds for "now", a numeric string as it is.
  const seconds = (ns: string): number | string => {
    const micros = ns.length > 3 ? Number(ns.slice(0, -3)) : 0;
    return micros < 0 ? String((micros - 0.5) / 1e6) : (micros + 0.5) / 1e6;
  };
  const progress: Progress = {
    phase: "download",
    files: 0,
    filesTotal: files.length,
    bytes: 0,
    bytesTotal: files.reduce((s, f) => s + f.size, 0),
    transferredBytes: 0,
    elapsedMs: 0,
  };
  const report = throttle(opts.onProgress);

  // 1. Plan: which chunks each pack must provide, and where each goes; the dictionaries they need.
  // (Each target is a literal of one of two shapes, and each map is written once per key: the plan of 50k
  // files is on the critical path before the first pack is fetched.)
  const plan = new Map<string, Map<string, Slot>>();
  const dictIds = new Set<string>();
  for (const f of files) {
    const abs = inTmp(f.path);
    const whole = isWhole(f);
    const count: Countdown = { left: 0 };
    let offset = 0;
    for (const c of f.chunks) {
      if (isDataChunk(c)) {
        const loc = chunks.get(c[0]);
        if (!loc) throw new Error(`snapshot ${manifest.id} needs chunk ${c[0]} (of ${f.path}), which no index lists: the repository is damaged; run check`);
        let byChunk = plan.get(loc.pack);
        if (!byChunk) plan.set(loc.pack, (byChunk = new Map()));
        let slot = byChunk.get(c[0]);
        if (!slot) {
          byChunk.set(c[0], (slot = { entry: loc.entry, targets: [], files: [] }));
          if (loc.entry.dict) dictIds.add(loc.entry.dict);
        }
        slot.targets.push(whole ? { file: abs, offset, whole, meta: { uid: asRoot ? f.uid : null, gid: f.gid, mode: f.mode, mtime: seconds(f.mtimeNs) } } : { file: abs, offset, whole, size: f.size });
        slot.files.push(count);
        count.left++;
        offset += c[1];
      } else offset += c.zero;
    }
    if (!f.chunks.some(isDataChunk)) progress.files++;
  }

  const dicts = await mapLimit([...dictIds], 4, (id) => repo.readDictionary(id));
  pool.broadcast({ dicts: Object.fromEntries(dicts.map((d) => [d.id, d.bytes])) });

  // 2. Directories (writable while we fill them; final modes at the end) and the files no pack writes, by a
  //    writer thread alongside the first packs: the writers make the directories a pack needs as they go
  //    (a restore had waited ~0.2 s for 4,500 mkdirs before writing its first pack).
  const dirs = manifest.entries.filter((e): e is Extract<Entry, { type: "dir" }> => e.type === "dir");
  const layout = {
    dirs: dirs.map((e) => inTmp(e.path)),
    dataless: files.filter((f) => !f.chunks.some(isDataChunk)).map((f) => [inTmp(f.path), f.size] as const),
  };
  let unprepared: unknown = null; // a failed layout stops the restore before its next pack
  const prepared = pool.run<{ error?: string; code?: string }>({ prepare: layout }).then((r) => {
    if (r.error !== undefined) throw Object.assign(new Error(`restore into ${tmp}: ${r.error}`), { code: r.code });
  });
  prepared.catch((err: unknown) => void (unprepared = err)); // awaited once every pack is written

  // 3. Fetch packs in parallel, verify each chunk, write it everywhere it belongs.
  // Whole packs are read into recycled shared buffers, one per pack in flight: a writer thread reads the
  // pack where it lies, and the buffer takes the next pack once it is written (no allocation per pack).
  const slotSize = Math.min(MAX_SLOT, Math.max(...[...plan.keys()].map((id) => packs.get(id)?.size ?? MAX_SLOT)));
  const slots: Uint8Array[] = [];
  await mapLimit([...plan.entries()], opts.concurrency ?? 4, async ([packId, byChunk]) => {
    if (unprepared) throw unprepared;
    const blobs = [...byChunk.values()].map((s) => s.entry).sort((a, b) => a.offset - b.offset);
    let slot: Uint8Array | null = null;
    const alloc = (size: number) => (size <= slotSize ? (slot ??= slots.pop() ?? new Uint8Array(new SharedArrayBuffer(slotSize))) : Buffer.allocUnsafeSlow(size));
    const fetched = await fetchBlobs(repo, opts.cache, packId, packs.get(packId)?.size, blobs, (n) => (progress.transferredBytes += n), alloc);
    // A worker decompresses, verifies and writes the pack's chunks; the buffers they sit in are shared with it or move to it (no copy).
    const buffers: ArrayBufferLike[] = [];
    const bufferIndex = new Map<ArrayBufferLike, number>();
    const jobs = [...byChunk].map(([id, slot]) => {
      const view = fetched.get(id)!;
      let buf = bufferIndex.get(view.buffer);
      if (buf === undefined) bufferIndex.set(view.buffer, (buf = buffers.push(view.buffer) - 1));
      return { id, buf, offset: view.byteOffset, length: view.byteLength, rawLength: slot.entry.rawLength, compressed: slot.entry.compressed, dict: slot.entry.dict, targets: slot.targets };
    });
    // Buffers of Node's shared pool (small allocations) are copied, never moved.
    const movable = buffers.filter((b): b is ArrayBuffer => b instanceof ArrayBuffer && b.byteLength > Buffer.poolSize);
    const done = await pool.run<{ written?: number; corrupt?: string; error?: string; code?: string }>({ pack: packId, buffers, blobs: jobs }, movable);
    if (slot) slots.push(slot); // written: free for the next pack
    if (done.corrupt) {
      if (opts.cache) await opts.cache.drop(packId);
      throw new Error(done.corrupt);
    }
    if (done.error !== undefined) throw Object.assign(new Error(`restore pack ${packId}: ${done.error}`), { code: done.code });
    progress.bytes += done.written ?? 0;
    for (const { files } of byChunk.values()) for (const count of files) if (--count.left === 0) progress.files++;
    progress.elapsedMs = Date.now() - started;
    report(progress);
  });
  await prepared;
  await pool.close(); // every chunk is written

  // 4. Links, symlinks last; then metadata, directories deepest first.
  for (const e of manifest.entries) if (e.type === "hardlink") linkSync(inTmp(e.link), inTmp(e.path));
  for (const e of manifest.entries) if (e.type === "symlink") symlinkSync(e.target, inTmp(e.path));
  for (const e of manifest.entries) {
    if (e.type === "hardlink" || e.type === "dir" || (e.type === "file" && isWhole(e))) continue; // whole files: done by their writer
    const abs = inTmp(e.path);
    if (asRoot) lchownSync(abs, e.uid, e.gid);
    if (e.type === "symlink") lutimesSync(abs, seconds(e.mtimeNs), seconds(e.mtimeNs));
    else {
      chmodSync(abs, e.mode);
      utimesSync(abs, seconds(e.mtimeNs), seconds(e.mtimeNs));
    }
  }
  for (const d of dirs.reverse()) {
    const abs = inTmp(d.path);
    if (asRoot) lchownSync(abs, d.uid, d.gid);
    chmodSync(abs, d.mode);
    utimesSync(abs, seconds(d.mtimeNs), seconds(d.mtimeNs));
  }
  chmodSync(tmp, 0o755);

  // 5. Swap in: at every instant either the old or the new tree is complete on disk.
  if (existsSync(target)) {
    const old = path.join(parent, `.${path.basename(target)}.old-${randomBytes(4).toString("hex")}`);
    renameSync(target, old);
    renameSync(tmp, target);
    rmSync(old, { recursive: true, force: true });
  } else renameSync(tmp, target);

  progress.phase = "finish";
  progress.elapsedMs = Date.now() - started;
  report(progress, true);
  const hardlinks = manifest.entries.filter((e) => e.type === "hardlink").length;
  return {
    files: files.length + hardlinks,
    bytes: progress.bytesTotal,
    fetchedBytes: progress.transferredBytes,
    durationMs: Date.now() - started,
    source: opts.cache && progress.transferredBytes === 0 ? "cache" : "store",
    ...(check ? { targetCheck: check.reason } : {}),
  };
}

/** The stored bytes of `blobs` from one pack: from the node cache, the whole pack, or merged ranged reads. */
async function fetchBlobs(repo: Repository, cache: PackCache | undefined, packId: string, packSize: number | undefined, blobs: BlobEntry[], onFetched: (n: number) => void, alloc?: Allocate) {
  const out = new Map<string, Uint8Array>();
  const cached = cache ? await cache.get(packId, alloc) : null;
  const needed = blobs.reduce((s, b) => s + b.length, 0);
  // The index records each pack's size; a HEAD is needed only for an index written without it.
  const size = cached ? cached.length : (packSize ?? (await repo.store.head(keys.pack(packId)))?.size);
  // With a node cache, whole packs are fetched and kept: the session will likely resume here again.
  if (cached || cache || (size !== undefined && needed >= size * WHOLE_PACK_SHARE)) {
    let pack = cached;
    if (!pack) {
      const got = await getPack(repo, packId, () => repo.store.get(keys.pack(packId), alloc));
      pack = Buffer.from(got.buffer, got.byteOffset, got.byteLength); // a view, not a copy
      onFetched(pack.length);
      await cache?.put(packId, pack).catch(() => {});
    }
    for (const b of blobs) out.set(b.id, pack.subarray(b.offset, b.offset + b.length));
    return out;
  }
  // Merge nearby blobs into few ranged reads.
  const ranges: { start: number; end: number; blobs: BlobEntry[] }[] = [];
  for (const b of blobs) {
    const last = ranges.at(-1);
    if (last && b.offset - last.end <= RANGE_GAP) {
      last.end = Math.max(last.end, b.offset + b.length);
      last.blobs.push(b);
    } else ranges.push({ start: b.offset, end: b.offset + b.length, blobs: [b] });
  }
  for (const r of ranges) {
    const data = await getPack(repo, packId, () => repo.store.getRange(keys.pack(packId), r.start, r.end - r.start));
    onFetched(data.length);
    if (data.length !== r.end - r.start) throw new Error(`short read of pack ${packId}: wanted ${r.end - r.start} bytes, got ${data.length}`);
    for (const b of r.blobs) out.set(b.id, data.subarray(b.offset - r.start, b.offset - r.start + b.length));
  }
  return out;
}

/** Reads from a pack, turning "not found" into an error that says what it means. */
async function getPack(repo: Repository, packId: string, read: () => Promise<Uint8Array>): Promise<Uint8Array> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof ObjectNotFoundError) throw new Error(`pack ${packId} is missing from the repository; run check`, { cause: err });
    throw err;
  }
}
