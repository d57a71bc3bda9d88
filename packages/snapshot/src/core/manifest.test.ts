import { describe, expect, it } from "vitest";
import { isChunkId, pathProblem, validateManifest, type Entry, type Manifest } from "./manifest.ts";

const manifest = (entries: Entry[]): Manifest => ({
  version: 1,
  id: "test",
  parent: null,
  createdAt: "2026-01-01T00:00:00.000Z",
  tags: {},
  stats: { files: 0, dirs: 0, symlinks: 0, bytes: 0, newBytes: 0, uploadedBytes: 0, newChunks: 0, unchangedFiles: 0, skipped: [], durationMs: 0 },
  entries,
});
const meta = { mode: 0o755, uid: 0, gid: 0, mtimeNs: "1" };
const dir = (path: string): Extract<Entry, { type: "dir" }> => ({ type: "dir", path, ...meta });
const file = (path: string): Entry => ({ type: "file", path, ...meta, size: 0, chunks: [], ino: 1, ctimeNs: "1" });
const symlink = (path: string): Entry => ({ type: "symlink", path, ...meta, target: "x" });
const problems = (entries: Entry[]) => {
  try {
    validateManifest(manifest(entries));
    return [];
  } catch (err) {
    return (err as { problems: string[] }).problems;
  }
};

describe("manifest paths", () => {
  it.each([
    ["a", null],
    ["a/b/c", null],
    ["a/.b", null],
    ["a/...", null],
    ["..a/b..", null],
    ["ü/名前 with space", null],
    ["", "empty path"],
    ["/a", 'absolute path "/a"'],
    ["a/", 'path "a/" has a "//" segment'],
    ["a//b", 'path "a//b" has a "//" segment'],
    [".", 'path "." has a "." segment'],
    ["a/./b", 'path "a/./b" has a "." segment'],
    ["..", 'path ".." has a ".." segment'],
    ["a/..", 'path "a/.." has a ".." segment'],
    ["../a", 'path "../a" has a ".." segment'],
    ["a\0b", 'path with a NUL byte: "a\\u0000b"'],
  ])("%j: %s", (path, problem) => {
    expect(pathProblem(path)).toBe(problem);
  });

  it("refuses paths past 4096 bytes and what is not a string", () => {
    expect(pathProblem("a".repeat(4096))).toBeNull();
    expect(pathProblem("a".repeat(4097))).toMatch(/^path longer than 4096 bytes/);
    expect(pathProblem(undefined as unknown as string)).toBe("empty path");
  });

  it("chunk ids are 64 lowercase hex digits", () => {
    expect(isChunkId("0123456789abcdef".repeat(4))).toBe(true);
    for (const bad of ["0123456789ABCDEF".repeat(4), "0".repeat(63), "0".repeat(65), `${"0".repeat(63)}g`, `/${"0".repeat(63)}`, 42, null]) expect(isChunkId(bad)).toBe(false);
  });
});

describe("validateManifest: parents", () => {
  it("accepts a tree in walk order, returning to a directory after its subdirectories", () => {
    expect(problems([dir("a"), dir("a/b"), file("a/b/x"), file("a/c"), dir("d"), file("d/y"), file("a/z")])).toEqual([]);
  });

  it("refuses an entry whose parent is missing, later, or not a directory, wherever it comes", () => {
    expect(problems([dir("a"), file("a/x"), file("b/y")])).toEqual(["b/y: parent b is not listed before it"]);
    expect(problems([file("a/x"), dir("a")])).toEqual(["a/x: parent a is not listed before it"]);
    expect(problems([dir("a"), file("a/x"), symlink("c"), file("c/evil"), file("a/y")])).toEqual(["c/evil: parent c is a symlink, not a directory"]);
    // A directory entry made a symlink by a later duplicate: its next children are refused too.
    expect(problems([dir("a"), file("a/x"), symlink("a"), file("a/y")])).toEqual(["duplicate entry a", "a/y: parent a is a symlink, not a directory"]);
  });

  it("refuses a time that is not a decimal string (a number would pass the pattern as its digits)", () => {
    expect(problems([{ ...dir("a"), mtimeNs: 5 as unknown as string }])).toEqual(["a: bad mtime 5"]);
    expect(problems([{ ...dir("a"), mtimeNs: "--1" }])).toEqual(["a: bad mtime --1"]);
    expect(problems([{ ...dir("a"), mtimeNs: "-315619199750000000" }])).toEqual([]); // before 1970
  });
});
