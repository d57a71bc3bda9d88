import { isDataChunk, validateManifest, type Manifest } from "../core/manifest.ts";
import { decodePackFooter, packed, packFooter, type PackedEntry } from "../core/pack.ts";
import type { Decompressor } from "zstd-napi";
import { chunkHasher } from "./chunk-id.mjs";
import { CorruptObjectError, dictionaryDecompressor, sha256, unpackChunk } from "./codec.ts";
import { keys, mapLimit, type Repository, type SnapshotInfo } from "./repository.ts";

export interface CheckResult {
  snapshots: number;
  packs: number;
  /** Packs no index lists: left by interrupted snapshots; prune removes them. Not an error. */
  unindexedPacks: number;
  problems: string[];
}

/**
 * Verifies a repository: every manifest parses and passes validation, every
 * chunk it names is indexed, every indexed pack exists with its size, every
 * dictionary a chunk was compressed with is there and intact. With
 * `readData`, downloads every pack and verifies every chunk's hash.
 */
export async function checkRepository(repo: Repository, opts: { readData?: boolean } = {}): Promise<CheckResult> {
  const problems: string[] = [];
  const stored = new Map<string, number>();
  for await (const o of repo.store.list("packs/")) stored.set(o.key.split("/").pop()!, o.size);
  let index: Awaited<ReturnType<Repository["loadIndex"]>>;
  try {
    index = await repo.loadIndex();
  } catch (err) {
    return { snapshots: 0, packs: stored.size, unindexedPacks: 0, problems: [`an index file is unreadable: ${(err as Error).message}`] };
  }
  for (const [id, p] of index.packs) {
    const size = stored.get(id);
    if (size === undefined) problems.push(`pack ${id} (listed in index ${p.index}) is missing`);
    else if (size !== p.size) problems.push(`pack ${id} is ${size} bytes, its index says ${p.size}`);
  }
  // Dictionaries: each stored one intact, each one a chunk names there.
  const dictUsers = new Map<string, number>();
  for (const loc of index.chunks.values()) if (loc.entry.dict) dictUsers.set(loc.entry.dict, (dictUsers.get(loc.entry.dict) ?? 0) + 1);
  const dictIds = new Set(dictUsers.keys());
  for (const id of await repo.dictionaryIds()) dictIds.add(id);
  const dicts = new Map<string, Decompressor>();
  for (const id of dictIds) {
    try {
      dicts.set(id, dictionaryDecompressor((await repo.readDictionary(id)).bytes));
    } catch (err) {
      if (!(err instanceof CorruptObjectError)) throw err;
      const users = dictUsers.get(id);
      problems.push(`${err.message.replace(/; run check$/, "")}${users ? ` (${users} chunk(s) were compressed with it)` : ""}`);
    }
  }
  const ids = await repo.snapshotIds();
  for (const id of ids) {
    let m: Manifest;
    try {
      m = await repo.readManifest(id);
      validateManifest(m);
    } catch (err) {
      problems.push(`snapshot ${id}: ${(err as Error).message}`);
      continue;
    }
    const missing = new Set<string>();
    for (const e of m.entries) if (e.type === "file") for (const c of e.chunks) if (isDataChunk(c) && !index.chunks.has(c[0])) missing.add(c[0]);
    if (missing.size) problems.push(`snapshot ${id} names ${missing.size} chunk(s) no index lists, e.g. ${[...missing][0]}`);
  }
  if (opts.readData) {
    const chunkId = chunkHasher(repo.chunkHash);
    await mapLimit([...index.packs.keys()].filter((id) => stored.has(id)), 4, async (id) => {
      const pack = await repo.store.get(keys.pack(id));
      let footer: Uint8Array;
      try {
        footer = packFooter(pack);
      } catch (err) {
        return void problems.push(`pack ${id} is damaged: ${(err as Error).message}`);
      }
      if (sha256(footer) !== id) return void problems.push(`pack ${id} content does not match its name`);
      const unusable = new Set<string>(); // dictionaries this pack needs that are missing or damaged
      for (const b of decodePackFooter(pack)) {
        if (b.dict && !dicts.has(b.dict)) {
          if (!unusable.has(b.dict)) problems.push(`pack ${id} has chunks compressed with dictionary ${b.dict}, which is missing or damaged`);
          unusable.add(b.dict);
          continue;
        }
        let raw: Uint8Array | null;
        try {
          raw = unpackChunk(pack.subarray(b.offset, b.offset + b.length), b.compressed, b.dict ? dicts.get(b.dict) : undefined);
        } catch {
          raw = null;
        }
        if (!raw || chunkId(raw) !== b.id) problems.push(`chunk ${b.id} in pack ${id} is corrupt`);
      }
    });
  }
  const unindexedPacks = [...stored.keys()].filter((id) => !index.packs.has(id)).length;
  return { snapshots: ids.length, packs: stored.size, unindexedPacks, problems };
}

export interface PruneResult {
  deletedPacks: number;
  deletedBytes: number;
  keptPacks: number;
  /** Bytes in kept packs that no snapshot needs (packs are kept whole). */
  reclaimableBytes: number;
  /** Expired locks of crashed writers that were deleted. */
  removedLocks: number;
  /** Dictionaries no chunk of the kept packs uses any more. */
  deletedDictionaries: number;
}

export class RepositoryBusyError extends Error {}

/**
 * Deletes packs no snapshot needs. Safe against a concurrent snapshot: each
 * side takes its lock and then looks for the other's, so they never run
 * together (a snapshot could otherwise reuse a chunk from a pack being
 * deleted). Unindexed packs are deleted only once older than `graceMs`.
 * Crash-safe order: write the new index, delete the old ones, then packs,
 * then dictionaries no kept chunk uses (past the grace period too): a
 * dictionary holds file content, which must not outlive its snapshots.
 */
export async function pruneRepository(repo: Repository, opts: { graceMs?: number; now?: Date } = {}): Promise<PruneResult> {
  const now = opts.now ?? new Date();
  const graceMs = opts.graceMs ?? 3600_000;
  // Refreshed every ttl/3 while held: a prune killed half-way blocks snapshots for minutes, not an hour.
  const { lock, release } = await repo.acquireLock("prune", 5 * 60_000, now);
  try {
    const others = (await repo.activeLocks(now)).filter((l) => l.id !== lock.id);
    if (others.length) {
      throw new RepositoryBusyError(`the repository is in use (${others.map((l) => `${l.kind} since ${l.createdAt}`).join(", ")}); try again later`);
    }
    const removedLocks = await repo.removeExpiredLocks(now);
    const referenced = new Set<string>();
    await repo.eachManifest((m) => {
      for (const e of m.entries) if (e.type === "file") for (const c of e.chunks) if (isDataChunk(c)) referenced.add(c[0]);
    });

    const { chunks, packs } = await repo.loadIndex();
    const livePacks = new Set<string>();
    let reclaimableBytes = 0;
    for (const [id, loc] of chunks) {
      if (referenced.has(id)) livePacks.add(loc.pack);
    }
    for (const [id, loc] of chunks) if (!referenced.has(id) && livePacks.has(loc.pack)) reclaimableBytes += loc.entry.length;

    // 1. One new index with the live packs; 2. drop the old index files.
    const oldIndexes: string[] = [];
    for await (const o of repo.store.list("index/")) oldIndexes.push(o.key);
    const byPack = new Map<string, PackedEntry[]>();
    for (const loc of chunks.values()) {
      if (!livePacks.has(loc.pack)) continue;
      const list = byPack.get(loc.pack) ?? [];
      list.push(packed(loc.entry));
      byPack.set(loc.pack, list);
    }
    if (oldIndexes.length) {
      const written = byPack.size ? await repo.writeIndex({ version: 1, packs: [...byPack].map(([id, blobs]) => ({ id, size: packs.get(id)!.size, blobs })) }) : null;
      for (const key of oldIndexes) if (!written || key !== keys.index(written.id)) await repo.store.delete(key);
    }

    // 3. Packs: dead indexed ones now, unindexed ones once past the grace period.
    let deletedPacks = 0;
    let deletedBytes = 0;
    for await (const o of repo.store.list("packs/")) {
      const id = o.key.split("/").pop()!;
      if (livePacks.has(id)) continue;
      const wasIndexed = packs.has(id);
      if (!wasIndexed && now.getTime() - o.lastModified.getTime() < graceMs) continue;
      await repo.store.delete(o.key);
      deletedPacks++;
      deletedBytes += o.size;
    }
    // 4. Dictionaries no kept chunk uses.
    const usedDicts = new Set<string>();
    for (const list of byPack.values()) for (const e of list) if (e[5]) usedDicts.add(e[5]);
    let deletedDictionaries = 0;
    for await (const o of repo.store.list("dicts/")) {
      if (usedDicts.has(o.key.slice("dicts/".length)) || now.getTime() - o.lastModified.getTime() < graceMs) continue;
      await repo.store.delete(o.key);
      deletedDictionaries++;
    }
    return { deletedPacks, deletedBytes, keptPacks: livePacks.size, reclaimableBytes, removedLocks, deletedDictionaries };
  } finally {
    await release().catch(() => {});
  }
}

export interface RetentionPolicy {
  /** Keep the newest N snapshots of each session (tag "session"). */
  keepLast: number;
  /** Always keep snapshots with tag parked=true: a parked session's only copy. */
  keepParked?: boolean;
}

/** Deletes the manifests retention does not keep; run prune afterwards to free space. Returns the deleted ids. */
export async function applyRetention(repo: Repository, policy: RetentionPolicy): Promise<string[]> {
  const all = await repo.snapshots();
  const bySession = new Map<string, SnapshotInfo[]>();
  for (const m of all) {
    const key = m.tags["session"] ?? "";
    bySession.set(key, [...(bySession.get(key) ?? []), m]);
  }
  const doomed: string[] = [];
  for (const list of bySession.values()) {
    const newestFirst = list.reverse(); // (listed oldest first)
    newestFirst.forEach((m, i) => {
      if (i < policy.keepLast) return;
      if ((policy.keepParked ?? true) && m.tags["parked"] === "true") return;
      doomed.push(m.id);
    });
  }
  // The snapshots kept are read whole first (the listing read only their summaries): one that no longer
  // decodes must not have counted towards the newest N while older, sound ones are deleted.
  const doomedSet = new Set(doomed);
  if (doomed.length) for (const m of all) if (!doomedSet.has(m.id)) await repo.readManifest(m.id);
  for (const id of doomed) await repo.deleteSnapshot(id);
  return doomed;
}
