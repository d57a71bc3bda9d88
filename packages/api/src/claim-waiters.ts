/**
 * Long-poll claims. An agent with nothing to do waits here instead of
 * polling; while any agent waits, one query every `intervalMs` asks which of
 * the waiting nodes have a claimable action and wakes just those. The cost is
 * one query per interval for the whole fleet, not one per agent, and an
 * action is picked up within `intervalMs` of being committed, wherever it
 * was queued from.
 */
export class ClaimWaiters {
  readonly #waiting = new Map<string, Set<() => void>>();
  readonly #claimable: (nodeIds: string[]) => Promise<string[]>;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | null = null;

  constructor(claimable: (nodeIds: string[]) => Promise<string[]>, intervalMs = 100) {
    this.#claimable = claimable;
    this.#intervalMs = intervalMs;
  }

  /** Resolves when the node may have work, after `timeoutMs`, or when `signal` aborts. */
  wait(nodeId: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const set = this.#waiting.get(nodeId) ?? new Set();
      this.#waiting.set(nodeId, set);
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0 && this.#waiting.get(nodeId) === set) this.#waiting.delete(nodeId);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      set.add(done);
      signal?.addEventListener("abort", done, { once: true });
      this.#schedule();
    });
  }

  #schedule() {
    if (this.#timer || this.#waiting.size === 0) return;
    this.#timer = setTimeout(() => void this.#scan(), this.#intervalMs);
  }

  async #scan() {
    try {
      const ready = await this.#claimable([...this.#waiting.keys()]);
      for (const nodeId of ready) for (const wake of [...(this.#waiting.get(nodeId) ?? [])]) wake();
    } catch {
      // The database is away: the waiters' own timeouts send their agents back to retry.
    } finally {
      this.#timer = null;
      this.#schedule();
    }
  }

  close() {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    for (const set of this.#waiting.values()) for (const wake of [...set]) wake();
  }
}
