/**
 * Content-defined chunking (FastCDC with normalized chunking, Xia et al. 2016).
 * Boundaries depend only on nearby content, so an insertion early in a file
 * moves only the chunks around it: unchanged regions dedupe across snapshots.
 * Pure: no I/O, deterministic for a given gear seed.
 */

export interface ChunkerParams {
  minSize: number;
  avgSize: number;
  maxSize: number;
}

/** Sizes tuned for environments: big enough for fast hashing/compression, small enough to dedupe edits. */
export const DEFAULT_CHUNKER: ChunkerParams = { minSize: 256 * 1024, avgSize: 1024 * 1024, maxSize: 4 * 1024 * 1024 };

/** 256 pseudo-random 32-bit values from a fixed seed (splitmix32), so every repository chunks alike. */
export function gearTable(seed = 0x64617962): Uint32Array {
  const table = new Uint32Array(256);
  let x = seed >>> 0;
  for (let i = 0; i < 256; i++) {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    table[i] = (z ^ (z >>> 16)) >>> 0;
  }
  return table;
}

const GEAR = gearTable();

/** The top `bits` bits: the gear hash's high bits depend on the most recent 32 bytes. */
function mask(bits: number): number {
  return bits >= 32 ? 0xffffffff : (((1 << bits) - 1) << (32 - bits)) >>> 0;
}

export class Chunker {
  readonly #p: ChunkerParams;
  readonly #maskS: number;
  readonly #maskL: number;

  constructor(params: ChunkerParams = DEFAULT_CHUNKER) {
    if (!(params.minSize > 0 && params.minSize <= params.avgSize && params.avgSize <= params.maxSize)) {
      throw new Error(`invalid chunker sizes: need 0 < min ≤ avg ≤ max, got ${JSON.stringify(params)}`);
    }
    this.#p = params;
    const bits = Math.round(Math.log2(params.avgSize));
    // Normalized chunking: harder to cut before the average size, easier after.
    this.#maskS = mask(bits + 2);
    this.#maskL = mask(Math.max(1, bits - 2));
  }

  get params(): ChunkerParams {
    return this.#p;
  }

  /**
   * Length of the first chunk of `data`. When `final` is false and no cut
   * point is found before the end, returns 0: the caller needs more bytes.
   */
  cut(data: Uint8Array, final: boolean): number {
    const n = data.length;
    const { minSize, avgSize, maxSize } = this.#p;
    if (n <= minSize) return final ? n : 0;
    const end = Math.min(n, maxSize);
    const normal = Math.min(end, avgSize);
    let h = 0;
    let i = minSize;
    const maskS = this.#maskS;
    const maskL = this.#maskL;
    for (; i < normal; i++) {
      h = ((h << 1) + GEAR[data[i]!]!) >>> 0;
      if ((h & maskS) === 0) return i + 1;
    }
    for (; i < end; i++) {
      h = ((h << 1) + GEAR[data[i]!]!) >>> 0;
      if ((h & maskL) === 0) return i + 1;
    }
    if (end === maxSize) return maxSize;
    return final ? n : 0;
  }

  /** Splits a whole buffer into chunk lengths (for tests and small inputs). */
  split(data: Uint8Array): number[] {
    const out: number[] = [];
    let off = 0;
    while (off < data.length) {
      const len = this.cut(data.subarray(off), true);
      out.push(len);
      off += len;
    }
    return out;
  }
}
