import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { compress, decompress, Decompressor } from "zstd-napi";

const zstd = createRequire(import.meta.url)("zstd-napi/binding.js") as typeof import("zstd-napi/binding.js");

export const sha256 = (data: Uint8Array): string => createHash("sha256").update(data).digest("hex");

/** A stored object that does not decode: torn by a crash, corrupted, or not written by Daybox. */
export class CorruptObjectError extends Error {}

/**
 * JSON documents (manifests, indexes) are stored zstd-compressed, at level 1:
 * they are mostly hex chunk ids, which no level compresses past their entropy
 * (the bench tree's 15 MB manifest: 2.97 MB in 23 ms at level 1, 3.10 MB in
 * 48 ms at level 3).
 */
export function encodeJson(value: unknown): Buffer {
  return compress(Buffer.from(JSON.stringify(value)), { compressionLevel: 1 });
}
export function decodeJson<T>(data: Uint8Array, what: string): T {
  return parseJson<T>(unzstd(data, what), what);
}

/** A stored object's bytes decompressed; `what` names it if they do not decompress. */
export function unzstd(data: Uint8Array, what: string): Buffer {
  try {
    return decompress(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  } catch (err) {
    throw new CorruptObjectError(`${what} is unreadable (corrupt or not a Daybox object)`, { cause: err });
  }
}

/** JSON text's value; `what` names it if it does not parse. */
export function parseJson<T>(text: Buffer, what: string): T {
  try {
    return JSON.parse(text.toString("utf8")) as T;
  } catch (err) {
    throw new CorruptObjectError(`${what} is unreadable (corrupt or not a Daybox object)`, { cause: err });
  }
}

/** The first zstd frame in a stored object's first bytes (as much of it as they hold), decompressed; null if they do not decompress. */
export function firstFrame(head: Uint8Array): Buffer | null {
  try {
    const out = Buffer.allocUnsafe(8 * head.length + 64 * 1024);
    const [, produced] = new zstd.DCtx().decompressStream(out, head);
    return out.subarray(0, produced);
  } catch {
    return null; // not zstd
  }
}

/**
 * The members of a stored JSON object that come before `key`, from the first
 * bytes of the object alone (a manifest's summary is its first kilobyte; its
 * entries, megabytes, come last): null if those bytes do not hold them all,
 * or do not decode.
 */
export function decodeJsonHead<T>(head: Uint8Array, key: string): T | null {
  const frame = firstFrame(head);
  return frame && membersBefore<T>(frame.toString("utf8"), key);
}

/** The members of the JSON object that begins `text` that come before `key`, or null. */
export function membersBefore<T>(text: string, key: string): T | null {
  // Inside a JSON string every quote is escaped, so `,"key":` is always a member's name; only the top-level one
  // leaves the text before it one brace short of a whole object (a deeper one, such as a tag, leaves it two).
  // A few tries at most: a hostile object with thousands of nested `key`s must not cost a parse each.
  const member = `,${JSON.stringify(key)}:`;
  for (let at = text.indexOf(member), tries = 0; at >= 0 && tries < 8; at = text.indexOf(member, at + 1), tries++) {
    try {
      return JSON.parse(`${text.slice(0, at)}}`) as T;
    } catch {
      // not the top-level member: the next
    }
  }
  return null;
}

/** A decompressor for the chunks compressed with one dictionary (see Repository.dictionary): prepared once, used for all of them. */
export function dictionaryDecompressor(dict: Uint8Array): Decompressor {
  const d = new Decompressor();
  d.loadDictionary(dict);
  return d;
}

/** A stored chunk's raw bytes; `dict`: the decompressor of the dictionary it was compressed with. */
export function unpackChunk(stored: Uint8Array, compressed: boolean, dict?: Decompressor): Uint8Array {
  if (!compressed) return stored;
  const data = Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
  return dict ? dict.decompress(data) : decompress(data);
}
