import type { IncomingMessage } from "node:http";
import type { TerminalControl } from "@daybox/api";
import { CliError, networkCode, unauthorized, unreachable } from "./errors.ts";
import { note } from "./output.ts";

/** Ctrl-]: like telnet and `docker attach`, a key the remote shell does not need. */
const DETACH_KEY = 0x1d;
const EOT = Buffer.from([0x04]);
const MAX_EOTS = 10;
const QUIET_MS = 300;

export interface AttachOptions {
  url: string;
  token: string | undefined;
  sessionId: string;
  /** argv to run instead of the login shell. */
  command: string[];
}

/**
 * Opens the session's terminal and wires it to this process's stdio until the
 * remote side exits. Resolves with the exit code to exit with.
 *
 * Protocol: binary frames are terminal bytes both ways; text frames are JSON
 * TerminalControl messages (resize from us; exit or error from the server).
 */
export async function attach(opts: AttachOptions): Promise<number> {
  const { WebSocket } = await import("ws");
  const stdin = process.stdin;
  const stdout = process.stdout;
  const interactive = stdin.isTTY === true;
  const size = () => ({ cols: stdout.columns || 80, rows: stdout.rows || 24 });

  const target = new URL(`${opts.url.replace(/^http/, "ws")}/v1/sessions/${encodeURIComponent(opts.sessionId)}/terminal`);
  target.searchParams.set("cols", String(size().cols));
  target.searchParams.set("rows", String(size().rows));
  for (const arg of opts.command) target.searchParams.append("command", arg);

  const ws = new WebSocket(target, {
    headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {},
    handshakeTimeout: 30_000,
  });

  return new Promise<number>((resolve, reject) => {
    let opened = false;
    let exitCode: number | null = null;
    let settled = false;
    // Printed after the terminal leaves raw mode, where "\n" would not return the carriage.
    const notes: string[] = [];
    // End-of-input handling (non-interactive); see onInputEnd.
    let inputEnded = false;
    let lastByte = 0x0a;
    let eotsLeft = MAX_EOTS;
    let quiet: NodeJS.Timeout | undefined;

    const cleanup = () => {
      clearTimeout(quiet);
      stdin.off("data", onInput);
      stdin.off("end", onInputEnd);
      stdout.off("resize", onResize);
      if (interactive && stdin.isRaw) stdin.setRawMode(false);
      stdin.pause();
    };
    const done = (code: number) => {
      if (settled) return;
      settled = true;
      cleanup();
      notes.forEach((n) => note(n));
      resolve(code);
    };
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      cleanup();
      ws.terminate();
      reject(err);
    };

    const onInput = (chunk: Buffer) => {
      if (interactive && chunk.includes(DETACH_KEY)) {
        const before = chunk.subarray(0, chunk.indexOf(DETACH_KEY));
        if (before.length > 0) ws.send(before, { binary: true });
        ws.close(1000, "detached");
        notes.push(`\ndetached from ${opts.sessionId}; it keeps running (\`daybox attach ${opts.sessionId}\` to return)`);
        done(0);
        return;
      }
      if (chunk.length > 0) lastByte = chunk[chunk.length - 1]!;
      ws.send(chunk, { binary: true });
    };
    // Non-interactive input ran out: Ctrl-D so the remote shell sees end of input and exits.
    // One is not always enough: a Ctrl-D that arrives while a command (say `cat`) still runs
    // ends that command's input, or is read as a plain byte if it arrived before the terminal
    // left the shell's raw mode. So after end of input, whenever the remote prints and then
    // goes quiet (a prompt), send another, a bounded number of times.
    const sendEot = () => {
      if (ws.readyState !== WebSocket.OPEN || eotsLeft <= 0) return;
      eotsLeft--;
      ws.send(EOT, { binary: true });
    };
    // Like `sh < file`, a last line without a newline still runs: end it first, else
    // the shell would take the Ctrl-D as "delete character" on a non-empty line.
    const onInputEnd = () => {
      inputEnded = true;
      if (ws.readyState === WebSocket.OPEN && lastByte !== 0x0a && lastByte !== 0x0d) ws.send(Buffer.from("\n"), { binary: true });
      sendEot();
    };
    const onRemoteOutput = () => {
      if (!inputEnded) return;
      clearTimeout(quiet);
      quiet = setTimeout(sendEot, QUIET_MS);
    };
    const onResize = () => send({ type: "resize", ...size() });
    const send = (msg: TerminalControl) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
    };

    ws.on("unexpected-response", (_req, res: IncomingMessage) => {
      // The API refuses upgrades with an HTTP status and {"error": "..."}.
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        let message = `the terminal was refused (HTTP ${res.statusCode})`;
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { error?: unknown };
          if (typeof body.error === "string") message = body.error;
        } catch {
          // Not JSON (a proxy, or an older API): keep the status line.
        }
        fail(new CliError(res.statusCode === 401 ? unauthorized(message) : message));
      });
      res.on("error", (err) => fail(err));
    });

    ws.on("error", (err) => {
      const code = networkCode(err);
      if (!opened && code) fail(new CliError(unreachable(opts.url, code)));
      else if (!opened) fail(new CliError(`cannot open the terminal of ${opts.sessionId}: ${err.message}`));
      else fail(new CliError(`the terminal connection failed: ${err.message}`));
    });

    ws.on("open", () => {
      opened = true;
      if (interactive) {
        note(`attached to ${opts.sessionId}; press Ctrl-] to detach`);
        stdin.setRawMode(true);
      }
      if (stdout.isTTY) stdout.on("resize", onResize);
      stdin.on("data", onInput);
      stdin.on("end", onInputEnd);
      stdin.resume();
    });

    ws.on("message", (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      if (isBinary) {
        stdout.write(buf);
        onRemoteOutput();
        return;
      }
      let msg: TerminalControl;
      try {
        msg = JSON.parse(buf.toString("utf8")) as TerminalControl;
      } catch {
        return; // Unknown control text from a newer server: ignore rather than corrupt the screen.
      }
      if (msg.type === "exit") {
        // Killed by a signal: the shell convention, 128 + signal number. The signal wins
        // over the code, which node-pty reports as 0 for a killed process.
        exitCode = msg.signal ? 128 + msg.signal : (msg.code ?? 1);
      } else if (msg.type === "error") {
        notes.push(`${interactive ? "\n" : ""}error: ${msg.message}`);
        exitCode ??= 1;
      }
    });

    ws.on("close", (code: number) => {
      if (exitCode !== null) return done(exitCode);
      if (code === 1000) return done(0);
      fail(new CliError(`the terminal of ${opts.sessionId} closed unexpectedly (WebSocket code ${code}); \`daybox session show ${opts.sessionId}\` shows whether it is still running`));
    });
  });
}
