import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocket, WebSocketServer, type RawData } from "ws";
import { authenticateRequest } from "./auth.ts";
import type { ApiServices } from "./context.ts";
import { DomainError } from "./errors.ts";

/**
 * Terminal protocol, the same on both hops (client ⇄ API ⇄ agent):
 * binary frames carry terminal bytes; text frames carry TerminalControl JSON.
 */
export const TERMINAL_PATH = /^\/v1\/sessions\/(ses-[a-z0-9]{12})\/terminal$/;
export type TerminalControl =
  | { type: "resize"; cols: number; rows: number }
  | { type: "exit"; code: number | null; signal?: number | null }
  | { type: "error"; message: string };

/** The HTTP status that answers each domain error (WebSocket and plain-HTTP refusals). */
export const statusOf: Record<DomainError["code"], number> = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PRECONDITION_FAILED: 412,
  NOT_IMPLEMENTED: 501,
};

/** Answers an upgrade request with an HTTP error and a JSON `{ error }` body, then closes the socket. */
export function refuse(socket: Duplex, status: number, message: string) {
  const body = JSON.stringify({ error: message });
  socket.end(
    `HTTP/1.1 ${status} ${status === 401 ? "Unauthorized" : "Refused"}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/**
 * Handles `GET /v1/sessions/<id>/terminal` upgrades: authenticates the bearer
 * token, allows only the session's owner, then relays to the agent of the
 * session's node with that node's secret. Users never learn agent addresses.
 */
export function createTerminalProxy(services: ApiServices) {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1 << 20 });

  async function authorize(req: IncomingMessage, sessionId: string) {
    const principal = await authenticateRequest(services, req.headers, services.clock.now());
    const session = await services.repos.sessions.byId(sessionId);
    if (!session || session.ownerId !== principal.id) {
      throw new DomainError("NOT_FOUND", `session ${sessionId} not found (or it is not yours): only its owner can open its terminal`);
    }
    if (session.state !== "Running") {
      throw new DomainError("CONFLICT", `session ${session.name} is ${session.state}; its terminal opens once it is Running`);
    }
    const node = session.nodeId ? await services.repos.nodes.byId(session.nodeId) : null;
    if (!node?.agentUrl || !node.agentSecret) {
      throw new DomainError("CONFLICT", `the agent of session ${session.name}'s node is not reachable`);
    }
    return { node, session };
  }

  return function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = new URL(req.url ?? "/", "http://localhost");
    const m = TERMINAL_PATH.exec(url.pathname);
    if (!m) return false;
    authorize(req, m[1]!).then(
      ({ node, session }) => {
        const target = new URL(`/terminal/${session.id}`, node.agentUrl!.replace(/^http/, "ws"));
        for (const key of ["cols", "rows", "command"]) {
          for (const v of url.searchParams.getAll(key)) target.searchParams.append(key, v);
        }
        const upstream = new WebSocket(target, { headers: { authorization: `Bearer ${node.agentSecret}` } });
        upstream.once("unexpected-response", (_r, res) => refuse(socket, 502, `the node agent refused the terminal (HTTP ${res.statusCode})`));
        upstream.once("error", (err) => {
          if (upstream.readyState !== WebSocket.OPEN) refuse(socket, 502, `cannot reach the node agent: ${err.message}`);
        });
        upstream.once("open", () => {
          wss.handleUpgrade(req, socket, head, (client) => relay(client, upstream));
        });
      },
      (err: unknown) => {
        if (err instanceof DomainError) refuse(socket, statusOf[err.code], err.message);
        else refuse(socket, 500, "internal error while opening the terminal");
      },
    );
    return true;
  };
}

/** Pipes two sockets both ways, preserving binary/text framing, and closes both together. */
export function relay(a: WebSocket, b: WebSocket) {
  const forward = (to: WebSocket) => (data: RawData, isBinary: boolean) => {
    if (to.readyState === WebSocket.OPEN) to.send(data, { binary: isBinary });
  };
  a.on("message", forward(b));
  b.on("message", forward(a));
  const close = (other: WebSocket) => (code: number, reason: Buffer) => {
    const safe = code >= 1000 && code < 5000 && code !== 1005 && code !== 1006 ? code : 1000;
    if (other.readyState === WebSocket.OPEN || other.readyState === WebSocket.CONNECTING) other.close(safe, reason);
  };
  a.on("close", close(b));
  b.on("close", close(a));
  a.on("error", () => b.terminate());
  b.on("error", () => a.terminate());
}
