import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { deletePrefix, downloadStream, prefixUsage, uploadStream } from "../s3.ts";
import type { Tool, ToolContext } from "./types.ts";

/** Runs a shell pipeline; resolves when it exits 0. */
function shell(script: string, stdio: "pipe-out" | "pipe-in") {
  const child = spawn("bash", ["-o", "pipefail", "-c", script], { stdio: stdio === "pipe-out" ? ["ignore", "pipe", "pipe"] : ["pipe", "ignore", "pipe"] });
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const done = new Promise<void>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`${script} failed (exit ${code}): ${err.slice(-2000)}`))));
  });
  return { child, done };
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * The simple baseline: `tar -cf - . | zstd -1 -T0` streamed into one object
 * (multipart upload overlapping compression); an "incremental" snapshot is a
 * full re-upload; restore is one GET streamed into `zstd -d | tar -x`.
 * For reference, the incremental is also taken with GNU tar's
 * --listed-incremental (level 1 against the first archive's snapshot file),
 * reported as the "tar+zstd (listed-incremental)" row.
 */
export class TarZstdTool implements Tool {
  readonly name = "tar+zstd";
  readonly warmRestore = false;
  #n = 0;
  listedIncrementalMs = NaN;

  constructor(private readonly ctx: ToolContext) {}

  get #snar0() {
    return path.join(this.ctx.scratch, "level0.snar");
  }

  async #archive(dir: string, key: string, extraTar = "") {
    const { child, done } = shell(`tar -C ${q(dir)} ${extraTar} -cf - . | zstd -1 -T0 -q -c`, "pipe-out");
    const [size] = await Promise.all([uploadStream(this.ctx.client, this.ctx.bucket, `${this.ctx.prefix}/${key}`, child.stdout!), done]);
    this.ctx.log(`tar+zstd: ${key} ${size} bytes`);
  }

  async init() {
    mkdirSync(this.ctx.scratch, { recursive: true });
  }

  async snapshot(dir: string) {
    // Level 0 with a snapshot file, so the listed-incremental reference has its base (cost: negligible).
    await this.#archive(dir, `full/${this.#n++}.tar.zst`, `--listed-incremental=${q(this.#snar0)}`);
  }

  async incremental(dir: string) {
    await this.#archive(dir, `full/${this.#n++}.tar.zst`);
  }

  /** The reference: GNU tar level-1 incremental, timed by the caller separately. */
  async listedIncremental(dir: string) {
    const snar1 = path.join(this.ctx.scratch, "level1.snar");
    copyFileSync(this.#snar0, snar1);
    await this.#archive(dir, `listed/1.tar.zst`, `--listed-incremental=${q(snar1)}`);
  }

  async restore(target: string, { warm }: { warm: boolean }) {
    if (warm) throw new Error("tar+zstd has no warm restore");
    mkdirSync(target);
    const { child, done } = shell(`zstd -d -q -c | tar -C ${q(target)} -xpf - --numeric-owner`, "pipe-in");
    await Promise.all([downloadStream(this.ctx.client, this.ctx.bucket, `${this.ctx.prefix}/full/${this.#n - 1}.tar.zst`, child.stdin!), done]);
  }

  /** Both full archives. */
  async storedBytes() {
    return (await prefixUsage(this.ctx.client, this.ctx.bucket, `${this.ctx.prefix}/full/`)).bytes;
  }

  /** Level 0 + level 1 (what the listed-incremental scheme keeps). */
  async listedStoredBytes() {
    const level0 = await prefixUsage(this.ctx.client, this.ctx.bucket, `${this.ctx.prefix}/full/0.tar.zst`);
    const level1 = await prefixUsage(this.ctx.client, this.ctx.bucket, `${this.ctx.prefix}/listed/`);
    return level0.bytes + level1.bytes;
  }

  async cleanup() {
    await deletePrefix(this.ctx.client, this.ctx.bucket, `${this.ctx.prefix}/`);
    rmSync(this.ctx.scratch, { recursive: true, force: true });
  }
}
