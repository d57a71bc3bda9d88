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
  try {
    return JSON.parse(decompress(Buffer.from(data.buffer, data.byteOffset, data.byteLength)).toString("utf8")) as T;
  } catch (err) {
    throw new CorruptObjectError(`${what} is unreadable (corrupt or not a Daybox object)`, { cause: err });
  }
}

/**
 * A JSON object whose last member is a long array (a manifest's entries),
 * encoded while the array is still being filled: items are stringified and
 * compressed as they are added, FRAME_TEXT of text per zstd frame, so a
 * snapshot's 15 MB manifest costs ~0.1 s less once its last file is read.
 * An item added before it is complete (a file still being read) keeps its
 * frame open until it is. The other members, known last, go into a frame of
 * their own, stored first: zstd frames concatenate, so the object decodes as
 * encodeJson's output would (decodeJson), and decodeJsonHead finds those
 * members in its start.
 */
export class JsonArrayEncoder<T> {
  static readonly FRAME_TEXT = 1 << 20;
  readonly #key: string;
  /** Frames in order: compressed, or their parts (the text of complete items, or an item still incomplete). */
  #frames: (Buffer | Part<T>[])[] = [];
  #parts: Part<T>[] = [];
  #partsLength = 0;
  #count = 0;

  /** `key`: the array's member name. */
  constructor(key: string) {
    this.#key = key;
  }

  /** How many items are added. */
  get count(): number {
    return this.#count;
  }

  /**
   * Adds items[count, end): those `complete` says are encoded now and must not
   * change from now on; the others when they are complete (see settle).
   */
  add(items: readonly T[], end: number, complete: (item: T) => boolean = () => true): void {
    for (let i = this.#count; i < end; ) {
      let j = i;
      while (j < end && complete(items[j]!)) j++;
      if (j > i) {
        const text = JSON.stringify(items.slice(i, j));
        this.#parts.push({ text: text.slice(1, -1) });
        this.#partsLength += text.length;
      }
      if (j < end) {
        this.#parts.push({ item: items[j]! });
        this.#partsLength += 200;
        j++;
      }
      i = j;
      if (this.#partsLength >= JsonArrayEncoder.FRAME_TEXT) this.#seal();
    }
    this.#count = Math.max(this.#count, end);
    this.settle(complete);
  }

  /** Compresses the frames whose items are all complete now. */
  settle(complete: (item: T) => boolean = () => true): void {
    for (const [i, frame] of this.#frames.entries()) {
      if (!Buffer.isBuffer(frame) && frame.every((p) => "text" in p || complete(p.item))) this.#frames[i] = this.#compress(frame, i > 0);
    }
  }

  /** Forgets what was added (items added have changed). */
  reset(): void {
    this.#frames = [];
    this.#parts = [];
    this.#partsLength = 0;
    this.#count = 0;
  }

  /** The stored object: `head`'s other members, then the array `items` (its first `count` added already, complete now). */
  finish(head: Record<string, unknown>, items: readonly T[]): Buffer {
    this.add(items, items.length);
    this.#seal();
    this.settle();
    const members = JSON.stringify({ ...head, [this.#key]: undefined });
    const first = `${members.length > 2 ? `${members.slice(0, -1)},` : "{"}${JSON.stringify(this.#key)}:[`;
    return Buffer.concat([compress(Buffer.from(first), { compressionLevel: 1 }), ...(this.#frames as Buffer[]), compress(Buffer.from("]}"), { compressionLevel: 1 })]);
  }

  #seal(): void {
    if (this.#parts.length) this.#frames.push(this.#parts);
    this.#parts = [];
    this.#partsLength = 0;
  }

  #compress(parts: Part<T>[], comma: boolean): Buffer {
    const text = parts.map((p) => ("text" in p ? p.text : JSON.stringify(p.item))).join(",");
    return compress(Buffer.from(comma ? `,${text}` : text), { compressionLevel: 1 });
  }
}
type Part<T> = { text: string } | { item: T };

/**
 * The members of a stored JSON object that come before `key`, from the first
 * bytes of the object alone (a manifest's summary is its first kilobyte; its
 * entries, megabytes, come last): null if those bytes do not hold them all,
 * or do not decode.
 */
export function decodeJsonHead<T>(head: Uint8Array, key: string): T | null {
  try {
    const out = Buffer.allocUnsafe(8 * head.length + 64 * 1024);
    const [, produced] = new zstd.DCtx().decompressStream(out, head);
    const text = out.toString("utf8", 0, produced);
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
  } catch {
    return null; // not zstd
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
