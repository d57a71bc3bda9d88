import type { SessionDto, SessionEventDto } from "@daybox/api";
import type { Api } from "./client.ts";
import { CliError } from "./errors.ts";
import { clockTime, formatDuration, transition } from "./output.ts";

/**
 * Following session events over `sessions.watch` (SSE). Written once, used by
 * `session create --wait`, the state-changing commands' `--wait`, and
 * `events --follow`.
 */

export type SessionState = SessionDto["state"];

export interface WatchOptions {
  /** Only this session's events; all visible sessions' without it. */
  sessionId?: string;
  /** Start after this event id; without it, only events from now on. */
  after?: string;
  signal?: AbortSignal;
  /** Called for each event in order; return true to stop following. */
  onEvent: (event: SessionEventDto) => boolean | void;
  /** The stream connected for the first time, dropped (it reconnects and resumes by itself), or came back. */
  onConnection?: (change: "open" | "lost" | "restored", error?: Error) => void;
}

/**
 * Resolves when `onEvent` returns true or `signal` aborts; rejects if the
 * stream fails for good (e.g. the token is refused) or cannot connect at all.
 */
export function watchEvents(api: Api, opts: WatchOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    let connected = false;
    let lost = false;
    let done = false;
    // Assigned after subscribe() returns; a callback may run before that.
    // eslint-disable-next-line prefer-const -- declared before the callbacks that read it
    let sub: { unsubscribe(): void } | undefined;
    const finish = (err?: unknown) => {
      if (done) return;
      done = true;
      sub?.unsubscribe();
      opts.signal?.removeEventListener("abort", onAbort);
      if (err) reject(err);
      else resolve();
    };
    const onAbort = () => finish();

    sub = api.sessions.watch.subscribe(
      { ...(opts.sessionId ? { sessionId: opts.sessionId } : {}), ...(opts.after ? { lastEventId: opts.after } : {}) },
      {
        onData: (tracked) => {
          if (done) return;
          if (opts.onEvent(tracked.data) === true) finish();
        },
        onError: (err) => finish(err),
        onComplete: () => finish(),
        onConnectionStateChange: (state) => {
          if (state.state === "pending") {
            if (!connected) opts.onConnection?.("open");
            else if (lost) opts.onConnection?.("restored");
            connected = true;
            lost = false;
          } else if (state.state === "connecting" && state.error) {
            // Never connected: the API is down or refuses us; retrying forever would hang.
            if (!connected) return finish(state.error);
            if (!lost) opts.onConnection?.("lost", state.error);
            lost = true;
          }
        },
      },
    );
    if (done) sub.unsubscribe();
    else if (opts.signal?.aborted) finish();
    else opts.signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** One streamed event as a line: "14:03:27  ses-…  name  Pending → Scheduled  reason". */
export function eventLine(e: SessionEventDto, withSession: boolean): string {
  const who = withSession ? `${e.sessionId}  ${e.sessionName}  ` : "";
  return `${clockTime(e.at)}  ${who}${transition(e.fromState, e.toState)}${e.reason ? `  ${e.reason}` : ""}`;
}

export interface WaitTarget {
  /** States that mean the command worked (exit 0). */
  ok: readonly SessionState[];
  /** Resting states that mean it did not (exit 1). */
  fail: readonly SessionState[];
}

export interface WaitResult {
  ok: boolean;
  state: SessionState;
}

/**
 * Waits until the session reaches one of `target`'s states, printing each
 * transition via `onEvent`. Starts from the session's last event id so a
 * transition that happens between the request and the subscription is not missed.
 */
export async function waitForState(
  api: Api,
  sessionId: string,
  target: WaitTarget,
  opts: { timeoutMs: number; onEvent: (e: SessionEventDto) => void },
): Promise<WaitResult> {
  // 1. Cursor first, then state: a change in between is replayed by the watch, never lost.
  const history = await api.sessions.events.query({ id: sessionId });
  const session = await api.sessions.byId.query({ id: sessionId });
  const verdict = (state: SessionState): WaitResult | null =>
    target.ok.includes(state) ? { ok: true, state } : target.fail.includes(state) ? { ok: false, state } : null;
  const now = verdict(session.state);
  if (now) return now;

  // 2. `sessions.events` returns at most the first 1000 events; past that its last id is stale,
  // and replaying from it could stop on an old state, so follow from now instead.
  const after = history.length > 0 && history.length < 1000 ? history[history.length - 1]!.id : undefined;

  // 3. Follow until a target state or the timeout.
  let result: WaitResult | null = null;
  let last: SessionEventDto | undefined;
  const timeout = AbortSignal.timeout(opts.timeoutMs);
  await watchEvents(api, {
    sessionId,
    ...(after ? { after } : {}),
    signal: timeout,
    onEvent: (e) => {
      last = e;
      opts.onEvent(e);
      result = verdict(e.toState);
      return result !== null;
    },
  });
  if (result) return result;

  const state = last?.toState ?? session.state;
  const reason = last ? last.reason : session.reason;
  throw new CliError(
    `timed out after ${formatDuration(opts.timeoutMs)} waiting for ${sessionId} to become ${target.ok.join(" or ")}; ` +
      `it is ${state}${reason ? ` — ${reason}` : ""}. Check \`daybox session show ${sessionId}\` or wait longer with --timeout`,
  );
}
