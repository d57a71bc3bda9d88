import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, appendFileSync, unlinkSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chunkLength, ManifestError, type ChunkRef, type Manifest } from "../core/manifest.ts";
import { createSnapshot } from "../engine/create.ts";
import { PackCache } from "../engine/pack-cache.ts";
import { keys, Repository } from "../engine/repository.ts";
import { encodeJson } from "../engine/codec.ts";
import { checkRepository, pruneRepository } from "../engine/maintenance.ts";
import { restoreSnapshot } from "../engine/restore.ts";
import { TreeScan } from "../engine/scan.ts";
import type { ObjectStore } from "../object-store.ts";
import { allocatedBytes, describeTree, makeFixtureTree, makePackageTree, noise, pastRacyWindow, withoutDirTimes } from "./tree.ts";

/**
 * The engine's behaviour on one store: byte-exact round trips, incremental
 * snapshots, the node cache, replacing a target, and hostile manifests.
 * Run against every ObjectStore implementation.
 */
export function runRoundTripSuite(name: string, makeStore: () => Promise<{ store: ObjectStore; cleanup: () => Promise<void> }>) {
  describe(`snapshot engine on ${name}`, () => {
    let work: string;
    let store: ObjectStore;
    let cleanup: () => Promise<void>;
    let repo: Repository;
    let source: string;
    let first: Manifest;

    beforeAll(async () => {
      work = mkdtempSync(path.join(tmpdir(), "daybox-snap-"));
      ({ store, cleanup } = await makeStore());
      repo = await Repository.open(store);
      source = path.join(work, "source");
      makeFixtureTree(source);
      await pastRacyWindow();
      first = await createSnapshot({ repo, source, tags: { session: "ses-test" }, packSize: 4 * 1024 * 1024 });
    });
    afterAll(async () => {
      await cleanup?.();
      if (work) rmSync(work, { recursive: true, force: true });
    });

    it("round-trips byte-exact: content, modes, mtimes, symlinks, hardlinks, empty dirs, unicode, sparse", async () => {
      const target = path.join(work, "restored-1");
      const result = await restoreSnapshot({ repo, snapshotId: first.id, target });
      const want = withoutDirTimes(describeTree(source));
      const got = withoutDirTimes(describeTree(target));
      expect(got).toEqual(want);
      expect(result.files).toBe(first.stats.files);
      expect(got["hard-b"]?.links).toEqual(["hard-a"]);
      // The 64 MiB sparse file comes back sparse.
      expect(allocatedBytes(path.join(target, "sparse.img"))).toBeLessThan(1024 * 1024);
    });

    it("an incremental snapshot reads and uploads only what changed", async () => {
      const mutated = path.join(work, "mutated");
      makeFixtureTree(mutated);
      await pastRacyWindow();
      const base = await createSnapshot({ repo, source: mutated });
      writeFileSync(path.join(mutated, "home", ".bashrc"), "export PS1='# '\n");
      appendFileSync(path.join(mutated, "big.bin"), noise(100_000, 99));
      unlinkSync(path.join(mutated, "secret"));
      mkdirSync(path.join(mutated, "venv", "lib"), { recursive: true });
      writeFileSync(path.join(mutated, "venv", "lib", "pkg.py"), "print('new')\n");

      const next = await createSnapshot({ repo, source: mutated, parentId: base.id });
      expect(next.parent).toBe(base.id);
      expect(next.stats.unchangedFiles).toBe(7); // all but .bashrc, big.bin, the new pkg.py (secret is gone, hard-b is a link)
      // Only the tail of big.bin (after its last unchanged chunk) and the small edits are new.
      expect(next.stats.newBytes).toBeLessThan(5 * 1024 * 1024);
      const target = path.join(work, "restored-incremental");
      await restoreSnapshot({ repo, snapshotId: next.id, target });
      expect(withoutDirTimes(describeTree(target))).toEqual(withoutDirTimes(describeTree(mutated)));
      // The earlier snapshot is untouched by the later one.
      const again = path.join(work, "restored-base");
      await restoreSnapshot({ repo, snapshotId: base.id, target: again });
      expect(existsSync(path.join(again, "secret"))).toBe(true);
    });

    it("does not trust a file its parent recorded with a ctime at or just before the parent's walk began", async () => {
      // Written again within the same clock tick as the parent's read, a file would keep size, mtime and ctime.
      const dir = path.join(work, "racy");
      mkdirSync(dir);
      writeFileSync(path.join(dir, "settled"), "old enough to trust");
      await pastRacyWindow();
      writeFileSync(path.join(dir, "fresh"), "written as the walk began");
      const base = await createSnapshot({ repo, source: dir });
      const next = await createSnapshot({ repo, source: dir, parentId: base.id });
      expect(next.stats.unchangedFiles).toBe(1);
      // Once the parent's walk began well after the write, it is trusted.
      await pastRacyWindow();
      const settledBase = await createSnapshot({ repo, source: dir });
      const later = await createSnapshot({ repo, source: dir, parentId: settledBase.id });
      expect(later.stats.unchangedFiles).toBe(2);
    });

    it("a rewritten file keeps its parent's chunks while their bytes still match, and only those", async () => {
      const dir = path.join(work, "rewritten");
      mkdirSync(dir);
      const file = path.join(dir, "weights.bin");
      const original = noise(12 * 1024 * 1024, 7);
      writeFileSync(file, original);
      const base = await createSnapshot({ repo, source: dir });
      const baseChunks = fileChunks(base, "weights.bin");
      expect(baseChunks.length).toBeGreaterThan(3);
      const roundTrip = async (snap: Manifest, label: string) => {
        const target = path.join(work, `rewritten-${label}`);
        await restoreSnapshot({ repo, snapshotId: snap.id, target });
        expect(readFileSync(path.join(target, "weights.bin")).equals(readFileSync(file))).toBe(true);
      };

      // Appended: every chunk but the last (which ended at the old end of file) is kept as is.
      appendFileSync(file, noise(1024 * 1024, 8));
      const appended = await createSnapshot({ repo, source: dir, parentId: base.id });
      expect(fileChunks(appended, "weights.bin").slice(0, baseChunks.length - 1)).toEqual(baseChunks.slice(0, -1));
      expect(appended.stats.newBytes).toBeLessThan(6 * 1024 * 1024);
      await roundTrip(appended, "appended");

      // Rewritten in the middle, same size: chunks before the edit are kept, the edited one is not.
      const edited = readFileSync(file);
      edited.fill(0x5a, 6 * 1024 * 1024, 6 * 1024 * 1024 + 10);
      writeFileSync(file, edited);
      const middle = await createSnapshot({ repo, source: dir, parentId: appended.id });
      const before = fileChunks(appended, "weights.bin");
      const after = fileChunks(middle, "weights.bin");
      let offset = 0;
      for (const [i, c] of before.entries()) {
        const len = chunkLength(c);
        if (offset + len > 6 * 1024 * 1024) {
          expect(after[i]).not.toEqual(c);
          break;
        }
        expect(after[i]).toEqual(c);
        offset += len;
      }
      await roundTrip(middle, "middle");

      // Changed in its first byte: nothing is kept from the parent's list.
      edited[0] = edited[0]! ^ 0xff;
      writeFileSync(file, edited);
      const head = await createSnapshot({ repo, source: dir, parentId: middle.id });
      expect(fileChunks(head, "weights.bin")[0]).not.toEqual(fileChunks(middle, "weights.bin")[0]);
      await roundTrip(head, "head");
    });

    it("a big file is read in segments: byte-exact, and an edit re-reads only its own segment's chunks", async () => {
      const dir = path.join(work, "segmented");
      mkdirSync(dir);
      const file = path.join(dir, "checkpoint.bin");
      const segmentSize = 2 * 1024 * 1024;
      writeFileSync(file, Buffer.concat([noise(5 * 1024 * 1024, 21), Buffer.alloc(1024 * 1024), noise(1536 * 1024, 22)])); // 3.75 segments, a hole in the third
      const base = await createSnapshot({ repo, source: dir, segmentSize });
      const roundTrip = async (snap: Manifest, label: string) => {
        const target = path.join(work, `segmented-${label}`);
        await restoreSnapshot({ repo, snapshotId: snap.id, target });
        expect(readFileSync(path.join(target, "checkpoint.bin")).equals(readFileSync(file))).toBe(true);
      };
      await roundTrip(base, "base");
      // Every segment starts a chunk.
      const starts = new Set<number>();
      let at = 0;
      for (const c of fileChunks(base, "checkpoint.bin")) {
        starts.add(at);
        at += chunkLength(c);
      }
      expect([0, 1, 2, 3].every((k) => starts.has(k * segmentSize))).toBe(true);
      // The same bytes give the same chunks, whichever thread read which segment.
      const again = await createSnapshot({ repo, source: dir, segmentSize });
      expect(fileChunks(again, "checkpoint.bin")).toEqual(fileChunks(base, "checkpoint.bin"));

      // An edit in the third segment: the chunks of the first two are kept as they were.
      const edited = readFileSync(file);
      edited.fill(7, 4 * 1024 * 1024 + 100, 4 * 1024 * 1024 + 200);
      writeFileSync(file, edited);
      const next = await createSnapshot({ repo, source: dir, parentId: base.id, segmentSize });
      const before = fileChunks(base, "checkpoint.bin");
      const after = fileChunks(next, "checkpoint.bin");
      const inFirstTwo = (list: ChunkRef[]) => {
        let offset = 0;
        return list.filter((c) => {
          const keep = offset < 2 * segmentSize;
          offset += chunkLength(c);
          return keep;
        });
      };
      expect(inFirstTwo(after)).toEqual(inFirstTwo(before));
      expect(next.stats.newBytes).toBeLessThanOrEqual(segmentSize);
      await roundTrip(next, "edited");
    });

    it("a second identical snapshot stores nothing new", async () => {
      const again = await createSnapshot({ repo, source, parentId: first.id });
      expect(again.stats.newBytes).toBe(0);
      expect(again.stats.unchangedFiles).toBe(again.stats.files - 1); // hard-b is a link entry, not a file read
    });

    it("takes over a walk started before it (and refuses one of another directory)", async () => {
      const scan = new TreeScan(source);
      const taken = await createSnapshot({ repo, source, scan, parentId: first.id });
      expect(taken.scanStartedNs).toBe(scan.startedNs);
      expect(taken.entries).toEqual(first.entries);
      const elsewhere = new TreeScan(work);
      await expect(createSnapshot({ repo, source, scan: elsewhere })).rejects.toThrow(`the walk given is of ${work}, not of ${source}`);
      await expect(elsewhere[Symbol.asyncIterator]().next()).rejects.toThrow(/closed before its end/); // closed by the snapshot
    });

    it("replaces an existing target as a whole", async () => {
      const target = path.join(work, "replace-me");
      mkdirSync(target);
      writeFileSync(path.join(target, "stale.txt"), "old");
      await restoreSnapshot({ repo, snapshotId: first.id, target });
      expect(existsSync(path.join(target, "stale.txt"))).toBe(false);
      expect(existsSync(path.join(target, "run.sh"))).toBe(true);
      expect(readdirSync(work).filter((n) => n.includes(".restore-") || n.includes(".old-"))).toEqual([]);
    });

    it("a warm restore on the node that wrote or restored the snapshot reads nothing from the store", async () => {
      const writerCache = new PackCache(path.join(work, "cache-writer"), 1024 * 1024 * 1024);
      const warmSource = path.join(work, "warm");
      makeFixtureTree(warmSource);
      writeFileSync(path.join(warmSource, "unique"), noise(2 * 1024 * 1024, 1234));
      const snap = await createSnapshot({ repo, source: warmSource, cache: writerCache });
      // Another node: cold, then warm from what the cold restore cached.
      const otherCache = new PackCache(path.join(work, "cache-other"), 1024 * 1024 * 1024);
      const cold = await restoreSnapshot({ repo, snapshotId: snap.id, target: path.join(work, "cold"), cache: otherCache });
      expect(cold.fetchedBytes).toBeGreaterThan(0);
      const warm = await restoreSnapshot({ repo, snapshotId: snap.id, target: path.join(work, "warm-restored"), cache: otherCache });
      expect(warm.fetchedBytes).toBe(0);
      // The writing node has this snapshot's new packs already: it fetches only older ones.
      const writerNode = await restoreSnapshot({ repo, snapshotId: snap.id, target: path.join(work, "writer-restored"), cache: writerCache });
      expect(writerNode.fetchedBytes).toBeLessThan(cold.fetchedBytes);
    });

    /** Runs `test` against a repository of its own on this store. */
    const inFreshRepository = async (test: (repo: Repository, store: ObjectStore) => Promise<void>) => {
      const fresh = await makeStore();
      try {
        await test(await Repository.open(fresh.store), fresh.store);
      } finally {
        await fresh.cleanup();
      }
    };

    describe("chunk ids", () => {
      it("a new repository is format 3 and names chunks by BLAKE3", async () => {
        expect(repo.config).toMatchObject({ version: 3, chunkHash: "blake3" });
        const dir = path.join(work, "ids");
        mkdirSync(dir);
        writeFileSync(path.join(dir, "abc.txt"), "abc");
        const snap = await createSnapshot({ repo, source: dir });
        // BLAKE3("abc"), the reference implementation's test vector.
        expect(fileChunks(snap, "abc.txt")).toEqual([["6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85", 3]]);
      });

      it("a format-1 repository keeps SHA-256 ids: snapshot, incremental, restore and check as before", () =>
        inFreshRepository(async (_, store2) => {
          await store2.put(keys.config, encodeJson({ version: 1, chunker: repo.config.chunker, createdAt: "2026-11-01T00:00:00.000Z" }));
          const old = await Repository.open(store2);
          expect(old.chunkHash).toBe("sha256");
          const dir = path.join(work, "format-1");
          makeFixtureTree(dir);
          writeFileSync(path.join(dir, "abc.txt"), "abc");
          await pastRacyWindow();
          const base = await createSnapshot({ repo: old, source: dir });
          expect(fileChunks(base, "abc.txt")).toEqual([["ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", 3]]);
          appendFileSync(path.join(dir, "abc.txt"), "def");
          const next = await createSnapshot({ repo: old, source: dir, parentId: base.id });
          expect(next.stats.unchangedFiles).toBe(next.stats.files - 2); // abc.txt read again; hard-b is a link
          const target = path.join(work, "format-1-restored");
          await restoreSnapshot({ repo: old, snapshotId: next.id, target });
          expect(withoutDirTimes(describeTree(target))).toEqual(withoutDirTimes(describeTree(dir)));
          expect((await checkRepository(old, { readData: true })).problems).toEqual([]);
          expect((await Repository.open(store2)).config.version).toBe(1); // never upgraded behind its users' backs
        }));
    });

    describe("the repository's dictionary", () => {
      it("is sampled by a new repository's first snapshot, compresses its small files, is reused by later snapshots and verified on read", () =>
        inFreshRepository(async (repo2, store2) => {
          const tree = path.join(work, "site-packages");
          makePackageTree(tree, 120, 1);
          // Credentials and configuration are never sampled (hidden files come first in the walk).
          mkdirSync(path.join(tree, ".aws"));
          writeFileSync(path.join(tree, ".aws", "credentials"), `[default]\naws_secret_access_key = hunter2-${"x".repeat(80)}\n`);
          writeFileSync(path.join(tree, ".env"), `TOKEN=hunter2-${"y".repeat(80)}\n`);
          writeFileSync(path.join(tree, "config.yaml"), `api_token: hunter2-${"z".repeat(80)}\n`);
          mkdirSync(path.join(tree, "a-secrets"));
          mkdirSync(path.join(tree, "a-secrets", "secrets"));
          writeFileSync(path.join(tree, "a-secrets", "secrets", "keys.py"), `KEY = "hunter2-${"w".repeat(80)}"\n`);
          const m1 = await createSnapshot({ repo: repo2, source: tree });
          const dict = await repo2.dictionary();
          expect(dict).not.toBeNull();
          expect(dict!.bytes.length).toBeGreaterThan(16 * 1024);
          expect(Buffer.from(dict!.bytes).includes("hunter2")).toBe(false);
          expect(Buffer.from(dict!.bytes).includes('"""Module 0."""')).toBe(true);
          const index = await repo2.loadIndex();
          expect([...index.chunks.values()].filter((l) => l.entry.dict === dict!.id)).toHaveLength(124);
          const restored = path.join(work, "site-packages-restored");
          await restoreSnapshot({ repo: repo2, snapshotId: m1.id, target: restored });
          expect(describeTree(restored)).toEqual(describeTree(tree));

          // Another session's tree: the same dictionary, no second one; a tree too small to sample from gets none either.
          const other = path.join(work, "site-packages-2");
          makePackageTree(other, 40, 2);
          const m2 = await createSnapshot({ repo: repo2, source: other });
          const keysUnder = async (prefix: string) => {
            const out: string[] = [];
            for await (const o of store2.list(prefix)) out.push(o.key);
            return out;
          };
          expect(await keysUnder("dicts/")).toEqual([keys.dict(dict!.id)]);
          const index2 = await repo2.loadIndex();
          expect([...index2.chunks.values()].filter((l) => l.entry.dict === dict!.id)).toHaveLength(164);
          expect((await checkRepository(repo2, { readData: true })).problems).toEqual([]);

          // A dictionary that is not what its name says is refused, before anything is written.
          await store2.put(keys.dict(dict!.id), Buffer.from(dict!.bytes).reverse());
          const target = path.join(work, "site-packages-tampered");
          await expect(restoreSnapshot({ repo: repo2, snapshotId: m2.id, target })).rejects.toThrow(`dictionary ${dict!.id} is corrupt (hash mismatch)`);
          expect(existsSync(target)).toBe(false);
          expect((await checkRepository(repo2)).problems).toEqual([`dictionary ${dict!.id} is corrupt (hash mismatch) (164 chunk(s) were compressed with it)`]);
          // A damaged dictionary does not stop new snapshots: it is passed over, and a new one sampled.
          appendFileSync(path.join(other, "pkg0", "sub", "mod0.py"), "# edited after the dictionary was damaged\n");
          const m3 = await createSnapshot({ repo: repo2, source: other, parentId: m2.id });
          expect(m3.stats.newChunks).toBe(1);
          const replacement = await repo2.dictionary();
          expect(replacement).not.toBeNull();
          expect(replacement!.id).not.toBe(dict!.id);
          const edited = [...(await repo2.loadIndex()).chunks.values()].filter((l) => l.entry.dict !== dict!.id);
          expect(edited.map((l) => l.entry.dict)).toEqual([replacement!.id]);
          await store2.put(keys.dict(dict!.id), dict!.bytes); // (the older chunks need it back to restore)
          await restoreSnapshot({ repo: repo2, snapshotId: m3.id, target });
          expect(describeTree(target)).toEqual(describeTree(other));
          rmSync(target, { recursive: true });
          await store2.delete(keys.dict(dict!.id));
          expect((await checkRepository(repo2)).problems).toEqual([`dictionary ${dict!.id} is missing: the repository is damaged (164 chunk(s) were compressed with it)`]);
          await expect(restoreSnapshot({ repo: repo2, snapshotId: m1.id, target })).rejects.toThrow(`dictionary ${dict!.id} is missing`);
        }));

      it("is deleted by prune once no chunk uses it: file content does not outlive its snapshots", () =>
        inFreshRepository(async (repo2) => {
          const tree = path.join(work, "site-packages-pruned");
          makePackageTree(tree, 60, 4);
          const m = await createSnapshot({ repo: repo2, source: tree });
          const dict = (await repo2.dictionary())!;
          const later = new Date(Date.now() + 2 * 3600_000);
          expect((await pruneRepository(repo2, { now: later })).deletedDictionaries).toBe(0); // in use
          await repo2.deleteSnapshot(m.id);
          const pruned = await pruneRepository(repo2, { now: later });
          expect(pruned).toMatchObject({ deletedDictionaries: 1, keptPacks: 0 });
          expect(await repo2.dictionary()).toBeNull();
          expect((await checkRepository(repo2)).problems).toEqual([]);
          // The next snapshot samples again.
          await createSnapshot({ repo: repo2, source: tree });
          expect((await repo2.dictionary())?.id).toBe(dict.id);
        }));

      it("is not made from too little: a repository of big files has none, and restores without", () =>
        inFreshRepository(async (repo2) => {
          const tree = path.join(work, "only-big");
          mkdirSync(tree);
          writeFileSync(path.join(tree, "weights.txt"), Buffer.from("0.5 0.25\n".repeat(1_000_000)));
          writeFileSync(path.join(tree, "notes.md"), "# run 7\n");
          const m = await createSnapshot({ repo: repo2, source: tree });
          expect(await repo2.dictionary()).toBeNull();
          const index = await repo2.loadIndex();
          expect([...index.chunks.values()].some((l) => l.entry.compressed && !l.entry.dict)).toBe(true);
          await restoreSnapshot({ repo: repo2, snapshotId: m.id, target: path.join(work, "only-big-restored") });
          expect(describeTree(path.join(work, "only-big-restored"))).toEqual(describeTree(tree));
        }));
    });

    describe("hostile manifests", () => {
      const hostile = async (mutate: (m: Manifest) => void) => {
        const m = structuredClone(first);
        m.id = `${first.id.slice(0, 16)}-${Math.random().toString(16).slice(2, 10)}`;
        mutate(m);
        await repo.writeManifest(m);
        const outside = path.join(work, "outside");
        mkdirSync(outside, { recursive: true });
        const before = readdirSync(outside);
        const target = path.join(work, `hostile-${m.id}`);
        const error = await restoreSnapshot({ repo, snapshotId: m.id, target }).then(() => null, (e: Error) => e);
        expect(readdirSync(outside)).toEqual(before);
        expect(existsSync(target)).toBe(false);
        expect(readdirSync(work).filter((n) => n.includes(".restore-"))).toEqual([]);
        return error;
      };
      const file = (m: Manifest) => m.entries.find((e) => e.type === "file" && e.path === "run.sh") as Extract<Manifest["entries"][number], { type: "file" }>;

      it.each([
        ["an absolute path", (m: Manifest) => (file(m).path = "/tmp/evil"), /absolute path/],
        ["a .. segment", (m: Manifest) => (file(m).path = "../outside/evil"), /"\.\." segment/],
        ["a path through a symlink", (m: Manifest) => m.entries.push({ ...file(m), path: "rel-link/evil" }), /is a symlink, not a directory/],
        ["a relative symlink that escapes", (m: Manifest) => m.entries.push({ type: "symlink", path: "escape", target: "../../outside", mode: 0o777, uid: 0, gid: 0, mtimeNs: "0" }), /escapes the restore directory/],
        ["a hardlink to outside", (m: Manifest) => m.entries.push({ type: "hardlink", path: "hl", link: "../outside/x" }), /hardlink to/],
        ["a hardlink to a directory", (m: Manifest) => m.entries.push({ type: "hardlink", path: "hl", link: "home" }), /not an earlier file/],
        ["an impossible size", (m: Manifest) => (file(m).size = 2 ** 60), /impossible size/],
        ["chunks that do not add up", (m: Manifest) => (file(m).size += 1), /chunks add up to/],
        ["a duplicate path", (m: Manifest) => m.entries.push({ ...file(m) }), /duplicate entry/],
      ])("refuses %s, writing nothing", async (_name, mutate, message) => {
        const error = await hostile(mutate);
        expect(error).toBeInstanceOf(ManifestError);
        expect(error?.message).toMatch(message);
      });

      it("refuses a chunk whose content does not match its hash", async () => {
        // Corrupt one stored byte in every pack the snapshot uses: verification must catch it.
        const victim = await createSnapshot({ repo, source: path.join(work, "source"), packSize: 1024 });
        const { chunks } = await repo.loadIndex();
        const f = victim.entries.find((e) => e.type === "file" && e.path === "home/.bashrc") as Extract<Manifest["entries"][number], { type: "file" }>;
        const loc = chunks.get((f.chunks[0] as readonly [string, number])[0])!;
        const pack = Buffer.from(await store.get(keys.pack(loc.pack)));
        pack[loc.entry.offset] = pack[loc.entry.offset]! ^ 0xff;
        await store.put(keys.pack(loc.pack), pack);
        const target = path.join(work, "corrupt-target");
        await expect(restoreSnapshot({ repo, snapshotId: victim.id, target })).rejects.toThrow(/corrupt|unreadable|hash/);
        expect(existsSync(target)).toBe(false);
        // Put it back so later tests see a healthy repository.
        pack[loc.entry.offset] = pack[loc.entry.offset]! ^ 0xff;
        await store.put(keys.pack(loc.pack), pack);
      });
    });
  });
}

/** The chunk list a snapshot recorded for one file. */
function fileChunks(m: Manifest, rel: string): ChunkRef[] {
  const e = m.entries.find((x) => x.path === rel);
  if (e?.type !== "file") throw new Error(`${rel} is not a file in snapshot ${m.id}`);
  return e.chunks;
}
