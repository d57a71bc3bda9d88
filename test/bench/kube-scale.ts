/**
 * Kubernetes scale benchmark (`npm run bench:kube`; see README.md): a
 * test-bed cluster with 500 KWOK GPU nodes (8 GPUs each, half sim-a100, half
 * sim-h100), one real agent per node (Kubernetes runtime, in a few shared
 * processes), the control plane on PostgreSQL, then 1,000 sessions launched
 * through the API. Printed: time until every session is Running, the control
 * plane's reconcile tick time during the launch and at rest, and the baseline:
 * the same 1,000 pods created directly (no Daybox) until the kube-scheduler
 * and KWOK report them all Running.
 *   node --import tsx test/bench/kube-scale.ts [--nodes 500] [--sessions 1000] [--gpus 2] [--pools 2] [--out test/bench/kube-scale-results.md]
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { KubernetesCluster } from "@daybox/cluster/kubernetes";
import { loadEnv, startControlPlane } from "../../apps/control-plane/src/index.ts";
import { median, percentile } from "../../packages/snapshot/bench/stats.ts";
import { apiClient, readyLine, repoRoot, spawnNode, stopProc, type Proc } from "../e2e/support.ts";

const { values: flags } = parseArgs({
  options: {
    nodes: { type: "string", default: "500" },
    sessions: { type: "string", default: "1000" },
    gpus: { type: "string", default: "2" },
    pools: { type: "string", default: "2" },
    out: { type: "string", default: "test/bench/kube-scale-results.md" },
    keep: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (flags.help) {
  console.log("usage: kube-scale.ts [--nodes 500] [--sessions 1000] [--gpus 2] [--pools 2] [--out test/bench/kube-scale-results.md] [--keep]\nSee test/bench/README.md.");
  process.exit(0);
}
const callerCwd = process.env["INIT_CWD"] ?? process.cwd();
const NODES = Number(flags.nodes);
const SESSIONS = Number(flags.sessions);
const GPUS = Number(flags.gpus);
const POOLS = Number(flags.pools);
if (![NODES, SESSIONS, GPUS, POOLS].every((n) => Number.isInteger(n) && n > 0)) throw new Error("--nodes, --sessions, --gpus and --pools must be positive integers");
if (SESSIONS * GPUS > NODES * 8) throw new Error(`${SESSIONS} sessions × ${GPUS} GPUs do not fit on ${NODES} nodes × 8 GPUs`);
const CLUSTER = "daybox-scale";
const NAMESPACE = "daybox";
const TYPES = ["sim-a100", "sim-h100"];

const started = performance.now();
const log = (msg: string) => console.log(`[${((performance.now() - started) / 1000).toFixed(0).padStart(5)}s] ${msg}`);
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const msFmt = (ms: number) => `${ms.toFixed(0)} ms`;
const sh = (script: string, args: string[], env: NodeJS.ProcessEnv = {}) =>
  execFileSync("bash", [path.join(repoRoot, "infra/testbed", script), ...args], { encoding: "utf8", env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "inherit"], maxBuffer: 64 << 20 })
    .trim()
    .split("\n")
    .at(-1)!;

/** Polls `count` until it reaches `target`; returns the elapsed ms since `t0`. */
async function until(what: string, t0: number, target: number, count: () => Promise<number>, timeoutMs = 30 * 60_000): Promise<number> {
  let last = -1;
  for (;;) {
    const n = await count();
    if (n !== last && (n === target || Math.floor(n / 100) !== Math.floor(last / 100))) log(`${what}: ${n}/${target}`);
    last = n;
    if (n >= target) return performance.now() - t0;
    if (performance.now() - t0 > timeoutMs) throw new Error(`timed out: ${what} ${n}/${target}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function main() {
  log(`test-bed cluster ${CLUSTER} with ${NODES} GPU nodes…`);
  const kubeconfig = sh("kube.sh", ["up", "--name", CLUSTER, "--nodes", String(NODES)]);
  const pgUrl = sh("postgres.sh", []);
  const cluster = new KubernetesCluster({ kubeconfig, namespace: NAMESPACE });
  await cluster.deleteNamespace({ waitMs: 120_000 });
  await cluster.ensureSetup();
  const nodes = (await cluster.gpuNodes()).filter((n) => n.labels["daybox.dev/testbed"] === "true");
  if (nodes.length < NODES) throw new Error(`only ${nodes.length} test-bed GPU nodes are ready`);

  // Baseline: the same pods created directly, Kubernetes alone.
  log(`baseline: ${SESSIONS} session pods created directly (no Daybox)…`);
  const t0 = performance.now();
  for (let i = 0; i < SESSIONS; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, SESSIONS - i) }, (_, k) => {
        const n = nodes[(i + k) % nodes.length]!;
        return cluster.startSession({ sessionId: `ses-base${String(i + k).padStart(8, "0")}`, name: "baseline", owner: "bench", project: "bench", gpuType: n.gpuType, gpuCount: GPUS, node: n.name, image: "bench", jupyterToken: "x" });
      }),
    );
  }
  const baselineCreateMs = performance.now() - t0;
  const baselineMs = await until("baseline pods Running", t0, SESSIONS, () => cluster.runningPods());
  log(`baseline: all Running after ${s(baselineMs)} (created in ${s(baselineCreateMs)})`);
  await cluster.deleteNamespace({ waitMs: 300_000 });
  await cluster.ensureSetup();

  // Daybox: control plane on PostgreSQL, one agent per node, sessions through the API.
  const dbName = `bench_scale_${Date.now()}`;
  execFileSync("psql", [pgUrl, "-qc", `CREATE DATABASE ${dbName}`]);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "daybox-bench-scale-"));
  const ticks: { at: number; ms: number; actions: number }[] = [];
  const perType = Math.ceil(SESSIONS / TYPES.length) * GPUS;
  const cp = await startControlPlane(
    loadEnv({
      DAYBOX_DATA_DIR: dataDir,
      DAYBOX_DATABASE_URL: pgUrl.replace(/\/[^/]*$/, `/${dbName}`),
      DAYBOX_API_PORT: "0",
      DAYBOX_BOOTSTRAP_QUOTA: TYPES.map((t) => `${t}=${perType}`).join(","),
    }),
    { log: () => {}, onTick: (t) => ticks.push({ at: performance.now(), ...t }) },
  );
  const admin = apiClient(cp.url, cp.adminToken!);
  await admin.clusters.register.mutate({ name: CLUSTER, kubeconfigRef: kubeconfig, namespace: NAMESPACE });
  log(`starting ${NODES} agents in ${POOLS} processes…`);
  const tAgents = performance.now();
  const pools: Proc[] = [];
  process.on("exit", () => pools.forEach((p) => p.proc.kill("SIGKILL")));
  const names = nodes.slice(0, NODES).map((n) => n.name);
  for (let p = 0; p < POOLS; p++) {
    pools.push(
      spawnNode(["--import", "tsx", "test/bench/agent-pool.ts", ...names.filter((_, i) => i % POOLS === p)], {
        DAYBOX_API_URL: cp.url,
        DAYBOX_AGENT_TOKEN_FILE: cp.agentTokenFile,
        DAYBOX_RUNTIME: "kubernetes",
        DAYBOX_KUBECONFIG: kubeconfig,
        DAYBOX_NAMESPACE: NAMESPACE,
        DAYBOX_CLUSTER: CLUSTER,
        DAYBOX_DATA_DIR: path.join(dataDir, `pool-${p}`),
        // Activity sampling would ask each session's Jupyter over the cluster network, which fake KWOK pods do not have.
        DAYBOX_ACTIVITY_MS: "3600000",
      }),
    );
  }
  await Promise.all(pools.map((p) => readyLine(p, 10 * 60_000)));
  const agentsMs = performance.now() - tAgents;
  log(`${NODES} agents registered in ${s(agentsMs)}`);
  await new Promise((r) => setTimeout(r, 10_000));
  const idleBefore = ticks.filter((t) => t.at > performance.now() - 10_000).map((t) => t.ms);

  log(`launching ${SESSIONS} sessions of ${GPUS} GPUs…`);
  const tLaunch = performance.now();
  const ids: string[] = [];
  for (let i = 0; i < SESSIONS; i += 20) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(20, SESSIONS - i) }, (_, k) => admin.sessions.create.mutate({ name: `scale-${i + k}`, gpus: GPUS, gpuType: TYPES[(i + k) % TYPES.length]!, image: "bench" })),
    );
    ids.push(...batch.map((b) => b.id));
  }
  const createdMs = performance.now() - tLaunch;
  log(`${SESSIONS} sessions created through the API in ${s(createdMs)}`);
  // Settled: Running, or Failed (counted and reported, never hidden).
  const runningMs = await until("sessions Running (or Failed)", tLaunch, SESSIONS, async () => (await admin.sessions.list.query({ state: "Running" })).length + (await admin.sessions.list.query({ state: "Failed" })).length);
  const launchTicks = ticks.filter((t) => t.at >= tLaunch && t.at <= tLaunch + runningMs);
  const podsRunning = await cluster.runningPods();
  await new Promise((r) => setTimeout(r, 10_000));
  const idleAfter = ticks.filter((t) => t.at > performance.now() - 10_000).map((t) => t.ms);
  const failed = (await admin.sessions.list.query({ state: "Failed" })).length;
  const rssMb = process.memoryUsage().rss / 1e6;

  const launch = launchTicks.map((t) => t.ms);
  const rows = [
    ["GPU nodes (KWOK) / agents", `${NODES} / ${NODES}`, ""],
    ["sessions launched (GPUs each)", `${SESSIONS} (${GPUS})`, ""],
    ["agents registered", s(agentsMs), ""],
    ["sessions created through the API", s(createdMs), ""],
    ["**all sessions Running (Daybox)**", `**${s(runningMs)}**`, `**${(runningMs / baselineMs).toFixed(2)}× baseline**`],
    ["baseline: the same pods created directly, all Running", s(baselineMs), "1.00×"],
    ["session pods Running in Kubernetes / sessions Failed", `${podsRunning} / ${failed}`, ""],
    ["control-plane tick during launch: median / p95 / max", `${msFmt(median(launch))} / ${msFmt(percentile(launch, 95))} / ${msFmt(Math.max(...launch))}`, `${launch.length} ticks`],
    ["control-plane tick at rest, before / after (median)", `${msFmt(median(idleBefore))} / ${msFmt(median(idleAfter))}`, ""],
    ["bench process RSS (control plane + API)", `${rssMb.toFixed(0)} MB`, ""],
  ];
  const table = ["| measure | value | vs baseline |", "|---|---|---|", ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
  console.log(`\n${table}\n`);
  const out = path.resolve(callerCwd, flags.out);
  writeFileSync(
    out,
    `# Kubernetes scale benchmark\n\n${new Date().toISOString()} on ${os.cpus().length} cores (${os.cpus()[0]?.model ?? "?"}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB. ` +
      `One run; the tick is the control plane's reconcile (load the world, plan, apply), default tick interval 1 s.\n\n${table}\n`,
  );
  log(`written to ${path.relative(callerCwd, out)}`);
  if (ids.length !== SESSIONS || podsRunning < SESSIONS || failed > 0) process.exitCode = 1;
  for (const f of await admin.sessions.list.query({ state: "Failed" })) log(`failed: ${f.id}: ${f.reason}`);

  for (const p of pools) await stopProc(p);
  await cp.close();
  await cluster.deleteNamespace();
  await cluster.close();
  execFileSync("psql", [pgUrl, "-qc", `DROP DATABASE ${dbName} WITH (FORCE)`]);
  rmSync(dataDir, { recursive: true, force: true });
  if (!flags.keep) sh("kube.sh", ["down", "--name", CLUSTER]);
}

main().catch((err: Error) => {
  console.error(err);
  process.exit(1);
});
