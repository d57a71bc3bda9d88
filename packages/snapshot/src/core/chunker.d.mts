// Types of chunker.mjs (plain JavaScript so worker threads can load it under any loader).

export interface ChunkerParams {
  minSize: number;
  avgSize: number;
  maxSize: number;
}

/** Sizes tuned for environments: big enough for fast hashing/compression, small enough to dedupe edits. */
export declare const DEFAULT_CHUNKER: Readonly<ChunkerParams>;

/** 256 pseudo-random 32-bit values from a fixed seed (splitmix32), so every repository chunks alike. */
export declare function gearTable(seed?: number): Uint32Array;

export declare class Chunker {
  constructor(params?: ChunkerParams);
  get params(): ChunkerParams;
  /**
   * Length of the first chunk of `data`. When `final` is false and no cut
   * point is found before the end, returns 0: the caller needs more bytes.
   */
  cut(data: Uint8Array, final: boolean): number;
  /** Splits a whole buffer into chunk lengths (for tests and small inputs). */
  split(data: Uint8Array): number[];
}
