import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Chunker, gearTable } from "./chunker.mjs";

/** Deterministic pseudo-random bytes (xorshift), so tests are reproducible. */
function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

const small = new Chunker({ minSize: 2 * 1024, avgSize: 8 * 1024, maxSize: 32 * 1024 });

describe("Chunker", () => {
  it("covers the input exactly, within min/max sizes", () => {
    const data = bytes(1_000_000);
    const lengths = small.split(data);
    expect(lengths.reduce((a, b) => a + b, 0)).toBe(data.length);
    for (const len of lengths.slice(0, -1)) {
      expect(len).toBeGreaterThanOrEqual(2 * 1024);
      expect(len).toBeLessThanOrEqual(32 * 1024);
    }
    const avg = data.length / lengths.length;
    expect(avg).toBeGreaterThan(4 * 1024);
    expect(avg).toBeLessThan(16 * 1024);
  });

  it("is deterministic", () => {
    const data = bytes(300_000, 7);
    expect(small.split(data)).toEqual(small.split(Uint8Array.from(data)));
    expect(gearTable()).toEqual(gearTable());
  });

  it("an insertion near the start moves only nearby boundaries", () => {
    const data = bytes(2_000_000, 3);
    const edited = new Uint8Array(data.length + 100);
    edited.set(data.subarray(0, 5000));
    edited.set(randomBytes(100), 5000);
    edited.set(data.subarray(5000), 5100);
    const cutsA = new Set(offsets(small.split(data)));
    const cutsB = offsets(small.split(edited)).map((o) => o - 100);
    const shared = cutsB.filter((o) => cutsA.has(o)).length;
    expect(shared / cutsA.size).toBeGreaterThan(0.95);
  });

  it("asks for more data instead of cutting early when not final", () => {
    const data = bytes(10_000);
    const c = new Chunker({ minSize: 16 * 1024, avgSize: 64 * 1024, maxSize: 256 * 1024 });
    expect(c.cut(data, false)).toBe(0);
    expect(c.cut(data, true)).toBe(10_000);
  });

  it("cuts at maxSize on data without cut points", () => {
    expect(small.cut(new Uint8Array(100_000), false)).toBe(32 * 1024);
  });

  it("refuses impossible sizes", () => {
    expect(() => new Chunker({ minSize: 10, avgSize: 5, maxSize: 20 })).toThrow(/min ≤ avg ≤ max/);
  });
});

function offsets(lengths: number[]): number[] {
  const out: number[] = [];
  let o = 0;
  for (const l of lengths) out.push((o += l));
  return out;
}
