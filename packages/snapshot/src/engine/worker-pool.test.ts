import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { withoutLoaders } from "./worker-pool.ts";

let work: string;
beforeEach(() => {
  work = mkdtempSync(path.join(tmpdir(), "daybox-pool-"));
});
afterEach(() => rmSync(work, { recursive: true, force: true }));
const mkdirp = (dir: string) => (mkdirSync(dir, { recursive: true }), dir);

describe("worker threads' Node options", () => {
  it("drop module loaders (the workers are plain JavaScript) and keep the rest", () => {
    expect(withoutLoaders(["--import", "tsx", "--cpu-prof", "--import=tsx/esm", "--max-old-space-size=4096", "-r", "ts-node/register", "--loader", "x", "--experimental-loader=y", "--require=z"])).toEqual(["--cpu-prof", "--max-old-space-size=4096"]);
    expect(withoutLoaders([])).toEqual([]);
  });

  it("start threads under V8 flags a thread may not be given (--max-old-space-size), with the loader", { timeout: 30_000 }, () => {
    const pool = pathToFileURL(path.join(import.meta.dirname, "worker-pool.ts")).href;
    const worker = pathToFileURL(path.join(import.meta.dirname, "restore-worker.mjs")).href;
    const script = `import { WorkerPool } from ${JSON.stringify(pool)};
      const p = new WorkerPool(new URL(${JSON.stringify(worker)}), 1, "test", { chunkHash: "blake3", dicts: {}, maxChunk: 1 });
      console.log(JSON.stringify(await p.run({ pack: "none", buffers: [], blobs: [] })));
      await p.close();`;
    writeFileSync(path.join(work, "pool.mjs"), script);
    const run = spawnSync(process.execPath, ["--max-old-space-size=256", "--import", "tsx", path.join(work, "pool.mjs")], { encoding: "utf8", cwd: import.meta.dirname });
    expect(run.stderr).not.toMatch(/ERR_WORKER/);
    expect(JSON.parse(run.stdout)).toEqual({ seq: 0, written: 0 });
  });

  it("start scan threads, with the channels between them, under such flags too", { timeout: 30_000 }, () => {
    const tree = path.join(work, "tree");
    for (let d = 0; d < 4; d++) for (let f = 0; f < 10; f++) writeFileSync(path.join(mkdirp(path.join(tree, `d${d}`)), `f${f}`), "");
    const scan = pathToFileURL(path.join(import.meta.dirname, "scan.ts")).href;
    const script = `import { TreeScan } from ${JSON.stringify(scan)};
      let n = 0;
      for await (const batch of new TreeScan(${JSON.stringify(tree)}, { threads: 3, batch: 2, range: 2 })) n += batch.length;
      console.log(n);`;
    writeFileSync(path.join(work, "scan.mjs"), script);
    const run = spawnSync(process.execPath, ["--max-old-space-size=256", "--import", "tsx", path.join(work, "scan.mjs")], { encoding: "utf8", cwd: import.meta.dirname });
    expect(run.stderr).not.toMatch(/ERR_WORKER|Error/);
    expect(run.stdout.trim()).toBe("44");
  });
});
