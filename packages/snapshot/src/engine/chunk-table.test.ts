import { describe, expect, it } from "vitest";
import { compress, decompress } from "zstd-napi";
import { unpacked, type IndexFile, type PackedEntry } from "../core/pack.ts";
import { ChunkTable, encodeIndex } from "./chunk-table.ts";
import { CorruptObjectError, encodeJson } from "./codec.ts";
import { nativeWalk } from "./native.ts";

const hex = (n: number) => n.toString(16).padStart(64, "0");
const dict = "d".repeat(64);
const file: IndexFile = {
  version: 1,
  packs: [
    { id: hex(0xa1), size: 1000, blobs: [[hex(1), 0, 10, 20, 1, dict], [hex(2), 10, 30, 30, 0], [hex(3), 40, 5, 9, 1]] },
    { id: hex(0xa2), size: 2 ** 33, blobs: [[hex(4), 0, 0xffffffff, 0xffffffff, 1, "e".repeat(64)]] },
    { id: hex(0xa3), size: 0, blobs: [] },
  ],
};

describe("index files and the chunk table", () => {
  it("reads a binary index as the JSON one it encodes: every chunk's pack and entry, every pack's size and file", () => {
    for (const stored of [encodeIndex(file), encodeJson(file)]) {
      const table = new ChunkTable();
      table.add("i1", stored);
      expect(table.size).toBe(4);
      for (const p of file.packs) {
        expect(table.packs.get(p.id)).toEqual({ size: p.size, index: "i1" });
        for (const b of p.blobs) expect(table.get(b[0])).toEqual({ pack: p.id, entry: unpacked(b) });
      }
      expect(table.has(hex(5))).toBe(false);
      expect(table.get(hex(5))).toBeUndefined();
      expect([...table.keys()]).toEqual([1, 2, 3, 4].map(hex));
      expect([...table.values()].map((l) => l.entry.id)).toEqual([1, 2, 3, 4].map(hex));
      expect(table.lookup().ids).toBe([1, 2, 3, 4].map(hex).join(""));
    }
  });

  it("takes a chunk two files list from the later one, across formats", () => {
    const table = new ChunkTable();
    table.add("old", encodeJson(file));
    table.add("empty", encodeIndex({ version: 1, packs: [] }));
    table.add("new", encodeIndex({ version: 1, packs: [{ id: hex(0xb1), size: 50, blobs: [[hex(2), 7, 30, 30, 0]] }] }));
    expect(table.size).toBe(4);
    expect(table.get(hex(2))).toEqual({ pack: hex(0xb1), entry: { id: hex(2), offset: 7, length: 30, rawLength: 30, compressed: false } });
    expect(table.get(hex(4))!.pack).toBe(hex(0xa2));
    expect(table.packs.get(hex(0xb1))).toEqual({ size: 50, index: "new" });
  });

  it.each([true, false])("looks ids up by their hex or their bytes, ids that share their first bytes included, and lists no id that is not one (native addon: %s)", (native) => {
    const same = (i: number) => `c0ffee00${i.toString(16).padStart(56, "0")}`; // one hash slot for all of them
    const ids = [...Array.from({ length: 300 }, (_, i) => same(i)), ...Array.from({ length: 3000 }, (_, i) => hex(i * 7919 + 11))];
    const table = new ChunkTable({ native });
    table.add("bin", encodeIndex({ version: 1, packs: [{ id: hex(0xa1), size: 1, blobs: ids.slice(0, 2000).map((id, i) => [id, i, 1, 1, 0]) }] }));
    table.add("json", encodeJson({ version: 1, packs: [{ id: hex(0xa2), size: 1, blobs: [...ids.slice(2000).map((id, i): PackedEntry => [id, i, 1, 1, 0]), ["not-an-id", 0, 1, 1, 0], [hex(0xabcdef).toUpperCase(), 0, 1, 1, 0]] }] }));
    expect(table.size).toBe(ids.length);
    const bytes = Buffer.concat([Buffer.alloc(3), ...ids.map((id) => Buffer.from(id, "hex"))]);
    for (const [i, id] of ids.entries()) {
      expect(table.has(id)).toBe(true);
      expect(table.hasBytes(bytes, 3 + 32 * i)).toBe(true);
      expect(table.get(id)!.entry.offset).toBe(i < 2000 ? i : i - 2000);
    }
    for (const missing of [same(300), hex(5), "not-an-id", hex(0xabcdef).toUpperCase(), `${"c0ffee00".toUpperCase()}${"0".repeat(56)}`]) expect(table.has(missing)).toBe(false);
    expect(table.hasBytes(Buffer.from(same(300), "hex"), 0)).toBe(false);
    expect([...table.keys()]).toEqual(ids);
    const { ids: all, slots, mask } = table.lookup(); // (what the reading threads look ids up in, shared, not copied)
    expect(all.length).toBe((ids.length + 2) * 64); // (the two non-ids match nothing)
    expect(slots.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(slots.length).toBe(mask + 1);
  });

  it("refuses a damaged binary index with a clear error, and will not write ids or sizes it cannot store", () => {
    const raw = Buffer.from(decompress(encodeIndex(file)));
    const damaged = (change: (b: Buffer) => Buffer) => () => new ChunkTable().add("bad", compress(change(Buffer.from(raw))));
    expect(damaged((b) => b.subarray(0, b.length - 1))).toThrow(new CorruptObjectError("index bad is unreadable (its size does not match its header)"));
    expect(damaged((b) => (b.writeUInt32LE(4, 20 + 32 + 8), b))).toThrow(/its packs list more blobs than it holds/);
    expect(damaged((b) => (b.writeUInt32LE(2, 20 + 32 + 8), b))).toThrow(/its packs list fewer blobs than it holds/);
    const dictNos = raw.length - 4 - 4 * 2;
    expect(damaged((b) => (b.writeUInt16LE(7, dictNos), b))).toThrow(/a blob names a dictionary it does not list/);
    expect(damaged((b) => b.fill(0, 0, 4))).toThrow(/not a Daybox index/);
    expect(() => new ChunkTable().add("bad", Buffer.from("not zstd"))).toThrow(/index bad is unreadable/);
    expect(() => encodeIndex({ version: 1, packs: [{ id: hex(1), size: 1, blobs: [["A".repeat(64), 0, 1, 1, 0]] }] })).toThrow(/chunk id "AAAA.*" is not a 64-digit hex id/);
    expect(() => encodeIndex({ version: 1, packs: [{ id: hex(1), size: 1, blobs: [[hex(2), 2 ** 32, 1, 1, 0]] }] })).toThrow(/offset 4294967296 is out of range/);
  });

  it("has the native addon refuse records that are not a manifest's", () => {
    const addon = nativeWalk();
    if (!addon) return; // (JavaScript only here: covered above)
    const { slots, raw } = new ChunkTable().lookup();
    for (const bad of [Buffer.from([9]), Buffer.from([2, 200, 0, 0, 0, 65]), Buffer.from([4, 1, 0, 0, 0, 65, 5, 0])]) {
      expect(() => addon.trustRecords(bad, slots, raw, 0, 0, new Uint8Array(4))).toThrow(/the records are malformed/);
    }
    expect(() => addon.indexSlots(Buffer.alloc(64), null, new Int32Array(3))).toThrow(/bad lengths/);
  });
});
