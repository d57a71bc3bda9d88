import { chmodSync, lchownSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DirectoryStore } from "../stores/dir-store.ts";
import { createSnapshot } from "./create.ts";
import { Repository } from "./repository.ts";
import { restoreSnapshot } from "./restore.ts";
import { walkTree } from "./scan.ts";

let work: string;
beforeEach(() => {
  work = mkdtempSync(path.join(tmpdir(), "daybox-meta-"));
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

/** Owner, group and mode of every entry under `root`. */
const owners = (root: string) => Object.fromEntries([...walkTree(root)].map((s) => [s.rel, `${s.st.uid}:${s.st.gid} ${s.st.mode.toString(8)}`]));

describe("restored owners and modes", () => {
  it("come back as they were: others' files, modes the umask would strip, set-id bits, read-only files, symlinks", async () => {
    const src = path.join(work, "src");
    const asRoot = process.getuid?.() === 0;
    // As root (as in CI) the tree has other users' files; otherwise every entry is ours and only modes vary.
    const own = (p: string, uid: number, gid: number) => asRoot && lchownSync(path.join(src, p), uid, gid);
    mkdirSync(path.join(src, "home", "shared"), { recursive: true });
    const files: [string, number, number, number][] = [
      ["home/notes.md", 0o644, 1000, 1000],
      ["home/run.sh", 0o755, 1000, 1000],
      ["home/group-writable.txt", 0o664, 1000, 100], // group write: what a 022 umask strips
      ["home/secret", 0o600, 1000, 1000],
      ["home/read-only", 0o444, 0, 0],
      ["home/setuid-tool", 0o4755, 0, 0],
      ["home/shared/setgid-file", 0o2775, 1001, 100],
      ["home/sticky", 0o1644, 1000, 1000],
      ["ours.txt", 0o640, 0, 0],
      ["ours-world-writable", 0o666, 0, 0], // the umask (022) would strip it at creation
    ];
    for (const [p, mode, uid, gid] of files) {
      writeFileSync(path.join(src, p), `${p}\n`);
      own(p, uid, gid); // before the mode: chown clears set-id bits
      chmodSync(path.join(src, p), mode);
    }
    symlinkSync("notes.md", path.join(src, "home", "link"));
    own("home/link", 1000, 1000);
    own("home/shared", 1001, 100);
    chmodSync(path.join(src, "home", "shared"), 0o2775);
    own("home", 1000, 1000);
    chmodSync(path.join(src, "home"), 0o750);

    const repo = await Repository.open(new DirectoryStore(path.join(work, "repo")));
    const m = await createSnapshot({ repo, source: src });
    const target = path.join(work, "restored");
    await restoreSnapshot({ repo, snapshotId: m.id, target });
    const want = owners(src);
    expect(owners(target)).toEqual(want);
    if (asRoot) expect(want["home/group-writable.txt"]).toBe("1000:100 664");
  });
});

describe("restored times", () => {
  it("come back for files older than 1970 too (negative nanoseconds since the epoch)", async () => {
    const src = path.join(work, "src");
    mkdirSync(src);
    const when: [string, number][] = [
      ["1960.txt", -315619199.75], // 1960-01-01, a quarter second in
      ["just-before-1970", -0.25],
      ["2001", 978307200.5],
    ];
    for (const [name, seconds] of when) {
      writeFileSync(path.join(src, name), name);
      utimesSync(path.join(src, name), String(seconds), String(seconds)); // (Node takes a negative number for "now")
    }
    const repo = await Repository.open(new DirectoryStore(path.join(work, "repo")));
    const m = await createSnapshot({ repo, source: src });
    expect(m.entries.find((e) => e.path === "1960.txt")).toMatchObject({ mtimeNs: "-315619199750000000" });
    const target = path.join(work, "restored");
    await restoreSnapshot({ repo, snapshotId: m.id, target });
    for (const [name, seconds] of when) expect(statSync(path.join(target, name), { bigint: true }).mtimeNs, name).toBe(BigInt(seconds * 1e6) * 1000n);
  });
});
