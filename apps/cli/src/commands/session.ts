import { spawn } from "node:child_process";
import { InvalidArgumentError, Option, type Command } from "commander";
import type { ResumeDto, SessionDto } from "@daybox/api";
import { duration, integer } from "../args.ts";
import { connect, type Api } from "../client.ts";
import { hasDesktop } from "../config.ts";
import { size, stderrProgress } from "../progress-bar.ts";
import type { Progress } from "@daybox/snapshot";
import { CliError } from "../errors.ts";
import { eventLine, waitForState, type SessionState, type WaitTarget } from "../follow.ts";
import { fields, gpus, json, note, print, printTable, relativeTime, table, transition } from "../output.ts";

const STATES: readonly SessionState[] = ["Pending", "Scheduled", "Starting", "Running", "Snapshotting", "Stopping", "Stopped", "Parked", "Failed", "Terminated", "Lost"];
const SESSION_ID = /^ses-[a-z0-9]{12}$/;

/** Case-insensitive, so `--state running` works. */
function sessionState(value: string): SessionState {
  const state = STATES.find((s) => s.toLowerCase() === value.toLowerCase());
  if (!state) throw new InvalidArgumentError(`expected one of ${STATES.join(", ")}`);
  return state;
}

/**
 * Accepts a session id or a session name. The API takes ids only; names are
 * what people remember, so a name is looked up among the caller's sessions.
 */
export async function resolveSessionId(api: Api, ref: string): Promise<string> {
  if (SESSION_ID.test(ref)) return ref;
  const matches = (await api.sessions.list.query({ includeTerminated: true })).filter((s) => s.name === ref);
  const live = matches.filter((s) => s.state !== "Terminated");
  const pick = live.length > 0 ? live : matches;
  if (pick.length === 1) return pick[0]!.id;
  if (pick.length === 0) throw new CliError(`no session ${ref}: pass a session id (ses-…) or name; \`daybox session ls\` lists yours`);
  throw new CliError(`several sessions are named ${ref} (${pick.map((s) => s.id).join(", ")}); pass the id instead`);
}

/** "3.2s: scheduling 0.1s (preemption 0.0s), restore 1.8s from the local copy, start 1.3s", or where it stands. */
export function resumeLine(r: ResumeDto): string {
  const s = (ms: number | null) => (ms === null ? "-" : `${(ms / 1000).toFixed(1)}s`);
  if (r.totalMs === null) return `requested ${r.requestedAt}; not Running yet`;
  const from = r.restoreSource === "local" ? " from the local copy" : r.restoreSource === "cache" ? " from the node cache" : r.restoreSource === "store" ? " from the store" : "";
  return (
    `${s(r.totalMs)}: scheduling ${s(r.schedulingMs)}` +
    (r.preemptionMs !== null ? ` (waiting ${s(r.preemptionMs)} for preempted batch jobs)` : "") +
    (r.restoreMs !== null ? `, restore ${s(r.restoreMs)}${from}` : "") +
    `, start ${s(r.startMs)}` +
    (r.node ? ` on ${r.node}` : "")
  );
}

function sessionLine(s: SessionDto): string {
  return `${s.id}  ${s.name}  ${s.state}${s.reason ? ` — ${s.reason}` : ""}`;
}

const waitOption = () => new Option("--wait", "follow the session's events until it settles; exit 1 if it ends up in the wrong state");
const timeoutOption = () => new Option("--timeout <duration>", "give up waiting after this long (e.g. 90s, 5m, 1h)").default(300_000, "5m").argParser(duration);

/**
 * `--wait`: print transitions to stderr until the session settles. A wrong
 * resting state is exit 1 with the session's reason.
 */
async function settle(api: Api, id: string, target: WaitTarget, timeoutMs: number): Promise<SessionDto> {
  const result = await waitForState(api, id, target, { timeoutMs, onEvent: (e) => note(`  ${eventLine(e, false)}`) });
  const session = await api.sessions.byId.query({ id });
  if (!result.ok) {
    process.exitCode = 1;
    note(`error: ${session.name} (${id}) is ${result.state}${session.reason ? `: ${session.reason}` : ""}`);
  }
  return session;
}

interface ChangeSpec {
  name: "stop" | "park" | "resume" | "rm";
  description: string;
  call: (api: Api, id: string) => Promise<SessionDto>;
  target: WaitTarget;
}

const changes: ChangeSpec[] = [
  {
    name: "stop",
    description: "Stop a session and free its GPUs (its home directory stays on the node)",
    call: (api, id) => api.sessions.stop.mutate({ id }),
    target: { ok: ["Stopped"], fail: ["Failed", "Terminated"] },
  },
  {
    name: "park",
    description: "Snapshot a running session, verify it, then free its GPUs; `resume` brings it back as it was",
    call: (api, id) => api.sessions.park.mutate({ id }),
    // A failed park leaves the session Running, with the reason.
    target: { ok: ["Parked"], fail: ["Running", "Failed", "Terminated"] },
  },
  {
    name: "resume",
    description: "Queue a parked, stopped or failed session to run again (a parked one is restored from its snapshot)",
    call: (api, id) => api.sessions.resume.mutate({ id }),
    target: { ok: ["Running"], fail: ["Failed", "Stopped", "Terminated"] },
  },
  {
    name: "rm",
    description: "Delete a session for good (stopping it first if it runs)",
    call: (api, id) => api.sessions.delete.mutate({ id }),
    target: { ok: ["Terminated"], fail: ["Failed"] },
  },
];

export function registerSessionCommands(program: Command): void {
  const session = program.command("session").description("Create, list and manage GPU sessions");

  session
    .command("create")
    .description("Request a new session; prints its id (it starts when GPUs are free)")
    .option("--gpus <n>", "how many GPUs", integer(1, 64), 1)
    .option("--gpu-type <type>", "GPU type, e.g. a100-80gb (default: your project's only type)")
    .option("--project <project>", "project to charge (default: your only project)")
    .option("--name <name>", "a name to remember it by (lowercase letters, digits, dashes)")
    .option("--image <image>", "container image (default: the node's default)")
    .addOption(waitOption().default(false))
    .addOption(timeoutOption())
    .option("--json", "print the session as JSON")
    .action(async (opts: { gpus: number; gpuType?: string; project?: string; name?: string; image?: string; wait: boolean; timeout: number; json?: boolean }) => {
      const { api } = await connect();
      const created = await api.sessions.create.mutate({
        gpus: opts.gpus,
        ...(opts.gpuType ? { gpuType: opts.gpuType } : {}),
        ...(opts.project ? { project: opts.project } : {}),
        ...(opts.name ? { name: opts.name } : {}),
        ...(opts.image ? { image: opts.image } : {}),
      });
      if (!opts.json) {
        print(created.id);
        note(`created ${created.name}: ${gpus(created.gpuCount, created.gpuType)} in project ${created.project}, ${created.state}${created.reason ? ` — ${created.reason}` : ""}`);
      }
      if (!opts.wait) {
        if (opts.json) print(json(created));
        return;
      }
      const final = await settle(api, created.id, { ok: ["Running"], fail: ["Failed", "Stopped", "Terminated"] }, opts.timeout);
      if (opts.json) print(json(final));
      else if (final.state === "Running") {
        note(`${final.name} is running: \`daybox attach ${final.id}\`` + (final.hasJupyter ? ` or \`daybox open ${final.id}\`` : " (terminal only)"));
      }
    });

  session
    .command("ls")
    .alias("list")
    .description("List your sessions (admins: everyone's; managers: their projects')")
    .option("--project <project>", "only this project's sessions")
    .option("--state <state>", `only sessions in this state (${STATES.join(", ")})`, sessionState)
    .option("--all-states", "include terminated sessions")
    .option("--json", "print the API result as JSON")
    .action(async (opts: { project?: string; state?: SessionState; allStates?: boolean; json?: boolean }) => {
      const { api } = await connect();
      const rows = await api.sessions.list.query({
        ...(opts.project ? { project: opts.project } : {}),
        ...(opts.state ? { state: opts.state } : {}),
        includeTerminated: opts.allStates ?? false,
      });
      if (opts.json) return print(json(rows));
      const now = new Date();
      printTable(
        ["ID", "NAME", "OWNER", "PROJECT", "GPUS", "STATE", "NODE", "AGE", "REASON"],
        rows.map((s) => [s.id, s.name, s.owner, s.project, gpus(s.gpuCount, s.gpuType), s.state, s.node, relativeTime(s.createdAt, now), s.reason]),
        "no sessions" + (opts.state || opts.project ? " match" : "; create one with `daybox session create`"),
      );
    });

  session
    .command("show")
    .description("Show a session and the timeline of its state changes")
    .argument("<session>", "session id or name")
    .option("--json", "print {session, events} as JSON")
    .action(async (ref: string, opts: { json?: boolean }) => {
      const { api } = await connect();
      const id = await resolveSessionId(api, ref);
      const [s, events] = await Promise.all([api.sessions.byId.query({ id }), api.sessions.events.query({ id })]);
      if (opts.json) return print(json({ session: s, events }));
      const now = new Date();
      const when = (iso: string | null) => (iso ? `${relativeTime(iso, now)} (${iso})` : null);
      print(
        fields([
          ["ID", s.id],
          ["Name", s.name],
          ["Owner", s.owner],
          ["Project", s.project],
          ["GPUs", gpus(s.gpuCount, s.gpuType) + (s.gpuIndices.length > 0 ? ` (indices ${s.gpuIndices.join(",")})` : "")],
          ["Image", s.image],
          ["State", s.state + (s.desiredState.toLowerCase() !== s.state.toLowerCase() ? ` (wants ${s.desiredState})` : "")],
          ["Reason", s.reason],
          ["Node", s.node],
          ["Jupyter", s.hasJupyter ? `yes — \`daybox open ${s.id}\`` : "no"],
          ["Created", when(s.createdAt)],
          ["Started", when(s.startedAt)],
          ["Stopped", when(s.stoppedAt)],
          ["Last activity", when(s.lastActivityAt)],
          ["Warned", s.warnedAt ? `${when(s.warnedAt)} — idle; \`daybox session keep-alive ${s.id} --for 2h\` prevents the reclaim` : null],
          ["Keep-alive", s.keepAliveUntil && new Date(s.keepAliveUntil) > now ? `until ${s.keepAliveUntil}` : null],
          ["Parked in", s.parkedSnapshotId],
          ["Last resume", s.lastResume ? resumeLine(s.lastResume) : null],
        ]),
      );
      print("\nEvents:");
      print(
        events.length === 0
          ? "  none"
          : table(["TIME", "CHANGE", "BY", "REASON"], events.map((e) => [relativeTime(e.at, now), transition(e.fromState, e.toState), e.actor, e.reason]))
              .split("\n")
              .map((l) => `  ${l}`)
              .join("\n"),
      );
    });

  session
    .command("snapshot")
    .description("Snapshot a running session's state now (incremental against its last snapshot)")
    .argument("<session>", "session id or name")
    .addOption(waitOption())
    .addOption(timeoutOption())
    .option("--json", "print the result as JSON")
    .action(async (ref: string, opts: { wait?: boolean; timeout: number; json?: boolean }) => {
      const { api } = await connect();
      const id = await resolveSessionId(api, ref);
      const { actionId, alreadyRunning } = await api.sessions.snapshot.mutate({ id });
      if (!opts.json) note(alreadyRunning ? `a snapshot of ${id} is already running (${actionId})` : `snapshot of ${id} requested (${actionId})`);
      if (!opts.wait) return opts.json ? print(json({ actionId, alreadyRunning })) : undefined;
      const deadline = Date.now() + opts.timeout;
      const bar = stderrProgress(!opts.json);
      for (;;) {
        const action = (await api.sessions.activity.query({ id })).find((a) => a.id === actionId);
        if (action?.progress && bar) bar(action.progress as unknown as Progress);
        if (action?.status === "succeeded") break;
        if (action?.status === "failed" || action?.status === "cancelled") throw new CliError(`snapshot of ${id} ${action.status}: ${action.error ?? action.reason}`);
        if (Date.now() > deadline) throw new CliError(`snapshot of ${id} did not finish within the timeout; follow it with \`daybox session snapshots ${id}\``);
        await new Promise((r) => setTimeout(r, 500));
      }
      if (bar) process.stderr.write("\n");
      const [latest] = await api.sessions.snapshots.query({ id });
      if (opts.json) return print(json(latest));
      note(`snapshot ${latest?.id}: ${latest?.files} files, ${size(latest?.sizeBytes ?? 0)}, ${size(latest?.newBytes ?? 0)} new, in ${((latest?.durationMs ?? 0) / 1000).toFixed(1)}s`);
    });

  session
    .command("snapshots")
    .description("List a session's snapshots, newest first")
    .argument("<session>", "session id or name")
    .option("--json", "print the API result as JSON")
    .action(async (ref: string, opts: { json?: boolean }) => {
      const { api } = await connect();
      const id = await resolveSessionId(api, ref);
      const rows = await api.sessions.snapshots.query({ id });
      if (opts.json) return print(json(rows));
      const now = new Date();
      printTable(
        ["ID", "CREATED", "FILES", "SIZE", "NEW", "TOOK", "WHY"],
        rows.map((r) => [r.id, relativeTime(r.createdAt, now), r.files, size(r.sizeBytes), size(r.newBytes), `${(r.durationMs / 1000).toFixed(1)}s`, r.reason]),
        `no snapshots of ${id} yet: \`daybox session snapshot ${id}\` takes one`,
      );
    });

  session
    .command("extend")
    .description("Use one of the extensions your reclaim policy allows: no reclaim for the policy's extension time (cancels a pending warning)")
    .argument("<session>", "session id or name")
    .option("--json", "print the session as JSON")
    .action(async (ref: string, opts: { json?: boolean }) => {
      const { api } = await connect();
      const id = await resolveSessionId(api, ref);
      const s = await api.sessions.extend.mutate({ id });
      if (opts.json) return print(json(s));
      print(`${s.name} (${s.id}) will not be reclaimed before ${s.keepAliveUntil}`);
    });

  session
    .command("keep-alive")
    .description("Protect a running session from being reclaimed for a while (e.g. a long run with no kernel activity)")
    .argument("<session>", "session id or name")
    .requiredOption("--for <duration>", "how long (e.g. 90m, 2h, 1d; at most 7d)", duration)
    .option("--json", "print the session as JSON")
    .action(async (ref: string, opts: { for: number; json?: boolean }) => {
      const { api } = await connect();
      const id = await resolveSessionId(api, ref);
      const s = await api.sessions.keepAlive.mutate({ id, forMs: opts.for });
      if (opts.json) return print(json(s));
      print(`${s.name} (${s.id}) will not be reclaimed before ${s.keepAliveUntil}`);
    });

  for (const change of changes) {
    session
      .command(change.name)
      .description(change.description)
      .argument("<session>", "session id or name")
      .addOption(waitOption())
      .addOption(timeoutOption())
      .option("--json", "print the session as JSON")
      .action(async (ref: string, opts: { wait?: boolean; timeout: number; json?: boolean }) => {
        const { api } = await connect();
        const id = await resolveSessionId(api, ref);
        let s = await change.call(api, id);
        if (!opts.json) print(sessionLine(s));
        if (opts.wait) s = await settle(api, id, change.target, opts.timeout);
        if (opts.json) print(json(s));
        else if (opts.wait && !process.exitCode) note(`${s.name} is ${s.state}`);
      });
  }

  program
    .command("attach")
    .description("Open a terminal in a running session (Ctrl-] detaches); exits with the remote exit code")
    .argument("<session>", "session id or name")
    .argument("[command...]", "run this instead of a login shell (put it after --)")
    .action(async (ref: string, command: string[]) => {
      const { api, config } = await connect();
      const sessionId = await resolveSessionId(api, ref);
      const { attach } = await import("../attach.ts");
      process.exitCode = await attach({ url: config.url, token: config.token, sessionId, command });
    });

  program
    .command("open")
    .description("Print a running session's Jupyter URL (it contains your Jupyter token) and open it in a browser")
    .argument("<session>", "session id or name")
    .option("--print", "only print the URL")
    .option("--json", "print the API result as JSON")
    .action(async (ref: string, opts: { print?: boolean; json?: boolean }) => {
      const { api } = await connect();
      const id = await resolveSessionId(api, ref);
      const result = await api.sessions.open.query({ id });
      print(opts.json ? json(result) : result.url);
      if (!opts.print && !opts.json && hasDesktop()) openInBrowser(result.url);
    });
}

/** Best effort: printing the URL already did the job if there is no browser. */
function openInBrowser(url: string): void {
  try {
    const child = spawn(process.platform === "darwin" ? "open" : "xdg-open", [url], { stdio: "ignore", detached: true });
    child.on("error", () => {});
    child.unref();
  } catch {
    // Ignored on purpose; see above.
  }
}
