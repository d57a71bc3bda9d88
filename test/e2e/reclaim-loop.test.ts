import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestPostgresDatabase } from "@daybox/db/testing";
import { loadEnv, startControlPlane } from "../../apps/control-plane/src/index.ts";
import { daybox, eventually, readyLine, spawnNode, stopProc, tempDir, treeDigest, type Proc } from "./support.ts";

const endpoint = process.env.DAYBOX_TEST_S3_ENDPOINT;
if (!endpoint) throw new Error("DAYBOX_TEST_S3_ENDPOINT is not set: start the test S3 server (bash infra/testbed/versitygw.sh) and export its endpoint");

/**
 * The reclaim loop end to end, on real parts: PostgreSQL, the S3 server,
 * real Jupyter, the real agent and control plane, driven through the CLI.
 * An idle session is warned, then parked by policy (its snapshot in S3); a
 * batch job waiting for GPUs starts on the freed one; the owner resumes; the
 * job is preempted (SIGTERM, it checkpoints within its grace period) and
 * requeued; the session is back with its environment byte-identical; when
 * it stops, the job resumes from its checkpoint.
 */
describe("reclaim loop: idle → warned → parked to S3 → batch job on the freed GPU → resume preempts it → requeued", () => {
  const bucket = `daybox-e2e-${randomBytes(4).toString("hex")}`;
  const s3 = new S3Client({ endpoint, region: "us-east-1", forcePathStyle: true, credentials: { accessKeyId: "daybox", secretAccessKey: "daybox-secret" } });
  let dataDir: string;
  let pg: Awaited<ReturnType<typeof createTestPostgresDatabase>>;
  let cp: Awaited<ReturnType<typeof startControlPlane>>;
  let agent: Proc;
  let env: NodeJS.ProcessEnv;
  const cli = async (args: string[], input?: string) => {
    const r = await daybox(args, env, input);
    expect(r.code, `daybox ${args.join(" ")}: ${r.stderr}`).toBe(0);
    return r;
  };
  const cliJson = async <T,>(args: string[]) => JSON.parse((await cli([...args, "--json"])).stdout) as T;

  beforeAll(async () => {
    dataDir = await tempDir("reclaim-loop");
    pg = await createTestPostgresDatabase();
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    cp = await startControlPlane(
      loadEnv({ DAYBOX_DATA_DIR: dataDir, DAYBOX_DATABASE_URL: pg.url, DAYBOX_API_PORT: "0", DAYBOX_TICK_MS: "200", DAYBOX_BOOTSTRAP_QUOTA: "sim-a100=1", DAYBOX_SNAPSHOTS_KEPT: "2" }),
      { log: () => {} },
    );
    agent = spawnNode(["--import", "tsx", "apps/agent/src/main.ts"], {
      DAYBOX_API_URL: cp.url,
      DAYBOX_DATA_DIR: dataDir,
      DAYBOX_AGENT_TOKEN_FILE: cp.agentTokenFile,
      DAYBOX_NODE_NAME: "gpu-node-1",
      DAYBOX_LOCAL_GPUS: "1",
      DAYBOX_LOCAL_GPU_TYPE: "sim-a100",
      DAYBOX_POLL_MS: "100",
      DAYBOX_ACTIVITY_MS: "1000",
      DAYBOX_SNAPSHOT_REPO: `s3://${bucket}/snapshots`,
      DAYBOX_S3_ENDPOINT: endpoint,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "daybox",
      AWS_SECRET_ACCESS_KEY: "daybox-secret",
    });
    await readyLine(agent);
    env = { DAYBOX_URL: cp.url, DAYBOX_TOKEN: cp.adminToken!, DAYBOX_CONFIG: path.join(dataDir, "cli.json") };
  }, 180_000);

  afterAll(async () => {
    await stopProc(agent);
    await cp?.close();
    await pg?.drop();
    s3.destroy();
  });

  it("parks the idle session, lends its GPU to a batch job, and takes it back on resume without losing anything", async () => {
    // 1. A session with Jupyter installs things into its environment.
    const session = await cliJson<{ id: string; state: string; hasJupyter: boolean }>(["session", "create", "--gpus", "1", "--name", "notebook", "--wait"]);
    expect(session).toMatchObject({ state: "Running", hasJupyter: true });
    const install = [
      "mkdir -p ~/venv/lib/python3/site-packages/mypkg ~/venv/bin ~/work",
      "printf 'VERSION = \"2.0\"\\n' > ~/venv/lib/python3/site-packages/mypkg/__init__.py",
      "head -c 2000000 /dev/urandom > ~/venv/lib/python3/site-packages/mypkg/_core.so",
      "ln -s ../lib/python3/site-packages/mypkg ~/venv/bin/mypkg && chmod 750 ~/venv/bin",
      `printf '{"cells": [], "nbformat": 4, "nbformat_minor": 5, "metadata": {}}' > ~/work/analysis.ipynb`,
      'echo "home:[$HOME]" && echo installed-$((6 * 7))',
    ].join(" && ");
    const installed = await cli(["attach", session.id], `${install}\n`);
    expect(installed.stdout).toContain("installed-42");
    const home = /home:\[(\/[^\]]+)\]/.exec(installed.stdout)![1]!;
    const before = await treeDigest(home, ["venv", "work"]);

    // 2. A batch job waits: the node's only GPU is the session's.
    const script = [
      'n=$(cat "$DAYBOX_CHECKPOINT_DIR/step" 2>/dev/null || echo 0)',
      "trap 'echo $n > \"$DAYBOX_CHECKPOINT_DIR/step\"; echo \"checkpointed at step $n\"; exit 0' TERM",
      'echo "attempt $DAYBOX_JOB_ATTEMPT starts at step $n on GPU $CUDA_VISIBLE_DEVICES"',
      "while true; do n=$((n + 1)); sleep 0.1; done",
    ].join("; ");
    const job = JSON.parse((await cli(["job", "submit", "--gpus", "1", "--name", "sweep", "--grace", "20s", "--json", "--", "bash", "-c", script])).stdout) as { id: string; state: string };
    expect(job.state).toBe("Queued");
    await eventually("the job to wait for a GPU", async () => {
      const j = await cliJson<{ job: { reason: string } }>(["job", "show", job.id]);
      return j.job.reason === "queued: needs 1 sim-a100 GPU on one node; at most 0 free right now" ? true : undefined;
    });

    // 3. A short-threshold policy: idle for 1 minute parks, after a 15 s warning.
    const policy = path.join(dataDir, "policy.yaml");
    await writeFile(policy, ["name: e2e-idle", "scope: { kind: global }", "idle:", "  after: 1m", "warning: 15s", "action: park", ""].join("\n"));
    await cli(["policy", "apply", "-f", policy, "--reason", "e2e: reclaim idle sessions fast"]);

    // 4. Warned, then parked: the snapshot is committed to S3 before the GPU is released.
    const parked = await eventually(
      "the idle session to be parked",
      async () => {
        const s = await cliJson<{ session: { state: string; reason: string }; events: { toState: string; reason: string; actor: string }[] }>(["session", "show", session.id]);
        return s.session.state === "Parked" ? s : undefined;
      },
      180_000,
      1_000,
    );
    const reasons = parked.events.map((e) => `${e.toState}: ${e.reason}`);
    const warning = reasons.findIndex((r) => /^Running: warning: no kernel or terminal activity and GPU util < 5% for .*; policy 'e2e-idle' v1 parks after 1m 0s/.test(r));
    const reclaim = reasons.findIndex((r) => /^Snapshotting: reclaimed: .*policy 'e2e-idle' v1 parks after 1m 0s/.test(r));
    expect(warning, reasons.join("\n")).toBeGreaterThan(0);
    expect(reclaim, reasons.join("\n")).toBeGreaterThan(warning);
    expect(reasons.at(-1)).toMatch(/^Parked: parked: snapshot \S+ committed and verified \(\d+ files, [\d.]+ MB, [\d.]+ \w+ new\); GPUs released on node gpu-node-1$/);
    const stored = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "snapshots/" }));
    expect(stored.KeyCount, "snapshot objects in the S3 bucket").toBeGreaterThan(2);

    // 5. The batch job starts on the freed GPU.
    await eventually("the job to run on the freed GPU", async () => {
      const j = await cliJson<{ job: { state: string; node: string | null; gpuIndices: number[] } }>(["job", "show", job.id]);
      return j.job.state === "Running" ? j : undefined;
    });
    await eventually("the job's output", async () => ((await cli(["job", "logs", job.id])).stdout.includes("attempt 1 starts at step 0 on GPU 0") ? true : undefined));

    // 6. The owner resumes: the job is preempted (it checkpoints on SIGTERM) and requeued; the session runs again.
    const resumed = await cliJson<{ state: string; lastResume?: unknown }>(["session", "resume", session.id, "--wait", "--timeout", "3m"]);
    expect(resumed.state).toBe("Running");
    const shown = await cliJson<{ session: { lastResume: { totalMs: number; preemptionMs: number; restoreMs: number; schedulingMs: number; startMs: number } } }>(["session", "show", session.id]);
    expect(shown.session.lastResume.preemptionMs, "the resume waited for the job to stop").toBeGreaterThan(0);
    expect(shown.session.lastResume.totalMs).toBeGreaterThanOrEqual(shown.session.lastResume.schedulingMs + shown.session.lastResume.restoreMs);
    const jobNow = await cliJson<{ job: { state: string; preemptions: number; attempts: number; reason: string }; events: { toState: string; reason: string }[] }>(["job", "show", job.id]);
    expect(jobNow.job).toMatchObject({ preemptions: 1, attempts: 1 });
    expect(jobNow.job.state).toBe("Queued");
    expect(jobNow.events.map((e) => e.toState)).toEqual(expect.arrayContaining(["Running", "Preempting", "Queued"]));
    const preempted = jobNow.events.find((e) => e.toState === "Preempting")!;
    expect(preempted.reason).toBe(`preempted for session ${session.id} (project default), which needs 1 sim-a100 GPU on node gpu-node-1: sessions come before batch jobs within project default's guarantee`);
    expect(jobNow.events.find((e) => e.toState === "Queued" && e.reason.includes("requeued"))!.reason).toMatch(/exited with code 0 on node gpu-node-1 after \S+; requeued/);
    const logs = (await cli(["job", "logs", job.id])).stdout;
    expect(logs).toMatch(/checkpointed at step [1-9]\d*/);

    // 7. Byte-identical environment, and Jupyter answers again.
    expect(await treeDigest(home, ["venv", "work"])).toEqual(before);
    const jupyter = new URL((await cli(["open", session.id, "--print"])).stdout.trim());
    expect((await fetch(new URL("api/status", jupyter), { headers: { authorization: `token ${jupyter.searchParams.get("token")}` } })).status).toBe(200);

    // 7b. Retention (the newest two kept here): each new snapshot, once committed, deletes those past them from the store.
    const manifests = async () => ((await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "snapshots/default/snapshots/" }))).Contents ?? []).map((o) => o.Key!.split("/").at(-1)!).sort();
    expect(await manifests(), "the park's pre-copy and final snapshots").toHaveLength(2);
    for (let i = 0; i < 2; i++) await cli(["session", "snapshot", session.id, "--wait"]);
    const listed = await cliJson<{ id: string; reason: string }[]>(["session", "snapshots", session.id]);
    expect(listed).toHaveLength(2);
    expect(listed[0]!.reason).toMatch(/; 1 older snapshot\(s\) deleted \(retention keeps the newest\)$/);
    expect(await manifests()).toEqual(listed.map((x) => x.id).sort());

    // 8. The session stops; the job runs again from its checkpoint.
    await cli(["policy", "rm", "e2e-idle", "--reason", "e2e over"]);
    await cli(["session", "stop", session.id, "--wait"]);
    const step = Number(/checkpointed at step (\d+)/.exec(logs)![1]);
    await eventually("the job's second attempt to resume from its checkpoint", async () =>
      (await cli(["job", "logs", job.id])).stdout.includes(`attempt 2 starts at step ${step} on GPU 0`) ? true : undefined,
    );
    await cli(["job", "cancel", job.id]);
    await eventually("the job to be cancelled", async () => ((await cliJson<{ job: { state: string } }>(["job", "show", job.id])).job.state === "Cancelled" ? true : undefined));

    // 9. The accounting saw it: GPU time reclaimed from the idle session.
    const usage = await cliJson<{ projects: { project: string; gpuHoursReclaimed: number }[] }>(["usage"]);
    expect(usage.projects.find((p) => p.project === "default")!.gpuHoursReclaimed).toBeGreaterThan(0);

    // 10. Deleting the session deletes its snapshots from the store, and the data only they needed.
    const keys = async (prefix: string) => (await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }))).KeyCount ?? 0;
    expect(await keys("snapshots/default/snapshots/")).toBeGreaterThan(0);
    expect(await cliJson<unknown[]>(["session", "snapshots", session.id])).not.toEqual([]);
    await cli(["session", "rm", session.id]);
    const gone = await eventually("the session's snapshots to be deleted", async () => {
      const shown = await cliJson<{ session: { state: string; reason: string } }>(["session", "show", session.id]);
      return /snapshot\(s\) deleted from the store/.test(shown.session.reason) ? shown.session : undefined;
    });
    expect(gone.state).toBe("Terminated");
    expect(gone.reason).toMatch(/; \d+ snapshot\(s\) deleted from the store \(node gpu-node-1 prunes the data only they held\)$/);
    expect(await keys("snapshots/default/snapshots/"), "manifests left in the store").toBe(0);
    await eventually("the agent's prune to delete the session's packs", async () => ((await keys("snapshots/default/packs/")) === 0 ? true : undefined));
    expect(await cliJson<unknown[]>(["session", "snapshots", session.id])).toEqual([]);
  }, 420_000);
});
