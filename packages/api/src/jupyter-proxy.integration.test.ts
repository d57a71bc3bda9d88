import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import http, { type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { findJupyter, LocalRuntime } from "@daybox/cluster";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import type { Principal } from "./auth.ts";
import type { ApiServices } from "./context.ts";
import { Unauthorized } from "./errors.ts";
import { createJupyterProxy, JUPYTER_PATH, scrubber } from "./jupyter-proxy.ts";

/**
 * The proxy in front of a real Jupyter server (JupyterLab included), started
 * the way the local runtime starts a session's: under the session's base path,
 * loopback only, token required, remote access and cross-origin requests refused.
 */
describe("Jupyter proxy", () => {
  const sessionId = "ses-jproxy000001";
  const owner: Principal = { id: "usr-owner", name: "ada", role: "researcher", tokenId: "tok-owner" };
  const principals: Record<string, Principal> = {
    owner,
    other: { id: "usr-other", name: "bob", role: "researcher", tokenId: "tok-other" },
    // Same id as the owner: only the role keeps agents out.
    agent: { id: "usr-owner", name: "node-1", role: "agent", tokenId: "tok-agent" },
  };
  const portal = "http://portal.example:3000";
  let root: string;
  let runtime: LocalRuntime;
  let jupyter: { jupyterUrl: string; jupyterToken: string };
  let server: http.Server;
  let base: string;
  /** Everything the proxy sent to clients, to prove the Jupyter token is never among it. */
  const seen: string[] = [];
  const rows = new Map<string, Record<string, unknown>>();

  beforeAll(async () => {
    const bin = await findJupyter();
    if (!bin) throw new Error('the Jupyter proxy test needs `jupyter` on PATH: export PATH="$(bash infra/testbed/jupyter.sh | tail -1):$PATH"');
    root = await mkdtemp(path.join(tmpdir(), "daybox-jupyter-proxy-"));
    runtime = new LocalRuntime({ root, jupyter: bin });
    const running = await runtime.start({ sessionId, name: "notebook", gpuIndices: [], image: "" });
    jupyter = { jupyterUrl: running.jupyterUrl!, jupyterToken: running.jupyterToken! };

    const closedPort = await new Promise<number>((resolve) => {
      const s = http.createServer().listen(0, "127.0.0.1", () => {
        const { port } = s.address() as AddressInfo;
        s.close(() => resolve(port));
      });
    });
    const row = (id: string, patch: Record<string, unknown>) => rows.set(id, { id, name: id.slice(4), ownerId: owner.id, state: "Running", ...jupyter, ...patch });
    row(sessionId, { name: "notebook" });
    row("ses-parked000001", { name: "parked", state: "Parked", jupyterUrl: null, jupyterToken: null });
    row("ses-termonly0001", { name: "shell-only", jupyterUrl: null, jupyterToken: null });
    row("ses-oldbase00001", { name: "old", jupyterUrl: new URL("/", jupyter.jupyterUrl).toString() });
    row("ses-gone00000001", { name: "gone", jupyterUrl: `http://127.0.0.1:${closedPort}/v1/sessions/ses-gone00000001/jupyter/` });

    const services = { repos: { sessions: { byId: async (id: string) => rows.get(id) ?? null } } } as unknown as ApiServices;
    const authenticate = async (req: IncomingMessage) => {
      const who = req.headers["x-test-user"];
      const p = typeof who === "string" ? principals[who] : undefined;
      if (!p) throw new Unauthorized("no API token: sign in to the portal, and try again");
      return p;
    };
    const proxy = createJupyterProxy(services, authenticate);
    server = http.createServer((req, res) => {
      if (!proxy.handleRequest(req, res)) res.writeHead(404).end("not the proxy's");
    });
    server.on("upgrade", (req, socket, head) => {
      if (!proxy.handleUpgrade(req, socket, head)) socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    // Stops Jupyter's whole process group, as the agent does.
    await runtime?.stop(sessionId, { graceMs: 5_000 });
    await runtime?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  const jupyterPath = (rest = "", id = sessionId) => `/v1/sessions/${id}/jupyter${rest}`;

  function request(method: string, urlPath: string, opts: { user?: string; headers?: Record<string, string>; body?: unknown } = {}) {
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const headers: Record<string, string> = { ...opts.headers, ...(opts.user ? { "x-test-user": opts.user } : {}) };
    if (body) Object.assign(headers, { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) });
    return new Promise<{ status: number; headers: IncomingHttpHeaders; text: string; json: () => Record<string, unknown> }>((resolve, reject) => {
      const req = http.request(`${base}${urlPath}`, { method, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          seen.push(JSON.stringify(res.rawHeaders), text);
          resolve({ status: res.statusCode!, headers: res.headers, text, json: () => JSON.parse(text) as Record<string, unknown> });
        });
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(body);
    });
  }

  it("runs the session's Jupyter under the proxy path", () => {
    const url = new URL(jupyter.jupyterUrl);
    expect(url.hostname).toBe("127.0.0.1");
    expect(url.pathname).toBe(`/v1/sessions/${sessionId}/jupyter/`);
    expect(JUPYTER_PATH.exec(url.pathname)?.[1]).toBe(sessionId);
  });

  it("lets the owner call Jupyter's REST API", async () => {
    const res = await request("GET", jupyterPath("/api/status"), { user: "owner" });
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^application\/json/);
    expect(res.json()).toHaveProperty("started");
  });

  it("serves JupyterLab without its token, and without Jupyter's cookies", async () => {
    const res = await request("GET", jupyterPath("/lab"), { user: "owner" });
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^text\/html/);
    expect(res.text).toContain('id="jupyter-config-data"');
    expect(res.text).toContain(`"baseUrl": "/v1/sessions/${sessionId}/jupyter/"`);
    // JupyterLab embeds the server's token in its page config; the proxy blanks it (it adds the token itself).
    expect(res.text).toContain('"token": ""');
    expect(res.headers["set-cookie"]).toBeUndefined();
  });

  it("redirects the bare base path to the directory", async () => {
    const res = await request("GET", `${jupyterPath()}?reset`, { user: "owner" });
    expect(res.status).toBe(308);
    expect(res.headers.location).toBe(`${jupyterPath("/")}?reset`);
  });

  it.each([
    { who: "nobody", user: undefined, id: sessionId, status: 401, error: /no API token/ },
    { who: "another user", user: "other", id: sessionId, status: 404, error: /not found \(or it is not yours\)/ },
    { who: "another user, for a session that does not exist", user: "other", id: "ses-nosuchthing1", status: 404, error: /not found \(or it is not yours\)/ },
    { who: "a node agent", user: "agent", id: sessionId, status: 403, error: /agents cannot open/ },
    { who: "the owner of a parked session", user: "owner", id: "ses-parked000001", status: 409, error: /parked is Parked; its Jupyter opens once it is Running/ },
    { who: "the owner of a terminal-only session", user: "owner", id: "ses-termonly0001", status: 409, error: /terminal-only/ },
    { who: "the owner of a session whose Jupyter serves elsewhere", user: "owner", id: "ses-oldbase00001", status: 409, error: /stop and resume the session/ },
    { who: "the owner, when Jupyter does not answer", user: "owner", id: "ses-gone00000001", status: 502, error: /cannot reach the Jupyter server of session gone/ },
  ])("answers $who with $status", async ({ user, id, status, error }) => {
    const res = await request("GET", jupyterPath("/api/status", id), user ? { user } : {});
    expect(res.status).toBe(status);
    expect(res.headers["content-type"]).toBe("application/json");
    expect(res.json().error).toMatch(error);
  });

  it("leaves other paths to the rest of the server", async () => {
    expect((await request("GET", `/v1/sessions/${sessionId}/jupyterlab`, { user: "owner" })).text).toBe("not the proxy's");
  });

  it("starts a kernel and talks to it over its WebSocket from the portal's origin", async () => {
    // As a browser would send them: the public name of the API and the portal's origin. Jupyter accepts
    // only loopback Host headers (allow_remote_access=False); the proxy presents itself as one.
    const browser = { origin: portal, host: "daybox.example" };
    // 1. A POST from another origin, with no XSRF token: the proxy makes it a token-authenticated loopback request.
    const created = await request("POST", jupyterPath("/api/kernels"), { user: "owner", headers: browser, body: { name: "python3" } });
    expect(created.status, created.text).toBe(201);
    const kernelId = created.json().id as string;

    // 2. The kernel's channels, through the proxy, from the portal's origin.
    const ws = new WebSocket(`${base.replace(/^http/, "ws")}${jupyterPath(`/api/kernels/${kernelId}/channels`)}?session_id=${randomUUID()}`, {
      headers: { "x-test-user": "owner", host: browser.host },
      origin: portal,
    });
    ws.on("upgrade", (res) => seen.push(JSON.stringify(res.rawHeaders)));
    ws.on("message", (data: Buffer) => seen.push(data.toString("utf8")));
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
      ws.once("unexpected-response", (_req, res) => reject(new Error(`WebSocket refused: HTTP ${res.statusCode}`)));
    });

    // 3. kernel_info_request → kernel_info_reply, in Jupyter's JSON WebSocket protocol.
    const msgId = randomUUID();
    type KernelMessage = { msg_type: string; parent_header: { msg_id?: string }; content: unknown };
    const reply = new Promise<KernelMessage>((resolve) => {
      ws.on("message", (data: Buffer) => {
        const msg = JSON.parse(data.toString("utf8")) as KernelMessage;
        if (msg.parent_header.msg_id === msgId && msg.msg_type === "kernel_info_reply") resolve(msg);
      });
    });
    ws.send(
      JSON.stringify({
        header: { msg_id: msgId, msg_type: "kernel_info_request", username: "ada", session: randomUUID(), date: new Date().toISOString(), version: "5.3" },
        parent_header: {},
        metadata: {},
        content: {},
        channel: "shell",
        buffers: [],
      }),
    );
    const info = await reply;
    expect(info.content).toMatchObject({ status: "ok", language_info: { name: "python" } });
    ws.close();

    // 4. And it is shut down through the proxy too.
    expect((await request("DELETE", jupyterPath(`/api/kernels/${kernelId}`), { user: "owner", headers: browser })).status).toBe(204);
  });

  it("refuses another user's WebSocket as if the session did not exist", async () => {
    const ws = new WebSocket(`${base.replace(/^http/, "ws")}${jupyterPath("/api/events/subscribe")}`, { headers: { "x-test-user": "other" } });
    const status = await new Promise<number>((resolve, reject) => {
      ws.once("open", () => reject(new Error("another user's WebSocket was let through")));
      ws.once("unexpected-response", (_req, res) => resolve(res.statusCode!));
      ws.once("error", reject);
    });
    expect(status).toBe(404);
  });

  it("never sends the Jupyter token to the client", () => {
    expect(seen.length).toBeGreaterThan(10);
    for (const item of seen) expect(item).not.toContain(jupyter.jupyterToken);
  });
});

describe("scrubber", () => {
  async function scrub(chunks: string[], secret = "s3cr3t") {
    const t = scrubber(secret);
    const out: string[] = [];
    t.on("data", (d: Buffer) => out.push(d.toString()));
    const done = new Promise((resolve) => t.on("end", resolve));
    for (const c of chunks) t.write(Buffer.from(c));
    t.end();
    await done;
    return out;
  }

  it.each([
    { chunks: ['{"token": "s3cr3t"}'], want: '{"token": ""}' },
    { chunks: ['{"token": "s3', 'cr3t"}'], want: '{"token": ""}' },
    { chunks: ["s", "3", "c", "r", "3", "t", "!"], want: "!" },
    { chunks: ["s3cr3ts3cr3t", "s3cr3"], want: "s3cr3" },
    { chunks: ["ss3cr", "3t s3c"], want: "s s3c" },
  ])("removes the secret from $chunks", async ({ chunks, want }) => {
    expect((await scrub(chunks)).join("")).toBe(want);
  });

  it("holds nothing back that cannot be the start of the secret", async () => {
    const t = scrubber("s3cr3t");
    const out: string[] = [];
    t.on("data", (d: Buffer) => out.push(d.toString()));
    t.write(Buffer.from("data: event\n\n"));
    t.write(Buffer.from("more s3c"));
    await new Promise((r) => setImmediate(r));
    expect(out).toEqual(["data: event\n\n", "more "]);
    t.destroy();
  });
});
