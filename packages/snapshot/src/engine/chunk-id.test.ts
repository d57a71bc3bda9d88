import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { chunkHasher } from "./chunk-id.mjs";

describe("chunk ids", () => {
  it("are BLAKE3 or SHA-256 in hex, by the repository's name for them (reference test vectors)", () => {
    const abc = new TextEncoder().encode("abc");
    expect(chunkHasher("blake3")(abc)).toBe("6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85");
    expect(chunkHasher("blake3")(new Uint8Array(0))).toBe("af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
    expect(chunkHasher("sha256")(abc)).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    // A view into shared memory (a worker's ring) hashes as its bytes do.
    const shared = new Uint8Array(new SharedArrayBuffer(16));
    shared.set(abc, 5);
    expect(chunkHasher("blake3")(shared.subarray(5, 8))).toBe(chunkHasher("blake3")(abc));
  });

  it("refuses a hash it does not know, naming the ones it does", () => {
    expect(() => chunkHasher("md5" as "sha256")).toThrow('unknown chunk hash "md5" (this Daybox knows sha256, blake3)');
  });

  it("says how to fix a missing BLAKE3 binary instead of failing obscurely", { timeout: 30_000 }, () => {
    // The module copied where no node_modules lies above it: the package, and its binary, are not found.
    const alone = mkdtempSync(path.join(tmpdir(), "daybox-chunk-id-"));
    try {
      copyFileSync(path.join(import.meta.dirname, "chunk-id.mjs"), path.join(alone, "chunk-id.mjs"));
      const module = pathToFileURL(path.join(alone, "chunk-id.mjs")).href;
      const run = spawnSync(process.execPath, ["--input-type=module", "-e", `import { chunkHasher } from ${JSON.stringify(module)}; try { chunkHasher("blake3"); } catch (e) { console.log(e.message); }`], { encoding: "utf8", cwd: alone });
      expect(run.stdout).toContain(`BLAKE3 (@napi-rs/blake-hash) has no binary installed for ${process.platform}-${process.arch}, which this repository's chunk ids need: reinstall with \`npm ci\``);
    } finally {
      rmSync(alone, { recursive: true, force: true });
    }
  });
});
