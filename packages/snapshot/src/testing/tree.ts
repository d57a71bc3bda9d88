import { createHash } from "node:crypto";
import { chmodSync, closeSync, ftruncateSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, symlinkSync, utimesSync, writeFileSync, writeSync } from "node:fs";
import path from "node:path";

/** Deterministic pseudo-random bytes (xorshift32). */
export function noise(n: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * A tree with every case a restore must get right: nested and empty
 * directories, a 0-byte file, unicode names, executable bits, odd modes,
 * relative, absolute and dangling symlinks, a hardlink pair, a large
 * multi-chunk file, a compressible file, a large sparse file, fixed mtimes.
 */
export function makeFixtureTree(root: string): void {
  mkdirSync(root, { recursive: true });
  const at = (...p: string[]) => path.join(root, ...p);
  mkdirSync(at("home", ".config", "app"), { recursive: true });
  mkdirSync(at("empty-dir"));
  mkdirSync(at("données", "日本語"), { recursive: true });
  writeFileSync(at("zero-bytes"), "");
  writeFileSync(at("home", ".bashrc"), "export PS1='$ '\n");
  writeFileSync(at("home", ".config", "app", "settings.json"), JSON.stringify({ theme: "dark" }));
  writeFileSync(at("données", "日本語", "файл с пробелами.txt"), "unicode ✓\n");
  writeFileSync(at("run.sh"), "#!/bin/sh\necho hi\n");
  chmodSync(at("run.sh"), 0o755);
  writeFileSync(at("secret"), "s3cr3t");
  chmodSync(at("secret"), 0o600);
  chmodSync(at("données"), 0o750);
  writeFileSync(at("big.bin"), noise(9 * 1024 * 1024 + 123, 42));
  writeFileSync(at("weights.txt"), Buffer.from("0.125 0.25 0.5\n".repeat(200_000)));
  writeFileSync(at("hard-a"), "shared inode");
  linkSync(at("hard-a"), at("hard-b"));
  symlinkSync("home/.bashrc", at("rel-link"));
  symlinkSync("/usr/bin/env", at("abs-link"));
  symlinkSync("does-not-exist", at("dangling"));
  // 64 MiB sparse: data at both ends, a hole in between.
  const fd = openSync(at("sparse.img"), "w");
  writeSync(fd, noise(4096, 7), 0, 4096, 0);
  ftruncateSync(fd, 64 * 1024 * 1024);
  writeSync(fd, noise(4096, 8), 0, 4096, 64 * 1024 * 1024 - 4096);
  closeSync(fd);
  for (const p of ["zero-bytes", "run.sh", "big.bin", "home/.bashrc"]) utimesSync(at(p), 1_700_000_000.5, 1_700_000_000.25);
}

/**
 * `count` small Python-like modules (1–6 KiB of text sharing a vocabulary,
 * as an installed package tree does), deterministic for `seed`.
 */
export function makePackageTree(root: string, count: number, seed: number): void {
  const words = ["self", "return", "import", "numpy", "tensor", "config", "batch", "device", "None", "True", "model", "state", "logger", "optimizer", "dataset"];
  let x = seed * 2654435761;
  const next = () => ((x = (Math.imul(x ^ (x >>> 15), 2246822519) + 0x9e3779b9) >>> 0), x);
  for (let i = 0; i < count; i++) {
    const dir = path.join(root, `pkg${i % 7}`, "sub");
    mkdirSync(dir, { recursive: true });
    let text = `"""Module ${i}."""\nimport os\nimport sys\nfrom typing import Any\n\n`;
    const target = 1024 + (next() % 5120);
    while (text.length < target) {
      const a = words[next() % words.length]!;
      const b = words[next() % words.length]!;
      text += `def ${a}_${b}_${next() % 1000}(${a}: Any, ${b}=None):\n    if ${b} is None:\n        ${b} = ${a}.${words[next() % words.length]}\n    return ${a}.${b}(${next() % 100})\n\n`;
    }
    writeFileSync(path.join(dir, `mod${i}.py`), text);
  }
}

export interface EntryFacts {
  type: "dir" | "file" | "symlink";
  mode: number;
  size: number;
  /** Modification time in whole microseconds (what a restore can set: Node passes times on as doubles, to microseconds). */
  mtimeUs: string;
  content?: string;
  target?: string;
  /** Other paths with the same inode (hardlinks), sorted. */
  links?: string[];
}

/** Everything a byte-exact restore must preserve, path by path. */
export function describeTree(root: string): Record<string, EntryFacts> {
  const out: Record<string, EntryFacts> = {};
  const byInode = new Map<bigint, string[]>();
  const visit = (rel: string) => {
    for (const name of readdirSync(path.join(root, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const abs = path.join(root, r);
      const st = lstatSync(abs, { bigint: true });
      const base = { mode: Number(st.mode & 0o7777n), mtimeUs: String(st.mtimeNs / 1000n), size: Number(st.size) };
      if (st.isDirectory()) {
        out[r] = { type: "dir", ...base, size: 0 };
        visit(r);
      } else if (st.isSymbolicLink()) {
        out[r] = { type: "symlink", ...base, target: readlinkSync(abs) };
      } else {
        out[r] = { type: "file", ...base, content: createHash("sha256").update(readFileSync(abs)).digest("hex") };
        if (st.nlink > 1n) byInode.set(st.ino, [...(byInode.get(st.ino) ?? []), r]);
      }
    }
  };
  visit("");
  for (const paths of byInode.values()) for (const p of paths) out[p]!.links = paths.filter((x) => x !== p).sort();
  // Directory mtimes change as their children are written; compare them after restore, like tar does.
  return out;
}

/**
 * A description with directories' times blanked: a source tree's directory
 * times move as tests write into it, so they are compared with these aside.
 */
export const withoutDirTimes = (tree: Record<string, EntryFacts>): Record<string, EntryFacts> =>
  Object.fromEntries(Object.entries(tree).map(([k, v]) => [k, v.type === "dir" ? { ...v, mtimeUs: "" } : v]));

/** Bytes the file occupies on disk (holes excluded). */
export const allocatedBytes = (file: string) => lstatSync(file).blocks * 512;

/**
 * Waits until files written so far are older than the margin within which an
 * incremental snapshot re-reads what its parent recorded (RACY_NS in create.ts),
 * for tests that count the files it trusts.
 */
export const pastRacyWindow = () => new Promise<void>((resolve) => setTimeout(resolve, 250));
