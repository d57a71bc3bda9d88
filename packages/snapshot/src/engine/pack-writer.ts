import { packBytes, packed, packFooter, type BlobEntry, type IndexFile } from "../core/pack.ts";
import { sha256 } from "./codec.ts";
import type { PackCache } from "./pack-cache.ts";
import { keys, type Repository } from "./repository.ts";

/**
 * Groups stored chunks into packs of ~`packSize` and uploads them with at
 * most `concurrency` uploads in flight (add() waits when that many are
 * running: backpressure instead of unbounded memory). Chunks are copied into
 * the pack as they come (the caller may reuse its buffer), and a pack's
 * buffer is reused once its upload is done.
 */
export class PackWriter {
  #entries: BlobEntry[] = [];
  #buf: Uint8Array | null = null;
  #size = 0;
  readonly #free: Uint8Array[] = [];
  #inflight = new Set<Promise<void>>();
  #failed: unknown = null;
  readonly written: IndexFile["packs"] = [];
  uploadedBytes = 0;

  constructor(
    private readonly repo: Repository,
    private readonly opts: { packSize: number; concurrency: number; cache?: PackCache | undefined },
  ) {}

  /** Adds a chunk's stored bytes (`dict`: the dictionary they were compressed with). */
  async add(id: string, data: Uint8Array, rawLength: number, compressed: boolean, dict?: string): Promise<void> {
    if (this.#failed) throw this.#failed;
    // Room for a full pack, its last chunk and the footer; a bigger chunk gets a buffer of its own.
    this.#buf ??= this.#free.pop() ?? new Uint8Array(this.opts.packSize + 6 * 1024 * 1024);
    if (this.#size + data.length > this.#buf.length) {
      const bigger = new Uint8Array(this.#size + data.length + 1024 * 1024);
      bigger.set(this.#buf.subarray(0, this.#size));
      this.#buf = bigger;
    }
    this.#buf.set(data, this.#size);
    this.#entries.push({ id, offset: this.#size, length: data.length, rawLength, compressed, ...(dict ? { dict } : {}) });
    this.#size += data.length;
    if (this.#size >= this.opts.packSize) await this.#flush();
  }

  async #flush() {
    if (this.#entries.length === 0) return;
    const entries = this.#entries;
    const buf = this.#buf!;
    const size = this.#size;
    this.#entries = [];
    this.#buf = null;
    this.#size = 0;
    while (this.#inflight.size >= this.opts.concurrency) await Promise.race(this.#inflight);
    if (this.#failed) throw this.#failed;
    const pack = packBytes(buf, size, entries);
    const id = sha256(packFooter(pack));
    const upload = (async () => {
      await this.repo.store.put(keys.pack(id), pack);
      this.uploadedBytes += pack.length;
      this.written.push({ id, size: pack.length, blobs: entries.map(packed) });
      await this.opts.cache?.put(id, pack).catch(() => {}); // the cache is an optimisation only
      if (this.#free.length < this.opts.concurrency) this.#free.push(buf); // stores keep no reference once put settles
    })().catch((err: unknown) => {
      this.#failed ??= new Error(`upload pack ${id}`, { cause: err });
    });
    const tracked = upload.finally(() => this.#inflight.delete(tracked));
    this.#inflight.add(tracked);
  }

  /** Uploads what is left and waits for every upload; throws the first failure. */
  async finish(): Promise<IndexFile["packs"]> {
    await this.#flush();
    await Promise.all(this.#inflight);
    if (this.#failed) throw this.#failed;
    return this.written;
  }

  /** After a failure: wait for in-flight uploads so nothing runs on after the caller gives up. */
  async abort(): Promise<void> {
    await Promise.allSettled(this.#inflight);
  }
}
