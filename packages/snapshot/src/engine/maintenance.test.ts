import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Manifest } from "../core/manifest.ts";
import { DirectoryStore } from "../stores/dir-store.ts";
import { createSnapshot } from "./create.ts";
import { applyRetention, checkRepository, pruneRepository } from "./maintenance.ts";
import { randomBytes } from "node:crypto";
import type { ObjectStore } from "../object-store.ts";
import { decodeJsonHead, encodeJson } from "./codec.ts";
import { Repository } from "./repository.ts";
import { DEFAULT_CHUNKER } from "../core/chunker.mjs";

let work: string;
beforeEach(() => {
  work = mkdtempSync(path.join(tmpdir(), "daybox-maintenance-"));
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

describe("listing, retention and prune", () => {
  it("lists snapshots without their entries, keeps the newest per session and the parked, and prunes what no snapshot uses", async () => {
    const repo = await Repository.open(new DirectoryStore(path.join(work, "repo")));
    const source = path.join(work, "source");
    mkdirSync(source);
    const taken: Manifest[] = [];
    const sessions: Record<string, string>[] = [{ session: "a" }, { session: "b" }, { session: "a", parked: "true" }, { session: "a" }, { session: "b" }];
    for (const [i, tags] of sessions.entries()) {
      writeFileSync(path.join(source, "state.txt"), `version ${i} `.repeat(1000 + i)); // each snapshot has a chunk of its own
      taken.push(await createSnapshot({ repo, source, tags, parentId: taken.at(-1)?.id ?? null }));
    }

    // Listing: oldest first, every field but the entries (a project's hundreds of manifests are not held at once).
    const listed = await repo.snapshots();
    expect(listed.map((s) => s.id)).toEqual(taken.map((m) => m.id));
    for (const [i, s] of listed.entries()) {
      expect(s).not.toHaveProperty("entries");
      const m = taken[i]!;
      expect(s).toMatchObject({ id: m.id, parent: m.parent, createdAt: m.createdAt, tags: m.tags, scanStartedNs: m.scanStartedNs, stats: { files: 1, newChunks: 1 } });
    }
    const visited: string[] = [];
    await repo.eachManifest((m) => void visited.push(`${m.id}:${m.entries.length}`));
    expect(visited.sort()).toEqual(taken.map((m) => `${m.id}:${m.entries.length}`).sort());

    // Retention: the newest snapshot of each session, and the parked one of "a".
    const deleted = await applyRetention(repo, { keepLast: 1 });
    expect(deleted.sort()).toEqual([taken[0]!.id, taken[1]!.id].sort());
    expect((await repo.snapshots()).map((s) => s.id)).toEqual([taken[2]!.id, taken[3]!.id, taken[4]!.id]);

    // Prune frees the deleted snapshots' own chunks and keeps every chunk the others use.
    const pruned = await pruneRepository(repo, { graceMs: 0 });
    expect(pruned.deletedPacks + pruned.reclaimableBytes).toBeGreaterThan(0);
    expect((await checkRepository(repo, { readData: true })).problems).toEqual([]);
  });
});

describe("a snapshot's summary", () => {
  const big = (id: string, tags: Record<string, string>): Manifest => ({
    version: 1,
    id,
    parent: null,
    createdAt: "2026-11-29T10:00:00.000Z",
    tags,
    stats: { files: 4000, dirs: 0, symlinks: 0, bytes: 4000, newBytes: 0, uploadedBytes: 0, newChunks: 0, unchangedFiles: 0, skipped: ['odd "name", with "entries":[ in it'], durationMs: 1 },
    entries: Array.from({ length: 4000 }, (_, i) => ({ type: "file", path: `f${i}`, mode: 0o644, uid: 0, gid: 0, mtimeNs: "1", size: 1, chunks: [[randomBytes(32).toString("hex"), 1]], ino: i, ctimeNs: "1" })),
  });

  it.each([2, 3])("is read from the start of a big manifest alone (repository format %i)", async (format) => {
    const reads: string[] = [];
    const inner = new DirectoryStore(path.join(work, "repo"));
    await inner.put("config", encodeJson({ version: format, chunkHash: "blake3", chunker: DEFAULT_CHUNKER, createdAt: "2026-11-29T10:00:00.000Z" }));
    const store: ObjectStore = {
      put: (k, b, o) => inner.put(k, b, o),
      get: (k, a) => (reads.push(`get ${k}`), inner.get(k, a)),
      getRange: (k, o, l) => (reads.push(`range ${k} ${o}+${l}`), inner.getRange(k, o, l)),
      head: (k) => inner.head(k),
      list: (p) => inner.list(p),
      delete: (k) => inner.delete(k),
    };
    const repo = await Repository.open(store);
    const m = big("20261129T100000Z-00000001", { session: "s", entries: "a tag named like the list" });
    const stored = await repo.writeManifest(m);
    expect(stored.length).toBeGreaterThan(100 * 1024);
    reads.length = 0;
    const [info] = await repo.snapshots();
    const { entries: _, ...want } = m;
    expect(info).toEqual({ ...want, version: format === 3 ? 2 : 1 }); // (the format it is stored in)
    expect(reads).toEqual([`range snapshots/${m.id} 0+65536`]);
    expect(await repo.readManifest(m.id)).toEqual({ ...m, version: format === 3 ? 2 : 1 });
  });

  it("is not trusted by retention, which reads the snapshots it keeps whole before deleting any", async () => {
    const store = new DirectoryStore(path.join(work, "repo"));
    const repo = await Repository.open(store);
    const older = { ...big("20261129T100000Z-00000001", { session: "s" }), createdAt: "2026-11-29T10:00:00.000Z" };
    const newer = { ...big("20261129T110000Z-00000002", { session: "s" }), createdAt: "2026-11-29T11:00:00.000Z" };
    await repo.writeManifest(older);
    const stored = await repo.writeManifest(newer);
    // The newer one's end is lost (its summary still reads): it must not count as the one kept.
    await store.delete(`snapshots/${newer.id}`);
    await store.put(`snapshots/${newer.id}`, stored.subarray(0, 80 * 1024));
    expect((await repo.snapshots()).map((s) => s.id)).toEqual([older.id, newer.id]);
    await expect(applyRetention(repo, { keepLast: 1 })).rejects.toThrow(/unreadable/);
    expect((await repo.snapshots()).map((s) => s.id)).toEqual([older.id, newer.id]);
  });

  it("takes only the top-level member, and nothing from bytes that do not decode", () => {
    const m = big("x", { entries: "[" });
    const { entries: _, ...want } = m;
    const encoded = encodeJson(m);
    expect(decodeJsonHead(encoded.subarray(0, 64 * 1024), "entries")).toEqual(want);
    expect(decodeJsonHead(encoded.subarray(0, 40), "entries")).toBeNull(); // cut before the member
    expect(decodeJsonHead(Buffer.from("not zstd at all"), "entries")).toBeNull();
  });
});
