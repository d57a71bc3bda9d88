import { readFile } from "node:fs/promises";

type Outcome = { data: Buffer } | { error: NodeJS.ErrnoException };

/**
 * Reads upcoming files on libuv's thread pool while the caller chunks,
 * hashes and packs the current one: the disk works while the CPU does, and
 * several reads in flight keep its queue busy (a cold page cache made a first
 * snapshot spend ~30% of its time blocked in read()). Bounded by files and
 * bytes in flight; items are taken in order, each at most once.
 */
export class ReadAhead<T> {
  readonly #items: readonly T[];
  readonly #wanted: (item: T) => { path: string; size: number } | null;
  readonly #maxFiles: number;
  readonly #maxBytes: number;
  readonly #pending = new Map<number, { size: number; read: Promise<Outcome> }>();
  #next = 0;
  #bytes = 0;

  /** `wanted` names the file to read ahead for an item, or null for an item that is read otherwise (or not at all). */
  constructor(items: readonly T[], wanted: (item: T) => { path: string; size: number } | null, opts: { maxFiles?: number; maxBytes?: number } = {}) {
    this.#items = items;
    this.#wanted = wanted;
    this.#maxFiles = opts.maxFiles ?? 32;
    this.#maxBytes = opts.maxBytes ?? 32 * 1024 * 1024;
    this.#fill();
  }

  /**
   * The content of item `i` if it was read ahead (null if it vanished in the
   * meantime), or undefined: the caller reads it itself. Starts reads further on.
   */
  async take(i: number): Promise<Buffer | null | undefined> {
    // Reads for items before i that were not taken (the caller found it did not need them) are dropped.
    for (const [j, skipped] of this.#pending) {
      if (j >= i) break;
      this.#pending.delete(j);
      this.#bytes -= skipped.size;
    }
    const entry = this.#pending.get(i);
    if (this.#next <= i) this.#next = i + 1;
    if (!entry) {
      this.#fill();
      return undefined;
    }
    this.#pending.delete(i);
    this.#bytes -= entry.size;
    this.#fill();
    const outcome = await entry.read;
    if ("data" in outcome) return outcome.data;
    if (outcome.error.code === "ENOENT") return null;
    throw outcome.error;
  }

  #fill() {
    while (this.#next < this.#items.length && this.#pending.size < this.#maxFiles && this.#bytes < this.#maxBytes) {
      const i = this.#next++;
      const file = this.#wanted(this.#items[i]!);
      if (!file) continue;
      this.#bytes += file.size;
      // Settled into an outcome at once: a read nobody takes (an early failure elsewhere) never rejects unhandled.
      const read = readFile(file.path).then(
        (data): Outcome => ({ data }),
        (error: NodeJS.ErrnoException): Outcome => ({ error }),
      );
      this.#pending.set(i, { size: file.size, read });
    }
  }
}
