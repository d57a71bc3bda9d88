import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { homedir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { configFile, readSaved, saveConfig } from "./config.ts";

export interface UpOptions {
  dataDir?: string;
  port?: number | string;
  portalPort?: number | string;
  gpus?: number | string;
  gpuType?: string;
  portal?: boolean;
  verbose?: boolean;
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

interface Child {
  name: string;
  proc: ChildProcess;
  logFile: string;
}

/**
 * `daybox up`: the whole platform on one machine with embedded defaults —
 * control plane (API + reconcile loop, PGlite), one node agent with the local
 * runtime, and the portal — as supervised child processes. Logs go to
 * `<data-dir>/logs/`; Ctrl-C stops them. Sessions keep running across
 * restarts, as on a real node; the next `up` adopts them.
 */
export async function up(opts: UpOptions): Promise<void> {
  const dataDir = path.resolve(opts.dataDir ?? process.env["DAYBOX_DATA_DIR"] ?? path.join(homedir(), ".daybox"));
  const apiPort = toPort(opts.port ?? 7878, "--port");
  const portalPort = toPort(opts.portalPort ?? 3000, "--portal-port");
  const gpus = opts.gpus === undefined ? 4 : Number(opts.gpus);
  if (!Number.isInteger(gpus) || gpus < 0 || gpus > 1024) throw new Error(`--gpus must be a whole number from 0 to 1024, got ${opts.gpus}`);
  const gpuType = opts.gpuType ?? "sim-a100";
  if (!/^[a-z0-9][a-z0-9.-]{0,62}$/.test(gpuType)) throw new Error(`--gpu-type ${gpuType} is not a valid GPU type (e.g. a100-80gb)`);

  const logDir = path.join(dataDir, "logs");
  await mkdir(logDir, { recursive: true, mode: 0o700 });
  const children: Child[] = [];
  let shuttingDown = false;

  const shutdown = async (code: number) => {
    if (shuttingDown) return;
    shuttingDown = true;
    for (const child of [...children].reverse()) await stopChild(child);
    process.exit(code);
  };
  process.on("SIGINT", () => void shutdown(0));
  process.on("SIGTERM", () => void shutdown(0));

  const start = (name: string, args: string[], env: NodeJS.ProcessEnv, cwd = repoRoot) => {
    const logFile = path.join(logDir, `${name}.log`);
    const log = createWriteStream(logFile, { flags: "a" });
    const proc = spawn(process.execPath, args, { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    proc.stdout!.pipe(log);
    proc.stderr!.pipe(log);
    if (opts.verbose) {
      proc.stdout!.on("data", (d: Buffer) => process.stderr.write(prefix(name, d)));
      proc.stderr!.on("data", (d: Buffer) => process.stderr.write(prefix(name, d)));
    }
    const child = { name, proc, logFile };
    children.push(child);
    proc.once("exit", async (code, signal) => {
      if (shuttingDown) return;
      console.error(`\n${name} stopped unexpectedly (${signal ?? `exit code ${code}`}). Last lines of ${logFile}:`);
      console.error(await tail(logFile));
      await shutdown(1);
    });
    return child;
  };

  // 1. Control plane: database, API, reconcile loop. It prints one JSON line when ready.
  const tsx = ["--import", "tsx"];
  const cp = start("control-plane", [...tsx, "apps/control-plane/src/main.ts"], {
    DAYBOX_DATA_DIR: dataDir,
    DAYBOX_API_PORT: String(apiPort),
    DAYBOX_BOOTSTRAP_QUOTA: gpus > 0 ? `${gpuType}=${gpus}` : "",
    DAYBOX_PUBLIC_URL: process.env["DAYBOX_PUBLIC_URL"] ?? `http://127.0.0.1:${portalPort}`,
  });
  const ready = await readyLine(cp, 120_000);
  const apiUrl = ready["url"] as string;
  const adminToken = (ready["adminToken"] as string | null) ?? null;
  const adminPassword = (ready["adminPassword"] as string | null) ?? null;

  // 2. The node agent for this machine.
  const agent = start("agent", [...tsx, "apps/agent/src/main.ts"], {
    DAYBOX_API_URL: apiUrl,
    DAYBOX_DATA_DIR: dataDir,
    DAYBOX_AGENT_TOKEN_FILE: path.join(dataDir, "agent-token"),
    DAYBOX_NODE_NAME: process.env["DAYBOX_NODE_NAME"] ?? "local",
    DAYBOX_LOCAL_GPUS: String(gpus),
    DAYBOX_LOCAL_GPU_TYPE: gpuType,
  });
  await readyLine(agent, 60_000);

  // 3. The portal, when it has been built.
  let portalUrl: string | null = null;
  const portalDir = path.join(repoRoot, "apps/portal");
  if (opts.portal !== false) {
    if (existsSync(path.join(portalDir, ".next/BUILD_ID"))) {
      start("portal", [...tsx, "server.ts"], { DAYBOX_API_URL: apiUrl, PORT: String(portalPort), HOST: "127.0.0.1", NEXT_TELEMETRY_DISABLED: "1" }, portalDir);
      portalUrl = `http://127.0.0.1:${portalPort}`;
      await waitForHttp(`${portalUrl}/api/health`, 60_000);
    } else {
      console.error("portal not built, skipping it: run `npm run build` (the start command does) to include it");
    }
  }

  // 4. First start: make the CLI ready to use as admin.
  const cliConfig = configFile();
  if (adminToken) {
    const saved = await readSaved(cliConfig).catch(() => ({}) as { url?: string; token?: string });
    if (!saved.token || saved.url === apiUrl) await saveConfig(cliConfig, { url: apiUrl, token: adminToken });
  }

  const lines = [
    "",
    `Daybox is up — embedded mode: PGlite database, local runtime, data in ${dataDir}`,
    `  API     ${apiUrl}`,
    ...(portalUrl ? [`  Portal  ${portalUrl}`] : []),
    `  Node    ${process.env["DAYBOX_NODE_NAME"] ?? "local"}: ${gpus} × ${gpuType}`,
    `  Logs    ${logDir}`,
  ];
  if (adminToken) {
    lines.push(
      "",
      `  Admin token (shown once; also saved in ${path.join(dataDir, "admin-token")} and to the CLI config ${cliConfig}):`,
      `  ${adminToken}`,
    );
  }
  if (adminPassword) {
    lines.push(
      "",
      `  Portal sign-in (shown once; also saved in ${path.join(dataDir, "admin-password")}):`,
      `  ${String(ready["adminEmail"])}  ${adminPassword}`,
    );
  }
  lines.push("", "Try:  daybox session create --gpus 1 --wait   then   daybox attach <id>", "Press Ctrl-C to stop (sessions keep running and are adopted on the next start).", "");
  console.log(lines.join("\n"));
  await new Promise(() => {}); // until a signal
}

function toPort(value: number | string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${flag} must be a port number (0-65535), got ${value}`);
  return n;
}

/** Waits for a child's `{"event":"ready",...}` line on stdout. */
function readyLine(child: Child, timeoutMs: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${child.name} did not become ready within ${timeoutMs / 1000}s; see ${child.logFile}`)), timeoutMs);
    const rl = createInterface({ input: child.proc.stdout! });
    rl.on("line", (line) => {
      if (!line.startsWith("{")) return;
      try {
        const msg = JSON.parse(line) as Record<string, unknown>;
        if (msg["event"] === "ready") {
          clearTimeout(timer);
          rl.close();
          resolve(msg);
        }
      } catch {
        // an ordinary log line
      }
    });
    child.proc.once("exit", async () => {
      clearTimeout(timer);
      reject(new Error(`${child.name} failed to start:\n${await tail(child.logFile)}`));
    });
  });
}

async function waitForHttp(url: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url, { signal: AbortSignal.timeout(2_000) })).ok) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} did not answer within ${timeoutMs / 1000}s`);
}

async function stopChild(child: Child) {
  if (child.proc.exitCode !== null || child.proc.signalCode !== null) return;
  const exited = new Promise((r) => child.proc.once("exit", r));
  child.proc.kill("SIGTERM");
  const timer = setTimeout(() => child.proc.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

async function tail(file: string, lines = 15): Promise<string> {
  const text = await readFile(file, "utf8").catch(() => "");
  return text.trimEnd().split("\n").slice(-lines).map((l) => `  ${l}`).join("\n");
}

function prefix(name: string, data: Buffer): string {
  return data
    .toString()
    .split("\n")
    .filter(Boolean)
    .map((l) => `[${name}] ${l}\n`)
    .join("");
}
