import { availableParallelism } from "node:os";
import { WorkerPool } from "./worker-pool.ts";

type Reply = { data: Uint8Array | null; compressed: boolean; error?: undefined } | { error: string };

/**
 * zstd on worker threads, so chunking, hashing and reading on the main
 * thread overlap with compression (compression was the largest single cost
 * of a first snapshot). Chunks that do not shrink by 3% are stored raw.
 */
export class Compressor {
  readonly #pool: WorkerPool;

  constructor(threads = Math.max(1, Math.min(4, availableParallelism() - 1))) {
    this.#pool = new WorkerPool(new URL("./compress-worker.mjs", import.meta.url), threads, "compression");
  }

  async compress(raw: Uint8Array, level: number): Promise<{ data: Uint8Array; compressed: boolean }> {
    // postMessage clones a view's whole backing buffer: a chunk cut from a bigger block goes as a copy of itself.
    const data = raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength ? raw : Uint8Array.prototype.slice.call(raw);
    const r = await this.#pool.run<Reply>({ data, level });
    if (r.error !== undefined) throw new Error(`compress: ${r.error}`);
    return r.data ? { data: r.data, compressed: true } : { data: raw, compressed: false };
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}
