import { describe, expect, it } from "vitest";
import { compress, decompress } from "zstd-napi";
import { unpacked, type IndexFile } from "../core/pack.ts";
import { ChunkTable, encodeIndex } from "./chunk-table.ts";
import { CorruptObjectError, encodeJson } from "./codec.ts";

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
      expect(table.ids()).toBe([1, 2, 3, 4].map(hex).join(""));
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
});
