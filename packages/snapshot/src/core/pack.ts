/**
 * Pack files: many compressed chunks in one object (~16 MiB), so a snapshot
 * of 50,000 small files is a few dozen uploads, not 50,000. Layout:
 *
 *   blob 0 | blob 1 | … | footer (JSON) | footer length (u32 LE) | "DBXP"
 *
 * The footer repeats the pack's index entries, so a lost index can be
 * rebuilt from the packs alone.
 */

export interface BlobEntry {
  id: string; // the raw chunk's hash, hex (the repository's chunk hash: SHA-256 or BLAKE3)
  offset: number;
  length: number; // stored bytes
  rawLength: number;
  compressed: boolean;
  /** The dictionary (dicts/<id>) it was compressed with, if any. */
  dict?: string;
}

const MAGIC = Buffer.from("DBXP");

/**
 * The pack whose blobs are `buf[0, size)` (laid out as `entries` say): the
 * footer is written after them in place when `buf` has room, so the blobs
 * are not copied again; otherwise a new buffer.
 */
export function packBytes(buf: Uint8Array, size: number, entries: BlobEntry[]): Uint8Array {
  const footer = Buffer.from(JSON.stringify(entries.map(packed)));
  const total = size + footer.length + 8;
  const out = total <= buf.length ? buf : new Uint8Array(total);
  if (out !== buf) out.set(buf.subarray(0, size));
  out.set(footer, size);
  new DataView(out.buffer, out.byteOffset).setUint32(size + footer.length, footer.length, true);
  out.set(MAGIC, size + footer.length + 4);
  return out.subarray(0, total);
}

/**
 * The footer's bytes. A pack is named by the SHA-256 of its footer, not of the
 * whole pack: the footer lists every blob's content hash, offset and length,
 * so it identifies the pack as well, and hashing 16 MiB again per pack cost
 * ~10% of a snapshot. Blob bytes are verified by their own hashes on read.
 */
export function packFooter(pack: Uint8Array): Buffer {
  const buf = Buffer.from(pack.buffer, pack.byteOffset, pack.byteLength);
  if (buf.length < 8 || !buf.subarray(buf.length - 4).equals(MAGIC)) throw new Error("not a Daybox pack (bad magic)");
  const len = buf.readUInt32LE(buf.length - 8);
  if (len > buf.length - 8) throw new Error("pack footer length out of range");
  return buf.subarray(buf.length - 8 - len, buf.length - 8);
}

export function decodePackFooter(pack: Uint8Array): BlobEntry[] {
  const raw = JSON.parse(packFooter(pack).toString("utf8")) as PackedEntry[];
  return raw.map(unpacked);
}

/** Index and footer entries are stored as compact tuples (the dictionary's id last, when there is one). */
export type PackedEntry = [id: string, offset: number, length: number, rawLength: number, compressed: 0 | 1, dict?: string];
export const packed = (e: BlobEntry): PackedEntry => (e.dict ? [e.id, e.offset, e.length, e.rawLength, 1, e.dict] : [e.id, e.offset, e.length, e.rawLength, e.compressed ? 1 : 0]);
export const unpacked = (t: PackedEntry): BlobEntry => ({ id: t[0], offset: t[1], length: t[2], rawLength: t[3], compressed: t[4] === 1, ...(typeof t[5] === "string" ? { dict: t[5] } : {}) });

/** One index file: the packs one snapshot wrote, and their blobs. */
export interface IndexFile {
  version: 1;
  packs: { id: string; size: number; blobs: PackedEntry[] }[];
}
