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

  it("cuts where it always has: the same lengths as every earlier version (chunks dedupe across versions)", () => {
    expect(small.split(bytes(200_000, 3))).toEqual([
      9431, 9493, 9029, 8344, 7093, 8281, 3376, 4506, 12100, 8221, 8215, 8366, 7107, 4034, 3144, 6791, 8558, 10377, 9065, 8515, 7257, 5410, 8254, 11672, 9560, 3801,
    ]);
  });

  it("cuts exactly where the byte-by-byte gear hash does (the loop is unrolled), final or not, at any length", () => {
    const gear = new Int32Array(gearTable().buffer);
    const mask = (bits: number) => (bits >= 32 ? -1 : ((1 << bits) - 1) << (32 - bits));
    const reference = ({ minSize, avgSize, maxSize }: { minSize: number; avgSize: number; maxSize: number }, data: Uint8Array, final: boolean) => {
      const bits = Math.round(Math.log2(avgSize));
      const [maskS, maskL] = [mask(bits + 2), mask(Math.max(1, bits - 2))];
      if (data.length <= minSize) return final ? data.length : 0;
      const end = Math.min(data.length, maxSize);
      let h = 0;
      for (let i = minSize; i < end; i++) {
        h = ((h << 1) + gear[data[i]!]!) | 0;
        if ((h & (i < Math.min(end, avgSize) ? maskS : maskL)) === 0) return i + 1;
      }
      return end === maxSize ? maxSize : final ? data.length : 0;
    };
    for (const params of [{ minSize: 1, avgSize: 4, maxSize: 16 }, { minSize: 64, avgSize: 256, maxSize: 1024 }, { minSize: 2048, avgSize: 8192, maxSize: 32768 }]) {
      const chunker = new Chunker(params);
      for (let seed = 1; seed <= 12; seed++) {
        for (const length of [0, 1, 3, 4, 5, 63, 64, 65, 255, 256, 257, 1023, 1024, 1025, 4099, 40_000]) {
          const data = bytes(length, seed);
          for (const final of [true, false]) for (let from = 0; from < Math.min(length, 5); from++) expect(chunker.cut(data.subarray(from), final)).toBe(reference(params, data.subarray(from), final));
        }
      }
    }
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
