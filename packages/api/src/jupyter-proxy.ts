import http, { type IncomingMessage, type ServerResponse } from "node:http";
import { pipeline, Transform, type Duplex } from "node:stream";
import type { Principal } from "./auth.ts";
import type { ApiServices } from "./context.ts";
import { DomainError } from "./errors.ts";
import { refuse, statusOf } from "./terminal.ts";

/**
 * A session's Jupyter, reached through the API: `/v1/sessions/<id>/jupyter/...`.
 * Each session's Jupyter serves under exactly this path (its `base_url`), so
 * paths are forwarded unchanged and Jupyter's own links and redirects work.
 */
export const JUPYTER_PATH = /^\/v1\/sessions\/(ses-[a-z0-9]{12})\/jupyter(\/.*)?$/;

export interface JupyterProxy {
  /** Proxies an HTTP request to a session's Jupyter; false (nothing done) when the path is not one. */
  handleRequest(req: IncomingMessage, res: ServerResponse): boolean;
  /** Proxies a WebSocket upgrade (kernel channels, terminals, events); false (nothing done) when the path is not one. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
}

/** Where a session's Jupyter listens and the token it accepts (never sent to the client). */
interface Upstream {
  sessionName: string;
  hostname: string;
  port: number;
  /** `host:port`, what Jupyter's Host check expects. */
  host: string;
  /** `http://host:port`, what Jupyter's Origin check expects. */
  origin: string;
  token: string;
}

/** Request headers that belong to one hop (RFC 9110 §7.6.1), or that the proxy replaces. */
const DROPPED_REQUEST_HEADERS = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authorization",
  "te",
  "upgrade",
  // The user's credentials for Daybox (bearer token, portal cookie) are not Jupyter's business:
  // code running in the session must never see them.
  "cookie",
  "authorization",
  "host",
  "origin",
  // Identity bodies only: the token is scrubbed out of them byte by byte.
  "accept-encoding",
]);

/**
 * Response headers the client does not get: hop-by-hop ones; Content-Length
 * (scrubbing may shorten the body, so it is re-chunked); Jupyter's cookies (its
 * login cookie is a credential of its own, and the proxy never forwards cookies
 * back, so they would be useless anyway); and CORS grants, which would name the
 * loopback upstream (the proxy serves same-origin pages only).
 */
const DROPPED_RESPONSE_HEADERS = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "content-length",
  "set-cookie",
  "access-control-allow-origin",
  "access-control-allow-credentials",
]);

/**
 * Authenticated reverse proxy (HTTP and WebSocket) to each session's Jupyter.
 * Only the session's owner gets through; the proxy adds Jupyter's token itself,
 * so the browser never holds it, and removes it from everything Jupyter sends
 * back (JupyterLab's page config and Jupyter's HTML pages embed it).
 *
 * Jupyter keeps its default `allow_remote_access=False`: the proxy presents
 * itself as a loopback client of that very server (Host, and Origin when sent,
 * are Jupyter's own). Because the proxy's requests are token-authenticated,
 * Jupyter skips its XSRF and Origin checks; cross-site protection is
 * `authenticateRequest`'s (a portal cookie counts only from the portal's own
 * pages). Jupyter's anonymous identity is per request (no cookies reach it).
 *
 * Bodies stream both ways (kernels answer slowly, downloads are large). An
 * unreachable Jupyter is answered with 502.
 */
export function createJupyterProxy(services: ApiServices, authenticateRequest: (req: IncomingMessage) => Promise<Principal>): JupyterProxy {
  async function authorize(req: IncomingMessage, sessionId: string): Promise<Upstream> {
    const principal = await authenticateRequest(req);
    if (principal.role === "agent") {
      throw new DomainError("FORBIDDEN", "node agents cannot open a session's Jupyter: sign in as the session's owner");
    }
    const session = await services.repos.sessions.byId(sessionId);
    // Other users' sessions look exactly like missing ones: their existence is not ours to reveal.
    if (!session || session.ownerId !== principal.id) {
      throw new DomainError("NOT_FOUND", `session ${sessionId} not found (or it is not yours): only its owner can open its Jupyter`);
    }
    if (session.state !== "Running") {
      throw new DomainError("CONFLICT", `session ${session.name} is ${session.state}; its Jupyter opens once it is Running`);
    }
    if (!session.jupyterUrl || !session.jupyterToken) {
      throw new DomainError("CONFLICT", `session ${session.name} is terminal-only (no \`jupyter\` on its node); use \`daybox attach ${session.id}\``);
    }
    const url = new URL(session.jupyterUrl);
    if (url.protocol !== "http:") throw new Error(`unsupported Jupyter URL ${url.origin} for session ${session.id}`);
    // Paths are forwarded unchanged, so Jupyter must serve under the proxy's path (sessions started before it did do not).
    const basePath = `/v1/sessions/${session.id}/jupyter/`;
    if (url.pathname !== basePath) {
      throw new DomainError("CONFLICT", `session ${session.name}'s Jupyter does not serve under ${basePath} (it started before Daybox proxied Jupyter); stop and resume the session to open it here`);
    }
    return {
      sessionName: session.name,
      hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"),
      port: Number(url.port || 80),
      host: url.host,
      origin: url.origin,
      token: session.jupyterToken,
    };
  }

  /** A refusal as [status, message]; unexpected errors go to the operator's log, not the user. */
  function refusal(err: unknown): [number, string] {
    if (err instanceof DomainError) return [statusOf[err.code], err.message];
    console.error("[api] jupyter proxy: authorization failed:", err);
    return [500, "internal error while opening Jupyter; see the API server's log"];
  }

  return {
    handleRequest(req, res) {
      const url = new URL(req.url ?? "/", "http://localhost");
      const m = JUPYTER_PATH.exec(url.pathname);
      if (!m) return false;
      authorize(req, m[1]!).then(
        (upstream) => {
          // Jupyter answers its bare base path with 404; the directory form is what users mean.
          if (m[2] === undefined) {
            res.writeHead(308, { location: `${url.pathname}/${url.search}`, "cache-control": "no-store" });
            res.end();
            return;
          }
          forwardRequest(req, res, url, upstream);
        },
        (err: unknown) => {
          const [status, message] = refusal(err);
          json(res, status, { error: message });
        },
      );
      return true;
    },

    handleUpgrade(req, socket, head) {
      const url = new URL(req.url ?? "/", "http://localhost");
      const m = JUPYTER_PATH.exec(url.pathname);
      if (!m) return false;
      // The client may hang up while we authorize or connect; that must not crash the server.
      socket.on("error", () => socket.destroy());
      authorize(req, m[1]!).then(
        (upstream) => {
          if (!socket.destroyed) forwardUpgrade(req, socket, head, url, upstream);
        },
        (err: unknown) => {
          const [status, message] = refusal(err);
          refuse(socket, status, message);
        },
      );
      return true;
    },
  };
}

/** The request to Jupyter: same method, path and query; headers rewritten for the upstream. */
function upstreamRequest(req: IncomingMessage, url: URL, upstream: Upstream, upgrade: boolean) {
  return http.request({
    host: upstream.hostname,
    port: upstream.port,
    method: req.method,
    path: url.pathname + url.search,
    headers: requestHeaders(req.rawHeaders, upstream, upgrade),
  });
}

function forwardRequest(req: IncomingMessage, res: ServerResponse, url: URL, upstream: Upstream) {
  const upstreamReq = upstreamRequest(req, url, upstream, false);
  upstreamReq.on("response", (upstreamRes) => {
    res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.statusMessage, responseHeaders(upstreamRes.rawHeaders, upstream, false));
    pipeline(upstreamRes, scrubber(upstream.token), res, (err) => {
      if (err) upstreamReq.destroy();
    });
  });
  upstreamReq.on("error", (err) => {
    if (!res.headersSent) json(res, 502, { error: `cannot reach the Jupyter server of session ${upstream.sessionName}: ${err.message}` });
    else res.destroy();
  });
  // A client that goes away mid-request (or mid-response) releases the upstream request too.
  res.on("close", () => {
    if (!res.writableFinished) upstreamReq.destroy();
  });
  req.pipe(upstreamReq);
}

function forwardUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL, upstream: Upstream) {
  let upgraded = false;
  const upstreamReq = upstreamRequest(req, url, upstream, true);
  upstreamReq.on("upgrade", (upstreamRes, upstreamSocket, upstreamHead) => {
    upgraded = true;
    if (socket.destroyed) {
      upstreamSocket.destroy();
      return;
    }
    const headers = responseHeaders(upstreamRes.rawHeaders, upstream, true);
    let response = `HTTP/1.1 101 ${upstreamRes.statusMessage || "Switching Protocols"}\r\n`;
    for (let i = 0; i < headers.length; i += 2) response += `${headers[i]}: ${headers[i + 1]}\r\n`;
    socket.write(`${response}\r\n`);
    if (upstreamHead.length) socket.write(upstreamHead);
    if (head.length) upstreamSocket.write(head);
    const closeBoth = () => {
      socket.destroy();
      upstreamSocket.destroy();
    };
    upstreamSocket.on("error", closeBoth);
    upstreamSocket.on("close", closeBoth);
    socket.on("close", closeBoth);
    upstreamSocket.pipe(socket);
    socket.pipe(upstreamSocket);
  });
  // Jupyter declined to upgrade (no such kernel, no WebSocket there...): pass its status on.
  upstreamReq.on("response", (upstreamRes) => {
    upstreamRes.resume();
    const status = upstreamRes.statusCode ?? 502;
    refuse(socket, status >= 400 ? status : 502, `the Jupyter server of session ${upstream.sessionName} refused the WebSocket (HTTP ${status})`);
  });
  upstreamReq.on("error", (err) => {
    if (!upgraded && !socket.destroyed) refuse(socket, 502, `cannot reach the Jupyter server of session ${upstream.sessionName}: ${err.message}`);
  });
  socket.once("close", () => {
    if (!upgraded) upstreamReq.destroy();
  });
  upstreamReq.end();
}

/** The client's headers as Jupyter should see them: a loopback client of its own origin, holding its token. */
function requestHeaders(raw: string[], upstream: Upstream, upgrade: boolean): string[] {
  const connectionTokens = new Set<string>();
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === "connection") for (const t of raw[i + 1]!.split(",")) connectionTokens.add(t.trim().toLowerCase());
  }
  const out: string[] = [];
  let hadOrigin = false;
  let upgradeTo: string | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const key = name.toLowerCase();
    if (key === "origin") hadOrigin = true;
    if (key === "upgrade") upgradeTo = raw[i + 1]!;
    if (DROPPED_REQUEST_HEADERS.has(key) || connectionTokens.has(key)) continue;
    out.push(name, raw[i + 1]!);
  }
  out.push("host", upstream.host, "authorization", `token ${upstream.token}`, "accept-encoding", "identity");
  // Token-authenticated requests skip Jupyter's Origin check today; should that change, to Jupyter they are same-origin anyway.
  if (hadOrigin) out.push("origin", upstream.origin);
  if (upgrade) out.push("connection", "Upgrade", "upgrade", upgradeTo ?? "websocket");
  return out;
}

/** Jupyter's response headers as the client may see them: without its cookies or token, with redirects kept on the proxy. */
function responseHeaders(raw: string[], upstream: Upstream, upgrade: boolean): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const key = name.toLowerCase();
    if (upgrade ? key === "set-cookie" || key.startsWith("access-control-") : DROPPED_RESPONSE_HEADERS.has(key)) continue;
    let value = raw[i + 1]!.split(upstream.token).join("");
    // Paths are the same on both sides, so an absolute redirect to Jupyter's origin becomes a path on ours.
    if (key === "location" && value.startsWith(`${upstream.origin}/`)) value = value.slice(upstream.origin.length);
    out.push(name, value);
  }
  return out;
}

/**
 * Removes every occurrence of `secret` from a byte stream without buffering it:
 * each chunk passes on at once, except a tail that could be the start of the
 * secret, held until the next chunk shows whether it is.
 */
export function scrubber(secret: string): Transform {
  const needle = Buffer.from(secret);
  let carry: Buffer = Buffer.alloc(0);
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      const buf = carry.length ? Buffer.concat([carry, chunk]) : chunk;
      const parts: Buffer[] = [];
      let from = 0;
      for (let at = buf.indexOf(needle, from); at !== -1; at = buf.indexOf(needle, from)) {
        parts.push(buf.subarray(from, at));
        from = at + needle.length;
      }
      const keep = partialMatchAtEnd(buf.subarray(from), needle);
      parts.push(buf.subarray(from, buf.length - keep));
      carry = Buffer.from(buf.subarray(buf.length - keep));
      const out = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      done(null, out.length ? out : undefined);
    },
    flush(done) {
      done(null, carry.length ? carry : undefined);
    },
  });
}

/** The length of the longest suffix of `buf` that is a proper prefix of `needle`. */
function partialMatchAtEnd(buf: Buffer, needle: Buffer): number {
  for (let k = Math.min(needle.length - 1, buf.length); k > 0; k--) {
    if (buf.subarray(buf.length - k).equals(needle.subarray(0, k))) return k;
  }
  return 0;
}

function json(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
  res.end(JSON.stringify(body));
}
