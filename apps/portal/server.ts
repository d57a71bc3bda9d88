// The portal's front door: Next.js for pages, and a transparent reverse proxy
// to the Daybox API for everything the browser calls — tRPC (queries,
// mutations, SSE), sign-in (/api/auth), and the WebSockets of terminals and
// Jupyter (/v1). Browsers talk to one origin; the API decides who may do what
// from the session cookie, exactly as it does for CLI tokens.
//
//   DAYBOX_API_URL=http://127.0.0.1:7878 PORT=3000 node --import tsx server.ts
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import next from "next";

const API = new URL(process.env.DAYBOX_API_URL ?? "http://127.0.0.1:7878");
const HOST = process.env.HOST ?? "127.0.0.1";
const PORT = Number(process.env.PORT ?? 3000);
/** Paths served by the API; everything else is a page. */
const API_PATH = /^\/(trpc|v1|api\/auth|metrics)(\/|$)/;

function forwardedHeaders(req: http.IncomingMessage): http.OutgoingHttpHeaders {
  const remote = req.socket.remoteAddress ?? "";
  const prior = req.headers["x-forwarded-for"];
  return {
    ...req.headers,
    "x-forwarded-for": prior ? `${String(prior)}, ${remote}` : remote,
    "x-forwarded-proto": "http",
    "x-forwarded-host": req.headers.host ?? "",
  };
}

function proxyRequest(req: http.IncomingMessage, res: http.ServerResponse) {
  const upstream = http.request(
    { host: API.hostname, port: API.port || 80, method: req.method, path: req.url, headers: forwardedHeaders(req) },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.headers);
      answer.pipe(res);
    },
  );
  upstream.on("error", (err) => {
    if (!res.headersSent) {
      res.writeHead(502, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: `the Daybox API at ${API.origin} is not reachable (${err.message}); is the control plane running?` }));
    } else res.destroy();
  });
  res.on("close", () => upstream.destroy());
  req.pipe(upstream);
}

/** WebSockets: replay the upgrade request to the API and splice the two sockets. */
function proxyUpgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer) {
  const upstream = net.connect(Number(API.port || 80), API.hostname, () => {
    const headers = forwardedHeaders(req);
    const lines = [`${req.method} ${req.url} HTTP/1.1`];
    for (const [name, value] of Object.entries(headers)) {
      for (const v of Array.isArray(value) ? value : [value]) if (v !== undefined) lines.push(`${name}: ${v}`);
    }
    upstream.write(`${lines.join("\r\n")}\r\n\r\n`);
    if (head.length) upstream.write(head);
    upstream.pipe(socket);
    socket.pipe(upstream);
  });
  const close = () => {
    upstream.destroy();
    socket.destroy();
  };
  upstream.on("error", close);
  socket.on("error", close);
  upstream.on("close", close);
  socket.on("close", close);
}

async function main() {
  const dir = path.dirname(fileURLToPath(import.meta.url));
  const app = next({ dev: false, dir, hostname: HOST, port: PORT });
  await app.prepare();
  const handle = app.getRequestHandler();
  const server = http.createServer((req, res) => {
    const pathname = (req.url ?? "/").split("?")[0] ?? "/";
    if (API_PATH.test(pathname)) return proxyRequest(req, res);
    void handle(req, res);
  });
  server.on("upgrade", (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    const pathname = (req.url ?? "/").split("?")[0] ?? "/";
    if (API_PATH.test(pathname)) proxyUpgrade(req, socket, head);
    else socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n");
  });
  server.listen(PORT, HOST, () => console.log(`portal listening on http://${HOST}:${PORT} (API ${API.origin})`));
  const stop = () => server.close(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err: unknown) => {
  console.error("portal failed to start:", err);
  process.exit(1);
});
