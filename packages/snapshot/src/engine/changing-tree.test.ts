import { linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DirectoryStore } from "../stores/dir-store.ts";
import { createSnapshot } from "./create.ts";
import { Repository } from "./repository.ts";
import { restoreSnapshot } from "./restore.ts";
import { walkTree, type TreeScan } from "./scan.ts";
import { identityOf } from "./walk.mjs";

let work: string;
beforeEach(() => {
  work = mkdtempSync(path.join(tmpdir(), "daybox-changing-"));
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

/** The walk of `root` as it is now, handed to a snapshot that reads the files later (after the test changes them). */
function walkedNow(root: string): TreeScan {
  const entries = [...walkTree(root)];
  return {
    root: path.resolve(root),
    rootId: identityOf(root),
    startedNs: `${Date.now()}000000`,
    close: async () => {},
    compareWith: () => {}, // (these snapshots have no parent)
    async *[Symbol.asyncIterator]() {
      yield entries;
    },
  } as unknown as TreeScan;
}

describe("a tree that changes between the walk and the reads", () => {
  it("leaves out what is gone by its read, and hands a hardlinked file to its next name", async () => {
    const src = path.join(work, "src");
    mkdirSync(path.join(src, "dir"), { recursive: true });
    for (const f of ["keep.txt", "gone.txt", "dir/inner.txt", "swapped.txt", "h1"]) writeFileSync(path.join(src, f), `${f}\n`);
    linkSync(path.join(src, "h1"), path.join(src, "h2"));
    const scan = walkedNow(src);

    rmSync(path.join(src, "gone.txt"));
    rmSync(path.join(src, "dir"), { recursive: true });
    writeFileSync(path.join(src, "dir"), "a file now\n"); // dir/inner.txt: ENOTDIR
    rmSync(path.join(src, "swapped.txt"));
    symlinkSync("/etc/passwd", path.join(src, "swapped.txt")); // not followed: ELOOP
    rmSync(path.join(src, "h1")); // the content lives on as h2

    const repo = await Repository.open(new DirectoryStore(path.join(work, "repo")));
    const m = await createSnapshot({ repo, source: src, scan });
    expect(m.stats.skipped.sort()).toEqual(["dir/inner.txt", "gone.txt", "h1", "swapped.txt"].map((p) => `${p} (vanished during the snapshot)`));
    expect(m.entries.map((e) => `${e.type} ${e.path}`)).toEqual(["dir dir", "file h2", "file keep.txt"]);

    const target = path.join(work, "restored");
    await restoreSnapshot({ repo, snapshotId: m.id, target });
    expect(readFileSync(path.join(target, "h2"), "utf8")).toBe("h1\n");
    expect(readFileSync(path.join(target, "keep.txt"), "utf8")).toBe("keep.txt\n");
  });
});
