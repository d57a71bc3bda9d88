import { compress } from "zstd-napi";
import type { BlobEntry, IndexFile } from "../core/pack.ts";
import { idPosition } from "./chunk-id.mjs";
import { CorruptObjectError, parseJson, unzstd } from "./codec.ts";
import { nativeWalk, type NativeWalk } from "./native.ts";

/**
 * Index files, and the table of every chunk a repository holds that they add
 * up to.
 *
 * Format 1 (repositories of format 1 and 2) is JSON: IndexFile. Format 2
 * (repositories of format 3 on) is binary, in columns, zstd-compressed:
 *
 *   "DBXI" | u8 2 | 3 zero bytes | u32 packs | u32 blobs | u32 dictionaries   (little-endian)
 *   packs × (32-byte id | f64 size | u32 blob count)
 *   dictionaries × 32-byte id
 *   blob ids (blobs × 32 bytes) | offsets (u32) | lengths (u32) | raw lengths (u32) | dictionary (u16, 0xffff: none) | compressed (u8)
 *
 * Every id is a 64-digit hex hash stored as its 32 bytes. The bench's
 * repository (48k chunks): 2.0 MB stored against 2.3 MB as JSON, and read
 * into the table in ~15 ms instead of ~50–90 ms (no JSON text, no object per
 * chunk: the ids' hex is one string, which the snapshot's reading threads
 * take as it is).
 */
const MAGIC = Buffer.from("DBXI");
const HEADER = 20;
const PACK = 44;
const ID = 32;
const BLOB = ID + 4 + 4 + 4 + 2 + 1;
const NO_DICT = 0xffff;
const HEX64 = /^[0-9a-f]{64}$/;

export interface Location {
  pack: string;
  entry: BlobEntry;
}

/** An index file in format 2. */
export function encodeIndex(file: IndexFile): Buffer {
  const dicts = new Map<string, number>();
  let blobs = 0;
  for (const p of file.packs) {
    blobs += p.blobs.length;
    for (const b of p.blobs) if (typeof b[5] === "string" && !dicts.has(b[5])) dicts.set(b[5], dicts.size);
  }
  if (dicts.size >= NO_DICT) throw new Error(`an index file can name at most ${NO_DICT - 1} dictionaries`);
  const buf = Buffer.alloc(HEADER + file.packs.length * PACK + dicts.size * ID + blobs * BLOB);
  const hex = (id: string, at: number, what: string) => {
    if (!HEX64.test(id)) throw new Error(`index: ${what} ${JSON.stringify(id.slice(0, 80))} is not a 64-digit hex id`);
    buf.write(id, at, ID, "hex");
  };
  const u32 = (n: number, at: number, what: string) => {
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`index: ${what} ${n} is out of range`);
    buf.writeUInt32LE(n, at);
  };
  MAGIC.copy(buf, 0);
  buf[4] = 2;
  buf.writeUInt32LE(file.packs.length, 8);
  buf.writeUInt32LE(blobs, 12);
  buf.writeUInt32LE(dicts.size, 16);
  let at = HEADER;
  for (const p of file.packs) {
    hex(p.id, at, "pack id");
    buf.writeDoubleLE(p.size, at + ID);
    buf.writeUInt32LE(p.blobs.length, at + ID + 8);
    at += PACK;
  }
  for (const id of dicts.keys()) {
    hex(id, at, "dictionary id");
    at += ID;
  }
  const ids = at;
  const offsets = ids + blobs * ID;
  const lengths = offsets + blobs * 4;
  const rawLengths = lengths + blobs * 4;
  const dictNos = rawLengths + blobs * 4;
  const flags = dictNos + blobs * 2;
  let i = 0;
  for (const p of file.packs) {
    for (const b of p.blobs) {
      hex(b[0], ids + i * ID, "chunk id");
      u32(b[1], offsets + i * 4, "offset");
      u32(b[2], lengths + i * 4, "length");
      u32(b[3], rawLengths + i * 4, "raw length");
      buf.writeUInt16LE(typeof b[5] === "string" ? dicts.get(b[5])! : NO_DICT, dictNos + i * 2);
      buf[flags + i] = b[4] === 1 ? 1 : 0;
      i++;
    }
  }
  return compress(buf, { compressionLevel: 1 });
}

/** An index file's columns, as ChunkTable adds them. */
interface Columns {
  packIds: string[];
  packSizes: number[];
  /** Each blob's pack, as a position in packIds. */
  packOf: Uint32Array;
  dictIds: string[];
  /** The blob ids' hex, end to end. */
  ids: string;
  /** The same as bytes (32 each; an id that is not 64 hex digits, which no manifest can name, is zeros there). */
  raw: Buffer;
  /** Whether each id is 64 hex digits; null: all are. */
  valid: Uint8Array | null;
  count: number;
  offsets: Uint32Array;
  lengths: Uint32Array;
  rawLengths: Uint32Array;
  dictOf: Uint16Array;
  compressed: Uint8Array;
}

/** Decodes a stored index file, in either format; `what` names it in errors. */
function decodeIndex(stored: Uint8Array, what: string): Columns {
  const buf = unzstd(stored, what);
  if (buf[0] === 0x7b /* { */) return fromJson(buf, what);
  const bad = (why: string) => new CorruptObjectError(`${what} is unreadable (${why})`);
  if (buf.length < HEADER || !buf.subarray(0, 4).equals(MAGIC)) throw bad("not a Daybox index");
  if (buf[4] !== 2) throw new CorruptObjectError(`${what} has format version ${buf[4]}; this Daybox reads versions 1 (JSON) and 2 (a newer Daybox wrote it?)`);
  const packs = buf.readUInt32LE(8);
  const count = buf.readUInt32LE(12);
  const dicts = buf.readUInt32LE(16);
  if (buf.length !== HEADER + packs * PACK + dicts * ID + count * BLOB) throw bad("its size does not match its header");
  const packIds: string[] = [];
  const packSizes: number[] = [];
  const packOf = new Uint32Array(count);
  let at = HEADER;
  let first = 0;
  for (let p = 0; p < packs; p++, at += PACK) {
    packIds.push(buf.toString("hex", at, at + ID));
    packSizes.push(buf.readDoubleLE(at + ID));
    const n = buf.readUInt32LE(at + ID + 8);
    if (n > count - first) throw bad("its packs list more blobs than it holds");
    packOf.fill(p, first, first + n);
    first += n;
  }
  if (first !== count) throw bad("its packs list fewer blobs than it holds");
  const dictIds: string[] = [];
  for (let d = 0; d < dicts; d++, at += ID) dictIds.push(buf.toString("hex", at, at + ID));
  const raw = buf.subarray(at, at + count * ID);
  const ids = raw.toString("hex");
  at += count * ID;
  // (Copied out: the columns' offsets in the buffer need not be aligned.)
  const u32s = (n: number) => {
    const out = new Uint32Array(n);
    Buffer.from(out.buffer).set(buf.subarray(at, at + n * 4));
    at += n * 4;
    return out;
  };
  const offsets = u32s(count);
  const lengths = u32s(count);
  const rawLengths = u32s(count);
  const dictOf = new Uint16Array(count);
  Buffer.from(dictOf.buffer).set(buf.subarray(at, at + count * 2));
  at += count * 2;
  const compressed = Uint8Array.from(buf.subarray(at, at + count));
  for (const d of dictOf) if (d !== NO_DICT && d >= dicts) throw bad("a blob names a dictionary it does not list");
  return { packIds, packSizes, packOf, dictIds, ids, raw, valid: null, count, offsets, lengths, rawLengths, dictOf, compressed };
}

/** A format-1 (JSON) index file's columns. */
function fromJson(buf: Buffer, what: string): Columns {
  const file = parseJson<IndexFile>(buf, what);
  if (file?.version !== 1 || !Array.isArray(file.packs)) {
    throw new CorruptObjectError(`${what} has format version ${JSON.stringify(file?.version)} in JSON; this Daybox reads versions 1 (JSON) and 2 (a newer Daybox wrote it?)`);
  }
  const count = file.packs.reduce((n, p) => n + p.blobs.length, 0);
  const out: Columns = {
    packIds: file.packs.map((p) => p.id),
    packSizes: file.packs.map((p) => p.size),
    packOf: new Uint32Array(count),
    dictIds: [],
    ids: "",
    raw: Buffer.alloc(count * ID),
    valid: new Uint8Array(count),
    count,
    offsets: new Uint32Array(count),
    lengths: new Uint32Array(count),
    rawLengths: new Uint32Array(count),
    dictOf: new Uint16Array(count),
    compressed: new Uint8Array(count),
  };
  const dicts = new Map<string, number>();
  const ids: string[] = [];
  let i = 0;
  for (const [p, pack] of file.packs.entries()) {
    for (const b of pack.blobs) {
      const id = String(b[0]);
      ids.push(id.padEnd(64, "?").slice(0, 64)); // (any other length is no id of ours: it matches nothing)
      if (HEX64.test(id)) {
        out.raw.write(id, i * ID, ID, "hex");
        out.valid![i] = 1;
      }
      out.packOf[i] = p;
      out.offsets[i] = b[1];
      out.lengths[i] = b[2];
      out.rawLengths[i] = b[3];
      out.compressed[i] = b[4] === 1 ? 1 : 0;
      if (typeof b[5] === "string") {
        let d = dicts.get(b[5]);
        if (d === undefined) dicts.set(b[5], (d = dicts.size));
        out.dictOf[i] = d;
      } else out.dictOf[i] = NO_DICT;
      i++;
    }
  }
  out.dictIds = [...dicts.keys()];
  out.ids = ids.join("");
  return out;
}

/**
 * Every chunk the repository's index files list: chunk id → where it is
 * stored (the later file wins where two list one). Read as a map, kept as
 * the files' columns and one open-addressing hash table of positions in
 * them (keyed by an id's first four bytes: ids are hashes): no object, key
 * string or number per chunk, and the collector has nothing to trace. The
 * native addon fills it (indexSlots: the bench's 49k chunks in ~1 ms, where a
 * Map took ~60 ms under load and this loop in JavaScript not yet optimized
 * ~30 ms); JavaScript does where the addon is not built. A location is made
 * when it is asked for.
 */
export class ChunkTable implements ReadonlyMap<string, Location> {
  readonly #native: NativeWalk | null;
  readonly #files: Columns[] = [];
  /** Where each file's blobs start in the positions of all files' blobs, end to end. */
  readonly #bases: number[] = [];
  #total = 0;
  /** All files' ids end to end, as hex and as bytes (made with the table, on the first lookup after an add). */
  #hex = "";
  #raw: Buffer = Buffer.alloc(0);
  /** An id's position + 1 in the slot its hash leads to (0: empty); null until made. */
  #slots: Int32Array | null = null;
  #mask = 0;
  #size = 0;
  /** Every pack the files list: its size and the index file that lists it. */
  readonly packs = new Map<string, { size: number; index: string }>();

  /** `native`: false makes the table in JavaScript where the native addon is built (tests compare the two). */
  constructor({ native = true }: { native?: boolean } = {}) {
    this.#native = native ? nativeWalk() : null;
  }

  /** Adds a stored index file, named `id`. */
  add(id: string, stored: Uint8Array): void {
    const file = decodeIndex(stored, `index ${id}`);
    this.#files.push(file);
    this.#bases.push(this.#total);
    this.#total += file.count;
    for (const [p, pack] of file.packIds.entries()) this.packs.set(pack, { size: file.packSizes[p]!, index: id });
    this.#slots = null;
  }

  /**
   * The table as the reading threads look ids up in it (snapshot-worker.mjs:
   * KnownIds): every id listed, end to end (with repeats where two files list
   * one), and the slots of their positions, in shared memory (not copied, nor
   * built again by each thread: ~30 ms of CPU each).
   */
  lookup(): { ids: string; slots: Int32Array; mask: number; raw: Buffer } {
    const { hex, slots, raw } = this.#table();
    return { ids: hex, slots, mask: this.#mask, raw };
  }

  get size(): number {
    this.#table();
    return this.#size;
  }
  has(id: string): boolean {
    return this.#position(id) >= 0;
  }
  /** Whether the 32 bytes at buf[at] are a chunk id the table lists. */
  hasBytes(buf: Uint8Array, at: number): boolean {
    const { slots, raw } = this.#table();
    const key = ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
    for (let slot = key & this.#mask; ; slot = (slot + 1) & this.#mask) {
      const p = slots[slot]! - 1;
      if (p < 0) return false;
      let k = 0;
      while (k < ID && raw[p * ID + k] === buf[at + k]) k++; // (no call into C++ per id)
      if (k === ID) return true;
    }
  }
  get(id: string): Location | undefined {
    const p = this.#position(id);
    return p < 0 ? undefined : this.#location(id, p);
  }
  *entries(): MapIterator<[string, Location]> {
    for (const p of this.#positions()) {
      const id = this.#hex.slice(p * 64, p * 64 + 64);
      yield [id, this.#location(id, p)];
    }
  }
  *keys(): MapIterator<string> {
    for (const p of this.#positions()) yield this.#hex.slice(p * 64, p * 64 + 64);
  }
  *values(): MapIterator<Location> {
    for (const [, loc] of this.entries()) yield loc;
  }
  [Symbol.iterator](): MapIterator<[string, Location]> {
    return this.entries();
  }
  forEach(visit: (value: Location, key: string, map: ReadonlyMap<string, Location>) => void): void {
    for (const [id, loc] of this) visit(loc, id, this);
  }

  /** The positions listed, in order, each id once (at its last). */
  *#positions(): Generator<number> {
    this.#table();
    for (let p = 0; p < this.#total; p++) if (this.#position(this.#hex.slice(p * 64, p * 64 + 64)) === p) yield p;
  }

  /** Where `id` is (its last listing), or -1. */
  #position(id: string): number {
    const { slots, hex } = this.#table();
    return idPosition(hex, slots, this.#mask, id);
  }

  /** The hash table, made now if an add came since. */
  #table(): { slots: Int32Array; hex: string; raw: Buffer } {
    if (this.#slots) return { slots: this.#slots, hex: this.#hex, raw: this.#raw };
    this.#hex = this.#files.length === 1 ? this.#files[0]!.ids : this.#files.map((f) => f.ids).join("");
    this.#raw = this.#files.length === 1 ? this.#files[0]!.raw : Buffer.concat(this.#files.map((f) => f.raw));
    let size = 1024;
    while (size < 2 * this.#total) size *= 2;
    const slots = new Int32Array(new SharedArrayBuffer(size * 4));
    this.#mask = size - 1;
    this.#size = 0;
    const raw = this.#raw;
    if (this.#native) {
      const valid = this.#files.some((f) => f.valid) ? Buffer.concat(this.#files.map((f) => f.valid ?? new Uint8Array(f.count).fill(1))) : null;
      this.#size = this.#native.indexSlots(raw, valid, slots);
      this.#slots = slots;
      return { slots, hex: this.#hex, raw };
    }
    for (const [f, file] of this.#files.entries()) {
      const base = this.#bases[f]!;
      for (let i = 0; i < file.count; i++) {
        if (file.valid && !file.valid[i]) continue;
        const p = base + i;
        for (let slot = raw.readUInt32BE(p * ID) & this.#mask; ; slot = (slot + 1) & this.#mask) {
          const q = slots[slot]! - 1;
          if (q < 0) {
            slots[slot] = p + 1;
            this.#size++;
            break;
          }
          if (raw.compare(raw, p * ID, p * ID + ID, q * ID, q * ID + ID) === 0) {
            slots[slot] = p + 1; // listed again: the later one
            break;
          }
        }
      }
    }
    this.#slots = slots;
    return { slots, hex: this.#hex, raw };
  }

  #location(id: string, p: number): Location {
    let lo = 0;
    for (let hi = this.#bases.length - 1; lo < hi; ) {
      const mid = (lo + hi + 1) >> 1;
      if (this.#bases[mid]! <= p) lo = mid;
      else hi = mid - 1;
    }
    const f = this.#files[lo]!;
    const i = p - this.#bases[lo]!;
    const d = f.dictOf[i]!;
    return {
      pack: f.packIds[f.packOf[i]!]!,
      entry: { id, offset: f.offsets[i]!, length: f.lengths[i]!, rawLength: f.rawLengths[i]!, compressed: f.compressed[i] === 1, ...(d !== NO_DICT ? { dict: f.dictIds[d]! } : {}) },
    };
  }
}
