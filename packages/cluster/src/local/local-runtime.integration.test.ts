import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findJupyter } from "./jupyter.ts";
import { LocalRuntime } from "./local-runtime.ts";
import { alive, environOf, startTicksOf, waitFor } from "./process.ts";
import { interpreterOf } from "./zygote.ts";

/** The stat fields of a process: [pid, ppid, pgid, sid]. */
async function statOf(pid: number): Promise<[number, number, number, number]> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return [pid, Number(f[1]), Number(f[2]), Number(f[3])];
}

async function childrenOf(pid: number): Promise<number[]> {
  const out: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const s = await statOf(Number(entry)).catch(() => null);
    if (s && s[1] === pid) out.push(s[0]);
  }
  return out;
}

async function api(url: string, token: string, pathName: string, init: RequestInit = {}) {
  const res = await fetch(new URL(pathName, url), { ...init, headers: { authorization: `token ${token}`, "content-type": "application/json" } });
  if (!res.ok) throw new Error(`${init.method ?? "GET"} ${pathName}: ${res.status} ${await res.text()}`);
  return res.json() as Promise<Record<string, unknown>>;
}

/**
 * Sessions on real Jupyter, forked from the zygote: set up like a spawned
 * server (own process group, the session's environment only, log file),
 * kernels see the session's environment, exits are reported at once, a
 * restarted runtime adopts them, and a reused pid is never taken for one.
 */
describe("LocalRuntime with the Jupyter zygote", () => {
  let root: string;
  let jupyter: string;
  let runtime: LocalRuntime;
  const exits: [string, string][] = [];

  beforeAll(async () => {
    const bin = await findJupyter();
    if (!bin) throw new Error('this test needs `jupyter` on PATH: export PATH="$(bash infra/testbed/jupyter.sh | tail -1):$PATH"');
    jupyter = bin;
    root = await mkdtemp(path.join(tmpdir(), "daybox-local-runtime-"));
    process.env.DAYBOX_AGENT_ONLY_SECRET = "never-in-a-session";
    // A long poll: an exit seen within a second can only have come from the zygote's report.
    runtime = new LocalRuntime({ root, jupyter, pollMs: 60_000 });
    runtime.onExit((id, detail) => exits.push([id, detail]));
  });
  afterAll(async () => {
    delete process.env.DAYBOX_AGENT_ONLY_SECRET;
    for (const s of await runtime.list()) await runtime.stop(s.sessionId, { graceMs: 2_000 });
    await runtime.close();
    await rm(root, { recursive: true, force: true });
  });

  it("finds the Python interpreter behind `jupyter`", async () => {
    expect(await interpreterOf(jupyter)).toMatch(/python[\d.]*$/);
    const script = path.join(root, "script");
    await writeFile(script, "#!/usr/bin/env -S python3 -u\nprint(1)\n");
    expect(await interpreterOf(script)).toBe("python3");
    await writeFile(script, "#!/bin/sh\necho hi\n");
    expect(await interpreterOf(script)).toBeNull();
    expect(await interpreterOf(path.join(root, "missing"))).toBeNull();
  });

  it("forks a server set up like a spawned one, whose kernels see the session's environment", async () => {
    const started = Date.now();
    const s = await runtime.start({ sessionId: "ses-zygote-a", name: "a", image: "", gpuIndices: [1, 3] });
    const startMs = Date.now() - started;
    expect(s.gpuIndices).toEqual([1, 3]);
    const [pid, ppid, pgid, sid] = await statOf(s.pid);
    expect(pgid).toBe(pid); // its own process group, as `detached: true`
    expect(sid).toBe(pid);
    expect(ppid).not.toBe(process.pid); // forked by the zygote, not spawned by us
    // The zygote's environment is what /proc shows: never the agent's.
    expect((await environOf(s.pid)).has("DAYBOX_AGENT_ONLY_SECRET")).toBe(false);

    const status = await api(s.jupyterUrl!, s.jupyterToken!, "api/status");
    expect(status.started).toBeTruthy();
    const kernel = await api(s.jupyterUrl!, s.jupyterToken!, "api/kernels", { method: "POST", body: JSON.stringify({ name: "python3" }) });
    expect(kernel.id).toBeTruthy();
    // The kernel once it has exec'd: between fork and exec a child still shows its parent's environment.
    const isKernel = async (pid: number) => (await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")).includes("ipykernel");
    let kernelPid = 0;
    expect(
      await waitFor(async () => {
        for (const pid of await childrenOf(s.pid)) if (await isKernel(pid)) kernelPid = pid;
        return kernelPid > 0;
      }, 20_000),
    ).toBe(true);
    const env = await environOf(kernelPid);
    expect(env.get("DAYBOX_SESSION_ID")).toBe("ses-zygote-a");
    expect(env.get("HOME")).toBe(runtime.homeDir("ses-zygote-a"));
    expect(env.get("CUDA_VISIBLE_DEVICES")).toBe("1,3");
    expect(env.has("DAYBOX_AGENT_ONLY_SECRET")).toBe(false);
    expect(await readFile(path.join(runtime.sessionDir("ses-zygote-a"), "session.log"), "utf8")).toMatch(/Jupyter Server .* is running at/);
    console.log(`zygote start → Jupyter answering: ${startMs} ms`);
  });

  it("gives the server the session's user site-packages, as a spawned one would have", async () => {
    const python = (await interpreterOf(jupyter))!;
    const version = execFileSync(python, ["-c", "import sys; print('python%d.%d' % sys.version_info[:2])"], { encoding: "utf8" }).trim();
    const home = runtime.homeDir("ses-zygote-c");
    const userSite = path.join(home, ".local", "lib", version, "site-packages");
    await mkdir(userSite, { recursive: true });
    // A .pth line starting with "import" runs when the directory is added to sys.path.
    await writeFile(path.join(userSite, "daybox-probe.pth"), 'import os; open(os.path.join(os.environ["HOME"], "user-site-seen"), "w").close()\n');
    const s = await runtime.start({ sessionId: "ses-zygote-c", name: "c", image: "", gpuIndices: [] });
    expect((await statOf(s.pid))[1]).not.toBe(process.pid); // forked by the zygote
    expect(await api(s.jupyterUrl!, s.jupyterToken!, "api/status")).toBeTruthy();
    expect(await readFile(path.join(home, "user-site-seen"), "utf8")).toBe("");
    await runtime.stop("ses-zygote-c", { graceMs: 2_000 });
  });

  it("reports a server that dies at once, without waiting for a poll", async () => {
    const s = await runtime.start({ sessionId: "ses-zygote-b", name: "b", image: "", gpuIndices: [] });
    process.kill(s.pid, "SIGKILL");
    expect(await waitFor(() => exits.some(([id]) => id === "ses-zygote-b"), 5_000, 20)).toBe(true);
    expect(exits.find(([id]) => id === "ses-zygote-b")![1]).toBe("killed by SIGKILL");
  });

  it("a restarted runtime adopts running sessions, and a reused pid is never taken for one", async () => {
    const again = new LocalRuntime({ root, jupyter, jupyterZygote: false });
    try {
      expect((await again.list()).map((s) => s.sessionId)).toEqual(["ses-zygote-a"]);
      // A record naming a live process that is not the session's (our own pid, another start time).
      const dir = again.sessionDir("ses-reused-pid");
      await rm(dir, { recursive: true, force: true });
      await again.start({ sessionId: "ses-reused-pid", name: "r", image: "", gpuIndices: [] });
      const record = JSON.parse(await readFile(path.join(dir, "runtime.json"), "utf8")) as { pid: number; startTicks: number };
      expect(record.startTicks).toBe(await startTicksOf(record.pid));
      await again.stop("ses-reused-pid", { graceMs: 2_000 });
      await writeFile(path.join(dir, "runtime.json"), JSON.stringify({ ...record, pid: process.pid }));
      expect((await again.list()).map((s) => s.sessionId)).toEqual(["ses-zygote-a"]);
      expect(await again.reapDead()).toContain("ses-reused-pid");
      expect(alive(process.pid)).toBe(true);
    } finally {
      await again.close();
    }
  });

  it("stop ends the whole process group (kernels too) and reports no exit", async () => {
    const before = exits.length;
    const [s] = await runtime.list();
    const kernels = await childrenOf(s!.pid);
    expect(kernels.length).toBeGreaterThan(0);
    await runtime.stop("ses-zygote-a", { graceMs: 5_000 });
    expect(alive(s!.pid)).toBe(false);
    for (const k of kernels) expect(alive(k)).toBe(false);
    expect(exits.length).toBe(before);
  });
});
