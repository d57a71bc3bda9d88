import { describe, expect, it } from "vitest";
import { decodeJson, decodeJsonHead, JsonArrayEncoder } from "./codec.ts";

interface Item {
  path: string;
  chunks: string[];
}
const item = (i: number): Item => ({ path: `lib/python3.12/site-packages/pkg${i % 97}/module_${i}.py`, chunks: [`${i}`.padStart(64, "0")] });

describe("JsonArrayEncoder", () => {
  it("encodes the object JSON.stringify would, from items added in pieces over several frames, complete or not", () => {
    const items = Array.from({ length: 30_000 }, (_, i) => item(i)); // ~3.5 MB of text: four frames
    const waiting = new Set([items[5]!, items[12_000]!, items[29_999]!]); // incomplete when added
    const encoder = new JsonArrayEncoder<Item>("entries");
    const complete = (x: Item) => !waiting.has(x);
    for (let end = 0; end < items.length; end += 1000 + (end % 7)) encoder.add(items, Math.min(end, items.length), complete);
    // Incomplete items are encoded as they are at the end (a file's chunks come back after it was added).
    for (const x of waiting) x.chunks.push("f".repeat(64));
    waiting.delete(items[5]!);
    encoder.settle(complete);
    waiting.clear();
    const head = { version: 1, id: "x", tags: { a: "b" }, stats: { files: 30_000 } };
    const stored = encoder.finish(head, items);
    expect(decodeJson(stored, "test")).toEqual({ ...head, entries: items });
    expect(decodeJsonHead(stored.subarray(0, 1024), "entries")).toEqual(head); // the members come first, in a frame of their own
  });

  it("encodes no items, or all at the end, and forgets what it was given on reset", () => {
    const empty = new JsonArrayEncoder<Item>("entries");
    expect(decodeJson(empty.finish({ id: "e" }, []), "test")).toEqual({ id: "e", entries: [] });
    const encoder = new JsonArrayEncoder<Item>("entries");
    const items = [item(1), item(2)];
    encoder.add(items, 2);
    items[0] = item(3); // changed after it was added: the encoder must start again
    encoder.reset();
    expect(encoder.count).toBe(0);
    expect(decodeJson(encoder.finish({}, items), "test")).toEqual({ entries: items });
  });
});
