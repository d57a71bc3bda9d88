import { spawnSync } from "node:child_process";
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

// The CLI's entry, as users run it: the bundle (npm test builds it first), whose entry starts a snapshot's walk
// before the rest of the CLI loads.
const bin = path.resolve(import.meta.dirname, "../../bin/daybox.js");

let work: string;
beforeEach(() => {
  work = mkdtempSync(path.join(tmpdir(), "daybox-cli-snapshot-"));
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

const daybox = (...args: string[]) => {
  const r = spawnSync(process.execPath, [bin, ...args, "--repo", `file://${path.join(work, "repo")}`, "--json"], { encoding: "utf8", env: { ...process.env, NODE_NO_WARNINGS: "1" } });
  expect(r.stderr, r.stderr).not.toMatch(/error/i);
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout) as { id: string; stats: { files: number; unchangedFiles: number } };
};

describe("daybox snapshot", () => {
  it("takes a snapshot and an incremental one of a directory and restores it, the directory given first or after options", { timeout: 60_000 }, async () => {
    const src = path.join(work, "src");
    mkdirSync(path.join(src, "sub"), { recursive: true });
    writeFileSync(path.join(src, "log.txt"), "one\n");
    writeFileSync(path.join(src, "sub", "kept.txt"), "kept\n");
    await new Promise((r) => setTimeout(r, 250)); // (older than the first walk by more than its racy margin)
    const first = daybox("snapshot", "create", src);
    expect(first.stats.files).toBe(2);
    appendFileSync(path.join(src, "log.txt"), "two\n");
    const second = daybox("snapshot", "create", src, "--parent", first.id);
    expect(second.stats.unchangedFiles).toBe(1); // kept.txt, not read again
    // (Changed again: whether a file written just before the second snapshot counts as racily clean there depends on
    // how long that one took to start.)
    appendFileSync(path.join(src, "log.txt"), "three\n");
    const third = daybox("snapshot", "create", "--parent", second.id, src);
    expect(third.stats.unchangedFiles).toBe(1);
    daybox("snapshot", "restore", third.id, path.join(work, "out"));
    expect(readFileSync(path.join(work, "out", "log.txt"), "utf8")).toBe("one\ntwo\nthree\n");
    expect(readFileSync(path.join(work, "out", "sub", "kept.txt"), "utf8")).toBe("kept\n");
  });
});
