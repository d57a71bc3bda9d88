/**
 * Where snapshot data lives: S3 or a local directory, behind one small
 * interface.
 *
 * Contract for every implementation:
 * - put() is atomic: readers see the whole object or none of it. With
 *   `ifNoneMatch: true` it fails with `ObjectExistsError` instead of
 *   overwriting (used to commit manifests exactly once).
 * - get()/getRange() fail with `ObjectNotFoundError` for a missing key;
 *   delete() of a missing key succeeds (idempotent).
 * - put() keeps no reference to `body` once it settles: the caller may
 *   reuse the buffer (packs are built in recycled buffers).
 * - The bytes get()/getRange() return belong to the caller, with the memory
 *   behind them: the store keeps no reference (a restore moves them to a
 *   worker thread).
 * - Any other error may be retried by a wrapper; stores do not retry inside.
 * - Safe for concurrent use.
 */
export interface ObjectStore {
  put(key: string, body: Uint8Array, opts?: { ifNoneMatch?: boolean }): Promise<void>;
  /** With `alloc`, the object is read into the buffer it returns for the object's size (the result is a view of it). */
  get(key: string, alloc?: Allocate): Promise<Uint8Array>;
  getRange(key: string, offset: number, length: number): Promise<Uint8Array>;
  head(key: string): Promise<{ size: number } | null>;
  /** Keys under `prefix`, with size and last-modified time (GC's grace period needs ages). */
  list(prefix: string): AsyncIterable<{ key: string; size: number; lastModified: Date }>;
  delete(key: string): Promise<void>;
}

/** Gives get() a buffer of at least `size` bytes to read an object into (restores recycle their pack buffers). */
export type Allocate = (size: number) => Uint8Array;

/** A buffer of exactly `size` bytes: from `alloc` when it gives one big enough, else a new one. */
export function bufferFor(size: number, alloc?: Allocate): Uint8Array {
  const given = alloc?.(size);
  return given && given.length >= size ? given.subarray(0, size) : Buffer.allocUnsafeSlow(size);
}

export class ObjectNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`object ${key} not found`);
  }
}

export class ObjectExistsError extends Error {
  constructor(readonly key: string) {
    super(`object ${key} already exists`);
  }
}
