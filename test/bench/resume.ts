/**
 * Resume benchmark (`npm run bench:resume`; see README.md): a session holding
 * the snapshot benchmark's environment (scale 1 ≈ 2 GB, 50k files) on the
 * real stack — control plane (PGlite), one agent with the local runtime,
 * snapshots in a real S3 server — is parked and resumed, warm and cold, and
 * the latency from the resume request to Running is measured by the client.
 *   node --import tsx test/bench/resume.ts [--scale 1] [--runs 5] [--out test/bench/resume-results.md] [--work-dir /tmp/daybox-bench-resume] [--no-jupyter]
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { LocalRuntime } from "@daybox/cluster";
import { PackCache, Repository, restoreSnapshot } from "@daybox/snapshot";
import { parseStoreUrl, withRetries } from "@daybox/snapshot/stores";
import { assertSameListing, hashListing, type TreeSummary } from "../../packages/snapshot/bench/generate.ts";
import { deletePrefix, ensureBucket, s3Client } from "../../packages/snapshot/bench/s3.ts";
import { median, percentile } from "../../packages/snapshot/bench/stats.ts";
import { benchS3, pageCacheEvictor, prepareWorkDir } from "../../packages/snapshot/bench/testbed.ts";
import { createApi } from "../../apps/cli/src/client.ts";
import { waitForState } from "../../apps/cli/src/follow.ts";
import { apiClient, readyLine, repoRoot, spawnNode, stopProc, type Proc } from "../e2e/support.ts";

const { values: flags } = parseArgs({
  options: {
    scale: { type: "string", default: "1" },
    runs: { type: "string", default: "5" },
    out: { type: "string", default: "test/bench/resume-results.md" },
    "work-dir": { type: "string", default: "/tmp/daybox-bench-resume" },
    "no-jupyter": { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (flags.help) {
  console.log("usage: resume.ts [--scale 1] [--runs 5] [--out test/bench/resume-results.md] [--work-dir /tmp/daybox-bench-resume] [--no-jupyter]\nSee test/bench/README.md.");
  process.exit(0);
}
const callerCwd = process.env["INIT_CWD"] ?? process.cwd();
const scale = Number(flags.scale);
const runs = Number(flags.runs);
if (!(scale > 0) || !Number.isInteger(runs) || runs < 1) throw new Error("--scale must be > 0 and --runs an integer >= 1");
const outFile = path.resolve(callerCwd, flags.out);
const workDir = path.resolve(callerCwd, flags["work-dir"]);

const BUCKET = "bench-resume";

const started = performance.now();
const log = (msg: string) => console.log(`[${((performance.now() - started) / 1000).toFixed(0).padStart(5)}s] ${msg}`);
const fmtS = (ms: number | null) => (ms === null || Number.isNaN(ms) ? "—" : `${(ms / 1000).toFixed(2)} s`);
const fmtB = (b: number | null) => (b === null || Number.isNaN(b) ? "—" : b === 0 ? "0 B" : b >= 1e9 ? `${(b / 1e9).toFixed(2)} GB` : `${(b / 1e6).toFixed(1)} MB`);

/** The API's resume breakdown (sessions.byId → lastResume), when the API has it. */
interface LastResume {
  totalMs: number | null;
  schedulingMs: number | null;
  preemptionMs: number | null;
  restoreMs: number | null;
  startMs: number | null;
  restoreSource: "local" | "cache" | "store" | null;
  fetchedBytes: number | null;
}
type Kind = "warm" | "cold";
interface Sample extends Omit<LastResume, "restoreSource"> {
  kind: Kind;
  /** Resume request → Running, seen by the client. */
  clientMs: number;
  source: string;
  splitFrom: "api" | "events";
}

// ---------- the stack ----------

const procs: Proc[] = [];
/** The agent's runtime, seen from here: where session state lives, and how to stop what a crashed run left behind. */
const runtime = new LocalRuntime({ root: path.join(workDir, "node", "sessions"), jupyter: null });
const s3 = benchS3(undefined, log);
const client = s3Client(s3);
const prefix = `resume-${new Date().toISOString().replace(/[-:.]/g, "").slice(0, 15)}`;
const pageCache = pageCacheEvictor(true, log);

function jupyterBin(): string | null {
  try {
    return execFileSync("bash", [path.join(repoRoot, "infra/testbed/jupyter.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim().split("\n").at(-1)!;
  } catch {
    log("infra/testbed/jupyter.sh failed: sessions get Jupyter only if it is on PATH");
    return null;
  }
}

async function startStack() {
  const node = path.join(workDir, "node");
  const cp = spawnNode(["--import", "tsx", "apps/control-plane/src/main.ts"], {
    DAYBOX_DATA_DIR: path.join(workDir, "control-plane"),
    DAYBOX_DATABASE_URL: "pglite://memory",
    DAYBOX_API_PORT: "0",
    DAYBOX_BOOTSTRAP_QUOTA: "sim-a100=1",
  });
  procs.push(cp);
  const ready = await readyLine(cp, 120_000);
  const bin = flags["no-jupyter"] ? null : jupyterBin();
  const store = { DAYBOX_S3_ENDPOINT: s3.endpoint, AWS_REGION: s3.region, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey };
  const env = {
    DAYBOX_API_URL: ready["url"] as string,
    DAYBOX_AGENT_TOKEN_FILE: ready["agentTokenFile"] as string,
    DAYBOX_DATA_DIR: node,
    DAYBOX_NODE_NAME: "bench-node",
    DAYBOX_LOCAL_GPUS: "1",
    DAYBOX_LOCAL_GPU_TYPE: "sim-a100",
    DAYBOX_SNAPSHOT_REPO: `s3://${BUCKET}/${prefix}`,
    DAYBOX_PACK_CACHE_DIR: path.join(node, "pack-cache"),
    ...store,
    ...(bin ? { PATH: `${bin}:${process.env["PATH"]}` } : {}),
    ...(flags["no-jupyter"] ? { DAYBOX_JUPYTER: "never" } : {}),
  };
  const agent = spawnNode(["--import", "tsx", "apps/agent/src/main.ts"], env);
  procs.push(agent);
  await readyLine(agent, 60_000);
  const adminToken = ready["adminToken"] as string;
  return { api: apiClient(env.DAYBOX_API_URL, adminToken), stackUrl: env.DAYBOX_API_URL, adminToken, cp, agent, packCacheDir: env.DAYBOX_PACK_CACHE_DIR, repoUrl: env.DAYBOX_SNAPSHOT_REPO, store };
}

let cleaning: Promise<void> | null = null;
/** Stops everything this run started (agent, control plane, the session's detached processes), removes the work dir and the S3 objects. */
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const p of procs.toReversed()) await stopProc(p);
    for (const s of await runtime.list()) await runtime.stop(s.sessionId, { graceMs: 2_000 });
    rmSync(workDir, { recursive: true, force: true });
    await deletePrefix(client, BUCKET, `${prefix}/`).catch((err: Error) => log(`could not delete s3://${BUCKET}/${prefix}/: ${err.message}`));
    client.destroy();
  })();
  return cleaning;
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    log(`${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

// ---------- the benchmark ----------

async function main() {
  prepareWorkDir(workDir);
  await ensureBucket(client, BUCKET);
  log(`starting the control plane and an agent (default settings), snapshots in s3://${BUCKET}/${prefix} at ${s3.endpoint}`);
  const { api, stackUrl, adminToken, cp, agent, packCacheDir, repoUrl, store } = await startStack();

  type Session = Awaited<ReturnType<typeof api.sessions.byId.query>>;
  // The client waits as `daybox session resume --wait` does: following the session's events over SSE.
  const cli = await createApi({ url: stackUrl, token: adminToken });
  const stackDied = Promise.race([cp.exited, agent.exited]).then(() => "the control plane or the agent exited");
  /** Waits until the session is in `state` (seen at `seenAt`, performance.now()); fails fast when it fails or the stack dies. */
  const waitFor = async (id: string, state: Session["state"], timeoutMs: number): Promise<Session & { seenAt: number }> => {
    const outcome = await Promise.race([waitForState(cli, id, { ok: [state], fail: ["Failed"] }, { timeoutMs, onEvent: () => {} }), stackDied]);
    const seenAt = performance.now();
    const s = await api.sessions.byId.query({ id }).catch(() => null);
    if (typeof outcome === "string" || !outcome.ok || !s) {
      const why = typeof outcome === "string" ? outcome : `session ${id} is ${outcome.state}, not ${state}: ${s?.reason ?? ""}`;
      throw new Error(`${why}\ncontrol plane:\n${cp.output().slice(-2000)}\nagent:\n${agent.output().slice(-3000)}`);
    }
    return { ...s, seenAt };
  };
  const park = async (id: string) => {
    await api.sessions.park.mutate({ id });
    return waitFor(id, "Parked", 60 * 60_000);
  };

  // 1. A session; the environment generated into its home while it runs; then parked.
  const created = await api.sessions.create.mutate({ gpus: 1 });
  const session = await waitFor(created.id, "Running", 120_000);
  const home = runtime.stateDir(session.id);
  const envDir = path.join(home, "env");
  log(`session ${session.id} running (${session.hasJupyter ? "with Jupyter" : "terminal only"}); generating the environment (scale ${scale}) in ${envDir}`);
  const gen = spawnNode(["--import", "tsx", "packages/snapshot/bench/generate.ts", envDir, "--scale", String(scale)], {});
  procs.push(gen);
  if ((await gen.exited) !== 0) throw new Error(`generate.ts failed:\n${gen.output()}`);
  const tree = JSON.parse(gen.output().split("\n").find((l) => l.startsWith("{"))!) as TreeSummary;
  log(`  ${tree.files} files, ${fmtB(tree.bytes)}; hashing it to verify resumes`);
  const expected = hashListing(envDir);
  log("parking (first snapshot of the whole environment)");
  const t0 = performance.now();
  let parked = await park(session.id);
  const firstParkMs = performance.now() - t0;
  log(`  parked in ${fmtS(firstParkMs)}: ${parked.reason}`);

  // 2. Resumes: warm (everything on the node as the park left it), then cold (no local copy, no pack cache, no page cache).
  const samples: Sample[] = [];
  for (const kind of ["warm", "cold"] as const) {
    for (let r = 1; r <= runs; r++) {
      if (kind === "cold") {
        rmSync(home, { recursive: true, force: true });
        rmSync(packCacheDir, { recursive: true, force: true });
        pageCache.drop();
      }
      const t = performance.now();
      await api.sessions.resume.mutate({ id: session.id });
      const running = await waitFor(session.id, "Running", 60 * 60_000);
      const sample = { kind, clientMs: running.seenAt - t, ...(await breakdown(running, agent)) };
      samples.push(sample);
      log(`${kind} ${r}/${runs}: Running after ${fmtS(sample.clientMs)} (restore ${fmtS(sample.restoreMs)} from ${sample.source}, scheduling ${fmtS(sample.schedulingMs)}, start ${fmtS(sample.startMs)})`);
      if (r === runs) {
        assertSameListing(expected, hashListing(envDir), `the environment after a ${kind} resume`);
        log(`  verified: the environment is identical to what was generated (${expected.length} entries)`);
      }
      const p0 = performance.now();
      parked = await park(session.id);
      log(`  parked again in ${fmtS(performance.now() - p0)}`);
    }
  }

  // 3. The baseline: a plain restore of the parked snapshot into a fresh directory, empty pack cache, page cache dropped.
  const repo = await Repository.open(withRetries(parseStoreUrl(`${repoUrl}/${parked.project}`, store), { attempts: 5, baseDelayMs: 200 }));
  const baseline: number[] = [];
  for (let r = 1; r <= runs; r++) {
    const target = path.join(workDir, "baseline");
    const cache = new PackCache(path.join(workDir, "baseline-cache"), 64 * 1024 ** 3);
    pageCache.drop();
    const t = performance.now();
    await restoreSnapshot({ repo, snapshotId: parked.parkedSnapshotId!, target, cache });
    baseline.push(performance.now() - t);
    log(`baseline restore ${r}/${runs}: ${fmtS(baseline.at(-1)!)}`);
    rmSync(target, { recursive: true, force: true });
    rmSync(cache.dir, { recursive: true, force: true });
  }

  const md = report({ tree, firstParkMs, samples, baseline, jupyter: session.hasJupyter, splitFrom: samples.some((s) => s.splitFrom === "api") ? "api" : "events" });
  mkdirSync(path.dirname(outFile), { recursive: true });
  writeFileSync(outFile, md);
  console.log(`\n${md}`);
  log(`wrote ${outFile}`);

  /**
   * Where the time of the resume that just finished went: the API's lastResume
   * when it has one; otherwise the session's events (request → Starting →
   * Running) with the restore time and source from the agent's log.
   */
  async function breakdown(s: Session, agentProc: Proc): Promise<Omit<Sample, "kind" | "clientMs">> {
    const last = (s as Record<string, unknown>)["lastResume"] as LastResume | null | undefined;
    if (last) return { ...last, source: last.restoreSource ?? "?", splitFrom: "api" };
    const events = await api.sessions.events.query({ id: s.id });
    const since = events.slice(events.findLastIndex((e) => e.toState === "Pending"));
    const at = (state: string) => Date.parse(since.find((e) => e.toState === state)?.at ?? "");
    const running = since.find((e) => e.toState === "Running")?.reason ?? "";
    const restored = [...agentProc.output().matchAll(new RegExp(`restore ${s.id}: (?:kept the (local) copy|from the (cache|store)) in (\\d+) ms`, "g"))].at(-1);
    const reasonRestore = /resumed in [\d.]+s \(restore ([\d.]+)s/.exec(running);
    const restoreMs = restored ? Number(restored[3]) : reasonRestore ? Number(reasonRestore[1]) * 1000 : null;
    const fetched = /, ([\d.]+) (B|KB|MB|GB) from the store/.exec(running);
    return {
      totalMs: at("Running") - at("Pending"),
      schedulingMs: at("Starting") - at("Pending"),
      preemptionMs: null,
      restoreMs,
      startMs: at("Running") - at("Starting") - (restoreMs ?? 0),
      source: restored?.[1] ?? restored?.[2] ?? "?",
      fetchedBytes: fetched ? Number(fetched[1]) * 1024 ** ["B", "KB", "MB", "GB"].indexOf(fetched[2]!) : null,
      splitFrom: "events",
    };
  }
}

// ---------- report ----------

type Measure = "clientMs" | "totalMs" | "schedulingMs" | "preemptionMs" | "restoreMs" | "startMs" | "fetchedBytes";

function report(r: { tree: TreeSummary; firstParkMs: number; samples: Sample[]; baseline: number[]; jupyter: boolean; splitFrom: "api" | "events" }): string {
  const of = (kind: Kind, key: Measure) => r.samples.filter((s) => s.kind === kind).flatMap((s) => (s[key] === null ? [] : [s[key]]));
  const stat = (xs: number[], p: number | "median") => (p === "median" ? median(xs) : percentile(xs, p));
  const sources = (kind: Kind) => {
    const counts = new Map<string, number>();
    for (const s of r.samples) if (s.kind === kind) counts.set(s.source, (counts.get(s.source) ?? 0) + 1);
    return [...counts].map(([source, n]) => `${source} ×${n}`).join(", ");
  };
  const rows: [string, Measure, (v: number) => string][] = [
    ["resume → Running, seen by the client", "clientMs", fmtS],
    ["… as the API measured it", "totalMs", fmtS],
    [r.splitFrom === "api" ? "scheduling (request → placed)" : "scheduling (request → agent starts it)", "schedulingMs", fmtS],
    ["… of which preemption", "preemptionMs", fmtS],
    ["restore (or verifying the local copy)", "restoreMs", fmtS],
    [r.splitFrom === "api" ? "start (placed → Running, minus restore)" : "start (agent starts it → Running, minus restore)", "startMs", fmtS],
    ["fetched from S3", "fetchedBytes", fmtB],
  ];
  const warmP95 = stat(of("warm", "clientMs"), 95);
  const cold = of("cold", "clientMs");
  const targets: [string, number, number][] = [
    ["warm p95 ≤ 2 s", warmP95, 2000],
    ["cold median ≤ restore median + 2 s", stat(cold, "median"), median(r.baseline) + 2000],
    ["cold p95 ≤ restore p95 + 2 s", stat(cold, 95), percentile(r.baseline, 95) + 2000],
  ];
  const v = { cpus: os.cpus().length, memGiB: Math.round(os.totalmem() / 2 ** 30), kernel: os.release(), node: process.version, load: os.loadavg().map((l) => l.toFixed(1)).join(" ") };
  const lines = [
    "# Resume benchmark results",
    "",
    `Environment: the snapshot benchmark's tree (generate.ts, scale ${scale}, seed 1) in the session's home: ${r.tree.files} files, ${fmtB(r.tree.bytes)} (${r.tree.smallFiles} small files). ` +
      `Session: 1 simulated GPU, ${r.jupyter ? "Jupyter (jupyter server)" : "terminal only (no jupyter on PATH)"}. First park (full snapshot to S3): ${fmtS(r.firstParkMs)}.`,
    `Stack: control plane (PGlite in memory) and one agent (local runtime) as child processes with default settings (reconcile tick 1 s; the API wakes the loop on every change, so a resume is placed at once), snapshots in S3 (versitygw at ${s3.endpoint}).`,
    `Measured: from the resume request to the client seeing Running (following the session's events over SSE, as \`daybox session resume --wait\` does), ${runs} runs each; p95 is nearest-rank (with ${runs} runs: ${runs < 20 ? "the slowest" : "the 95th percentile"}). ` +
      `Split: ${r.splitFrom === "api" ? "the API's lastResume" : "session events (server timestamps), restore time and source from the agent log (the API had no lastResume)"}.`,
    `Warm: same node, the session's state directory and the agent's pack cache as the park left them, page cache intact. ` +
      `Cold: before each resume the state directory and the pack cache are deleted${pageCache.enabled ? " and the page cache dropped (sync; drop_caches=3)" : " (the page cache could NOT be dropped: not root)"}. ` +
      `Restore baseline: restoreSnapshot of the parked snapshot into a fresh directory with an empty pack cache, page cache dropped, in the bench process. ` +
      `The environment is verified (hash listing) after the last warm and the last cold resume.`,
    `Machine: ${v.cpus} CPUs, ${v.memGiB} GiB, Linux ${v.kernel}; node ${v.node}; load average at the end ${v.load}.`,
    "",
    "| | warm median | warm p95 | cold median | cold p95 |",
    "| --- | --- | --- | --- | --- |",
    ...rows.map(([label, key, f]) => `| ${label} | ${(["warm", "cold"] as const).flatMap((k) => [stat(of(k, key), "median"), stat(of(k, key), 95)].map((x) => (Number.isNaN(x) ? "—" : f(x)))).join(" | ")} |`),
    `| restore source | ${sources("warm")} | | ${sources("cold")} | |`,
    `| restore baseline (plain restoreSnapshot, empty cache) | | | ${fmtS(median(r.baseline))} | ${fmtS(percentile(r.baseline, 95))} |`,
    "",
    "## Targets",
    "",
    "| target | measured | limit | result |",
    "| --- | --- | --- | --- |",
    ...targets.map(([name, val, limit]) => `| ${name} | ${fmtS(val)} | ${fmtS(limit)} | ${Number.isNaN(val) || Number.isNaN(limit) ? "n/a" : val <= limit ? "PASS" : "FAIL"} |`),
    "",
    "## Every run",
    "",
    "| run | client | API total | scheduling | preemption | restore | start | source | fetched |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...r.samples.map((s, i) => `| ${s.kind} ${(i % runs) + 1} | ${fmtS(s.clientMs)} | ${fmtS(s.totalMs)} | ${fmtS(s.schedulingMs)} | ${fmtS(s.preemptionMs)} | ${fmtS(s.restoreMs)} | ${fmtS(s.startMs)} | ${s.source} | ${fmtB(s.fetchedBytes)} |`),
    `| baseline | ${r.baseline.map((b) => fmtS(b)).join(", ")} | | | | | | | |`,
  ];
  return lines.join("\n") + "\n";
}

main()
  .catch((err: Error) => {
    if (cleaning) return; // interrupted: the stack was taken down under it
    console.error(err);
    process.exitCode = 1;
  })
  .finally(cleanup);
