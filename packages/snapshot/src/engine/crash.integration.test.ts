import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSnapshot } from "./create.ts";
import { checkRepository, pruneRepository } from "./maintenance.ts";
import { Repository } from "./repository.ts";
import { restoreSnapshot } from "./restore.ts";
import { DirectoryStore } from "../stores/dir-store.ts";
import { describeTree, makeFixtureTree, noise } from "../testing/tree.ts";

const child = path.join(path.dirname(fileURLToPath(import.meta.url)), "../testing/snapshot-child.ts");
const TRIALS = 10;

/** Deterministic "random" kill times, so a failure reproduces. */
function* delays(seed: number): Generator<number> {
  let x = seed;
  for (;;) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    yield x;
  }
}

/**
 * A snapshot process killed (SIGKILL) at many points — loading, packing,
 * uploading, committing — never corrupts the repository or the previous
 * snapshot, and prune cleans up after it.
 */
describe("snapshot crash safety", () => {
  let work: string;
  let storeDir: string;
  let source: string;
  let repo: Repository;
  let baseId: string;
  let baseTree: ReturnType<typeof describeTree>;
  let fullRunMs: number;

  const strip = (t: ReturnType<typeof describeTree>) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v.type === "dir" ? { ...v, mtimeMs: 0 } : v]));

  beforeAll(async () => {
    work = mkdtempSync(path.join(tmpdir(), "daybox-crash-"));
    storeDir = path.join(work, "repo");
    source = path.join(work, "source");
    makeFixtureTree(source);
    repo = await Repository.open(new DirectoryStore(storeDir));
    baseId = (await createSnapshot({ repo, source })).id;
    baseTree = strip(describeTree(source));
    // New data for the crashing snapshots: many files and some big ones, ~40 MB.
    mkdirSync(path.join(source, "site-packages"));
    for (let i = 0; i < 400; i++) writeFileSync(path.join(source, "site-packages", `mod${i}.py`), noise(20_000 + i, i + 1));
    for (let i = 0; i < 3; i++) writeFileSync(path.join(source, `model-${i}.bin`), noise(10 * 1024 * 1024, 1000 + i));
    const t = Date.now();
    const run = await runChild(0);
    expect(run.code).toBe(0);
    fullRunMs = Date.now() - t;
  });
  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  function runChild(killAfterMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return new Promise((resolve) => {
      const p = spawn(process.execPath, ["--import", "tsx", child, storeDir, source, baseId], { stdio: "ignore" });
      const timer = killAfterMs > 0 ? setTimeout(() => p.kill("SIGKILL"), killAfterMs) : null;
      p.on("exit", (code, signal) => {
        if (timer) clearTimeout(timer);
        resolve({ code, signal });
      });
    });
  }

  it(`leaves the repository consistent after ${TRIALS} kills at random points`, async () => {
    const random = delays(20261122);
    let killed = 0;
    for (let trial = 0; trial < TRIALS; trial++) {
      const at = 100 + (random.next().value % Math.max(1, fullRunMs));
      const run = await runChild(at);
      if (run.signal === "SIGKILL") killed++;
      const check = await checkRepository(repo);
      expect(check.problems, `after a kill at ${at} ms`).toEqual([]);
    }
    expect(killed, "most trials must actually kill the snapshot mid-way").toBeGreaterThanOrEqual(TRIALS / 2);

    // Every snapshot that exists restores, and the base is byte-exact.
    const target = path.join(work, "restored-base");
    await restoreSnapshot({ repo, snapshotId: baseId, target });
    expect(strip(describeTree(target))).toEqual(baseTree);
    for (const id of await repo.snapshotIds()) await restoreSnapshot({ repo, snapshotId: id, target: path.join(work, `r-${id}`) });

    // Prune (past the lock TTL of the killed writers) removes the orphans; check stays clean.
    const later = new Date(Date.now() + 60_000);
    const pruned = await pruneRepository(repo, { graceMs: 0, now: later });
    expect(pruned.deletedPacks).toBeGreaterThan(0);
    const after = await checkRepository(repo, { readData: true });
    expect(after).toMatchObject({ problems: [], unindexedPacks: 0 });
    await restoreSnapshot({ repo, snapshotId: baseId, target: path.join(work, "restored-after-prune") });
    expect(strip(describeTree(path.join(work, "restored-after-prune")))).toEqual(baseTree);
  });
});
