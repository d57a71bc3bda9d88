import type { ObjectStore } from "../object-store.ts";

/**
 * Object keys are the same for every store: '/'-separated segments, so a key
 * maps to a relative path in the directory store and to an S3 key under the
 * store's prefix without any escaping.
 */

/** Files the directory store writes before renaming; no key segment may look like one. */
export const TEMP_PREFIX = ".daybox-tmp-";

/** Why `key` is not a valid object key, or null when it is. */
export function keyProblem(key: string): string | null {
  if (typeof key !== "string" || key.length === 0) return "is empty";
  if (key.includes("\0")) return "contains NUL";
  if (key.startsWith("/")) return "starts with '/'";
  for (const segment of key.split("/")) {
    if (segment === "") return "has an empty segment";
    if (segment === "." || segment === "..") return `has a '${segment}' segment`;
    if (segment.startsWith(TEMP_PREFIX)) return `has a segment starting with the reserved '${TEMP_PREFIX}'`;
  }
  return null;
}

/** Throws an Error naming `key` unless it is a valid object key. */
export function assertValidKey(key: string): void {
  const problem = keyProblem(key);
  if (problem !== null) throw new Error(`invalid object key ${JSON.stringify(key)}: ${problem}`);
}

/**
 * A list prefix is "" or a key, optionally ending in '/' ("packs/", "packs/a",
 * "packs/ab/"). Prefixes are plain string prefixes, as in S3.
 */
export function assertValidPrefix(prefix: string): void {
  if (prefix === "") return;
  const problem = keyProblem(prefix.endsWith("/") ? prefix.slice(0, -1) : prefix);
  if (problem !== null) throw new Error(`invalid list prefix ${JSON.stringify(prefix)}: ${problem}`);
}

/** A non-negative safe integer, or an Error naming what it is for. */
export function assertByteCount(what: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${what} must be a non-negative integer, got ${n}`);
}

/** One entry of ObjectStore.list(), as the interface defines it. */
export type ListEntry = ObjectStore["list"] extends (prefix: string) => AsyncIterable<infer E> ? E : never;

/** The error getRange() throws when the requested bytes are not all in the object. */
export function rangePastEnd(key: string, offset: number, length: number, size: number): Error {
  return new Error(`range ${offset}+${length} is past the end of object ${key} (size ${size})`);
}
