import { Worker, type Transferable } from "node:worker_threads";

/**
 * A few worker threads running one script, each message answered by one
 * reply carrying the message's `seq`. Work goes to the least busy thread. A
 * thread that crashes fails every pending and later request; the pool never
 * keeps the process alive.
 */
export class WorkerPool {
  readonly #workers: { worker: Worker; busy: number }[] = [];
  readonly #waiting = new Map<number, { slot: { busy: number }; resolve: (reply: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  #seq = 0;
  #failed: Error | null = null;

  constructor(script: URL, threads: number, what: string) {
    for (let i = 0; i < Math.max(1, threads); i++) {
      const worker = new Worker(script);
      worker.unref();
      worker.on("message", (reply: Record<string, unknown> & { seq: number }) => this.#settle(reply));
      worker.on("error", (err) => this.#fail(new Error(`${what} worker failed`, { cause: err })));
      worker.on("exit", (code) => {
        if (code !== 0) this.#fail(new Error(`${what} worker exited with code ${code}`));
      });
      this.#workers.push({ worker, busy: 0 });
    }
  }

  /** Sends `message` (with a `seq` added) to the least busy thread; resolves with its reply. */
  run<R extends Record<string, unknown>>(message: Record<string, unknown>, transfer: readonly Transferable[] = []): Promise<R> {
    if (this.#failed) return Promise.reject(this.#failed);
    const seq = this.#seq++;
    const slot = this.#workers.reduce((a, b) => (b.busy < a.busy ? b : a));
    slot.busy++;
    return new Promise<R>((resolve, reject) => {
      this.#waiting.set(seq, { slot, resolve: resolve as (reply: Record<string, unknown>) => void, reject });
      slot.worker.postMessage({ ...message, seq }, transfer);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.worker.terminate()));
  }

  #settle(reply: Record<string, unknown> & { seq: number }) {
    const w = this.#waiting.get(reply.seq);
    if (!w) return;
    this.#waiting.delete(reply.seq);
    w.slot.busy--;
    w.resolve(reply);
  }

  #fail(err: Error) {
    this.#failed ??= err;
    for (const w of this.#waiting.values()) w.reject(err);
    this.#waiting.clear();
  }
}
