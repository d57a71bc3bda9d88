import { compress } from "zstd-napi";
import { isDataChunk, type ChunkRef, type Entry, type FileEntry, type Manifest } from "../core/manifest.ts";
import type { ChunkTable } from "./chunk-table.ts";
import { nativeWalk } from "./native.ts";
import { CorruptObjectError, firstFrame, membersBefore, parseJson, unzstd } from "./codec.ts";
import type { WalkParent } from "./scan.ts";

/**
 * How manifests are stored: zstd frames of ~FRAME_BYTES each (see
 * ManifestEncoder), in one of two formats.
 *
 * Format 1 (repositories of format 1 and 2): the Manifest as JSON, its
 * entries last (the members before them fill the first frame alone).
 *
 * Format 2 (repositories of format 3 on): the members but the entries as one
 * line of JSON, `{"version":2,…}\n`, alone in the first frame; then each
 * entry as a record (little-endian):
 *
 *   u8 type (1 directory, 2 file, 3 symlink, 4 hardlink), u32 length + path (UTF-8)
 *   directory, file, symlink: u32 mode, u32 uid, u32 gid, u8 length + mtime ns (decimal)
 *   file:     f64 size, f64 ino, u8 length + ctime ns (decimal), u32 chunks,
 *             each u8 0 + 32-byte id + f64 length, or u8 1 + f64 length of zeros
 *   symlink:  u32 length + target
 *   hardlink: u32 length + link (the path of an earlier file)
 *
 * An incremental snapshot reads its parent's records without decoding them
 * (ParentManifest): the native walk compares with them where they lie, and a
 * file found unchanged has its record copied into the new manifest as it is.
 * The bench's parent (54k entries): ready in ~10 ms instead of ~100 ms of
 * JSON parsing, and no 54k objects for the garbage collector.
 */
export type ManifestFormat = 1 | 2;

const FRAME_BYTES = 1 << 20;
const HEAD_2 = Buffer.from('{"version":2,');
const TYPES = ["", "dir", "file", "symlink", "hardlink"] as const;
const TYPE_OF = { dir: 1, file: 2, symlink: 3, hardlink: 4 } as const;

/** A growing buffer of records. */
class Records {
  buf = Buffer.allocUnsafe(64 * 1024);
  at = 0;

  #room(n: number) {
    if (this.at + n <= this.buf.length) return;
    const more = Buffer.allocUnsafe(Math.max(2 * this.buf.length, this.at + n));
    this.buf.copy(more, 0, 0, this.at);
    this.buf = more;
  }
  u8(n: number) {
    this.#room(1);
    this.buf[this.at++] = n;
  }
  u32(n: number, what: () => string) {
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`cannot store ${what()}: ${n} is not a 32-bit unsigned integer`);
    this.#room(4);
    this.at = this.buf.writeUInt32LE(n, this.at);
  }
  f64(n: number) {
    this.#room(8);
    this.at = this.buf.writeDoubleLE(n, this.at);
  }
  /** A u32 length and the string's UTF-8. */
  text(s: string) {
    const n = Buffer.byteLength(s);
    this.#room(4 + n);
    this.at = this.buf.writeUInt32LE(n, this.at);
    this.at += this.buf.write(s, this.at, "utf8");
  }
  /** A u8 length and the decimal digits of a time. */
  time(s: string, what: () => string) {
    if (typeof s !== "string" || s.length > 255) throw new Error(`cannot store ${what()}: ${String(s).slice(0, 40)} is not a time`);
    this.#room(1 + s.length);
    this.buf[this.at++] = s.length;
    this.at += this.buf.write(s, this.at, "latin1");
  }
  bytes(b: Uint8Array, from = 0, to = b.length) {
    this.#room(to - from);
    this.buf.set(b.subarray(from, to), this.at);
    this.at += to - from;
  }
  /** The records written, copied out; the buffer is reused. */
  take(): Buffer {
    const out = Buffer.from(this.buf.subarray(0, this.at));
    this.at = 0;
    return out;
  }
}

/** Writes entry `e` as a format-2 record. */
function writeRecord(r: Records, e: Entry): void {
  const what = (field: string) => () => `${field} of ${e.path}`;
  r.u8(TYPE_OF[e.type] ?? 0);
  r.text(e.path);
  if (e.type === "hardlink") return r.text(e.link);
  r.u32(e.mode, what("the mode"));
  r.u32(e.uid, what("the uid"));
  r.u32(e.gid, what("the gid"));
  r.time(e.mtimeNs, what("the mtime"));
  if (e.type === "symlink") return r.text(e.target);
  if (e.type !== "file") return;
  r.f64(e.size);
  r.f64(e.ino);
  r.time(e.ctimeNs, what("the ctime"));
  r.u32(e.chunks.length, what("the chunk count"));
  for (const c of e.chunks) {
    if (isDataChunk(c)) {
      if (!/^[0-9a-f]{64}$/.test(c[0])) throw new Error(`cannot store ${e.path}: chunk id ${JSON.stringify(String(c[0]).slice(0, 70))} is not 64 hex digits`);
      r.u8(0);
      r.bytes(Buffer.from(c[0], "hex"));
      r.f64(c[1]);
    } else {
      r.u8(1);
      r.f64(c.zero);
    }
  }
}

/** Reads format-2 records, every read bounds-checked: a damaged manifest is an error, never a misread. */
class Reader {
  constructor(
    readonly buf: Buffer,
    public at: number,
    readonly what: string,
  ) {}
  #need(n: number) {
    if (this.at + n > this.buf.length) throw new CorruptObjectError(`${this.what} is unreadable (a record runs past its end)`);
  }
  u8(): number {
    this.#need(1);
    return this.buf[this.at++]!;
  }
  u32(): number {
    this.#need(4);
    const n = this.buf.readUInt32LE(this.at);
    this.at += 4;
    return n;
  }
  f64(): number {
    this.#need(8);
    const n = this.buf.readDoubleLE(this.at);
    this.at += 8;
    return n;
  }
  text(): string {
    const n = this.u32();
    this.#need(n);
    this.at += n;
    return this.buf.toString("utf8", this.at - n, this.at);
  }
  time(): string {
    const n = this.u8();
    this.#need(n);
    this.at += n;
    return this.buf.toString("latin1", this.at - n, this.at);
  }
  skip(n: number) {
    this.#need(n);
    this.at += n;
  }
  /** Skips a u32-length string. */
  skipText() {
    this.skip(this.u32());
  }
}

/** The record at r.at as an Entry. */
function readRecord(r: Reader): Entry {
  const type = TYPES[r.u8()];
  if (!type) throw new CorruptObjectError(`${r.what} is unreadable (a record of unknown type ${r.buf[r.at - 1]})`);
  const path = r.text();
  if (type === "hardlink") return { type, path, link: r.text() };
  const mode = r.u32();
  const uid = r.u32();
  const gid = r.u32();
  const mtimeNs = r.time();
  if (type === "dir") return { path, mode, uid, gid, mtimeNs, type };
  if (type === "symlink") return { path, mode, uid, gid, mtimeNs, type, target: r.text() };
  const size = r.f64();
  const ino = r.f64();
  const ctimeNs = r.time();
  const count = r.u32();
  if (count > (r.buf.length - r.at) / 9) throw new CorruptObjectError(`${r.what} is unreadable (${path} claims ${count} chunks)`);
  const chunks: ChunkRef[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const kind = r.u8();
    if (kind === 0) {
      r.skip(32);
      const id = r.buf.toString("hex", r.at - 32, r.at);
      chunks[i] = [id, r.f64()];
    } else if (kind === 1) chunks[i] = { zero: r.f64() };
    else throw new CorruptObjectError(`${r.what} is unreadable (${path}: a chunk of unknown kind ${kind})`);
  }
  return { path, mode, uid, gid, mtimeNs, type, size, chunks, ino, ctimeNs };
}

/** Skips the record at r.at; returns its type. */
function skipRecord(r: Reader): number {
  const type = r.u8();
  if (type < 1 || type > 4) throw new CorruptObjectError(`${r.what} is unreadable (a record of unknown type ${type})`);
  r.skipText();
  if (type === 4) return (r.skipText(), type);
  r.skip(12);
  r.skip(r.u8());
  if (type === 3) r.skipText();
  if (type !== 2) return type;
  r.skip(16);
  r.skip(r.u8());
  for (let count = r.u32(); count > 0; count--) r.skip(r.u8() === 0 ? 40 : 8);
  return type;
}

/** A manifest's members but its entries. */
type Head = Omit<Manifest, "entries">;

/** Splits a stored manifest into its members and the rest: format-2 records, or the entries of format 1. */
function split(stored: Uint8Array, what: string): { head: Head; records: Buffer; start: number } | Manifest {
  const buf = unzstd(stored, what);
  if (buf.subarray(0, HEAD_2.length).equals(HEAD_2)) {
    const end = buf.indexOf(10);
    try {
      if (end < 0) throw new Error("no end of line");
      return { head: JSON.parse(buf.toString("utf8", 0, end)) as Head, records: buf, start: end + 1 };
    } catch (err) {
      throw new CorruptObjectError(`${what} is unreadable (its first line is not its members)`, { cause: err });
    }
  }
  return parseJson<Manifest>(buf, what);
}

/** A stored manifest, either format, decoded whole (validateManifest is the caller's). */
export function decodeManifest(stored: Uint8Array, what: string): Manifest {
  const parts = split(stored, what);
  if (!("records" in parts)) return parts;
  const r = new Reader(parts.records, parts.start, what);
  const entries: Entry[] = [];
  while (r.at < r.buf.length) entries.push(readRecord(r));
  return { ...parts.head, entries };
}

/** The members but the entries of a stored manifest, from its first bytes alone (see Repository.snapshots), or null. */
export function decodeManifestHead(head: Uint8Array): Head | null {
  const frame = firstFrame(head);
  if (!frame) return null;
  if (frame.length > HEAD_2.length && frame.subarray(0, HEAD_2.length).equals(HEAD_2)) {
    const end = frame.indexOf(10);
    try {
      return end > 0 ? (JSON.parse(frame.toString("utf8", 0, end)) as Head) : null;
    } catch {
      return null;
    }
  }
  return membersBefore<Head>(frame.toString("utf8"), "entries");
}

/**
 * A parent snapshot as an incremental snapshot uses it: its records, read
 * where they lie (format 2), or its entries (format 1), by number.
 */
export class ParentManifest {
  readonly head: Head;
  /** Where each record starts in #records, and where the last ends (format 2). */
  readonly #starts: Uint32Array | null = null;
  readonly #records: Buffer | null = null;
  readonly #entries: readonly Entry[] | null = null;
  readonly #what: string;

  /** `stored`: the manifest as stored, or decoded already. */
  constructor(stored: Uint8Array | Manifest, what: string) {
    this.#what = what;
    const parts = stored instanceof Uint8Array ? split(stored, what) : stored;
    if (!("records" in parts)) {
      this.head = parts;
      if (!Array.isArray(parts.entries)) throw new CorruptObjectError(`${what} is unreadable (it lists no entries)`);
      this.#entries = parts.entries;
      return;
    }
    this.head = parts.head;
    this.#records = parts.records;
    const starts: number[] = [];
    const r = new Reader(parts.records, parts.start, what);
    while (r.at < r.buf.length) {
      starts.push(r.at);
      skipRecord(r);
    }
    starts.push(r.at);
    this.#starts = Uint32Array.from(starts);
  }

  get id(): string {
    return this.head.id;
  }

  /** How many entries it has. */
  get count(): number {
    return this.#entries ? this.#entries.length : this.#starts!.length - 1;
  }

  /** Entry `i`, decoded. */
  entry(i: number): Entry {
    if (this.#entries) return this.#entries[i]!;
    return readRecord(new Reader(this.#records!, this.#starts![i]!, this.#what));
  }

  /** File `i`'s size. */
  size(i: number): number {
    if (this.#entries) return (this.#entries[i] as FileEntry).size;
    return this.#records!.readDoubleLE(this.#sizeAt(i));
  }

  /** Where file record `i`'s size is, past its type, path, mode, owner and mtime (the constructor walked every record: no bounds to check). */
  #sizeAt(i: number): number {
    const buf = this.#records!;
    const at = this.#starts![i]! + 5 + buf.readUInt32LE(this.#starts![i]! + 1) + 12;
    return at + 1 + buf[at]!;
  }

  /**
   * The records, in format 2, as the native walk compares with them (for a
   * format-1 parent, encoded now); and for each whether it may be trusted:
   * a file whose ctime is before `before.ns` (`before.wholeSecondsNs` for a
   * ctime in whole seconds) and whose data chunks `known` all lists. With the
   * native addon (and `native`, which tests turn off), a format-2 parent's
   * records are checked there: 54k in ~2 ms.
   */
  comparable(before: { ns: number; wholeSecondsNs: number }, known: ChunkTable, native = true): WalkParent {
    const trusted = new Uint8Array(this.count);
    const parent = { count: this.count, entry: (i: number) => this.entry(i), trusted };
    const settled = (ns: number, whole: boolean) => ns < (whole ? before.wholeSecondsNs : before.ns);
    if (this.#entries) {
      const out = new Records();
      for (const [i, e] of this.#entries.entries()) {
        writeRecord(out, e);
        if (e.type === "file" && settled(Number(e.ctimeNs), e.ctimeNs.endsWith("000000000")) && e.chunks.every((c) => !isDataChunk(c) || known.has(c[0]))) trusted[i] = 1;
      }
      return { ...parent, records: out.take() };
    }
    const buf = this.#records!;
    const starts = this.#starts!;
    const records = buf.subarray(starts[0], starts[starts.length - 1]);
    const addon = native ? nativeWalk() : null;
    if (addon) {
      const { slots, raw } = known.lookup();
      addon.trustRecords(records, slots, raw, before.ns, before.wholeSecondsNs, trusted);
      return { ...parent, records };
    }
    for (let i = 0; i < trusted.length; i++) {
      if (buf[starts[i]!] !== 2) continue;
      let at = this.#sizeAt(i) + 16; // (past the size and inode)
      const length = buf[at++]!;
      let ns = 0;
      let whole = length >= 9;
      for (let k = buf[at] === 45 ? 1 : 0; k < length; k++) {
        ns = ns * 10 + buf[at + k]! - 48;
        if (k >= length - 9 && buf[at + k] !== 48) whole = false;
      }
      if (!settled(buf[at] === 45 ? -ns : ns, whole)) continue;
      at += length;
      let ok = true;
      for (let count = buf.readUInt32LE(at), c = at + 4; count > 0 && ok; count--, c += buf[c] === 0 ? 41 : 9) {
        if (buf[c] === 0) ok = known.hasBytes(buf, c + 1);
      }
      if (ok) trusted[i] = 1;
    }
    return { ...parent, records };
  }

  /** Appends records [from, to) as they are stored (format 2) to `out`; false for a format-1 parent. */
  copyRecords(from: number, to: number, out: Records): boolean {
    if (!this.#records) return false;
    out.bytes(this.#records, this.#starts![from]!, this.#starts![to]!);
    return true;
  }
}

/** An entry of a manifest being written: an Entry, or the number of the parent's entry it repeats. */
export type Item = Entry | number;
type Part = { data: string | Buffer } | { item: Item };

/**
 * A manifest's encoding, built while its entries are still being found:
 * entries are encoded and compressed as they are added, FRAME_BYTES per zstd
 * frame, so a snapshot's manifest is written ~0.1 s sooner once its last
 * file is read. An entry added before it is complete (a file still being
 * read) keeps its frame open until it is (settle). The members other than
 * the entries, known last, go into a frame of their own, stored first: zstd
 * frames concatenate, so the object decodes as one, and its members read
 * from its start alone (decodeManifestHead).
 */
export class ManifestEncoder {
  readonly #format: ManifestFormat;
  readonly #parent: ParentManifest | null;
  /** Frames in order: compressed, or their parts (entries encoded, or one still incomplete). */
  #frames: (Buffer | Part[])[] = [];
  #parts: Part[] = [];
  #partsBytes = 0;
  #count = 0;
  readonly #records = new Records();

  /** `parent`: what numbered items refer to. */
  constructor(format: ManifestFormat, parent: ParentManifest | null) {
    this.#format = format;
    this.#parent = parent;
  }

  /** How many items are added. */
  get count(): number {
    return this.#count;
  }

  /** Adds items[count, end): those `complete` says are encoded now and must not change from now on; the others once they are (settle). */
  add(items: readonly Item[], end: number, complete: (item: Item) => boolean = () => true): void {
    for (let i = this.#count; i < end; ) {
      let j = i;
      while (j < end && complete(items[j]!)) j++;
      if (j > i) {
        const data = this.#encode(items, i, j);
        this.#parts.push({ data });
        this.#partsBytes += data.length;
      }
      if (j < end) {
        this.#parts.push({ item: items[j]! });
        this.#partsBytes += 200;
        j++;
      }
      i = j;
      if (this.#partsBytes >= FRAME_BYTES) this.#seal();
    }
    this.#count = Math.max(this.#count, end);
    this.settle(complete);
  }

  /** Compresses the frames whose items are all complete now. */
  settle(complete: (item: Item) => boolean = () => true): void {
    for (const [i, frame] of this.#frames.entries()) {
      if (!Buffer.isBuffer(frame) && frame.every((p) => "data" in p || complete(p.item))) this.#frames[i] = this.#compress(frame, i > 0);
    }
  }

  /** Forgets what was added (items added have changed). */
  reset(): void {
    this.#frames = [];
    this.#parts = [];
    this.#partsBytes = 0;
    this.#count = 0;
  }

  /** The stored manifest: `head`'s members, then `items` (its first `count` added already, complete now). */
  finish(head: Head, items: readonly Item[]): Buffer {
    this.add(items, items.length);
    this.#seal();
    this.settle();
    const frames = this.#frames as Buffer[];
    if (this.#format === 2) {
      const { version: _, ...rest } = head;
      return Buffer.concat([compress(Buffer.from(`${JSON.stringify({ version: 2, ...rest })}\n`), { compressionLevel: 1 }), ...frames]);
    }
    const members = JSON.stringify({ ...head, version: 1, entries: undefined });
    const first = `${members.slice(0, -1)},"entries":[`;
    return Buffer.concat([compress(Buffer.from(first), { compressionLevel: 1 }), ...frames, compress(Buffer.from("]}"), { compressionLevel: 1 })]);
  }

  /** Items [i, j) in this format: JSON text without the brackets, or records. */
  #encode(items: readonly Item[], i: number, j: number): string | Buffer {
    const resolve = (x: Item) => (typeof x === "number" ? this.#parent!.entry(x) : x);
    if (this.#format === 1) return JSON.stringify(items.slice(i, j).map(resolve)).slice(1, -1);
    for (let k = i; k < j; k++) {
      const x = items[k]!;
      if (typeof x === "number") {
        let end = k + 1; // (the parent's records come in runs: a directory's unchanged files)
        while (end < j && items[end] === x + (end - k)) end++;
        if (this.#parent!.copyRecords(x, x + (end - k), this.#records)) {
          k = end - 1;
          continue;
        }
      }
      writeRecord(this.#records, resolve(x));
    }
    return this.#records.take();
  }

  #seal(): void {
    if (this.#parts.length) this.#frames.push(this.#parts);
    this.#parts = [];
    this.#partsBytes = 0;
  }

  #compress(parts: Part[], comma: boolean): Buffer {
    const data = parts.map((p) => ("data" in p ? p.data : this.#encode([p.item], 0, 1)));
    if (this.#format === 1) return compress(Buffer.from(`${comma ? "," : ""}${(data as string[]).join(",")}`), { compressionLevel: 1 });
    return compress(Buffer.concat(data as Buffer[]), { compressionLevel: 1 });
  }
}
