import http from "node:http";
import { createHTTPHandler } from "@trpc/server/adapters/standalone";
import { authenticateRequest, fromPortal } from "./auth.ts";
import { ClaimWaiters } from "./claim-waiters.ts";
import { createContextFactory, type ApiServices } from "./context.ts";
import { DomainError } from "./errors.ts";
import { collectMetrics } from "./metrics.ts";
import { appRouter } from "./router.ts";
import { createJupyterProxy } from "./jupyter-proxy.ts";
import { createTerminalProxy } from "./terminal.ts";
import { WEB_AUTH_PATH } from "./web-auth.ts";

export interface ApiServer {
  server: http.Server;
  url: string;
  close(): Promise<void>;
}

/**
 * One HTTP server: tRPC at /trpc (queries, mutations, SSE subscriptions),
 * terminal WebSockets at /v1/sessions/<id>/terminal, each session's Jupyter
 * (HTTP and WebSockets, owner only) at /v1/sessions/<id>/jupyter/, health at /healthz,
 * Prometheus metrics at /metrics (an admin's bearer token), browser sign-in
 * (better-auth) under /api/auth.
 */
export async function createApiServer(given: ApiServices, listen: { host: string; port: number }): Promise<ApiServer> {
  const claims = given.claims ?? new ClaimWaiters((nodeIds) => given.repos.actions.claimableNodes(nodeIds, given.clock.now()));
  const services: ApiServices = { ...given, claims };
  const trpc = createHTTPHandler({
    router: appRouter,
    createContext: createContextFactory(services),
    basePath: "/trpc/",
    // Callers get a short message; the operator's log gets the whole story of anything unexpected.
    onError({ error, path }) {
      if (error.code === "INTERNAL_SERVER_ERROR") console.error(`[api] ${path ?? "?"} failed:`, error.cause ?? error);
    },
  });
  const terminal = createTerminalProxy(services);
  const jupyter = createJupyterProxy(services, (req) => authenticateRequest(services, req.headers, services.clock.now()));

  const server = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/healthz") {
      health(services).then(
        (body) => json(res, 200, body),
        () => json(res, 503, { status: "unavailable", version: services.version }),
      );
      return;
    }
    if (path === "/metrics") {
      metrics(services, req.headers).then(
        (body) => {
          res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
          res.end(body);
        },
        (err: unknown) => {
          const code = err instanceof DomainError ? (err.code === "UNAUTHORIZED" ? 401 : 403) : 500;
          if (code === 500) console.error("[api] /metrics failed:", err);
          json(res, code, { error: code === 500 ? "metrics unavailable; see the API server's log" : (err as Error).message });
        },
      );
      return;
    }
    if (path?.startsWith("/trpc/")) return trpc(req, res);
    if (path?.startsWith(`${WEB_AUTH_PATH}/`)) {
      // Only the portal's pages may sign in or out (no login CSRF from other sites).
      if (req.method !== "GET" && !fromPortal(services, req.headers)) {
        json(res, 403, { error: `refused a sign-in request from ${req.headers.origin}: sign in on the Daybox portal itself` });
        return;
      }
      services.webAuth.handle(req, res).catch((err: unknown) => {
        console.error("[api] sign-in failed:", err);
        if (!res.headersSent) json(res, 500, { error: "sign-in is unavailable; see the API server's log" });
      });
      return;
    }
    if (jupyter.handleRequest(req, res)) return;
    json(res, 404, { error: `no route ${path}; the API lives under /trpc` });
  });
  server.on("upgrade", (req, socket, head) => {
    if (!terminal(req, socket, head) && !jupyter.handleUpgrade(req, socket, head)) socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n");
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : listen.port;
  const host = listen.host.includes(":") ? `[${listen.host}]` : listen.host;
  return {
    server,
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        claims.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function health(services: ApiServices) {
  const nodes = await services.repos.nodes.list();
  const ready = nodes.filter((n) => n.state === "Ready");
  return {
    status: "ok",
    version: services.version,
    nodes: ready.length,
    gpus: {
      total: ready.reduce((s, n) => s + n.gpuCount, 0),
      allocated: nodes.reduce((s, n) => s + n.sessions.reduce((t, x) => t + x.gpuIndices.length, 0), 0),
    },
    sessions: { running: nodes.reduce((s, n) => s + n.sessions.filter((x) => x.state === "Running").length, 0) },
  };
}

function json(res: http.ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
  res.end(JSON.stringify(body));
}

/** Fleet figures are an operator's view: admins only (Prometheus sends the token as `authorization: Bearer`). */
async function metrics(services: ApiServices, headers: http.IncomingHttpHeaders): Promise<string> {
  const now = services.clock.now();
  const p = await authenticateRequest(services, headers, now);
  if (p.role !== "admin") throw new DomainError("FORBIDDEN", `metrics are for admins; ${p.name} is a ${p.role}`);
  return collectMetrics(services.repos, now);
}
