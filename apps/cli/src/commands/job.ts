import { InvalidArgumentError, type Command } from "commander";
import type { JobDto } from "@daybox/api";
import { duration, integer } from "../args.ts";
import { connect, type Api } from "../client.ts";
import { CliError } from "../errors.ts";
import { fields, formatDuration, gpus, json, note, print, printTable, relativeTime, table, transition } from "../output.ts";

const STATES = ["Queued", "Scheduled", "Running", "Preempting", "Cancelling", "Succeeded", "Failed", "Cancelled"] as const;
type JobState = (typeof STATES)[number];
const DONE: readonly JobState[] = ["Succeeded", "Failed", "Cancelled"];
const JOB_ID = /^job-[a-z0-9]{12}$/;

function jobState(value: string): JobState {
  const state = STATES.find((s) => s.toLowerCase() === value.toLowerCase());
  if (!state) throw new InvalidArgumentError(`expected one of ${STATES.join(", ")}`);
  return state;
}

function jobId(ref: string): string {
  if (!JOB_ID.test(ref)) throw new CliError(`${JSON.stringify(ref)} is not a job id (job-…); \`daybox job ls\` lists yours`);
  return ref;
}

/** Whole seconds for the API, from "30s", "2m" or a bare number of seconds. */
function graceSeconds(value: string): number {
  const ms = /^\d+$/.test(value) ? Number(value) * 1000 : duration(value);
  if (ms > 3_600_000) throw new InvalidArgumentError("at most 1h");
  return Math.round(ms / 1000);
}

/** Prints a job's output as it arrives until the job is done (or once, without follow). */
async function streamLogs(api: Api, id: string, follow: boolean): Promise<JobState> {
  let after: string | null = null;
  let attempt = 0;
  for (;;) {
    const page = await api.jobs.logs.query({ id, after });
    for (const c of page.chunks) {
      if (c.attempt !== attempt) {
        if (attempt !== 0 || c.attempt > 1) note(`--- attempt ${c.attempt} ---`);
        attempt = c.attempt;
      }
      process.stdout.write(c.data);
    }
    after = page.cursor;
    if (page.chunks.length > 0) continue; // more may be waiting
    if (!follow || DONE.includes(page.state)) return page.state;
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

function jobLine(j: JobDto): string {
  return `${j.id}  ${j.name}  ${j.state}${j.reason ? ` — ${j.reason}` : ""}`;
}

export function registerJobCommands(program: Command): void {
  const job = program.command("job").description("Submit and manage batch jobs: they run on free GPUs, including idle ones borrowed from other projects, and are preempted (SIGTERM, grace period, requeue) when sessions need them");

  job
    .command("submit")
    .description("Queue a command to run on GPUs; prints the job id")
    .argument("<command...>", "the command and its arguments, after `--` (e.g. `-- python train.py --epochs 3`)")
    .option("--gpus <n>", "how many GPUs", integer(1, 64), 1)
    .option("--gpu-type <type>", "GPU type (default: your project's, or the cluster's only type)")
    .option("--project <project>", "project to charge (default: your only project)")
    .option("--name <name>", "a name to remember it by")
    .option("--priority <n>", "-100..100; higher runs first and is preempted last", integer(-100, 100), 0)
    .option("--grace <duration>", "time between SIGTERM and SIGKILL when preempted, to checkpoint (e.g. 30s, 2m; at most 1h)", graceSeconds, 30)
    .option("--follow", "stream the job's output until it finishes; exit with its outcome")
    .option("--json", "print the job as JSON")
    .action(async (command: string[], opts: { gpus: number; gpuType?: string; project?: string; name?: string; priority: number; grace: number; follow?: boolean; json?: boolean }) => {
      const { api } = await connect();
      const j = await api.jobs.submit.mutate({
        command,
        gpus: opts.gpus,
        priority: opts.priority,
        gracePeriodSeconds: opts.grace,
        ...(opts.gpuType ? { gpuType: opts.gpuType } : {}),
        ...(opts.project ? { project: opts.project } : {}),
        ...(opts.name ? { name: opts.name } : {}),
      });
      if (opts.json) print(json(j));
      else {
        print(j.id);
        note(`queued ${j.name}: ${gpus(j.gpuCount, j.gpuType)} in project ${j.project}, priority ${j.priority} — ${j.reason}`);
      }
      if (opts.follow) {
        const state = await streamLogs(api, j.id, true);
        if (state !== "Succeeded") process.exitCode = 1;
        note(jobLine(await api.jobs.byId.query({ id: j.id })));
      }
    });

  job
    .command("ls")
    .alias("list")
    .description("List your batch jobs (admins: everyone's); finished ones with --all")
    .option("--project <project>", "only this project's jobs")
    .option("--state <state>", `only jobs in this state (${STATES.join(", ")})`, jobState)
    .option("--all", "include finished jobs")
    .option("--json", "print the API result as JSON")
    .action(async (opts: { project?: string; state?: JobState; all?: boolean; json?: boolean }) => {
      const { api } = await connect();
      const rows = await api.jobs.list.query({ ...(opts.project ? { project: opts.project } : {}), ...(opts.state ? { state: opts.state } : {}), all: opts.all ?? false });
      if (opts.json) return print(json(rows));
      const now = new Date();
      printTable(
        ["ID", "NAME", "OWNER", "PROJECT", "GPUS", "PRIO", "STATE", "NODE", "TRIES", "SUBMITTED", "REASON"],
        rows.map((j) => [j.id, j.name, j.owner, j.project, gpus(j.gpuCount, j.gpuType), j.priority, j.state, j.node, j.attempts, relativeTime(j.submittedAt, now), j.reason]),
        "no jobs" + (opts.state || opts.project ? " match" : opts.all ? "; submit one with `daybox job submit -- <command>`" : " queued or running (`--all` shows finished ones)"),
      );
    });

  job
    .command("show")
    .description("Show a job and the timeline of its state changes (preemptions and requeues with their reasons)")
    .argument("<job>", "job id")
    .option("--json", "print {job, events} as JSON")
    .action(async (ref: string, opts: { json?: boolean }) => {
      const { api } = await connect();
      const id = jobId(ref);
      const [j, events] = await Promise.all([api.jobs.byId.query({ id }), api.jobs.events.query({ id })]);
      if (opts.json) return print(json({ job: j, events }));
      const now = new Date();
      const when = (iso: string | null) => (iso ? `${relativeTime(iso, now)} (${iso})` : null);
      print(
        fields([
          ["ID", j.id],
          ["Name", j.name],
          ["Owner", j.owner],
          ["Project", j.project],
          ["Command", j.command.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`)).join(" ")],
          ["GPUs", gpus(j.gpuCount, j.gpuType) + (j.gpuIndices.length > 0 ? ` (indices ${j.gpuIndices.join(",")})` : "")],
          ["Priority", j.priority],
          ["State", j.state],
          ["Reason", j.reason],
          ["Node", j.node],
          ["Attempts", `${j.attempts} (${j.preemptions} preempted)`],
          ["Grace period", formatDuration(j.gracePeriodSeconds * 1000)],
          ["Exit code", j.exitCode],
          ["Submitted", when(j.submittedAt)],
          ["Started", when(j.startedAt)],
          ["Finished", when(j.finishedAt)],
        ]),
      );
      print("\nEvents:");
      print(
        table(["TIME", "CHANGE", "BY", "REASON"], events.map((e) => [relativeTime(e.at, now), transition(e.fromState, e.toState), e.actor, e.reason]))
          .split("\n")
          .map((l) => `  ${l}`)
          .join("\n"),
      );
    });

  job
    .command("logs")
    .description("Print a job's output (every attempt; the newest 4 MiB are kept)")
    .argument("<job>", "job id")
    .option("-f, --follow", "keep printing new output until the job finishes")
    .action(async (ref: string, opts: { follow?: boolean }) => {
      const { api } = await connect();
      await streamLogs(api, jobId(ref), opts.follow ?? false);
    });

  job
    .command("cancel")
    .description("Cancel a job: a queued one at once, a running one with SIGTERM, its grace period, then SIGKILL")
    .argument("<job>", "job id")
    .option("--json", "print the job as JSON")
    .action(async (ref: string, opts: { json?: boolean }) => {
      const { api } = await connect();
      const j = await api.jobs.cancel.mutate({ id: jobId(ref) });
      if (opts.json) return print(json(j));
      note(jobLine(j));
    });
}
