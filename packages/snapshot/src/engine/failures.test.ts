import { existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { randomFillSync } from "node:crypto";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ObjectStore } from "../object-store.ts";
import { DirectoryStore } from "../stores/dir-store.ts";
import { describeTree, withoutDirTimes } from "../testing/tree.ts";
import { compress, decompress } from "zstd-napi";
import { encodeIndex } from "./chunk-table.ts";
import { encodeJson } from "./codec.ts";
import { createSnapshot } from "./create.ts";
import { Repository } from "./repository.ts";
import { restoreSnapshot } from "./restore.ts";

let work: string;
beforeEach(() => {
  work = mkdtempSync(path.join(tmpdir(), "daybox-failures-"));
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

/** Every operation passed on to `inner`. */
function delegateTo(inner: ObjectStore): ObjectStore {
  return {
    put: (key, body, opts) => inner.put(key, body, opts),
    get: (key, alloc) => inner.get(key, alloc),
    getRange: (key, offset, length) => inner.getRange(key, offset, length),
    head: (key) => inner.head(key),
    list: (prefix) => inner.list(prefix),
    delete: (key) => inner.delete(key),
  };
}

/** A directory store whose pack uploads fail after the first one (a full disk, a bucket gone read-only). */
function failingPacks(dir: string): ObjectStore {
  const inner = new DirectoryStore(dir);
  let packs = 0;
  return {
    ...delegateTo(inner),
    put: async (key, body, opts) => {
      if (key.startsWith("packs/") && ++packs > 1) {
        await new Promise((r) => setTimeout(r, 20));
        throw new Error(`put ${key}: no space left (injected)`);
      }
      return inner.put(key, body, opts);
    },
  };
}

describe("snapshot engine failures", () => {
  it("a snapshot whose uploads start failing fails promptly: worker threads never wait forever for room", { timeout: 60_000 }, async () => {
    // Big files that do not compress: a 64 MiB segment alone overfills a thread's output ring while uploads fail.
    const source = path.join(work, "src");
    mkdirSync(source);
    const big = Buffer.alloc(96 * 1024 * 1024);
    for (let i = 0; i < 3; i++) writeFileSync(path.join(source, `weights-${i}.bin`), randomFillSync(big));
    const repo = await Repository.open(failingPacks(path.join(work, "repo")));
    const started = Date.now();
    await expect(createSnapshot({ repo, source, packSize: 4 * 1024 * 1024, threads: 2 })).rejects.toThrow(/upload pack/);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(await repo.snapshotIds()).toEqual([]);
  });

  it("fails promptly with many batches for one thread while uploads fail", { timeout: 60_000 }, async () => {
    // 3,000 small files are ~50 batches: the walk waits for the one thread while packing fails.
    const source = path.join(work, "many");
    mkdirSync(source);
    const data = Buffer.alloc(16 * 1024);
    for (let i = 0; i < 3000; i++) writeFileSync(path.join(source, `f${i}`), randomFillSync(data));
    const repo = await Repository.open(failingPacks(path.join(work, "repo")));
    const started = Date.now();
    await expect(createSnapshot({ repo, source, packSize: 256 * 1024, threads: 1 })).rejects.toThrow(/upload pack/);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(await repo.snapshotIds()).toEqual([]);
  });

  it("waits for a prune in progress to end (one session's deletion does not fail another's park), up to a limit", async () => {
    const repo = await Repository.open(new DirectoryStore(path.join(work, "repo")));
    const source = path.join(work, "busy-src");
    mkdirSync(source);
    writeFileSync(path.join(source, "notes.md"), "# notes\n");
    const prune = await repo.acquireLock("prune", 60_000);
    await expect(createSnapshot({ repo, source, waitForPruneMs: 300 })).rejects.toThrow(/^the repository is being pruned \(since .+\); try again in a few minutes$/);
    const waiting = createSnapshot({ repo, source, waitForPruneMs: 30_000 });
    await new Promise((r) => setTimeout(r, 700));
    expect(await repo.snapshotIds()).toEqual([]); // still waiting
    await prune.release();
    expect((await waiting).stats.files).toBe(1);
    expect(await repo.activeLocks()).toEqual([]);
  });

  it("reads the index again when a prune replaces it between the listing and the read (restores take no lock)", async () => {
    const inner = new DirectoryStore(path.join(work, "raced"));
    const source = path.join(work, "raced-src");
    mkdirSync(source);
    writeFileSync(path.join(source, "a.txt"), "a\n".repeat(1000));
    const m = await createSnapshot({ repo: await Repository.open(inner), source });
    let raced = 0;
    const racing: ObjectStore = {
      ...delegateTo(inner),
      get: async (key, alloc) => {
        if (key.startsWith("index/") && !raced++) {
          // What prune does: the new index first, then the old one deleted.
          await inner.put(`index/${"e".repeat(32)}`, await inner.get(key));
          await inner.delete(key);
        }
        return inner.get(key, alloc);
      },
    };
    const repo = await Repository.open(racing);
    await restoreSnapshot({ repo, snapshotId: m.id, target: path.join(work, "raced-out") });
    expect(raced).toBeGreaterThan(1);
    expect(readFileSync(path.join(work, "raced-out", "a.txt"), "utf8")).toBe("a\n".repeat(1000));
    // A manifest deleted while all are read is simply not among them.
    const vanishing: ObjectStore = {
      ...delegateTo(inner),
      get: async (key, alloc) => {
        if (key.startsWith("snapshots/")) await inner.delete(key);
        return inner.get(key, alloc);
      },
    };
    expect(await (await Repository.open(vanishing)).snapshots()).toEqual([]);
  });

  it("refuses a repository or an index in a format it does not read, and says so", async () => {
    const store = new DirectoryStore(path.join(work, "future"));
    const repo = await Repository.open(store);
    const index = "f".repeat(32);
    await store.put(`index/${index}`, encodeJson({ version: 2, packs: [] }));
    await expect(repo.loadIndex()).rejects.toThrow(`index ${index} has format version 2 in JSON; this Daybox reads versions 1 (JSON) and 2`);
    const binary = Buffer.from(decompress(encodeIndex({ version: 1, packs: [] })));
    binary[4] = 3;
    await store.put(`index/${index}`, compress(binary));
    await expect(repo.loadIndex()).rejects.toThrow(`index ${index} has format version 3; this Daybox reads versions 1 (JSON) and 2`);
    await store.put("config", encodeJson({ ...repo.config, version: 4 }));
    await expect(Repository.open(store)).rejects.toThrow("the repository has format version 4; this Daybox reads versions 1 to 3");
    await store.put("config", encodeJson({ ...repo.config, version: 2, chunkHash: "md5" }));
    await expect(Repository.open(store)).rejects.toThrow('the repository names chunks by "md5"; this Daybox knows sha256, blake3');
  });

  it("keeps the other names of a hardlinked file whose first name is deleted before it is read", { timeout: 60_000 }, async () => {
    const source = path.join(work, "links-src");
    mkdirSync(source);
    // The one thread is busy with a big file (walked first) while the test deletes the first name of the pair.
    writeFileSync(path.join(source, "0-big.bin"), randomFillSync(Buffer.alloc(160 * 1024 * 1024)));
    writeFileSync(path.join(source, "a-first"), "the content both names shared\n");
    linkSync(path.join(source, "a-first"), path.join(source, "b-second"));
    const inner = new DirectoryStore(path.join(work, "repo"));
    let deleted: Promise<void> | null = null;
    const store: ObjectStore = {
      put: (key, body, opts) => inner.put(key, body, opts),
      get: (key, alloc) => inner.get(key, alloc),
      getRange: (key, offset, length) => inner.getRange(key, offset, length),
      head: (key) => inner.head(key),
      // The snapshot lists the indexes just before it walks: the walk (3 entries) is done well within 100 ms,
      // the thread's 160 MiB take far longer.
      list: (prefix) => {
        if (prefix === "index/" && !deleted) deleted = new Promise((r) => setTimeout(r, 100)).then(() => unlinkSync(path.join(source, "a-first")));
        return inner.list(prefix);
      },
      delete: (key) => inner.delete(key),
    };
    const repo = await Repository.open(store);
    const snap = await createSnapshot({ repo, source, threads: 1, segmentSize: 1024 * 1024 * 1024 });
    await deleted;
    const target = path.join(work, "links-restored");
    await restoreSnapshot({ repo, snapshotId: snap.id, target });
    expect(readFileSync(path.join(target, "b-second"), "utf8")).toBe("the content both names shared\n");
    expect(existsSync(path.join(target, "a-first"))).toBe(false);
  });

  it("restores a tree with no file content at all: directories, empty files, a symlink", async () => {
    const source = path.join(work, "empty-src");
    mkdirSync(path.join(source, "a", "b"), { recursive: true });
    mkdirSync(path.join(source, "empty-dir"));
    writeFileSync(path.join(source, "a", "b", ".keep"), "");
    writeFileSync(path.join(source, "zero"), "");
    symlinkSync("a/b/.keep", path.join(source, "link"));
    const repo = await Repository.open(new DirectoryStore(path.join(work, "repo")));
    const snap = await createSnapshot({ repo, source });
    expect(snap.stats.newChunks).toBe(0);
    const target = path.join(work, "restored");
    await restoreSnapshot({ repo, snapshotId: snap.id, target });
    expect(withoutDirTimes(describeTree(target))).toEqual(withoutDirTimes(describeTree(source)));
  });
});
