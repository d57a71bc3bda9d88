import { existsSync } from "node:fs";
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliBin, daybox, eventually, freePort, spawnNode, stopProc, tempDir, treeDigest, type Proc } from "./support.ts";

/**
 * The README's quick start, as a user runs it: `daybox up` on embedded
 * defaults, then the CLI creates a session that reaches Running with a real
 * Jupyter server, a terminal runs a command, and stopping frees the GPU.
 */
describe("quick start: daybox up → session create → attach → stop", () => {
  let dataDir: string;
  let env: NodeJS.ProcessEnv;
  let upProc: Proc;
  let portalUrl: string;

  beforeAll(async () => {
    dataDir = await tempDir("quickstart");
    const [apiPort, portalPort] = [await freePort(), await freePort()];
    portalUrl = `http://127.0.0.1:${portalPort}`;
    env = { DAYBOX_CONFIG: path.join(dataDir, "cli.json"), DAYBOX_URL: "", DAYBOX_TOKEN: "" };
    upProc = spawnNode(
      [cliBin, "up", "--data-dir", dataDir, "--port", String(apiPort), "--portal-port", String(portalPort), "--gpus", "2"],
      env,
    );
    await eventually("daybox up to report it is up", async () => (upProc.output().includes("Daybox is up") ? true : undefined), 150_000, 250);
  });

  afterAll(async () => {
    await stopProc(upProc);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it("prints where everything is and an admin token, and saves the CLI login", async () => {
    const out = upProc.output();
    expect(out).toMatch(/Admin token .*\n\s+dbx_[A-Za-z0-9_-]{43}/);
    expect(out).toContain(`Portal  ${portalUrl}`);
    const who = await daybox(["whoami", "--json"], env);
    expect(who.code, who.stderr).toBe(0);
    expect(JSON.parse(who.stdout)).toMatchObject({ name: "admin", role: "admin" });
  });

  it("serves the portal: sign-in first, then the admin's printed password signs in and the API behind it knows them", async () => {
    const home = await fetch(portalUrl, { redirect: "manual" });
    expect(home.status).toBe(307);
    expect(home.headers.get("location")).toMatch(/\/sign-in$/);
    const page = await fetch(`${portalUrl}/sign-in`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("Daybox");

    const m = /Portal sign-in .*\n\s+(\S+@\S+)\s+(\S+)/.exec(upProc.output());
    expect(m, upProc.output()).not.toBeNull();
    const signIn = await fetch(`${portalUrl}/api/auth/sign-in/email`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: portalUrl },
      body: JSON.stringify({ email: m![1], password: m![2] }),
    });
    expect(signIn.status).toBe(200);
    const cookie = signIn.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
    const who = await fetch(`${portalUrl}/trpc/auth.whoami`, { headers: { cookie } });
    expect(((await who.json()) as { result: { data: unknown } }).result.data).toMatchObject({ name: "admin", role: "admin", via: "portal" });
    expect((await fetch(`${portalUrl}/`, { headers: { cookie }, redirect: "manual" })).status).toBe(200);
  });

  it("runs a GPU session with real Jupyter and a terminal, snapshots it, parks and resumes it byte-identical, and frees the GPU on stop", async () => {
    // 1. Create and wait for Running.
    const created = await daybox(["session", "create", "--gpus", "1", "--wait", "--json"], env);
    expect(created.code, created.stderr).toBe(0);
    const session = JSON.parse(created.stdout) as { id: string; state: string; hasJupyter: boolean; gpuIndices: number[] };
    expect(session).toMatchObject({ state: "Running", hasJupyter: true });
    expect(session.gpuIndices).toHaveLength(1);

    // 2. Its Jupyter server is real and answers with the token `daybox open` gives the owner.
    const open = await daybox(["open", session.id, "--print"], env);
    expect(open.code, open.stderr).toBe(0);
    const jupyter = new URL(open.stdout.trim());
    const token = jupyter.searchParams.get("token")!;
    const status = await fetch(new URL("api/status", jupyter), { headers: { authorization: `token ${token}` } });
    expect(status.status).toBe(200);
    expect(await status.json()).toHaveProperty("kernels");
    expect((await fetch(new URL("api/status", jupyter))).status, "Jupyter must refuse requests without the token").toBe(403);

    // 3. A terminal through the API's proxy runs a command in the session's environment.
    const attach = await daybox(["attach", session.id], env, "echo hi\necho gpus=$CUDA_VISIBLE_DEVICES\n");
    expect(attach.code, attach.stderr).toBe(0);
    const ansi = new RegExp(`${String.fromCharCode(27)}\\[[0-9;?]*[a-zA-Z]`, "g");
    const lines = attach.stdout.replace(ansi, "").split(/\r?\n/).map((l) => l.trim());
    expect(lines).toContain("hi");
    expect(lines).toContain(`gpus=${session.gpuIndices.join(",")}`);

    let nodes = JSON.parse((await daybox(["node", "ls", "--json"], env)).stdout) as { gpusAllocated: number }[];
    expect(nodes[0]?.gpusAllocated).toBe(1);

    // 4. The agent snapshots the running session's state with the engine; an incremental one follows.
    const wrote = await daybox(["attach", session.id], env, "mkdir -p ~/work && echo precious-$HOME > ~/work/notes.txt && echo written\n");
    expect(wrote.stdout).toContain("written");
    const first = await daybox(["session", "snapshot", session.id, "--wait", "--json"], env);
    expect(first.code, first.stderr).toBe(0);
    const snap1 = JSON.parse(first.stdout) as { id: string; parentId: string | null; files: number; sizeBytes: number; newBytes: number };
    expect(snap1).toMatchObject({ parentId: null });
    expect(snap1.files).toBeGreaterThan(0);
    const second = await daybox(["session", "snapshot", session.id, "--wait", "--json"], env);
    const snap2 = JSON.parse(second.stdout) as typeof snap1;
    expect(snap2.parentId, "the second snapshot is incremental against the first").toBe(snap1.id);
    expect(snap2.newBytes).toBeLessThan(snap1.newBytes);
    const listed = JSON.parse((await daybox(["session", "snapshots", session.id, "--json"], env)).stdout) as { id: string }[];
    expect(listed.map((r) => r.id)).toEqual([snap2.id, snap1.id]);
    // What the agent stored restores byte-exact with the standalone engine CLI.
    const restored = path.join(dataDir, "restored");
    const repo = `file://${path.join(dataDir, "snapshots", "default")}`;
    const restore = await daybox(["snapshot", "restore", snap1.id, restored, "--repo", repo, "--json"], env);
    expect(restore.code, restore.stderr).toBe(0);
    const notes = (await readdir(restored, { recursive: true })).find((f) => f.endsWith("work/notes.txt"));
    expect(notes, "the session's file is in the snapshot").toBeDefined();
    expect(await readFile(path.join(restored, notes!), "utf8")).toMatch(/^precious-\//);

    // 5. Park: the session installs a package into a virtualenv, then is parked (snapshot, verify, release the GPU).
    const install = [
      "mkdir -p ~/venv/lib/python3/site-packages/dayboxpkg ~/venv/bin",
      "printf 'VERSION = \"1.2.3\"\\n' > ~/venv/lib/python3/site-packages/dayboxpkg/__init__.py",
      "head -c 3000000 /dev/urandom > ~/venv/lib/python3/site-packages/dayboxpkg/_native.so",
      "ln -s ../lib/python3/site-packages/dayboxpkg ~/venv/bin/dayboxpkg-link && chmod 750 ~/venv/bin",
      'echo "home:[$HOME]" && echo installed-$((40 + 2))',
    ].join(" && ");
    const installed = await daybox(["attach", session.id], env, `${install}\n`);
    expect(installed.stdout).toContain("installed-42");
    const home = /home:\[(\/[^\]]+)\]/.exec(installed.stdout.replace(ansi, ""))![1]!;
    const before = await treeDigest(home, ["venv", "work"]);
    expect(before.length).toBeGreaterThanOrEqual(5);

    const parked = await daybox(["session", "park", session.id, "--wait", "--json"], env);
    expect(parked.code, parked.stderr).toBe(0);
    const parkedSession = JSON.parse(parked.stdout) as { state: string; gpuIndices: number[]; parkedSnapshotId: string; reason: string };
    expect(parkedSession).toMatchObject({ state: "Parked", gpuIndices: [] });
    expect(parkedSession.reason).toMatch(/^parked: snapshot \S+ committed and verified/);
    nodes = JSON.parse((await daybox(["node", "ls", "--json"], env)).stdout) as { gpusAllocated: number }[];
    expect(nodes[0]?.gpusAllocated, "a parked session holds no GPU").toBe(0);
    await expect(fetch(new URL("api/status", jupyter), { signal: AbortSignal.timeout(3_000) })).rejects.toThrow();
    // Lose the node's copy: the resume must bring it back from the snapshot, not from the disk.
    await rm(path.join(home, "venv"), { recursive: true, force: true });
    await writeFile(path.join(home, "work", "notes.txt"), "clobbered");

    // 6. Resume: restored from the parked snapshot, Jupyter again, state byte-identical.
    const resumed = await daybox(["session", "resume", session.id, "--wait", "--json"], env);
    expect(resumed.code, resumed.stderr).toBe(0);
    const back = JSON.parse(resumed.stdout) as { state: string; reason: string; gpuIndices: number[] };
    expect(back).toMatchObject({ state: "Running" });
    expect(back.gpuIndices).toHaveLength(1);
    expect(back.reason).toMatch(/resumed in [\d.]+s \(restore [\d.]+s/);
    expect(await treeDigest(home, ["venv", "work"])).toEqual(before);
    const reopened = new URL((await daybox(["open", session.id, "--print"], env)).stdout.trim());
    expect((await fetch(new URL("api/status", reopened), { headers: { authorization: `token ${reopened.searchParams.get("token")}` } })).status).toBe(200);
    const ran = await daybox(["attach", session.id], env, "cat ~/venv/lib/python3/site-packages/dayboxpkg/__init__.py\n");
    expect(ran.stdout).toContain('VERSION = "1.2.3"');

    // 7. Stop frees the GPU and ends the Jupyter server.
    const stopped = await daybox(["session", "stop", session.id, "--wait", "--json"], env);
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(JSON.parse(stopped.stdout)).toMatchObject({ state: "Stopped", gpuIndices: [] });
    nodes = JSON.parse((await daybox(["node", "ls", "--json"], env)).stdout) as { gpusAllocated: number }[];
    expect(nodes[0]?.gpusAllocated).toBe(0);
    await expect(fetch(new URL("api/status", reopened), { signal: AbortSignal.timeout(3_000) })).rejects.toThrow();

    // 8. Every transition is on record with a reason.
    const shown = JSON.parse((await daybox(["session", "show", session.id, "--json"], env)).stdout) as {
      events: { toState: string; reason: string }[];
    };
    expect(shown.events.map((e) => e.toState)).toEqual(["Pending", "Scheduled", "Starting", "Running", "Snapshotting", "Parked", "Pending", "Scheduled", "Starting", "Running", "Stopping", "Stopped"]);
    expect(shown.events.every((e) => e.reason.length > 0)).toBe(true);

    // 9. Deleting it removes its directory from the node (the snapshots stay in the store until pruned).
    const removed = await daybox(["session", "rm", session.id, "--wait", "--json"], env);
    expect(removed.code, removed.stderr).toBe(0);
    expect(JSON.parse(removed.stdout)).toMatchObject({ state: "Terminated" });
    await eventually("the session's directory to be deleted on the node", async () => (existsSync(path.dirname(home)) ? undefined : true));
  });

  it("lets an admin manage reclaim policies from YAML: apply, ls, show, history with diffs, dry-run, rm", async () => {
    const file = path.join(dataDir, "policy.yaml");
    const yaml = (after: string) => `name: research-default\nscope: { kind: global }\nidle:\n  signals: [kernel, terminal, gpu]\n  after: ${after}\nwarning: 5m\naction: park\n`;
    await writeFile(file, yaml("30m"));
    const applied = await daybox(["policy", "apply", "-f", file, "--reason", "initial rules"], env);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toContain("applied research-default v1: park after 30m 0s of no kernel or terminal activity and GPU util < 5%");
    await writeFile(file, yaml("45m"));
    expect((await daybox(["policy", "apply", "-f", file, "--reason", "longer"], env)).stdout).toContain("v2");

    const ls = await daybox(["policy", "ls"], env);
    expect(ls.stdout).toMatch(/research-default\s+v2\s+global\s+park after 45m/);
    const show = await daybox(["policy", "show", "research-default"], env);
    expect(show.stdout).toContain("after: 45m");
    const history = await daybox(["policy", "history", "research-default"], env);
    expect(history.stdout).toContain("v2 (active) by admin");
    expect(history.stdout).toContain("-   after: 30m");
    expect(history.stdout).toContain("+   after: 45m");

    const dry = await daybox(["policy", "dry-run", "-f", file, "--json"], env);
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ policy: { name: "research-default", version: 3 } });

    await writeFile(file, "name: broken\nidle: { after: soon }\n");
    const bad = await daybox(["policy", "apply", "-f", file, "--reason", "x"], env);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('idle.after: "soon" is not a duration');
    await writeFile(file, "name: [unclosed\n");
    expect((await daybox(["policy", "dry-run", "-f", file], env)).stderr).toContain("is not valid YAML");

    const rm = await daybox(["policy", "rm", "research-default", "--reason", "done"], env);
    expect(rm.code, rm.stderr).toBe(0);
    expect((await daybox(["policy", "ls"], env)).stderr).toContain("no reclaim policies");
  });

  /** Every entry under `dirs` of `root`: path, type, mode, size, sha256 of contents, symlink target. */
  it("refuses bad input with a clear error and a failing exit code, never a stack trace", async () => {
    const cases: [string[], RegExp][] = [
      [["session", "create", "--gpus", "0"], /gpus/i],
      [["session", "create", "--gpus", "3"], /at most 2 sim-a100 GPUs/],
      [["session", "show", "ses-000000000000"], /not found/],
      [["session", "resume", "not-an-id"], /session id/i],
      [["node", "cordon", "no-such-node"], /node no-such-node not found/],
    ];
    for (const [args, message] of cases) {
      const r = await daybox(args, env);
      expect(r.code, `daybox ${args.join(" ")}`).not.toBe(0);
      expect(r.stderr, `daybox ${args.join(" ")}`).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at .*:\d+:\d+/);
    }
    const bad = await daybox(["session", "ls"], { ...env, DAYBOX_TOKEN: "dbx_nope" });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/malformed API token/);
  });
});
