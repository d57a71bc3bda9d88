import { encodePack, packed, packFooter, type BlobEntry, type IndexFile } from "../core/pack.ts";
import { sha256 } from "./codec.ts";
import type { PackCache } from "./pack-cache.ts";
import { keys, type Repository } from "./repository.ts";

/**
 * Groups stored chunks into packs of ~`packSize` and uploads them with at
 * most `concurrency` uploads in flight (add() waits when that many are
 * running: backpressure instead of unbounded memory).
 */
export class PackWriter {
  #blobs: { entry: BlobEntry; data: Uint8Array }[] = [];
  #size = 0;
  #inflight = new Set<Promise<void>>();
  #failed: unknown = null;
  readonly written: IndexFile["packs"] = [];
  uploadedBytes = 0;

  constructor(
    private readonly repo: Repository,
    private readonly opts: { packSize: number; concurrency: number; cache?: PackCache | undefined },
  ) {}

  async add(id: string, data: Uint8Array, rawLength: number, compressed: boolean): Promise<void> {
    if (this.#failed) throw this.#failed;
    this.#blobs.push({ entry: { id, offset: this.#size, length: data.length, rawLength, compressed }, data });
    this.#size += data.length;
    if (this.#size >= this.opts.packSize) await this.#flush();
  }

  async #flush() {
    if (this.#blobs.length === 0) return;
    const blobs = this.#blobs;
    this.#blobs = [];
    this.#size = 0;
    while (this.#inflight.size >= this.opts.concurrency) await Promise.race(this.#inflight);
    if (this.#failed) throw this.#failed;
    const pack = encodePack(blobs);
    const id = sha256(packFooter(pack));
    const upload = (async () => {
      await this.repo.store.put(keys.pack(id), pack);
      this.uploadedBytes += pack.length;
      this.written.push({ id, size: pack.length, blobs: blobs.map((b) => packed(b.entry)) });
      await this.opts.cache?.put(id, pack).catch(() => {}); // the cache is an optimisation only
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
