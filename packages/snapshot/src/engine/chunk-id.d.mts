// Types of chunk-id.mjs (plain JavaScript so worker threads can load it under any loader).

/** The hash that names a repository's chunks. */
export type ChunkHash = "sha256" | "blake3";

export const CHUNK_HASHES: readonly ChunkHash[];

/** The function that names chunks (hex) for `name`; throws for a name it does not know. */
export function chunkHasher(name: ChunkHash): (data: Uint8Array) => string;
