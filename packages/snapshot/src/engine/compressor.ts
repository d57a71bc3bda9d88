import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";

type Reply = { seq: number; data: Uint8Array | null; compressed: boolean; error?: undefined } | { seq: number; error: string };

/**
 * zstd on worker threads, so chunking, hashing and reading on the main
 * thread overlap with compression (compression was the largest single cost
 * of a first snapshot). Chunks that do not shrink by 3% are stored raw.
 */
export class Compressor {
  readonly #workers: Worker[] = [];
  readonly #waiting = new Map<number, { raw: Uint8Array; resolve: (r: { data: Uint8Array; compressed: boolean }) => void; reject: (e: Error) => void }>();
  #seq = 0;
  #failed: Error | null = null;

  constructor(threads = Math.max(1, Math.min(4, availableParallelism() - 1))) {
    for (let i = 0; i < threads; i++) {
      const w = new Worker(new URL("./compress-worker.mjs", import.meta.url));
      w.unref();
      w.on("message", (r: Reply) => this.#settle(r));
      w.on("error", (err) => this.#fail(new Error("compression worker failed", { cause: err })));
      w.on("exit", (code) => {
        if (code !== 0) this.#fail(new Error(`compression worker exited with code ${code}`));
      });
      this.#workers.push(w);
    }
  }

  compress(raw: Uint8Array, level: number): Promise<{ data: Uint8Array; compressed: boolean }> {
    if (this.#failed) return Promise.reject(this.#failed);
    const seq = this.#seq++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(seq, { raw, resolve, reject });
      this.#workers[seq % this.#workers.length]!.postMessage({ seq, data: raw, level });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }

  #settle(r: Reply) {
    const w = this.#waiting.get(r.seq);
    if (!w) return;
    this.#waiting.delete(r.seq);
    if (r.error !== undefined) w.reject(new Error(`compress: ${r.error}`));
    else w.resolve(r.data ? { data: r.data, compressed: true } : { data: w.raw, compressed: false });
  }

  #fail(err: Error) {
    this.#failed ??= err;
    for (const w of this.#waiting.values()) w.reject(err);
    this.#waiting.clear();
  }
}
