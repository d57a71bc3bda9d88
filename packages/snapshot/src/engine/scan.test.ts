import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { walkTree } from "./scan.ts";

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
