import { describe, expect, it } from "vitest";
import { compress, decompress } from "zstd-napi";
import type { Entry, FileEntry, Manifest } from "../core/manifest.ts";
import { ChunkTable, encodeIndex } from "./chunk-table.ts";
import { CorruptObjectError } from "./codec.ts";
import { decodeManifest, decodeManifestHead, ManifestEncoder, ParentManifest, type Item, type ManifestFormat } from "./manifest-codec.ts";

const id = (i: number) => i.toString(16).padStart(64, "0");
const file = (i: number, extra: Partial<FileEntry> = {}): FileEntry => ({
  path: `lib/python3.12/site-packages/pkg${i % 97}/módulo_${i}.py`,
  mode: 0o644,
  uid: 1000,
  gid: 1000,
  mtimeNs: `1700000000${String(i + 1).padStart(9, "0")}`,
  type: "file",
  size: 10,
  chunks: [[id(i), 10]],
  ino: 1000 + i,
  ctimeNs: `1700000000${String(i + 7).padStart(9, "0")}`,
  ...extra,
});
/** One of each kind of entry, with what a format must keep: negative times, zero runs, big sizes, other scripts. */
const kinds: Entry[] = [
  { path: "home", mode: 0o755, uid: 0, gid: 0, mtimeNs: "-315619200000000000", type: "dir" },
  file(1, { path: "home/日記.txt", chunks: [[id(1), 4], { zero: 2 ** 40 }, [id(2), 6]], size: 2 ** 40 + 10, ino: 2 ** 52 }),
  file(2, { path: "home/empty", chunks: [], size: 0, mode: 0o4755, uid: 4294967294 }),
  { path: "home/link", mode: 0o777, uid: 0, gid: 0, mtimeNs: "0", type: "symlink", target: "/usr/bin/python3.12" },
  { path: "home/hard", type: "hardlink", link: "home/empty" },
];
/** A chunk table that lists `ids`. */
const known = (ids: string[]) => {
  const table = new ChunkTable();
  table.add("i", encodeIndex({ version: 1, packs: [{ id: id(0xabc), size: 1, blobs: ids.map((c) => [c, 0, 1, 1, 0] as const) }] }));
  return table;
};
const head = (format: ManifestFormat) => ({ version: format, id: "20261130T040000Z-00000001", parent: null, createdAt: "2026-11-30T04:00:00.000Z", scanStartedNs: "1", tags: { session: "s" }, stats: {} as Manifest["stats"] });

describe("manifest formats", () => {
  it.each([1, 2] as const)("format %i: every kind of entry decodes as it was, and the members read from the start alone", (format) => {
    const stored = new ManifestEncoder(format, null).finish(head(format), kinds);
    expect(decodeManifest(stored, "m")).toEqual({ ...head(format), entries: kinds });
    expect(decodeManifestHead(stored.subarray(0, 200))).toEqual(head(format));
    if (format === 1) expect(JSON.parse(decompress(stored).toString())).toEqual({ ...head(1), entries: kinds }); // plain JSON, as before
  });

  it.each([1, 2] as const)("format %i: entries added in pieces over several frames, complete or not, and the parent's by number", (format) => {
    const parentEntries = Array.from({ length: 5000 }, (_, i) => file(i));
    for (const parentFormat of [1, 2] as const) {
      const parent = new ParentManifest(new ManifestEncoder(parentFormat, null).finish(head(parentFormat), parentEntries), "parent");
      // 20k entries (several 1 MiB frames): new ones, the parent's by number, three incomplete when added.
      // Then a run of the parent's (copied as one where they are stored as one).
      const items: Item[] = [...Array.from({ length: 20_000 }, (_, i) => (i % 4 === 0 ? i / 4 : file(10_000 + i))), ...Array.from({ length: 1500 }, (_, k) => 3000 + k)];
      const waiting = new Set<Item>([items[5]!, items[12_001]!, items[19_999]!]);
      const complete = (x: Item) => !waiting.has(x);
      const encoder = new ManifestEncoder(format, parent);
      for (let end = 0; end < items.length; end += 999) encoder.add(items, end, complete);
      for (const x of waiting) (x as FileEntry).chunks.push({ zero: 5 }); // completed later: encoded as it is then
      waiting.delete(items[5]!);
      encoder.settle(complete);
      waiting.clear();
      const stored = encoder.finish(head(format), items);
      const want = items.map((x) => (typeof x === "number" ? parentEntries[x]! : x));
      expect(decodeManifest(stored, "m")).toEqual({ ...head(format), entries: want });
      const again = new ManifestEncoder(format, parent);
      again.add(items, 10);
      again.reset();
      expect(again.count).toBe(0);
      expect(decodeManifest(again.finish(head(format), items), "m").entries).toEqual(want);
    }
  });

  it("reads a parent's entries by number, and says which files may be trusted, in either format", () => {
    const entries: Entry[] = [...kinds, file(3, { ctimeNs: "900" }), file(4, { chunks: [[id(99), 10]] }), file(5, { ctimeNs: "-2000000000" }), file(6, { ctimeNs: "1700000000000000000" })];
    for (const format of [1, 2] as const) {
      const stored = new ManifestEncoder(format, null).finish(head(format), entries);
      const parent = new ParentManifest(stored, "parent");
      expect(parent.count).toBe(entries.length);
      expect(parent.head).toMatchObject(head(format));
      for (const [i, e] of entries.entries()) {
        expect(parent.entry(i)).toEqual(e);
        if (e.type === "file") expect(parent.size(i)).toBe(e.size);
      }
      // Not trusted: what is not a file, a file whose ctime is too recent (whole seconds have a limit of their own),
      // a file with a chunk the repository lacks. In the native addon and in JavaScript alike.
      const table = known([1, 2, 3, 4, 5, 6].map(id));
      for (const native of [true, false]) {
        expect([...parent.comparable({ ns: 1000, wholeSecondsNs: 1.8e18 }, table, native).trusted]).toEqual([0, 0, 0, 0, 0, 1, 0, 1, 1]);
        expect([...parent.comparable({ ns: 1.8e18, wholeSecondsNs: -1e9 }, table, native).trusted]).toEqual([0, 1, 1, 0, 0, 1, 0, 1, 0]);
        expect([...parent.comparable({ ns: Infinity, wholeSecondsNs: Infinity }, known([]), native).trusted]).toEqual([0, 0, 1, 0, 0, 0, 0, 0, 0]); // (no data chunks)
      }
      expect(parent.comparable({ ns: 0, wholeSecondsNs: 0 }, table).records).toEqual(new ParentManifest(new ManifestEncoder(2, null).finish(head(2), entries), "p").comparable({ ns: 0, wholeSecondsNs: 0 }, table).records);
    }
  });

  it("refuses a damaged format-2 manifest with a clear error, never a misread", () => {
    const raw = decompress(new ManifestEncoder(2, null).finish(head(2), kinds));
    const firstRecord = raw.indexOf(10) + 1;
    const damaged = (change: (b: Buffer) => Buffer) => () => decodeManifest(compress(change(Buffer.from(raw))), "snapshot x");
    expect(damaged((b) => b.subarray(0, b.length - 3))).toThrow(new CorruptObjectError("snapshot x is unreadable (a record runs past its end)"));
    expect(damaged((b) => ((b[firstRecord] = 9), b))).toThrow(/a record of unknown type 9/);
    expect(damaged((b) => ((b[raw.indexOf(10)] = 32), b))).toThrow(/its first line is not its members/);
    const chunkCount = raw.indexOf(Buffer.from(id(1), "hex")) - 5;
    expect(damaged((b) => (b.writeUInt32LE(0xffffffff, chunkCount), b))).toThrow(/claims 4294967295 chunks/);
    expect(damaged((b) => ((b[chunkCount + 4] = 7), b))).toThrow(/a chunk of unknown kind 7/);
    expect(() => new ParentManifest(compress(Buffer.from(raw.subarray(0, raw.length - 1))), "p")).toThrow(CorruptObjectError);
    expect(() => decodeManifest(Buffer.from("not zstd"), "snapshot y")).toThrow(/snapshot y is unreadable/);
    expect(() => new ManifestEncoder(2, null).finish(head(2), [file(1, { mode: -1 })])).toThrow(/cannot store the mode of .*: -1 is not a 32-bit unsigned integer/);
    expect(() => new ManifestEncoder(2, null).finish(head(2), [file(1, { chunks: [["xyz", 10]] })])).toThrow(/chunk id "xyz" is not 64 hex digits/);
  });
});
