// Chunk ids: a hash of a chunk's raw bytes, in hex, by the repository's
// `chunkHash` (see RepoConfig). Format-1 repositories name chunks by SHA-256;
// the ones made since (format 2) by BLAKE3, which hashes a 1 MiB chunk 3.5×
// as fast on one core here (5.9 GB/s against 1.7 GB/s with the CPU's SHA
// instructions): every byte a snapshot reads and a restore writes is hashed
// once, so on 2 cores that is most of a second per 2 GB. BLAKE3 comes from
// @napi-rs/blake-hash (the reference Rust implementation, its binary shipped
// in npm). Plain JavaScript: the worker threads use it too.
import { createHash } from "node:crypto";
import { createRequire } from "node:module";

/** The chunk hashes a repository may name, by the name its config records. */
export const CHUNK_HASHES = Object.freeze(["sha256", "blake3"]);

/** Characters in a chunk id: every hash here is 32 bytes, in hex. */
export const CHUNK_ID_LENGTH = 64;

/**
 * Where chunk id `id` is in `ids` (chunk ids end to end), by the slots of an
 * open-addressing table of their positions + 1 (`mask` + 1 of them, a power
 * of two), keyed by an id's first 8 hex digits: ids are hashes. -1 if it is
 * not there, or is not 64 lowercase hex digits. The main thread's ChunkTable
 * makes the table; the reading threads look ids up in it as it is.
 */
export function idPosition(ids, slots, mask, id) {
  if (typeof id !== "string" || id.length !== CHUNK_ID_LENGTH) return -1;
  let key = 0;
  for (let k = 0; k < 8; k++) {
    const c = id.charCodeAt(k);
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : -1;
    if (d < 0) return -1;
    key = (key << 4) | d;
  }
  for (let slot = (key >>> 0) & mask; ; slot = (slot + 1) & mask) {
    const p = slots[slot] - 1;
    if (p < 0) return -1;
    if (ids.startsWith(id, p * CHUNK_ID_LENGTH)) return p;
  }
}

/** The function that names chunks for `name` (one of CHUNK_HASHES). */
export function chunkHasher(name) {
  switch (name) {
    case "sha256":
      return (data) => createHash("sha256").update(data).digest("hex");
    case "blake3": {
      let blake3;
      try {
        ({ blake3 } = loadBlake());
      } catch (err) {
        throw new Error(`BLAKE3 (@napi-rs/blake-hash) has no binary installed for ${process.platform}-${process.arch}, which this repository's chunk ids need: reinstall with \`npm ci\` (${err?.message ?? err})`, { cause: err });
      }
      return (data) => blake3(data).toString("hex");
    }
    default:
      throw new Error(`unknown chunk hash ${JSON.stringify(name)} (this Daybox knows ${CHUNK_HASHES.join(", ")})`);
  }
}

/**
 * @napi-rs/blake-hash. On glibc Linux its platform package is loaded straight
 * away: the package's own loader first tells glibc from musl by taking a
 * whole diagnostic report (process.report.getReport()), 10-20 ms of each
 * snapshot thread's start. Elsewhere, or if that binary does not load (musl),
 * the package's loader picks.
 */
function loadBlake() {
  const require = createRequire(import.meta.url);
  if (process.platform === "linux" && (process.arch === "x64" || process.arch === "arm64")) {
    try {
      return require(`@napi-rs/blake-hash-linux-${process.arch}-gnu`);
    } catch {
      // not installed here, or not a glibc system
    }
  }
  return require("@napi-rs/blake-hash");
}
