import { linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Lookahead, TreeScan, walkTree, type Scanned } from "./scan.ts";

let work: string;
beforeEach(() => {
  work = mkdtempSync(path.join(tmpdir(), "daybox-scan-"));
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

describe("walkTree", () => {
  it("visits depth-first, names sorted by code unit, each directory before its contents", () => {
    for (const d of ["b", "a/z", "a/y/deep", "é", "A"]) mkdirSync(path.join(work, d), { recursive: true });
    for (const f of ["b/2", "b/10", "a/z/f", "a/y/deep/g", "a.txt", "é/ü", "Z"]) writeFileSync(path.join(work, f), f);
    symlinkSync("b/2", path.join(work, "link"));
    const seen = [...walkTree(work)].map((s) => s.rel);
    expect(seen).toEqual(["A", "Z", "a", "a/y", "a/y/deep", "a/y/deep/g", "a/z", "a/z/f", "a.txt", "b", "b/10", "b/2", "link", "é", "é/ü"]);
    for (const s of walkTree(work)) expect(s.abs).toBe(path.join(work, s.rel));
  });

  it("takes the root with a trailing slash or a relative path alike", () => {
    mkdirSync(path.join(work, "d"));
    writeFileSync(path.join(work, "d/f"), "x");
    const abs = [...walkTree(`${work}/`)].map((s) => s.abs);
    expect(abs).toEqual([path.join(work, "d"), path.join(work, "d/f")]);
    expect([...walkTree(path.relative(process.cwd(), work))].map((s) => s.abs)).toEqual(abs);
  });

  it("records a directory removed during the walk as empty and leaves out entries removed before their lstat", () => {
    for (const d of ["a", "b"]) mkdirSync(path.join(work, d));
    writeFileSync(path.join(work, "a/f"), "x");
    writeFileSync(path.join(work, "b/g"), "y");
    const seen: string[] = [];
    for (const s of walkTree(work)) {
      seen.push(s.rel);
      if (s.rel === "a") rmSync(path.join(work, "a"), { recursive: true }); // before its readdir
    }
    expect(seen).toEqual(["a", "b", "b/g"]);
  });
});

describe("TreeScan", () => {
  const all = async (scan: AsyncIterable<Scanned[]>) => {
    const out: Scanned[] = [];
    for await (const batch of scan) out.push(...batch);
    return out;
  };

  it("yields what walkTree does, in the same order, from its own thread", async () => {
    for (const d of ["b", "a/z", "a/y/deep", "é", "empty"]) mkdirSync(path.join(work, d), { recursive: true });
    for (let i = 0; i < 300; i++) writeFileSync(path.join(work, `a/z/f${i}`), "x".repeat(i));
    writeFileSync(path.join(work, "é/ü"), "ü");
    linkSync(path.join(work, "é/ü"), path.join(work, "b/hard"));
    symlinkSync("../a/z/f1", path.join(work, "b/link"));
    symlinkSync("/nowhere", path.join(work, "dangling"));
    const expected = [...walkTree(work)];
    expect(expected).toHaveLength(311); // 7 directories, 302 files, 2 symlinks
    expect(await all(new TreeScan(work))).toEqual(expected);
    expect(await all(new TreeScan(`${work}/`, { threads: 1 }))).toEqual(expected);
    // Listings split at every chance, parts of parts, small batches: still one order.
    for (const threads of [2, 4]) expect(await all(new TreeScan(work, { threads, batch: 7, splitMin: 2 }))).toEqual(expected);
    expect(expected.find((s) => s.rel === "b/link")).toMatchObject({ target: "../a/z/f1", st: { kind: "symlink" } });
    expect(expected.find((s) => s.rel === "b/hard")!.st).toMatchObject({ kind: "file", nlink: 2, size: 2 });
  });

  it("fails with the walk's error, by its code", async () => {
    symlinkSync("loop", path.join(work, "loop"));
    await expect(all(new TreeScan(path.join(work, "loop")))).rejects.toMatchObject({ code: "ELOOP" });
  });

  it("stops its thread when the reader breaks off or closes it", async () => {
    for (let i = 0; i < 100; i++) writeFileSync(path.join(work, `f${i}`), "");
    let seen = 0;
    for await (const batch of new TreeScan(work, { batch: 3, splitMin: 2 })) if ((seen += batch.length) >= 5) break;
    expect(seen).toBeGreaterThanOrEqual(5);
    const scan = new TreeScan(work, { batch: 3, splitMin: 2 });
    await scan.close(); // before reading anything
  });

  it("is looked ahead of: what pull() takes comes first in the iteration", async () => {
    for (const f of ["a", "b", "c"]) writeFileSync(path.join(work, f), f);
    const tree = new Lookahead(new TreeScan(work, { batch: 1 }));
    expect((await tree.pull())?.map((s) => s.rel)).toEqual(["a"]);
    expect((await tree.pull())?.map((s) => s.rel)).toEqual(["b"]);
    expect((await all(tree)).map((s) => s.rel)).toEqual(["a", "b", "c"]);
    expect(await tree.pull()).toBeUndefined();
  });
});
