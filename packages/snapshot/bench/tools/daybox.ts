import { mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { deletePrefix, prefixUsage } from "../s3.ts";
import { run, type Tool, type ToolContext } from "./types.ts";

const WORKER = path.join(import.meta.dirname, "daybox-worker.ts");

/**
 * Daybox snapshot engine against the S3 server (S3Store via parseStoreUrl,
 * with retries, as the CLI wires it). Snapshots fill a PackCache (as a node
 * that parks a session does); cold restore runs without it, warm restore with it.
 */
export class DayboxTool implements Tool {
  readonly name = "daybox";
  readonly warmRestore = true;
  #ids: string[] = [];
  #notes: Record<string, number | string> = {};
  readonly #cacheDir: string;
  #profileSeq = 0;

  constructor(private readonly ctx: ToolContext) {
    this.#cacheDir = path.join(ctx.scratch, "pack-cache");
  }

  #env() {
    return { ...process.env, DAYBOX_S3_ENDPOINT: this.ctx.s3.endpoint, AWS_ACCESS_KEY_ID: this.ctx.s3.accessKeyId, AWS_SECRET_ACCESS_KEY: this.ctx.s3.secretAccessKey, AWS_REGION: this.ctx.s3.region };
  }

  async #op(label: string, req: Record<string, unknown>): Promise<Record<string, unknown>> {
    const seq = ++this.#profileSeq;
    const out = await run(process.execPath, [...this.ctx.nodeArgs.map((a) => a.replace("{label}", `${seq}-${label}`)), "--import", "tsx", WORKER, JSON.stringify({ repoUrl: `s3://${this.ctx.bucket}/${this.ctx.prefix}`, ...req })], {
      env: this.#env(),
      cwd: import.meta.dirname,
    });
    const res = JSON.parse(out.trim().split("\n").at(-1)!) as Record<string, unknown>;
    this.ctx.log(`daybox ${label}: ${JSON.stringify(res)}`);
    return res;
  }

  async init() {
    mkdirSync(this.#cacheDir, { recursive: true });
  }

  async snapshot(dir: string) {
    const r = await this.#op("first", { op: "snapshot", source: dir, cacheDir: this.#cacheDir });
    this.#ids.push(r["id"] as string);
    this.#notes["first.engineMs"] = Math.round(r["totalMs"] as number);
  }

  async incremental(dir: string) {
    const r = await this.#op("incremental", { op: "snapshot", source: dir, parentId: this.#ids.at(-1), cacheDir: this.#cacheDir });
    this.#ids.push(r["id"] as string);
    this.#notes["incremental.engineMs"] = Math.round(r["totalMs"] as number);
  }

  async restore(target: string, { warm }: { warm: boolean }) {
    const r = await this.#op(warm ? "warm-restore" : "cold-restore", { op: "restore", snapshotId: this.#ids.at(-1), target, ...(warm ? { cacheDir: this.#cacheDir } : {}) });
    this.#notes[`${warm ? "warm" : "cold"}.engineMs`] = Math.round(r["totalMs"] as number);
    this.#notes[`${warm ? "warm" : "cold"}.fetchedBytes`] = r["fetchedBytes"] as number;
  }

  async storedBytes() {
    return (await prefixUsage(this.ctx.client, this.ctx.bucket, `${this.ctx.prefix}/`)).bytes;
  }

  notes() {
    return this.#notes;
  }

  async cleanup() {
    await deletePrefix(this.ctx.client, this.ctx.bucket, `${this.ctx.prefix}/`);
    rmSync(this.#cacheDir, { recursive: true, force: true });
  }
}
