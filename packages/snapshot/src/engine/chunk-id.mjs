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
