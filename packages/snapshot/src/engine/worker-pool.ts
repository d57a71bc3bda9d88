import { Worker, type Transferable } from "node:worker_threads";

/**
 * The process's Node options without its module loaders (`--import tsx` and
 * the like): the worker scripts are plain JavaScript, and a loader started
 * again in each thread costs ~0.1 s of CPU apiece. Undefined (inherit them
 * all) when there is no loader to drop.
 */
const WORKER_EXEC_ARGV = ((argv) => (argv.length < process.execArgv.length ? argv : undefined))(withoutLoaders(process.execArgv));

export function withoutLoaders(argv: readonly string[]): string[] {
  const loader = /^(--import|--require|-r|--loader|--experimental-loader)(=|$)/;
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const m = loader.exec(argv[i]!);
    if (!m) out.push(argv[i]!);
    else if (m[2] === "") i++; // its value is the next argument
  }
  return out;
}

/**
 * A thread with the options above; with all the process's if a thread refuses them (V8 flags such as
 * --max-old-space-size are per process). `transferList`: MessagePorts in `workerData`, moved to the thread.
 */
export function startWorker(script: URL, workerData: unknown, transferList: Transferable[] = []): Worker {
  try {
    return new Worker(script, { workerData, transferList, execArgv: WORKER_EXEC_ARGV });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ERR_WORKER_INVALID_EXEC_ARGV") throw err;
    return new Worker(script, { workerData, transferList });
  }
}

type Reply = Record<string, unknown> & { seq: number; partial?: boolean };
type Partial = (reply: Record<string, unknown>) => unknown;

/**
 * A few worker threads running one script, each message answered by one
 * reply carrying the message's `seq`. Work goes to the least busy thread. A
 * thread that crashes fails every pending and later request; the pool never
 * keeps the process alive.
 *
 * A long request may send partial replies first (`partial: true`): each is
 * handed to the request's `onPartial`; if that fails, so does the request.
 */
export class WorkerPool {
  readonly #workers: { worker: Worker; busy: number }[] = [];
  readonly #waiting = new Map<number, { slot: { worker: Worker; busy: number }; resolve: (reply: Record<string, unknown>) => void; reject: (e: Error) => void; onPartial?: Partial | undefined }>();
  #seq = 0;
  #failed: Error | null = null;

  /** `workerData` is passed to every thread (`workerData` of node:worker_threads). */
  constructor(script: URL, threads: number, what: string, workerData?: unknown) {
    for (let i = 0; i < Math.max(1, threads); i++) {
      const worker = startWorker(script, workerData);
      worker.unref();
      worker.on("message", (reply: Reply) => this.#settle(reply));
      worker.on("error", (err) => this.#fail(new Error(`${what} worker failed`, { cause: err })));
      worker.on("exit", (code) => {
        if (code !== 0) this.#fail(new Error(`${what} worker exited with code ${code}`));
      });
      this.#workers.push({ worker, busy: 0 });
    }
  }

  /** Sends `message` (with a `seq` added) to the least busy thread; resolves with its reply. */
  run<R extends object>(message: Record<string, unknown>, transfer: readonly Transferable[] = [], onPartial?: Partial): Promise<R> {
    if (this.#failed) return Promise.reject(this.#failed);
    const seq = this.#seq++;
    const slot = this.#workers.reduce((a, b) => (b.busy < a.busy ? b : a));
    slot.busy++;
    return new Promise<R>((resolve, reject) => {
      this.#waiting.set(seq, { slot, resolve: resolve as unknown as (reply: Record<string, unknown>) => void, reject, onPartial });
      slot.worker.postMessage({ ...message, seq }, transfer);
    });
  }

  /** Sends `message` to every thread, ahead of any request sent after it; no reply. */
  broadcast(message: Record<string, unknown>): void {
    for (const { worker } of this.#workers) worker.postMessage(message);
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.worker.terminate()));
  }

  #settle(reply: Reply) {
    const w = this.#waiting.get(reply.seq);
    if (!w) return;
    if (reply.partial) {
      Promise.resolve()
        .then(() => w.onPartial?.(reply))
        .catch((err: unknown) => {
          if (!this.#waiting.delete(reply.seq)) return;
          w.slot.busy--;
          w.reject(err instanceof Error ? err : new Error(String(err)));
        });
      return;
    }
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
