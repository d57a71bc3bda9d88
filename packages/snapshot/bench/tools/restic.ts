import { mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { deletePrefix, prefixUsage } from "../s3.ts";
import { run, type Tool, type ToolContext } from "./types.ts";

/**
 * restic (Debian package) with its S3 backend against the same server;
 * repository format 2 (compression auto, restic's default). Backups run from
 * inside the tree (`restic backup .`), so a restore puts the tree at the
 * target's root. The second backup finds the first as its parent itself.
 * Cold restore uses an empty cache dir; warm restore the cache the backups
 * filled (restic caches metadata only, never file data).
 */
export class ResticTool implements Tool {
  readonly name = "restic";
  readonly warmRestore = true;
  readonly #cache: string;

  constructor(private readonly ctx: ToolContext) {
    this.#cache = path.join(ctx.scratch, "restic-cache");
  }

  #restic(args: string[], opts: { cwd?: string; cache?: string } = {}) {
    const { s3 } = this.ctx;
    return run("restic", ["-r", `s3:${s3.endpoint}/${this.ctx.bucket}/${this.ctx.prefix}`, "--cache-dir", opts.cache ?? this.#cache, "-q", ...args], {
      cwd: opts.cwd ?? this.ctx.scratch,
      env: { ...process.env, RESTIC_PASSWORD: "daybox-bench", AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_DEFAULT_REGION: s3.region },
    });
  }

  async init() {
    mkdirSync(this.#cache, { recursive: true });
    await this.#restic(["init"]);
  }

  async snapshot(dir: string) {
    await this.#restic(["backup", ".", "--host", "bench"], { cwd: dir });
  }

  async incremental(dir: string) {
    await this.#restic(["backup", ".", "--host", "bench"], { cwd: dir });
  }

  async restore(target: string, { warm }: { warm: boolean }) {
    const cache = warm ? this.#cache : path.join(this.ctx.scratch, `restic-cold-cache-${Date.now()}`);
    try {
      await this.#restic(["restore", "latest", "--host", "bench", "--target", target], { cache });
    } finally {
      if (!warm) rmSync(cache, { recursive: true, force: true });
    }
  }

  async storedBytes() {
    return (await prefixUsage(this.ctx.client, this.ctx.bucket, `${this.ctx.prefix}/`)).bytes;
  }

  async cleanup() {
    await deletePrefix(this.ctx.client, this.ctx.bucket, `${this.ctx.prefix}/`);
    rmSync(this.#cache, { recursive: true, force: true });
  }
}
