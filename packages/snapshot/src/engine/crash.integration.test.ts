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
import { FaultyStore } from "../stores/faulty-store.ts";
import { describeTree, makeFixtureTree, makePackageTree, noise, withoutDirTimes } from "../testing/tree.ts";

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

  beforeAll(async () => {
    work = mkdtempSync(path.join(tmpdir(), "daybox-crash-"));
    storeDir = path.join(work, "repo");
    source = path.join(work, "source");
    makeFixtureTree(source);
    repo = await Repository.open(new DirectoryStore(storeDir));
    baseId = (await createSnapshot({ repo, source })).id;
    baseTree = withoutDirTimes(describeTree(source));
    // New data for the crashing snapshots: many files and some big ones, ~40 MB.
    mkdirSync(path.join(source, "site-packages"));
    for (let i = 0; i < 400; i++) writeFileSync(path.join(source, "site-packages", `mod${i}.py`), noise(20_000 + i, i + 1));
    // …and text the first crashing snapshots sample the repository's dictionary from (the base had too little).
    makePackageTree(path.join(source, "lib"), 300, 3);
    for (let i = 0; i < 3; i++) writeFileSync(path.join(source, `model-${i}.bin`), noise(10 * 1024 * 1024, 1000 + i));
    const run = await runChild(0);
    expect(run.code).toBe(0);
    fullRunMs = run.snapshotMs;
  });
  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** Runs a snapshot child; kills it `killAfterMs` after the snapshot starts (0: let it finish). */
  function runChild(killAfterMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; snapshotMs: number }> {
    return new Promise((resolve) => {
      const p = spawn(process.execPath, ["--import", "tsx", child, storeDir, source, baseId], { stdio: ["ignore", "pipe", "ignore"] });
      let began = 0;
      let timer: NodeJS.Timeout | null = null;
      p.stdout!.on("data", (d: Buffer) => {
        if (began || !d.toString().includes("go")) return;
        began = Date.now();
        if (killAfterMs > 0) timer = setTimeout(() => p.kill("SIGKILL"), killAfterMs);
      });
      p.on("exit", (code, signal) => {
        if (timer) clearTimeout(timer);
        resolve({ code, signal, snapshotMs: began ? Date.now() - began : 0 });
      });
    });
  }

  it(`leaves the repository consistent after ${TRIALS} kills at random points`, async () => {
    const random = delays(20261122);
    let killed = 0;
    for (let trial = 0; trial < TRIALS; trial++) {
      const at = 1 + (random.next().value % Math.max(1, Math.floor(fullRunMs * 0.7)));
      const run = await runChild(at);
      if (run.signal === "SIGKILL") killed++;
      const check = await checkRepository(repo);
      expect(check.problems, `after a kill at ${at} ms`).toEqual([]);
    }
    expect(killed, "trials must actually kill snapshots mid-way").toBeGreaterThanOrEqual(TRIALS / 3);

    // Every snapshot that exists restores, and the base is byte-exact.
    const target = path.join(work, "restored-base");
    await restoreSnapshot({ repo, snapshotId: baseId, target });
    expect(withoutDirTimes(describeTree(target))).toEqual(baseTree);
    for (const id of await repo.snapshotIds()) await restoreSnapshot({ repo, snapshotId: id, target: path.join(work, `r-${id}`) });

    // Prune (past the lock TTL of the killed writers) removes the orphans; check stays clean.
    const later = new Date(Date.now() + 60_000);
    await pruneRepository(repo, { graceMs: 0, now: later });
    const after = await checkRepository(repo, { readData: true });
    expect(after).toMatchObject({ problems: [], unindexedPacks: 0 });
    await restoreSnapshot({ repo, snapshotId: baseId, target: path.join(work, "restored-after-prune") });
    expect(withoutDirTimes(describeTree(path.join(work, "restored-after-prune")))).toEqual(baseTree);
  });

  it("survives a crash at every single store operation of a snapshot, deterministically", { timeout: 60_000 }, async () => {
    // Crash after 0, 1, 2, … operations until a snapshot gets through: every point is covered.
    const dir = path.join(work, "every-op");
    const small = path.join(work, "small-source");
    mkdirSync(path.join(small, "extra"), { recursive: true });
    for (let i = 0; i < 20; i++) writeFileSync(path.join(small, `f${i}.py`), noise(40_000, i + 77));
    const faulty = new FaultyStore(new DirectoryStore(dir));
    const r = await Repository.open(faulty);
    const base = await createSnapshot({ repo: r, source: small, packSize: 64 * 1024 });
    // The same new data for every attempt (~8 packs): each attempt needs the same operations.
    for (let i = 0; i < 5; i++) writeFileSync(path.join(small, "extra", `f${i}`), noise(100_000, i + 5));
    let orphaned = 0;
    let crashes = 0;
    for (let n = 0; n < 500; n++) {
      faulty.failAfter(n);
      const survived = await createSnapshot({ repo: r, source: small, parentId: base.id, packSize: 64 * 1024, lockTtlMs: 1 }).then(
        () => true,
        () => false,
      );
      faulty.recover();
      const check = await checkRepository(r);
      expect(check.problems, `after a crash at operation ${n}`).toEqual([]);
      orphaned = Math.max(orphaned, check.unindexedPacks);
      if (survived) break;
      crashes++;
    }
    expect(crashes).toBeGreaterThan(10);
    expect(orphaned, "some crashes must fall between pack uploads and the index").toBeGreaterThan(0);
    // Orphans of one crash are adopted when the next attempt uploads the same pack; prune deletes the rest.
    const left = (await checkRepository(r)).unindexedPacks;
    const pruned = await pruneRepository(r, { graceMs: 0, now: new Date(Date.now() + 60_000) });
    expect(pruned.deletedPacks).toBe(left);
    expect(pruned.removedLocks, "crashed writers leave locks that prune clears once expired").toBeGreaterThan(0);
    expect(await checkRepository(r, { readData: true })).toMatchObject({ problems: [], unindexedPacks: 0 });
    const target = path.join(work, "every-op-restored");
    await restoreSnapshot({ repo: r, snapshotId: base.id, target });
  });
});
