import { randomBytes } from "node:crypto";
import { DEFAULT_CHUNKER, type ChunkerParams } from "../core/chunker.mjs";
import type { Manifest } from "../core/manifest.ts";
import type { IndexFile } from "../core/pack.ts";
import { ObjectExistsError, ObjectNotFoundError, type ObjectStore } from "../object-store.ts";
import { CHUNK_HASHES, type ChunkHash } from "./chunk-id.mjs";
import { ChunkTable, encodeIndex } from "./chunk-table.ts";
import { CorruptObjectError, decodeJson, encodeJson, sha256 } from "./codec.ts";
import { decodeManifest, decodeManifestHead, ManifestEncoder, ParentManifest, type Item, type ManifestFormat } from "./manifest-codec.ts";

/**
 * A snapshot repository in an object store (one per project: no dedup across
 * tenants, so a chunk's existence never leaks between them):
 *
 *   config                     format version, chunk hash and chunker parameters
 *   packs/<2 hex>/<pack id>    compressed chunks (see core/pack.ts)
 *   index/<index id>           chunk id → (pack, offset, length)
 *   snapshots/<snapshot id>    manifests; a snapshot exists once its manifest does
 *   dicts/<sha256>             zstd dictionaries (raw content) chunks may be compressed with;
 *                              the first snapshot samples one, later ones reuse it; prune
 *                              deletes one no chunk uses
 *   locks/<lock id>            writers and garbage collection, with expiry
 */
/**
 * Format 1 names chunks by SHA-256; format 2 by the hash it records, BLAKE3
 * (see chunk-id.mjs); format 3 (new repositories since) writes its index
 * files in binary (chunk-table.ts). A repository keeps its format, read and
 * written as before (this Daybox reads index files of both kinds), and a
 * Daybox older than a repository's format refuses it instead of misreading it.
 */
export type RepoConfig =
  | { version: 1; chunker: ChunkerParams; createdAt: string }
  | { version: 2 | 3; chunkHash: ChunkHash; chunker: ChunkerParams; createdAt: string };

/** What new repositories are made with. */
const NEW_REPO = { version: 3, chunkHash: "blake3" } as const;

/** Code-unit order (ISO times and ids sort so in any locale). */
const order = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** What snapshots() reads of a manifest that is bigger: its start, where everything but the entries lies. */
const SUMMARY_BYTES = 64 * 1024;

/** A snapshot's manifest without its entries: what listing and retention need. */
export type SnapshotInfo = Omit<Manifest, "entries">;

export interface Lock {
  id: string;
  kind: "snapshot" | "prune";
  createdAt: string;
  expiresAt: string;
}

export const keys = {
  config: "config",
  pack: (id: string) => `packs/${id.slice(0, 2)}/${id}`,
  index: (id: string) => `index/${id}`,
  snapshot: (id: string) => `snapshots/${id}`,
  lock: (id: string) => `locks/${id}`,
  dict: (id: string) => `dicts/${id}`,
};

/** A compression dictionary: its bytes, named by their SHA-256. */
export interface Dictionary {
  id: string;
  bytes: Uint8Array;
}

/** Snapshot ids sort by creation time: "20261122T031500Z-1a2b3c4d". */
export function newSnapshotId(now: Date): string {
  return `${now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z")}-${randomBytes(4).toString("hex")}`;
}

export class Repository {
  private constructor(
    readonly store: ObjectStore,
    readonly config: RepoConfig,
  ) {}

  /** Opens the repository in `store`, creating it on first use (safe against concurrent creators). */
  static async open(store: ObjectStore, now = new Date()): Promise<Repository> {
    try {
      return new Repository(store, supportedConfig(decodeJson<RepoConfig>(await store.get(keys.config), "repository config")));
    } catch (err) {
      if (!(err instanceof ObjectNotFoundError)) throw err;
    }
    const config: RepoConfig = { ...NEW_REPO, chunker: DEFAULT_CHUNKER, createdAt: now.toISOString() };
    try {
      await store.put(keys.config, encodeJson(config), { ifNoneMatch: true });
    } catch (err) {
      if (!(err instanceof ObjectExistsError)) throw new Error("create repository", { cause: err });
    }
    return new Repository(store, supportedConfig(decodeJson<RepoConfig>(await store.get(keys.config), "repository config")));
  }

  /** The hash that names this repository's chunks. */
  get chunkHash(): ChunkHash {
    return this.config.version === 1 ? "sha256" : this.config.chunkHash;
  }

  /** The ids of the repository's index files. */
  async indexIds(): Promise<string[]> {
    const ids: string[] = [];
    for await (const o of this.store.list("index/")) ids.push(o.key.slice("index/".length));
    return ids;
  }

  /** Every chunk the repository's indexes know, with where it is stored; and every pack they list. */
  async loadIndex(): Promise<{ chunks: ChunkTable; packs: ChunkTable["packs"] }> {
    const chunks = new ChunkTable();
    for (const [id, stored] of await this.#indexFiles()) chunks.add(id, stored);
    return { chunks, packs: chunks.packs };
  }

  /**
   * Every index file. A prune replaces them (new index written, then the old
   * ones deleted) while restores, which take no lock, may be reading: an
   * index gone between the listing and its read means the listing is stale,
   * and it is read again.
   */
  async #indexFiles(attempts = 4): Promise<(readonly [string, Uint8Array])[]> {
    try {
      return await mapLimit(await this.indexIds(), 8, async (id) => [id, await this.store.get(keys.index(id))] as const);
    } catch (err) {
      if (!(err instanceof ObjectNotFoundError) || attempts <= 1) throw err;
      return this.#indexFiles(attempts - 1);
    }
  }

  /**
   * The repository's dictionary: the first intact one by id (two exist only
   * if two first snapshots raced; a damaged one is passed over — check
   * reports it), or null.
   */
  async dictionary(): Promise<Dictionary | null> {
    for (const id of (await this.dictionaryIds()).filter((id) => /^[0-9a-f]{64}$/.test(id))) {
      try {
        return await this.readDictionary(id);
      } catch (err) {
        if (!(err instanceof CorruptObjectError)) throw err;
      }
    }
    return null;
  }

  /** The ids of the stored dictionaries, sorted. */
  async dictionaryIds(): Promise<string[]> {
    const ids: string[] = [];
    for await (const o of this.store.list("dicts/")) ids.push(o.key.slice("dicts/".length));
    return ids.sort();
  }

  /** A dictionary chunks name, verified against its id. */
  async readDictionary(id: string): Promise<Dictionary> {
    let bytes: Uint8Array;
    try {
      bytes = await this.store.get(keys.dict(id));
    } catch (err) {
      if (err instanceof ObjectNotFoundError) throw new CorruptObjectError(`dictionary ${id} is missing: the repository is damaged; run check`, { cause: err });
      throw err;
    }
    if (sha256(bytes) !== id) throw new CorruptObjectError(`dictionary ${id} is corrupt (hash mismatch); run check`);
    return { id, bytes };
  }

  /** Stores a dictionary (before any pack that uses it); one with the same bytes may exist already. */
  async writeDictionary(bytes: Uint8Array): Promise<Dictionary> {
    const id = sha256(bytes);
    try {
      await this.store.put(keys.dict(id), bytes, { ifNoneMatch: true });
    } catch (err) {
      if (!(err instanceof ObjectExistsError)) throw err;
      return this.readDictionary(id); // stored already: by a concurrent first snapshot, intact or not
    }
    return { id, bytes };
  }

  async writeIndex(file: IndexFile, id = randomBytes(16).toString("hex")): Promise<{ id: string; bytes: number }> {
    const data = this.config.version >= 3 ? encodeIndex(file) : encodeJson(file);
    await this.store.put(keys.index(id), data);
    return { id, bytes: data.length };
  }

  /**
   * Commits a snapshot: refuses to overwrite an existing one. Returns the
   * bytes stored. `encoder`: the one the snapshot's entries were being
   * encoded with as they were found (see manifestEncoder), `entries` what
   * they are (numbers: the parent's entries they repeat).
   */
  async writeManifest(m: Manifest, encoder = this.manifestEncoder(null), entries: readonly Item[] = m.entries): Promise<Uint8Array> {
    const { entries: _, ...head } = m;
    const data = encoder.finish(head, entries);
    await this.store.put(keys.snapshot(m.id), data, { ifNoneMatch: true });
    return data;
  }

  /** The format this repository's manifests are written in (manifest-codec.ts); both are read. */
  get manifestFormat(): ManifestFormat {
    return this.config.version >= 3 ? 2 : 1;
  }

  /** An encoder of a manifest for writeManifest; `parent`: the snapshot numbered entries refer to. */
  manifestEncoder(parent: ParentManifest | null): ManifestEncoder {
    return new ManifestEncoder(this.manifestFormat, parent);
  }

  async readManifest(id: string): Promise<Manifest> {
    return decodeManifest(await this.#manifestBytes(id), `snapshot ${id}`);
  }

  /** A snapshot as an incremental snapshot's parent: its entries read where they lie, as they are needed. */
  async readParent(id: string): Promise<ParentManifest> {
    return new ParentManifest(await this.#manifestBytes(id), `snapshot ${id}`);
  }

  async #manifestBytes(id: string): Promise<Uint8Array> {
    if (!/^[0-9A-Za-z-]{8,80}$/.test(id)) throw new Error(`${JSON.stringify(id)} is not a snapshot id`);
    try {
      return await this.store.get(keys.snapshot(id));
    } catch (err) {
      if (err instanceof ObjectNotFoundError) throw new Error(`snapshot ${id} not found`, { cause: err });
      throw err;
    }
  }

  async snapshotIds(): Promise<string[]> {
    return (await this.#listSnapshots()).map((s) => s.id).sort();
  }

  /** The stored manifests: each snapshot's id and its manifest's size. */
  async #listSnapshots(): Promise<{ id: string; size: number }[]> {
    const out: { id: string; size: number }[] = [];
    for await (const o of this.store.list("snapshots/")) out.push({ id: o.key.slice("snapshots/".length), size: o.size });
    return out;
  }

  /**
   * Every snapshot, oldest first, without its entries (a manifest of 50k
   * files takes ~80 MB once decoded: a project's hundreds of snapshots would
   * not fit in memory together). One deleted while they are read is not
   * among them.
   */
  async snapshots(): Promise<SnapshotInfo[]> {
    const all = await mapLimit(await this.#listSnapshots(), 8, ({ id, size }) => this.#summary(id, size));
    // By creation time (ids sort by the second only), then id.
    return all.filter((m): m is SnapshotInfo => m !== null).sort((a, b) => order(a.createdAt, b.createdAt) || order(a.id, b.id));
  }

  /**
   * Calls `visit` with every manifest, whole, a few read at a time and none
   * kept (see snapshots()); one deleted meanwhile is skipped.
   */
  async eachManifest(visit: (m: Manifest) => void): Promise<void> {
    await mapLimit(await this.snapshotIds(), 2, async (id) => {
      const m = await this.#readIfThere(id);
      if (m) visit(m);
    });
  }

  /**
   * A snapshot's summary, from the first SUMMARY_BYTES of its manifest when
   * they hold it (the entries come last: `ls` of a project's hundreds of
   * snapshots reads kilobytes, not gigabytes), else from the whole manifest.
   */
  async #summary(id: string, size: number): Promise<SnapshotInfo | null> {
    if (size > SUMMARY_BYTES) {
      let head: Uint8Array;
      try {
        head = await this.store.getRange(keys.snapshot(id), 0, SUMMARY_BYTES);
      } catch (err) {
        if (err instanceof ObjectNotFoundError) return null;
        throw err;
      }
      const info = decodeManifestHead(head);
      if (info?.id === id && typeof info.createdAt === "string" && typeof info.tags === "object" && info.tags !== null && info.stats) return info;
    }
    const m = await this.#readIfThere(id);
    if (!m) return null;
    const { entries: _, ...info } = m;
    return info;
  }

  #readIfThere(id: string): Promise<Manifest | null> {
    return this.readManifest(id).catch((err: Error) => {
      if (err.cause instanceof ObjectNotFoundError) return null;
      throw err;
    });
  }

  /** Deletes a snapshot's manifest if it is there (deleting one already gone is not an error). */
  async forgetSnapshot(id: string): Promise<void> {
    if (!/^[0-9A-Za-z-]{8,80}$/.test(id)) throw new Error(`${JSON.stringify(id)} is not a snapshot id`);
    await this.store.delete(keys.snapshot(id));
  }

  async deleteSnapshot(id: string): Promise<void> {
    await this.readManifest(id); // a clear error for an unknown id
    await this.store.delete(keys.snapshot(id));
  }

  /**
   * Takes a lock that expires after `ttlMs` unless refreshed: a holder that
   * dies (killed agent) blocks others for at most one TTL. While held, the
   * lock refreshes itself every ttl/3.
   */
  async acquireLock(kind: Lock["kind"], ttlMs: number, now = new Date()): Promise<{ lock: Lock; release: () => Promise<void> }> {
    const lock: Lock = { id: `${kind}-${randomBytes(8).toString("hex")}`, kind, createdAt: now.toISOString(), expiresAt: new Date(now.getTime() + ttlMs).toISOString() };
    await this.store.put(keys.lock(lock.id), encodeJson(lock));
    let released = false;
    let refreshing: Promise<void> = Promise.resolve();
    const timer = setInterval(() => {
      if (released) return;
      const refreshed = { ...lock, expiresAt: new Date(Date.now() + ttlMs).toISOString() };
      refreshing = this.store.put(keys.lock(lock.id), encodeJson(refreshed)).catch(() => {});
    }, Math.max(50, Math.floor(ttlMs / 3)));
    timer.unref();
    return {
      lock,
      release: async () => {
        released = true;
        clearInterval(timer);
        await refreshing; // a refresh in flight must not re-create the lock after we delete it
        await this.store.delete(keys.lock(lock.id));
      },
    };
  }

  /** Deletes locks past their expiry: left behind by writers that crashed. Returns how many. */
  async removeExpiredLocks(now = new Date()): Promise<number> {
    let removed = 0;
    for await (const o of this.store.list("locks/")) {
      try {
        const lock = decodeJson<Lock>(await this.store.get(o.key), "lock");
        if (new Date(lock.expiresAt) > now) continue;
      } catch (err) {
        if (err instanceof ObjectNotFoundError) continue;
        if (!(err instanceof CorruptObjectError)) throw err; // a torn lock file is garbage too
      }
      await this.store.delete(o.key);
      removed++;
    }
    return removed;
  }

  /** Locks that have not expired, of one kind or all. Lock keys start with their kind, so a snapshot reads only prune locks. */
  async activeLocks(now = new Date(), kind?: Lock["kind"]): Promise<Lock[]> {
    const out: Lock[] = [];
    for await (const o of this.store.list(kind ? `locks/${kind}-` : "locks/")) {
      try {
        const lock = decodeJson<Lock>(await this.store.get(o.key), "lock");
        if (new Date(lock.expiresAt) > now) out.push(lock);
      } catch (err) {
        if (!(err instanceof ObjectNotFoundError)) throw err; // released meanwhile
      }
    }
    return out;
  }
}

/** A repository config this Daybox reads (format 1, or 2 with a chunk hash it knows), or a clear refusal. */
function supportedConfig(config: RepoConfig): RepoConfig {
  const version = config?.version as number;
  if (version !== 1 && version !== 2 && version !== 3) {
    throw new CorruptObjectError(`the repository has format version ${JSON.stringify(version)}; this Daybox reads versions 1 to 3 (a newer Daybox wrote it?)`);
  }
  if (config.version !== 1 && !CHUNK_HASHES.includes(config.chunkHash)) {
    throw new CorruptObjectError(`the repository names chunks by ${JSON.stringify(config.chunkHash)}; this Daybox knows ${CHUNK_HASHES.join(", ")} (a newer Daybox wrote it?)`);
  }
  return config;
}

/** Maps with at most `limit` calls in flight, preserving order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
