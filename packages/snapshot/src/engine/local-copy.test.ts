import { chmodSync, linkSync, lstatSync, lutimesSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Manifest } from "../core/manifest.ts";
import { DirectoryStore } from "../stores/dir-store.ts";
import { describeTree, makeFixtureTree } from "../testing/tree.ts";
import { createSnapshot } from "./create.ts";
import { localCopyMatches } from "./local-copy.ts";
import { PackCache } from "./pack-cache.ts";
import { Repository } from "./repository.ts";
import { restoreSnapshot } from "./restore.ts";

const FIXED = 1_700_000_000;

/** Runs `change` inside `dir`, then puts the directory's mtime back (as a careful tool could). */
function keepTimes(dir: string, change: () => void) {
  change();
  utimesSync(dir, FIXED, FIXED);
}

describe("localCopyMatches and restoreSnapshot({ reuseTarget })", () => {
  let work: string;
  let repo: Repository;
  let n = 0;

  /**
   * A fresh fixture tree and a snapshot of it, untouched since. Directories and
   * symlinks get whole-second mtimes, so a test can put a time back exactly.
   */
  async function snapshotted(): Promise<{ dir: string; snap: Manifest }> {
    const dir = path.join(work, `tree-${++n}`);
    makeFixtureTree(dir);
    for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
      if (e.isDirectory()) utimesSync(path.join(e.parentPath, e.name), FIXED, FIXED);
      if (e.isSymbolicLink()) lutimesSync(path.join(e.parentPath, e.name), FIXED, FIXED);
    }
    return { dir, snap: await createSnapshot({ repo, source: dir }) };
  }

  beforeAll(async () => {
    work = mkdtempSync(path.join(tmpdir(), "daybox-local-copy-"));
    repo = await Repository.open(new DirectoryStore(path.join(work, "store")));
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it("matches the directory a snapshot was just taken of, without reading content", async () => {
    const { dir, snap } = await snapshotted();
    const check = await localCopyMatches({ repo, snapshotId: snap.id, dir });
    expect(check).toMatchObject({ matches: true, reason: `matches snapshot ${snap.id}`, files: snap.stats.files, bytes: snap.stats.bytes });
  });

  it("does not match a directory that is not there", async () => {
    const { snap } = await snapshotted();
    expect(await localCopyMatches({ repo, snapshotId: snap.id, dir: path.join(work, "nowhere") })).toMatchObject({ matches: false, reason: "no local copy" });
  });

  const at = (dir: string, rel: string) => path.join(dir, ...rel.split("/"));
  it.each<[string, (dir: string) => void, string]>([
    ["content rewritten with the same size (new mtime)", (d) => writeFileSync(at(d, "secret"), "S3CR3T"), "secret: mtime differs"],
    [
      "content rewritten with the same size and the mtime put back (only the ctime tells)",
      (d) => {
        writeFileSync(at(d, "run.sh"), "#!/bin/sh\necho yo\n");
        utimesSync(at(d, "run.sh"), 1_700_000_000.5, 1_700_000_000.25);
      },
      "run.sh: size, ctime or inode differs",
    ],
    ["a file added", (d) => writeFileSync(at(d, "home/.config/app/new.json"), "{}"), "home/.config/app: mtime differs"],
    ["a file added, the directory's mtime put back", (d) => keepTimes(at(d, "home"), () => writeFileSync(at(d, "home/extra"), "x")), "home/extra is not in the snapshot"],
    ["a file removed, the directory's mtime put back", (d) => keepTimes(at(d, "home"), () => unlinkSync(at(d, "home/.bashrc"))), "home/.bashrc is missing"],
    ["a chmod", (d) => chmodSync(at(d, "run.sh"), 0o700), "run.sh: mode differs"],
    [
      "a symlink retargeted, its mtime put back",
      (d) => {
        unlinkSync(at(d, "rel-link"));
        symlinkSync("secret", at(d, "rel-link"));
        lutimesSync(at(d, "rel-link"), FIXED, FIXED);
      },
      "rel-link: symlink target differs",
    ],
    ["a new empty directory, its parent's mtime put back", (d) => keepTimes(at(d, "empty-dir"), () => mkdirSync(at(d, "empty-dir/child"))), "empty-dir/child is not in the snapshot"],
    [
      "a hardlink broken into a copy",
      (d) => {
        unlinkSync(at(d, "hard-b"));
        writeFileSync(at(d, "hard-b"), "shared inode");
      },
      "hard-a: size, ctime or inode differs",
    ],
    ["another hardlink to a file", (d) => linkSync(at(d, "secret"), at(d, "secret-2")), "secret: size, ctime or inode differs"],
    ["a file turned into a directory", (d) => keepTimes(d, () => (unlinkSync(at(d, "zero-bytes")), mkdirSync(at(d, "zero-bytes")))), "zero-bytes: a dir, the snapshot has a file"],
  ])("does not match after %s", async (_name, change, reason) => {
    const { dir, snap } = await snapshotted();
    change(dir);
    expect(await localCopyMatches({ repo, snapshotId: snap.id, dir })).toMatchObject({ matches: false, reason });
  });

  it("with reuseTarget, keeps a matching target as it is: nothing fetched, nothing rewritten", async () => {
    const { dir, snap } = await snapshotted();
    const inode = lstatSync(path.join(dir, "big.bin")).ino;
    const r = await restoreSnapshot({ repo, snapshotId: snap.id, target: dir, reuseTarget: true });
    expect(r).toMatchObject({ source: "local", fetchedBytes: 0, files: snap.stats.files, bytes: snap.stats.bytes, targetCheck: `matches snapshot ${snap.id}` });
    expect(lstatSync(path.join(dir, "big.bin")).ino, "the file was not replaced").toBe(inode);
  });

  it("with reuseTarget, restores a target that differs in full, byte-identical to a fresh restore", async () => {
    const { dir, snap } = await snapshotted();
    const reference = path.join(work, "reference");
    await restoreSnapshot({ repo, snapshotId: snap.id, target: reference });
    writeFileSync(path.join(dir, "secret"), "S3CR3T");
    writeFileSync(path.join(dir, "stray"), "not in the snapshot");
    const cache = new PackCache(path.join(work, "cache"), 1024 ** 3);
    const r = await restoreSnapshot({ repo, snapshotId: snap.id, target: dir, reuseTarget: true, cache });
    expect(r).toMatchObject({ source: "store", targetCheck: "secret: mtime differs" });
    expect(r.fetchedBytes).toBeGreaterThan(0);
    expect(describeTree(dir)).toEqual(describeTree(reference));
    // Restored files have new inodes and ctimes: the manifest no longer describes them, so the next resume restores again,
    // this time from the node cache alone.
    const again = await restoreSnapshot({ repo, snapshotId: snap.id, target: dir, reuseTarget: true, cache });
    expect(again).toMatchObject({ source: "cache", fetchedBytes: 0 });
    expect(describeTree(dir)).toEqual(describeTree(reference));
  });
});
