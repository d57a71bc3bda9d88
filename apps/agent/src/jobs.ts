import type { JobExit, JobRunner } from "@daybox/cluster";
import type { ApiClient } from "./api-client.ts";

/** Output is shipped to the API at most this often, in chunks of at most this size. */
const LOG_FLUSH_MS = 1_000;
const LOG_CHUNK = 64 * 1024;

interface RunPayload {
  jobId: string;
  attempt: number;
  command: string[];
  gpuIndices: number[];
  name?: string;
  project?: string;
  owner?: string;
  gracePeriodSeconds?: number;
}

/**
 * Batch jobs on this node: runs them on the local runner, ships their
 * output to the API in order, signals them when preempted or cancelled, and
 * reports every exit (retrying until the API has it: a lost exit report
 * would leave the job's GPUs allocated).
 */
export function createJobWorker(opts: { api: ApiClient; runner: JobRunner; nodeId: () => string; log: (m: string) => void }) {
  const { api, log, runner } = opts;
  const pending = new Map<string, { attempt: number; data: string }>();
  const chains = new Map<string, Promise<void>>();
  let closing = false;

  /** Sends what is buffered for a job, after anything sent before it (order is kept per job). */
  function flush(jobId: string): Promise<void> {
    const buf = pending.get(jobId);
    pending.delete(jobId);
    const prev = chains.get(jobId) ?? Promise.resolve();
    if (!buf) return prev;
    const next = prev.then(async () => {
      for (let i = 0; i < buf.data.length; i += LOG_CHUNK) {
        await api.agent.jobLog
          .mutate({ nodeId: opts.nodeId(), jobId, attempt: buf.attempt, data: buf.data.slice(i, i + LOG_CHUNK) })
          .catch((e: Error) => log(`ship output of ${jobId}: ${e.message}`));
      }
    });
    chains.set(jobId, next);
    return next;
  }
  const timer = setInterval(() => {
    for (const jobId of [...pending.keys()]) void flush(jobId);
  }, LOG_FLUSH_MS);

  async function reportExit(exit: JobExit) {
    await flush(exit.jobId);
    chains.delete(exit.jobId);
    const how = exit.killedAfterGraceMs !== null ? "killed after its grace period" : exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.exitCode}`;
    log(`job ${exit.jobId} (attempt ${exit.attempt}) ${how} after ${Math.round(exit.runtimeMs / 1000)}s`);
    for (let attempt = 1; attempt <= (closing ? 1 : 30); attempt++) {
      try {
        await api.agent.jobExited.mutate({ nodeId: opts.nodeId(), ...exit });
        return;
      } catch (err) {
        log(`report exit of job ${exit.jobId} (try ${attempt}): ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, Math.min(10_000, 500 * attempt)));
      }
    }
  }
  runner.onExit((exit) => void reportExit(exit));

  return {
    async run(p: RunPayload) {
      const { pid } = await runner.run(p, (data) => {
        const buf = pending.get(p.jobId) ?? { attempt: p.attempt, data: "" };
        buf.data += data;
        pending.set(p.jobId, buf);
      });
      log(`job ${p.jobId} (attempt ${p.attempt}) started on GPU ${p.gpuIndices.join(", ")}: ${p.command.join(" ")}`);
      return { pid };
    },

    /** SIGTERM now, SIGKILL after the grace period; the exit is reported when it happens. */
    stop(p: { jobId: string; attempt: number; graceMs: number }) {
      const signalled = runner.stop(p.jobId, p.graceMs);
      if (!signalled) {
        // Not running here (it exited meanwhile, or a previous agent lost it): say so, so it does not stay Preempting.
        void api.agent.jobExited
          .mutate({ nodeId: opts.nodeId(), jobId: p.jobId, attempt: p.attempt, exitCode: null, signal: null, killedAfterGraceMs: null, runtimeMs: 0, detail: "it was no longer running on the node" })
          .catch((e: Error) => log(`report job ${p.jobId}: ${e.message}`));
      }
      return { signalled, graceMs: p.graceMs };
    },

    /** After (re)registering: kill jobs a previous agent left behind; the API requeues what it thought ran here. */
    async reconcile() {
      const reaped = await runner.reapOrphans();
      if (reaped.length) log(`killed ${reaped.length} job(s) left by a previous agent: ${reaped.join(", ")}`);
      const { lost } = await api.agent.jobsPresent.mutate({ nodeId: opts.nodeId(), jobIds: runner.running() });
      if (lost) log(`${lost} job(s) the control plane thought ran here were requeued`);
    },

    async close() {
      closing = true;
      clearInterval(timer);
      await runner.close();
      await Promise.all([...pending.keys()].map(flush));
    },
  };
}
