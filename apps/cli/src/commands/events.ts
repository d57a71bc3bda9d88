import type { Command } from "commander";
import { connect } from "../client.ts";
import { UsageError } from "../errors.ts";
import { eventLine, watchEvents } from "../follow.ts";
import { json, note, print, printTable, relativeTime, transition } from "../output.ts";
import { resolveSessionId } from "./session.ts";

export function registerEventCommands(program: Command): void {
  program
    .command("events")
    .description("Show a session's state changes, or stream everyone's you can see with --follow")
    .option("--session <session>", "session id or name (required without --follow)")
    .option("--follow", "keep streaming new events until Ctrl-C")
    .option("--json", "print JSON: the API result, or one event object per line with --follow")
    .action(async (opts: { session?: string; follow?: boolean; json?: boolean }) => {
      if (!opts.session && !opts.follow) {
        throw new UsageError("pass --session <id> to see one session's events, or --follow to stream events as they happen");
      }
      const { api } = await connect();
      const sessionId = opts.session ? await resolveSessionId(api, opts.session) : undefined;
      const history = sessionId ? await api.sessions.events.query({ id: sessionId }) : [];

      if (!opts.follow) {
        if (opts.json) return print(json(history));
        const now = new Date();
        return printTable(
          ["TIME", "CHANGE", "BY", "REASON"],
          history.map((e) => [relativeTime(e.at, now), transition(e.fromState, e.toState), e.actor, e.reason]),
          "no events",
        );
      }

      // Following one session: its history first, then live events after it, with no gap.
      const show = (e: (typeof history)[number]) => print(opts.json ? JSON.stringify(e) : eventLine(e, !sessionId));
      history.forEach(show);
      const last = history[history.length - 1];
      const stop = new AbortController();
      process.once("SIGINT", () => stop.abort());
      await watchEvents(api, {
        ...(sessionId ? { sessionId } : {}),
        ...(last && history.length < 1000 ? { after: last.id } : {}),
        signal: stop.signal,
        onEvent: (e) => void show(e),
        onConnection: (change, err) => {
          if (change === "open") {
            if (!opts.json) note(`following ${sessionId ?? "events of every session you can see"}; Ctrl-C to stop`);
          } else if (change === "lost") {
            note(`connection to the API lost (${err?.message ?? "unknown error"}); reconnecting…`);
          } else note("reconnected");
        },
      });
    });
}
