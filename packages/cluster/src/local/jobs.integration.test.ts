import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { JobExit } from "../runtime.ts";
import { LocalJobRunner } from "./jobs.ts";

/** Real processes: SIGTERM, the grace period, SIGKILL, output and the job's environment. */
describe("LocalJobRunner", () => {
  let root: string;
  let runner: LocalJobRunner;
  let exits: JobExit[];
  const exitOf = (jobId: string) =>
    new Promise<JobExit>((resolve) => {
      const check = () => {
        const e = exits.find((x) => x.jobId === jobId);
        if (e) resolve(e);
        else setTimeout(check, 20);
      };
      check();
    });

  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), "daybox-jobs-"));
    runner = new LocalJobRunner(root);
    exits = [];
    runner.onExit((e) => exits.push(e));
  });
  afterEach(async () => {
    await runner.close();
    await rm(root, { recursive: true, force: true });
  });

  it("runs the command on its GPUs with a checkpoint directory, and streams and keeps its output", async () => {
    let out = "";
    await runner.run(
      { jobId: "job-env", attempt: 2, command: ["bash", "-c", 'echo "gpus=$CUDA_VISIBLE_DEVICES attempt=$DAYBOX_JOB_ATTEMPT"; pwd; echo oops >&2; exit 3'], gpuIndices: [1, 3] },
      (d) => (out += d),
    );
    const exit = await exitOf("job-env");
    expect(exit).toMatchObject({ jobId: "job-env", attempt: 2, exitCode: 3, signal: null, killedAfterGraceMs: null });
    const work = path.join(root, "job-env", "work");
    expect(out).toContain("gpus=1,3 attempt=2\n");
    expect(out).toContain(`${work}\n`);
    expect(out).toContain("oops\n");
    expect(await readFile(path.join(root, "job-env", "attempt-2.log"), "utf8")).toBe(out);
    expect(runner.running()).toEqual([]);
  });

  it("a job that checkpoints on SIGTERM exits within its grace period", async () => {
    const script = 'trap \'echo "checkpoint $DAYBOX_JOB_ID" > "$DAYBOX_CHECKPOINT_DIR/ckpt"; exit 0\' TERM; echo started; while true; do sleep 0.05; done';
    let out = "";
    await runner.run({ jobId: "job-polite", attempt: 1, command: ["bash", "-c", script], gpuIndices: [0] }, (d) => (out += d));
    while (!out.includes("started")) await new Promise((r) => setTimeout(r, 20));
    expect(runner.stop("job-polite", 10_000)).toBe(true);
    const exit = await exitOf("job-polite");
    expect(exit).toMatchObject({ exitCode: 0, killedAfterGraceMs: null });
    expect(exit.runtimeMs).toBeLessThan(10_000);
    expect(await readFile(path.join(root, "job-polite", "work", "ckpt"), "utf8")).toBe("checkpoint job-polite\n");
  });

  it("a job that ignores SIGTERM is killed when the grace period runs out", async () => {
    let out = "";
    await runner.run({ jobId: "job-stubborn", attempt: 1, command: ["bash", "-c", "trap '' TERM; echo started; while true; do sleep 0.05; done"], gpuIndices: [0] }, (d) => (out += d));
    while (!out.includes("started")) await new Promise((r) => setTimeout(r, 20));
    const t0 = Date.now();
    runner.stop("job-stubborn", 300);
    const exit = await exitOf("job-stubborn");
    expect(exit).toMatchObject({ exitCode: null, signal: "SIGKILL", killedAfterGraceMs: 300 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
  });

  it("refuses a command that does not exist, and stopping an unknown job says so", async () => {
    await expect(runner.run({ jobId: "job-missing", attempt: 1, command: ["no-such-command-daybox"], gpuIndices: [] }, () => {})).rejects.toThrow("command not found: no-such-command-daybox");
    expect(runner.stop("job-missing", 1000)).toBe(false);
  });

  it("kills jobs a previous agent left behind", async () => {
    const previous = new LocalJobRunner(root);
    await previous.run({ jobId: "job-orphan", attempt: 1, command: ["sleep", "600"], gpuIndices: [] }, () => {});
    const pid = Number(await readFile(path.join(root, "job-orphan", "pid"), "utf8"));
    await writeFile(path.join(root, "unrelated"), "not a job dir");
    expect(await runner.reapOrphans()).toEqual(["job-orphan"]);
    await new Promise((r) => setTimeout(r, 200));
    expect(() => process.kill(pid, 0)).toThrow();
    await previous.close();
  });
});
