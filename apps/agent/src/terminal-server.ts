import http from "node:http";
import { timingSafeEqual } from "node:crypto";
import { WebSocketServer, type WebSocket } from "ws";
import type { SessionRuntime } from "@daybox/cluster";
import type { TerminalControl } from "@daybox/api";

/**
 * Serves terminals into this node's sessions at /terminal/<session-id>. Only
 * the API connects here, with the node's secret; users reach it through the
 * API's authenticated proxy.
 */
export async function startTerminalServer(opts: { runtime: SessionRuntime; secret: string; host: string; port: number; log: (m: string) => void }) {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1 << 20 });
  const expected = Buffer.from(`Bearer ${opts.secret}`);
  /** Last terminal input or output per session: an activity signal for reclaim policies. */
  const lastActivity = new Map<string, Date>();

  const server = http.createServer((_req, res) => {
    res.writeHead(404).end();
  });
  server.on("upgrade", (req, socket, head) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const m = /^\/terminal\/(ses-[a-z0-9]{12})$/.exec(url.pathname);
    const given = Buffer.from(req.headers.authorization ?? "");
    if (!m || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      socket.end("HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n");
      return;
    }
    const cols = clamp(Number(url.searchParams.get("cols") ?? 80), 1, 1000);
    const rows = clamp(Number(url.searchParams.get("rows") ?? 24), 1, 1000);
    const command = url.searchParams.getAll("command");
    wss.handleUpgrade(req, socket, head, (ws) => {
      attach(ws, m[1]!, { cols, rows, ...(command.length ? { command } : {}) }).catch((err: Error) => {
        send(ws, { type: "error", message: err.message });
        ws.close(1011, "terminal failed");
      });
    });
  });

  async function attach(ws: WebSocket, sessionId: string, termOpts: { cols: number; rows: number; command?: string[] }) {
    // Buffer input that arrives while the pty is being spawned.
    const early: { data: Buffer; isBinary: boolean }[] = [];
    const buffer = (data: Buffer, isBinary: boolean) => early.push({ data, isBinary });
    ws.on("message", buffer);
    const term = await opts.runtime.openTerminal(sessionId, termOpts);
    opts.log(`terminal opened into ${sessionId}`);
    const onMessage = (data: Buffer, isBinary: boolean) => {
      if (isBinary) {
        lastActivity.set(sessionId, new Date());
        return term.write(data);
      }
      try {
        const msg = JSON.parse(data.toString("utf8")) as TerminalControl;
        if (msg.type === "resize") term.resize(clamp(msg.cols, 1, 1000), clamp(msg.rows, 1, 1000));
      } catch {
        // not a control message: ignore
      }
    };
    ws.off("message", buffer);
    ws.on("message", (data: Buffer, isBinary) => onMessage(data, isBinary));
    for (const m of early) onMessage(m.data, m.isBinary);
    term.onData((d) => {
      lastActivity.set(sessionId, new Date());
      if (ws.readyState === ws.OPEN) ws.send(d, { binary: true });
    });
    term.onExit((code, signal) => {
      // node-pty reports signal 0 for a normal exit; a signal death has no exit code.
      send(ws, signal ? { type: "exit", code: null, signal } : { type: "exit", code, signal: null });
      ws.close(1000, "exited");
    });
    ws.on("close", () => term.kill());
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : opts.port;
  return {
    url: `http://${opts.host}:${port}`,
    activity: (sessionId: string) => lastActivity.get(sessionId) ?? null,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        server.close(() => resolve());
      }),
  };
}

function send(ws: WebSocket, msg: TerminalControl) {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
}

function clamp(n: number, lo: number, hi: number) {
  return Number.isFinite(n) ? Math.min(hi, Math.max(lo, Math.round(n))) : lo;
}
