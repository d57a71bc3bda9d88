import { spawn, spawnSync } from "node:child_process";
import { chmodSync, closeSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Lookahead, nativeWalk, TreeScan, walkOrder, walkTree, type Scanned, type TreeScanOptions, type Walked } from "./scan.ts";
import type { Entry, Manifest } from "../core/manifest.ts";
import { ChunkTable } from "./chunk-table.ts";
import { ManifestEncoder, ParentManifest } from "./manifest-codec.ts";
import { identityOf, openInTree, openUnder, walkUnder } from "./walk.mjs";

let work: string;
beforeEach(() => {
  work = mkdtempSync(path.join(tmpdir(), "daybox-scan-"));
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

/** A walk's entries (compared with no parent: no numbers). */
const all = async (scan: AsyncIterable<Walked[]>) => {
  const out: Scanned[] = [];
  for await (const batch of scan) for (const s of batch) out.push(typeof s === "number" ? expect.unreachable("a number without a parent") : s);
  return out;
};
/**
 * A tree (d/mine, e/sub, e/x) and, outside it, what a session must not have
 * its snapshot record (names, sizes, owners, symlink targets); `swap(dir)`
 * moves a directory of the tree aside and puts a symlink to the outside in
 * its place.
 */
function swapTree() {
  const outside = path.join(work, "outside");
  mkdirSync(path.join(outside, "secret-dir"), { recursive: true });
  writeFileSync(path.join(outside, "x"), "outside x, longer than the tree's");
  writeFileSync(path.join(outside, "secret-dir/inner"), "secret");
  symlinkSync("/etc/passwd", path.join(outside, "secret-link"));
  const root = path.join(work, "tree");
  for (const d of ["d", "e/sub"]) mkdirSync(path.join(root, d), { recursive: true });
  writeFileSync(path.join(root, "d/mine"), "mine");
  writeFileSync(path.join(root, "e/x"), "x");
  const swap = (dir: string) => {
    renameSync(path.join(root, dir), path.join(root, `${dir}.moved`));
    symlinkSync(outside, path.join(root, dir));
  };
  return { outside, root, swap };
}

/** The native walk of `root`, held at directory `at` (before it opens it, or after its listing) while `then` runs. */
const heldAt = (root: string, at: string, before: "open" | "stat", then: () => void, options: TreeScanOptions = {}) => all(new TreeScan(root, { ...options, hold: { at, before, then } }));

describe("walkTree", () => {
  it("visits depth-first, names sorted by code unit, each directory before its contents", () => {
    for (const d of ["b", "a/z", "a/y/deep", "é", "A"]) mkdirSync(path.join(work, d), { recursive: true });
    for (const f of ["b/2", "b/10", "a/z/f", "a/y/deep/g", "a.txt", "é/ü", "Z"]) writeFileSync(path.join(work, f), f);
    symlinkSync("b/2", path.join(work, "link"));
    const seen = [...walkTree(work)].map((s) => s.rel);
    expect(seen).toEqual(["A", "Z", "a", "a/y", "a/y/deep", "a/y/deep/g", "a/z", "a/z/f", "a.txt", "b", "b/10", "b/2", "link", "é", "é/ü"]);
    for (const s of walkTree(work)) expect(s.abs).toBe(path.join(work, s.rel));
  });

  it("walkOrder sorts paths as the walk visits them", () => {
    // Names around "/" in code-unit order ("!", "-", "." sort before it), prefixes, and a name outside the BMP.
    const names = ["a", "a!", "a-b", "a.b", "a0", "ab", "b", " x", "😀", "ｚ"];
    for (const d of names) mkdirSync(path.join(work, d, d), { recursive: true });
    for (const d of names) writeFileSync(path.join(work, d, `${d}.f`), "");
    const seen = [...walkTree(work)].map((s) => s.rel);
    expect(seen).toHaveLength(3 * names.length);
    for (let i = 1; i < seen.length; i++) {
      expect(walkOrder(seen[i - 1]!, seen[i]!), `${seen[i - 1]} before ${seen[i]}`).toBeLessThan(0);
      expect(walkOrder(seen[i]!, seen[i - 1]!)).toBeGreaterThan(0);
    }
    expect(walkOrder("a/x", "a/x")).toBe(0);
    expect([...seen].reverse().sort(walkOrder)).toEqual(seen);
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

  it("leaves out entries removed between the directory's listing and their lstat", () => {
    mkdirSync(path.join(work, "a"));
    for (const f of ["x", "y", "z"]) writeFileSync(path.join(work, "a", f), f);
    const onListing = (dir: string) => dir.endsWith("/a") && rmSync(path.join(work, "a/y"));
    const seen = [...walkUnder(realpathSync(work), identityOf(realpathSync(work))!, onListing)].map((s) => s.rel);
    expect(seen).toEqual(["a", "a/x", "a/z"]);
  });

  it("never lists or looks at anything outside the tree when a directory is swapped for a symlink as it walks", () => {
    const { outside, root, swap } = swapTree();

    // 1. Between a directory's lstat and its listing (the consumer runs between the two): recorded empty.
    const seen: Scanned[] = [];
    for (const s of walkTree(root)) {
      seen.push(s);
      if (s.rel === "d") swap("d");
    }
    expect(seen.map((s) => s.rel)).toEqual(["d", "e", "e/sub", "e/x"]);

    // 2. Between a directory's listing and its entries' lstats: they are the listed directory's own, and a
    //    directory below it is reached through the symlink no more (its path now leads outside: left out).
    rmSync(path.join(root, "d"));
    renameSync(path.join(root, "d.moved"), path.join(root, "d"));
    mkdirSync(path.join(outside, "sub"));
    const onListing = (dir: string) => dir === path.join(root, "e") && swap("e");
    const found = [...walkUnder(realpathSync(root), identityOf(realpathSync(root))!, onListing)];
    expect(found.map((s) => s.rel)).toEqual(["d", "d/mine", "e", "e/sub", "e/x"]);
    expect(found.find((s) => s.rel === "e/x")!.st.size).toBe(1); // the tree's x, not the one outside
    expect(found.some((s) => s.target !== undefined || s.rel.includes("secret"))).toBe(false);
  });
});

describe("the walk and its reads, against a directory of another mount namespace", () => {
  it("are not led into it, though the kernel reports it at the path the walk expects", async () => {
    // A session in a namespace of its own (unprivileged, as `unshare -Urm`) mounts a directory it cannot read from
    // here at the path of one of its tree's directories, then swaps an ancestor for a symlink into its namespace's
    // root: the path the kernel reports for that directory is the one the walk expects. Only identity tells them apart.
    const R = realpathSync(work);
    mkdirSync(path.join(R, "secret"), { mode: 0o700 });
    writeFileSync(path.join(R, "secret/id_rsa"), "top secret");
    mkdirSync(path.join(R, "tree/a/b"), { recursive: true });
    writeFileSync(path.join(R, "tree/a/b/mine"), "mine");
    const tree = path.join(R, "tree");
    const ns = spawn("unshare", ["-Urm", "sh", "-c", `mount -t tmpfs none ${tree} && mkdir -p ${tree}/a/b && mount --bind ${R}/secret ${tree}/a/b && echo ready && exec sleep 60`], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      await new Promise<void>((resolve, reject) => {
        ns.stdout.on("data", (d: Buffer) => d.toString().includes("ready") && resolve());
        ns.on("exit", (code) => reject(new Error(`unshare exited with ${code}`)));
      });
      const b = identityOf(path.join(tree, "a/b"))!;
      const swap = () => {
        renameSync(path.join(tree, "a"), path.join(tree, "a.moved"));
        symlinkSync(`/proc/${ns.pid}/root${tree}/a`, path.join(tree, "a"));
      };
      const undo = () => {
        rmSync(path.join(tree, "a"));
        renameSync(path.join(tree, "a.moved"), path.join(tree, "a"));
      };
      const seen = [...walkUnder(tree, identityOf(tree)!, (dir) => dir === path.join(tree, "a") && swap())].map((s) => s.rel);
      expect(seen).toEqual(["a", "a/b"]); // b as a/ listed it; its contents are not read through the symlink
      expect(readFileSync(path.join(tree, "a/b/id_rsa"), "utf8")).toBe("top secret"); // the path does lead there
      expect(() => openInTree(path.join(tree, "a/b/id_rsa"), b, tree)).toThrow(expect.objectContaining({ code: "ENOENT" }));
      // The native walk goes by descriptors: it walks the tree's own a (moved) and b, never the other namespace's.
      undo();
      for (const before of ["stat", "open"] as const) {
        const found = await heldAt(tree, before === "stat" ? "a" : "a/b", before, swap);
        expect(found.map((s) => s.rel)).toEqual(["a", "a/b", "a/b/mine"]);
        expect(found.find((s) => s.rel === "a/b/mine")!.st.size).toBe(4);
        undo();
      }
    } finally {
      ns.kill("SIGKILL");
    }
  });
});

describe("openUnder", () => {
  const read = (fd: number) => {
    const buf = Buffer.alloc(100);
    const n = readSync(fd, buf, 0, 100, 0);
    closeSync(fd);
    return buf.subarray(0, n).toString();
  };

  it("opens a file under the root, one replaced there since the walk as it is now", () => {
    const root = path.join(work, "root");
    mkdirSync(path.join(root, "d"), { recursive: true });
    const file = path.join(root, "d", "f");
    writeFileSync(file, "seen");
    expect(read(openUnder(file, root))).toBe("seen");
    writeFileSync(`${file}.tmp`, "saved atomically");
    renameSync(`${file}.tmp`, file);
    expect(read(openUnder(file, root))).toBe("saved atomically");
    expect(read(openUnder(`/${path.relative("/", file)}`, "/"))).toBe("saved atomically");
  });

  it("refuses a symlink put in the file's place, and a file reached through a directory swapped for a symlink", () => {
    const root = path.join(work, "root");
    const outside = path.join(work, "other-session");
    mkdirSync(path.join(root, "d"), { recursive: true });
    mkdirSync(outside);
    writeFileSync(path.join(outside, "f"), "someone else's");
    const file = path.join(root, "d", "f");
    writeFileSync(file, "mine");
    rmSync(file);
    symlinkSync(path.join(outside, "f"), file);
    expect(() => openUnder(file, root)).toThrow(expect.objectContaining({ code: "ELOOP" }));
    rmSync(path.join(root, "d"), { recursive: true });
    symlinkSync(outside, path.join(root, "d"));
    expect(() => openUnder(file, root)).toThrow(expect.objectContaining({ code: "EXDEV", message: expect.stringContaining("outside") }));
    // A root that is a prefix of the other directory's name is no cover either.
    expect(() => openUnder(path.join(outside, "f"), path.join(work, "other"))).toThrow(expect.objectContaining({ code: "EXDEV" }));
  });
});

describe("TreeScan", () => {
  it("runs the native walk on Linux", () => {
    if (process.platform === "linux") expect(nativeWalk(), "native/build/native-walk.node: run `node packages/snapshot/native/build.mjs`").not.toBeNull();
  });

  it("yields what walkTree does, in the same order, from its own threads", async () => {
    // Names around "/" in code-unit order, and UTF-16's order where UTF-8's differs (U+FF5A after U+1F600).
    for (const d of ["b", "a/z", "a/y/deep", "é", "empty", "a-b", "a.b", "a0", "😀/ｚ", "ｚ/😀"]) mkdirSync(path.join(work, d), { recursive: true });
    for (let i = 0; i < 300; i++) writeFileSync(path.join(work, `a/z/f${i}`), "x".repeat(i));
    writeFileSync(path.join(work, "é/ü"), "ü");
    linkSync(path.join(work, "é/ü"), path.join(work, "b/hard"));
    symlinkSync("../a/z/f1", path.join(work, "b/link"));
    symlinkSync("/nowhere", path.join(work, "dangling"));
    const expected = [...walkTree(work)];
    expect(expected).toHaveLength(318); // 14 directories, 302 files, 2 symlinks
    expect(await all(new TreeScan(work))).toEqual(expected);
    expect(await all(new TreeScan(`${work}/`, { threads: 1 }))).toEqual(expected);
    expect(await all(new TreeScan(work, { native: false, batch: 7 }))).toEqual(expected);
    // Listings looked at in ranges of two, small batches: still one order.
    for (const threads of [2, 4]) expect(await all(new TreeScan(work, { threads, batch: 7, range: 2 }))).toEqual(expected);
    expect(expected.find((s) => s.rel === "b/link")).toMatchObject({ target: "../a/z/f1", st: { kind: "symlink" } });
    expect(expected.find((s) => s.rel === "b/hard")!.st).toMatchObject({ kind: "file", nlink: 2, size: 2 });
  });

  it("keeps the order when threads far ahead of the reader must wait", async () => {
    for (let d = 0; d < 6; d++) {
      mkdirSync(path.join(work, `d${d}`));
      for (let f = 0; f < 40; f++) writeFileSync(path.join(work, `d${d}`, `f${f}`), "");
    }
    const expected = [...walkTree(work)];
    for (const threads of [1, 3]) expect(await all(new TreeScan(work, { threads, batch: 1, range: 2, unreadMax: 1 }))).toEqual(expected);
  });

  it("fails a reader once it is closed, instead of leaving it waiting", async () => {
    writeFileSync(path.join(work, "f"), "");
    const scan = new TreeScan(work);
    const it = scan[Symbol.asyncIterator]();
    await it.next();
    await scan.close();
    await expect(it.next()).rejects.toThrow(/closed before its end/);
  });

  it("fails with the walk's error, by its code", async () => {
    symlinkSync("loop", path.join(work, "loop"));
    await expect(all(new TreeScan(path.join(work, "loop")))).rejects.toMatchObject({ code: "ELOOP" });
    await expect(all(new TreeScan(path.join(work, "nothing")))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("reports a directory it may not read by its path", () => {
    mkdirSync(path.join(work, "locked/inner"), { recursive: true });
    chmodSync(path.join(work, "locked"), 0);
    chmodSync(work, 0o755);
    // In a process of its own, as nobody when the tests run as root (who may read it anyway).
    const script = `import { TreeScan } from ${JSON.stringify(pathToFileURL(path.join(import.meta.dirname, "scan.ts")).href)};
      try { for await (const b of new TreeScan(${JSON.stringify(work)})); console.log("{}"); }
      catch (e) { console.log(JSON.stringify({ message: e.message, code: e.code, syscall: e.syscall, path: e.path })); }`;
    const run = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8", cwd: import.meta.dirname, ...(process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {}) });
    const where = path.join(realpathSync(work), "locked");
    expect(JSON.parse(run.stdout || run.stderr)).toEqual({ message: `EACCES: permission denied, open '${where}'`, code: "EACCES", syscall: "open", path: where });
  });

  it("keeps few directories open: a tree 30 deep with 64 subdirectories at each level walks within 256 open files", () => {
    let dir = work;
    for (let depth = 0; depth < 30; depth++) {
      for (let k = 0; k < 64; k++) mkdirSync(path.join(dir, `d${String(k).padStart(2, "0")}`));
      dir = path.join(dir, "d00");
    }
    // In a process of its own, under the limit (the directories it holds open grow with the depth, not the width).
    const script = `import { TreeScan } from ${JSON.stringify(pathToFileURL(path.join(import.meta.dirname, "scan.ts")).href)};
      let n = 0; for await (const b of new TreeScan(${JSON.stringify(work)}, { batch: 1, unreadMax: 1 })) n += b.length; console.log(n);`;
    const run = spawnSync("bash", ["-c", `ulimit -n 256 && exec "$0" --import tsx --input-type=module -e "$1"`, process.execPath, script], { encoding: "utf8", cwd: import.meta.dirname });
    expect(run.stderr).not.toMatch(/EMFILE/);
    expect(run.stdout.trim()).toBe(String(30 * 64));
  });

  it("gives a name that is not UTF-8 as such (it cannot be recorded), with what is below it left out", async () => {
    const bad = Buffer.concat([Buffer.from(`${work}/caf`), Buffer.from([0xe9])]);
    mkdirSync(bad);
    writeFileSync(Buffer.concat([bad, Buffer.from("/inner")]), "x");
    writeFileSync(path.join(work, "ok"), "y");
    const found = await all(new TreeScan(work));
    expect(found.map((s) => [s.rel, s.st.kind])).toEqual([
      ["caf\ufffd", "name not UTF-8"],
      ["ok", "file"],
    ]);
  });

  it("never lists or looks at anything outside the tree when a directory is swapped for a symlink as it walks", async () => {
    const { root, swap: swapNow } = swapTree();
    const swap = (dir: string) => () => swapNow(dir);
    const undo = (dir: string) => {
      rmSync(path.join(root, dir));
      renameSync(path.join(root, `${dir}.moved`), path.join(root, dir));
    };
    const clean = (found: Scanned[]) => !found.some((s) => s.target !== undefined || s.rel.includes("secret") || (s.st.kind === "file" && s.st.size > 4));

    // Between a directory's lstat and its opening: it is not opened (recorded empty).
    let found = await heldAt(root, "d", "open", swap("d"));
    expect(found.map((s) => s.rel)).toEqual(["d", "e", "e/sub", "e/x"]);
    expect(clean(found)).toBe(true);
    undo("d");
    // Between its listing and its entries' lstats: they are the listed directory's own (it was moved, not left).
    found = await heldAt(root, "e", "stat", swap("e"), { threads: 1 });
    expect(found.map((s) => s.rel)).toEqual(["d", "d/mine", "e", "e/sub", "e/x"]);
    expect(found.find((s) => s.rel === "e/x")!.st.size).toBe(1);
    expect(clean(found)).toBe(true);
    undo("e");
    // An entry removed between the listing and its lstat is left out.
    found = await heldAt(root, "e", "stat", () => rmSync(path.join(root, "e/x")));
    expect(found.map((s) => s.rel)).toEqual(["d", "d/mine", "e", "e/sub"]);
  });

  it("stops its thread when the reader breaks off or closes it", async () => {
    for (let i = 0; i < 100; i++) writeFileSync(path.join(work, `f${i}`), "");
    let seen = 0;
    const open = () => readdirSync("/proc/self/fd").length;
    const before = open();
    for await (const batch of new TreeScan(work, { batch: 3, range: 2, unreadMax: 1 })) if ((seen += batch.length) >= 5) break;
    expect(seen).toBeGreaterThanOrEqual(5);
    const scan = new TreeScan(work, { batch: 3, range: 2 });
    await scan.close(); // before reading anything
    expect(open()).toBe(before); // the walk let go of every directory
  });

  it("compares the walk with a parent's files: unchanged ones come as their record's number, the rest with it", async () => {
    for (const d of ["a", "b/c"]) mkdirSync(path.join(work, d), { recursive: true });
    const files = ["a/same", "a/written", "a/chmod", "a/linked", "a/untrusted", "a/gone", "b/c/same", "b/c/to-dir", "z"];
    for (const f of files) writeFileSync(path.join(work, f), f);
    // The parent: the tree as it is now, as a manifest records it (a directory, a symlink among the files).
    symlinkSync("a/same", path.join(work, "link"));
    // One file's chunk the repository no longer holds: its record may not be trusted.
    const lost = "e".repeat(64);
    const parent: Entry[] = [...walkTree(work)].map((s): Entry => {
      const meta = { path: s.rel, mode: s.st.mode, uid: s.st.uid, gid: s.st.gid, mtimeNs: s.st.mtimeNs };
      if (s.st.kind === "dir") return { ...meta, type: "dir" };
      if (s.st.kind === "symlink") return { ...meta, type: "symlink", target: s.target! };
      return { ...meta, type: "file", size: s.st.size, chunks: s.rel === "a/untrusted" ? [[lost, s.st.size]] : [], ino: s.st.ino, ctimeNs: s.st.ctimeNs };
    });
    const number = (p: string) => parent.findIndex((e) => e.path === p);
    await new Promise((r) => setTimeout(r, 20)); // a later mtime and ctime for what is written now
    writeFileSync(path.join(work, "a/written"), "written again");
    chmodSync(path.join(work, "a/chmod"), 0o600);
    linkSync(path.join(work, "a/linked"), path.join(work, "b/link-to-linked"));
    rmSync(path.join(work, "a/gone"));
    writeFileSync(path.join(work, "a/new"), "new");
    rmSync(path.join(work, "b/c/to-dir"));
    mkdirSync(path.join(work, "b/c/to-dir"));
    // The parent as decoded from JSON (format 1), and as stored records (format 2), which the native walk reads as they are.
    const head = { version: 2 as const, id: "p", parent: null, createdAt: "", tags: {}, stats: {} as Manifest["stats"] };
    const forms = [new ParentManifest({ ...head, version: 1, entries: parent }, "parent"), new ParentManifest(new ManifestEncoder(2, null).finish(head, parent), "parent")];
    const walked = async (native: boolean, form: ParentManifest) => {
      const scan = new TreeScan(work, { native, batch: 3, range: 2 });
      scan.compareWith(form.comparable({ ns: Infinity, wholeSecondsNs: Infinity }, new ChunkTable())); // (which lists no chunk)
      const out: Walked[] = [];
      for await (const batch of scan) out.push(...batch);
      return out.map((s) => (typeof s === "number" ? s : `${s.rel}${s.parent === undefined ? "" : ` (was ${s.parent})`}`));
    };
    const expected = [
      "a",
      `a/chmod (was ${number("a/chmod")})`,
      `a/linked (was ${number("a/linked")})`, // two links now: left to the snapshot (hardlinks)
      "a/new",
      number("a/same"),
      `a/untrusted (was ${number("a/untrusted")})`,
      `a/written (was ${number("a/written")})`,
      "b",
      "b/c",
      number("b/c/same"),
      `b/c/to-dir (was ${number("b/c/to-dir")})`,
      "b/link-to-linked",
      "link",
      number("z"),
    ];
    for (const form of forms) {
      if (nativeWalk()) expect(await walked(true, form)).toEqual(expected);
      expect(await walked(false, form)).toEqual(expected);
    }
    const scan = new TreeScan(work);
    scan.compareWith(null);
    expect(() => scan.compareWith(forms[0]!.comparable({ ns: Infinity, wholeSecondsNs: Infinity }, new ChunkTable()))).toThrow(/already/);
    await scan.close();
  });

  it("is looked ahead of: what pull() takes comes first in the iteration", async () => {
    for (const f of ["a", "b", "c"]) writeFileSync(path.join(work, f), f);
    const tree = new Lookahead(new TreeScan(work, { batch: 1 }));
    const rels = (batch: Walked[] | undefined) => batch?.map((s) => (typeof s === "number" ? s : s.rel));
    expect(rels(await tree.pull())).toEqual(["a"]);
    expect(rels(await tree.pull())).toEqual(["b"]);
    expect((await all(tree)).map((s) => s.rel)).toEqual(["a", "b", "c"]);
    expect(await tree.pull()).toBeUndefined();
  });
});
