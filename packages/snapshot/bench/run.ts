/**
 * Snapshot benchmark: Daybox vs restic vs tar|zstd against one real S3 server.
 * See README.md. Usage (from the repo root):
 *   node --import tsx packages/snapshot/bench/run.ts [--scale 1] [--runs 3] [--out packages/snapshot/bench/results.md]
 *        [--work-dir /tmp/daybox-bench] [--seed 1] [--endpoint http://127.0.0.1:7070] [--keep] [--profile]
 *        [--no-evict] [--tools daybox,restic,tar,cp]
 */
import { execFileSync, execSync } from "node:child_process";
import { mkdirSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { assertSameListing, generateTree, hashListing, mutate, unmutate, type TreeSpec } from "./generate.ts";
import { ensureBucket, s3Client } from "./s3.ts";
import { median } from "./stats.ts";
import { benchS3, pageCacheEvictor, prepareWorkDir } from "./testbed.ts";
import { cpA } from "./tools/cp.ts";
import { DayboxTool } from "./tools/daybox.ts";
import { ResticTool } from "./tools/restic.ts";
import { TarZstdTool } from "./tools/tar-zstd.ts";
import type { Tool, ToolContext } from "./tools/types.ts";

const BENCH_DIR = import.meta.dirname;

const { values: flags } = parseArgs({
  options: {
    scale: { type: "string", default: "1" },
    runs: { type: "string", default: "3" },
    out: { type: "string" },
    "work-dir": { type: "string", default: "/tmp/daybox-bench" },
    seed: { type: "string", default: "1" },
    endpoint: { type: "string" },
    keep: { type: "boolean", default: false },
    profile: { type: "boolean", default: false },
    "no-evict": { type: "boolean", default: false },
    tools: { type: "string", default: "daybox,restic,tar,cp" },
    help: { type: "boolean", default: false },
  },
});
if (flags.help) {
  console.log(readmeUsage());
  process.exit(0);
}

const callerCwd = process.env["INIT_CWD"] ?? process.cwd();
const spec: TreeSpec = { scale: Number(flags.scale), seed: Number(flags.seed) };
const runs = Number(flags.runs);
const outFile = flags.out ? path.resolve(callerCwd, flags.out) : path.join(BENCH_DIR, "results.md");
const workDir = path.resolve(callerCwd, flags["work-dir"]);
const enabled = new Set(flags.tools.split(","));
if (!(spec.scale > 0) || !(runs >= 1) || !Number.isInteger(runs)) throw new Error("--scale must be > 0 and --runs an integer >= 1");

const started = Date.now();
const log = (msg: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(5)}s] ${msg}`);

// ---------- environment ----------

function need(cmd: string, hint: string) {
  try {
    execFileSync("bash", ["-c", `command -v ${cmd}`], { stdio: "ignore" });
  } catch {
    throw new Error(`${cmd} is not installed: ${hint}`);
  }
}
need("zstd", "apt-get install -y zstd");
need("tar", "apt-get install -y tar");
if (enabled.has("restic")) need("restic", "apt-get install -y restic");

const s3 = benchS3(flags.endpoint, log);
const client = s3Client(s3);

/** Page cache eviction, the same before every timed step, when the kernel lets us. */
const pageCache = pageCacheEvictor(!flags["no-evict"], log);
const evict = pageCache.enabled;
const dropCaches = () => pageCache.drop();

async function timed(what: string, fn: () => Promise<unknown>): Promise<number> {
  dropCaches();
  const t0 = performance.now();
  await fn();
  const s = (performance.now() - t0) / 1000;
  log(`  ${what}: ${s.toFixed(2)} s`);
  return s;
}

function versions() {
  const v = (cmd: string) => {
    try {
      return execSync(cmd, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).split("\n")[0]!.trim();
    } catch {
      return "?";
    }
  };
  return { node: process.version, restic: v("restic version"), zstd: v("zstd --version"), tar: v("tar --version"), kernel: os.release(), cpus: os.cpus().length, memGiB: Math.round(os.totalmem() / 2 ** 30) };
}

// ---------- results ----------

type Metric = "first" | "incremental" | "cold" | "warm" | "stored";
const METRICS: Metric[] = ["first", "incremental", "cold", "warm", "stored"];
const ROWS = ["daybox", "restic", "tar+zstd", "tar+zstd listed-incremental", "cp -a"] as const;
type Row = (typeof ROWS)[number];
const samples = new Map<string, number[]>(); // `${row}|${metric}` → one value per run
const record = (row: Row, m: Metric, v: number) => {
  const k = `${row}|${m}`;
  samples.set(k, [...(samples.get(k) ?? []), v]);
};
const notes: Record<string, string | number>[] = [];

const med = (row: Row, m: Metric) => median(samples.get(`${row}|${m}`));

// ---------- the benchmark ----------

/**
 * This machine's root filesystem is ext4 without a journal, where creating a
 * file passes over every free inode deleted less than 60 s ago — 360 s while
 * its inode-table block is dirty, as it is during a restore (ext4's
 * recently_deleted(): RECENTCY_MIN + RECENTCY_DIRTY in fs/ext4/ialloc.c): a
 * restore of 50k files minutes after `rm -rf` of restored trees took 5.5-8 s
 * instead of 4-4.5 s, for whichever tool came then. Restored trees are
 * therefore kept until the bench ends while the disk has room for another
 * run's (else deleted after a run's restores), and restores start at least
 * 365 s after the last deletion of a tree (prepareWorkDir's, or a run's).
 */
const SETTLE_MS = 365_000;
let lastTreeDelete = 0;
/** Restored trees not deleted yet (see SETTLE_MS). */
const keptTrees: string[] = [];
/** Trees a run restores at most: each tool's cold and warm restore, and `cp -a`'s copy. */
const RESTORED_TREES = 6;
const freeBytes = (dir: string) => {
  const st = statfsSync(dir);
  return st.bavail * st.bsize;
};
async function settleAfterDeletes() {
  const wait = lastTreeDelete + SETTLE_MS - Date.now();
  if (wait <= 0) return;
  log(` waiting ${(wait / 1000).toFixed(0)} s: inodes deleted in the last 6 minutes slow file creation here (see SETTLE_MS)`);
  await new Promise((r) => setTimeout(r, wait));
}

async function main() {
  if (prepareWorkDir(workDir)) lastTreeDelete = Date.now();
  const src = path.join(workDir, "src");
  const profileDir = `${workDir}-profiles`;
  const nodeArgs = flags.profile ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`, "--cpu-prof-name={label}.cpuprofile"] : [];
  const buckets = { daybox: "bench-daybox", restic: "bench-restic", tar: "bench-tar" };
  for (const b of Object.values(buckets)) await ensureBucket(client, b);

  log(`generating the tree (scale ${spec.scale}, seed ${spec.seed}) in ${src}`);
  const t0 = Date.now();
  const summary = generateTree(src, spec);
  log(`  ${summary.files} files, ${(summary.bytes / 1e9).toFixed(2)} GB (${summary.smallFiles} small files, ${(summary.smallBytes / 1e9).toFixed(2)} GB) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const stamp = new Date().toISOString().replace(/[-:.]/g, "").slice(0, 15);
  let mutation: ReturnType<typeof mutate> | null = null;
  for (let r = 1; r <= runs; r++) {
    log(`run ${r}/${runs}`);
    if (r > 1) unmutate(src, spec);
    const ctx = (bucket: string, name: string): ToolContext => ({ s3, client, bucket, prefix: `run-${stamp}-${r}`, scratch: path.join(workDir, `scratch-${name}-${r}`), log: (m) => log(`    ${m}`), nodeArgs });
    const all: Tool[] = [];
    if (enabled.has("daybox")) all.push(new DayboxTool(ctx(buckets.daybox, "daybox")));
    if (enabled.has("restic")) all.push(new ResticTool(ctx(buckets.restic, "restic")));
    const tar = enabled.has("tar") ? new TarZstdTool(ctx(buckets.tar, "tar")) : null;
    if (tar) all.push(tar);
    // Rotate the order each run so no tool always goes first.
    const tools = all.map((_, i) => all[(i + r - 1) % all.length]!);
    const row = (t: Tool) => t.name as Row;

    for (const t of tools) await t.init();
    log(" first snapshot");
    for (const t of tools) record(row(t), "first", await timed(t.name, () => t.snapshot(src)));

    mutation = mutate(src, spec);
    log(` mutated: ${mutation.modified.length} files rewritten, ${mutation.deleted.length} deleted, ${mutation.added.length} added, ${mutation.appended.bytes} bytes appended to ${mutation.appended.file.rel}`);
    const expected = hashListing(src);

    log(" incremental snapshot");
    for (const t of tools) record(row(t), "incremental", await timed(t.name, () => t.incremental(src)));
    if (tar) {
      record("tar+zstd listed-incremental", "first", samples.get("tar+zstd|first")!.at(-1)!);
      record("tar+zstd listed-incremental", "incremental", await timed("tar+zstd listed-incremental", () => tar.listedIncremental(src)));
    }

    // Restored trees are kept until the run's restores are done (see settleAfterDeletes).
    await settleAfterDeletes();
    const restored: string[] = [];
    for (const warm of [false, true]) {
      log(` ${warm ? "warm" : "cold"} restore`);
      for (const t of tools) {
        if (warm && !t.warmRestore) continue;
        const target = path.join(workDir, `restore-${t.name.replace(/\W/g, "")}-${warm ? "warm" : "cold"}-${r}`);
        restored.push(target);
        const s = await timed(t.name, () => t.restore(target, { warm }));
        assertSameListing(expected, hashListing(target), `${t.name} ${warm ? "warm" : "cold"} restore (run ${r})`);
        log(`    verified: ${expected.length} entries identical`);
        record(row(t), warm ? "warm" : "cold", s);
      }
    }
    if (enabled.has("cp")) {
      const target = path.join(workDir, `restore-cp-${r}`);
      restored.push(target);
      record("cp -a", "warm", await timed("cp -a", () => cpA(src, target)));
      assertSameListing(expected, hashListing(target), `cp -a (run ${r})`);
    }
    keptTrees.push(...restored);
    if (r < runs && freeBytes(workDir) < RESTORED_TREES * summary.bytes * 1.2 + 8e9) {
      log(` deleting this run's restored trees: the disk has no room for another run's (their inodes will slow the next restores for a while)`);
      for (const target of keptTrees.splice(0)) rmSync(target, { recursive: true, force: true });
      lastTreeDelete = Date.now();
    }

    for (const t of tools) {
      record(row(t), "stored", await t.storedBytes());
      if (t.notes) notes.push({ run: r, tool: t.name, ...t.notes() });
    }
    if (tar) record("tar+zstd listed-incremental", "stored", await tar.listedStoredBytes());
    log(` stored: ${tools.map((t) => `${t.name} ${(samples.get(`${t.name}|stored`)!.at(-1)! / 1e9).toFixed(3)} GB`).join(", ")}`);
    if (!flags.keep) for (const t of tools) await t.cleanup();
    for (const name of ["daybox", "restic", "tar"]) rmSync(path.join(workDir, `scratch-${name}-${r}`), { recursive: true, force: true });
  }

  const md = report(summary, mutation!);
  mkdirSync(path.dirname(outFile), { recursive: true });
  writeFileSync(outFile, md);
  console.log("\n" + md);
  log(`wrote ${outFile}`);
  if (flags.profile) log(`CPU profiles of the Daybox steps in ${profileDir}`);
}

// ---------- report ----------

const fmtS = (s: number) => (Number.isNaN(s) ? "—" : s < 10 ? `${s.toFixed(2)} s` : `${s.toFixed(1)} s`);
const fmtB = (b: number) => (Number.isNaN(b) ? "—" : b >= 1e9 ? `${(b / 1e9).toFixed(2)} GB` : `${(b / 1e6).toFixed(1)} MB`);

function report(summary: ReturnType<typeof generateTree>, mutation: ReturnType<typeof mutate>): string {
  const cell = (r: Row, m: Metric) => {
    const v = med(r, m);
    if (Number.isNaN(v)) return "—";
    const base = med("restic", m);
    const txt = m === "stored" ? fmtB(v) : fmtS(v);
    return r === "restic" || Number.isNaN(base) ? txt : `${txt} (${(v / base).toFixed(2)}×)`;
  };
  const lines: string[] = [];
  lines.push(`# Snapshot benchmark results`, "");
  lines.push(
    `Tree: scale ${spec.scale}, seed ${spec.seed}: ${summary.files} files, ${fmtB(summary.bytes)} (${summary.smallFiles} small files, ${fmtB(summary.smallBytes)}; large files ${fmtB(summary.largeBytes)}). ` +
      `Mutation: ${mutation.modified.length} files rewritten, ${mutation.deleted.length} deleted, ${mutation.added.length} added, ${fmtB(mutation.appended.bytes)} appended to ${mutation.appended.file.rel}.`,
  );
  lines.push(`Runs: ${runs} (median shown). Page cache ${evict ? "evicted (sync; drop_caches=3) before every timed step" : "NOT evicted (no permission or --no-evict)"}. S3: ${s3.endpoint} (same server for every tool, its own bucket, fresh prefix per run).`);
  const v = versions();
  lines.push(`Machine: ${v.cpus} CPUs, ${v.memGiB} GiB, Linux ${v.kernel}; node ${v.node}; ${v.restic}; ${v.zstd}; ${v.tar}.`, "");
  lines.push("Times are wall clock (process start to exit); ratios in parentheses are to restic.", "");
  lines.push("| method | first snapshot | incremental | cold restore | warm restore | bytes stored |", "| --- | --- | --- | --- | --- | --- |");
  for (const r of ROWS) if (METRICS.some((m) => !Number.isNaN(med(r, m)))) lines.push(`| ${r} | ${METRICS.map((m) => cell(r, m)).join(" | ")} |`);
  lines.push("");
  lines.push(
    "Notes: restic warm restore uses the metadata cache its backups filled (restic caches no file data); tar+zstd has no warm mode. " +
      "The listed-incremental row's first snapshot is the same level-0 archive as tar+zstd's; its stored bytes are level 0 + level 1; it is not restored. " +
      "Every restore is verified against a hash listing of the source (paths, types, modes, owners, sizes, mtimes to the second, sha256 of contents, symlink targets).",
    "",
  );

  const d = (m: Metric) => med("daybox", m);
  const targets: [string, number, number, string][] = [
    ["first snapshot ≤ 0.5× restic", d("first"), 0.5 * med("restic", "first"), "s"],
    ["incremental ≤ 0.3× restic", d("incremental"), 0.3 * med("restic", "incremental"), "s"],
    ["cold restore ≤ 0.5× restic", d("cold"), 0.5 * med("restic", "cold"), "s"],
    ["cold restore ≤ tar+zstd download+extract", d("cold"), med("tar+zstd", "cold"), "s"],
    ["warm restore ≤ 1.5× cp -a", d("warm"), 1.5 * med("cp -a", "warm"), "s"],
    ["bytes stored ≤ restic", d("stored"), med("restic", "stored"), "b"],
  ];
  lines.push("## Targets", "", "| target | Daybox | limit | result |", "| --- | --- | --- | --- |");
  for (const [name, val, limit, unit] of targets) {
    const f = unit === "s" ? fmtS : fmtB;
    const res = Number.isNaN(val) || Number.isNaN(limit) ? "n/a" : val <= limit ? "PASS" : "FAIL";
    lines.push(`| ${name} | ${f(val)} | ${f(limit)} | ${res} |`);
  }
  lines.push("", "## Every run", "", "| method | metric | values |", "| --- | --- | --- |");
  for (const r of ROWS)
    for (const m of METRICS) {
      const xs = samples.get(`${r}|${m}`);
      if (xs) lines.push(`| ${r} | ${m} | ${xs.map((x) => (m === "stored" ? fmtB(x) : fmtS(x))).join(", ")} |`);
    }
  if (notes.length) {
    lines.push("", "Engine-internal timings (ms, excluding process start) and bytes fetched by restores:", "");
    for (const n of notes) lines.push(`- ${Object.entries(n).map(([k, v]) => `${k}=${v}`).join(", ")}`);
  }
  return lines.join("\n") + "\n";
}

function readmeUsage() {
  return "usage: run.ts [--scale 1] [--runs 3] [--out FILE] [--work-dir /tmp/daybox-bench] [--seed 1] [--endpoint URL] [--keep] [--profile] [--no-evict] [--tools daybox,restic,tar,cp]\nSee packages/snapshot/bench/README.md.";
}

try {
  await main();
} finally {
  if (!flags.keep) rmSync(workDir, { recursive: true, force: true });
  client.destroy();
}
