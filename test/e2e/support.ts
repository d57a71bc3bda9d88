import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { lstat, mkdtemp, readdir, readFile, readlink } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { createTRPCClient, httpLink } from "@trpc/client";
import type { AppRouter } from "@daybox/api";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const cliBin = path.join(repoRoot, "apps/cli/bin/daybox.js");

export const tempDir = (name: string) => mkdtemp(path.join(tmpdir(), `daybox-${name}-`));

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === "object" && a ? a.port : 0));
    });
  });
}

export function apiClient(url: string, token: string) {
  return createTRPCClient<AppRouter>({
    links: [httpLink({ url: `${url}/trpc`, headers: () => ({ authorization: `Bearer ${token}` }) })],
  });
}

/** Polls until `check` returns a value (not undefined) or fails with what it last saw. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
}

export interface Proc {
  proc: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** Spawns `node --import tsx <script>` (or any args) and collects its output. */
export function spawnNode(args: string[], env: NodeJS.ProcessEnv, cwd = repoRoot): Proc {
  const proc = spawn(process.execPath, args, { cwd, env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  proc.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
  return { proc, output: () => out, exited };
}

/** Resolves with the first `{"event":"ready",...}` JSON line a child prints. */
export function readyLine(p: Proc, timeoutMs = 60_000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready in time:\n${p.output()}`)), timeoutMs);
    createInterface({ input: p.proc.stdout! }).on("line", (line) => {
      if (!line.startsWith("{")) return;
      try {
        const msg = JSON.parse(line) as Record<string, unknown>;
        if (msg["event"] === "ready") {
          clearTimeout(timer);
          resolve(msg);
        }
      } catch {
        // log line
      }
    });
    void p.exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code}) before ready:\n${p.output()}`));
    });
  });
}

export async function stopProc(p: Proc | undefined) {
  if (!p || p.proc.exitCode !== null || p.proc.signalCode !== null) return;
  p.proc.kill("SIGTERM");
  const timer = setTimeout(() => p.proc.kill("SIGKILL"), 10_000);
  await p.exited;
  clearTimeout(timer);
}

/** Runs the `daybox` CLI to completion. */
export async function daybox(args: string[], env: NodeJS.ProcessEnv, input?: string) {
  const p = spawnNode([cliBin, ...args], env);
  if (input !== undefined) p.proc.stdin!.end(input);
  else p.proc.stdin!.end();
  let stdout = "";
  let stderr = "";
  p.proc.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  p.proc.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const code = await p.exited;
  return { code, stdout, stderr };
}

/** Path, mode, size and content hash (or link target) of everything under `dirs` of `root`: equal digests mean byte-identical trees. */
export async function treeDigest(root: string, dirs: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const dir of dirs) {
    for (const rel of (await readdir(path.join(root, dir), { recursive: true })).toSorted()) {
      const p = path.join(root, dir, rel);
      const st = await lstat(p);
      const what = st.isSymbolicLink() ? `-> ${await readlink(p)}` : st.isFile() ? createHash("sha256").update(await readFile(p)).digest("hex") : "dir";
      out.push(`${dir}/${rel} ${(st.mode & 0o7777).toString(8)} ${st.isFile() ? st.size : 0} ${what}`);
    }
  }
  return out;
}
