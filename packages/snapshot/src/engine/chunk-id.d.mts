// Types of chunk-id.mjs (plain JavaScript so worker threads can load it under any loader).

/** The hash that names a repository's chunks. */
export type ChunkHash = "sha256" | "blake3";

export const CHUNK_HASHES: readonly ChunkHash[];

/** Characters in a chunk id: every hash here is 32 bytes, in hex. */
export const CHUNK_ID_LENGTH: 64;

/** The function that names chunks (hex) for `name`; throws for a name it does not know. */
export function chunkHasher(name: ChunkHash): (data: Uint8Array) => string;

/** Where chunk id `id` is in `ids` by the table `slots` (mask + 1 long) of their positions + 1; -1 if it is not there. */
export function idPosition(ids: string, slots: Int32Array, mask: number, id: string): number;
