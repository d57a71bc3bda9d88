import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { deletePrefix, prefixUsage } from "../s3.ts";
import { run, type Tool, type ToolContext } from "./types.ts";

const CLI = path.resolve(import.meta.dirname, "../../../../apps/cli");

/**
 * Daybox through its CLI (`daybox snapshot create|restore --json`), one
 * process per operation like the other tools, run from the CLI's bundle
 * (built once here, as `npm run up` builds it). Snapshots fill a pack cache
 * (as a node that parks a session does); cold restore runs without it, warm
 * restore with it.
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
    return { ...process.env, DAYBOX_S3_ENDPOINT: this.ctx.s3.endpoint, AWS_ACCESS_KEY_ID: this.ctx.s3.accessKeyId, AWS_SECRET_ACCESS_KEY: this.ctx.s3.secretAccessKey, AWS_REGION: this.ctx.s3.region, NODE_NO_WARNINGS: "1" };
  }

  async #cli(label: string, args: string[]): Promise<Record<string, unknown>> {
    const seq = ++this.#profileSeq;
    const nodeArgs = this.ctx.nodeArgs.map((a) => a.replace("{label}", `${seq}-${label}`));
    const out = await run(process.execPath, [...nodeArgs, path.join(CLI, "bin/daybox.js"), "snapshot", ...args, "--repo", `s3://${this.ctx.bucket}/${this.ctx.prefix}`, "--json"], { env: this.#env() });
    const res = JSON.parse(out) as Record<string, unknown>;
    this.ctx.log(`daybox ${label}: ${JSON.stringify(res)}`);
    return res;
  }

  async init() {
    mkdirSync(this.#cacheDir, { recursive: true });
    // The bundle bin/daybox.js runs while it is fresh (it falls back to the sources, slower to start, if not).
    execFileSync(process.execPath, [path.join(CLI, "scripts/build.mjs")], { stdio: "ignore" });
  }

  async snapshot(dir: string) {
    const r = await this.#cli("first", ["create", dir, "--cache", this.#cacheDir]);
    this.#ids.push(r["id"] as string);
    this.#notes["first.engineMs"] = (r["stats"] as { durationMs: number }).durationMs;
  }

  async incremental(dir: string) {
    const r = await this.#cli("incremental", ["create", dir, "--parent", this.#ids.at(-1)!, "--cache", this.#cacheDir]);
    this.#ids.push(r["id"] as string);
    this.#notes["incremental.engineMs"] = (r["stats"] as { durationMs: number }).durationMs;
  }

  async restore(target: string, { warm }: { warm: boolean }) {
    const r = await this.#cli(warm ? "warm-restore" : "cold-restore", ["restore", this.#ids.at(-1)!, target, ...(warm ? ["--cache", this.#cacheDir] : [])]);
    this.#notes[`${warm ? "warm" : "cold"}.engineMs`] = r["durationMs"] as number;
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
