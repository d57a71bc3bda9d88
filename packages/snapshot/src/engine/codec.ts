import { createHash } from "node:crypto";
import { compress, decompress, Decompressor } from "zstd-napi";

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
  try {
    return JSON.parse(decompress(Buffer.from(data.buffer, data.byteOffset, data.byteLength)).toString("utf8")) as T;
  } catch (err) {
    throw new CorruptObjectError(`${what} is unreadable (corrupt or not a Daybox object)`, { cause: err });
  }
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
