import { readFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadEnv, startControlPlane } from "../../apps/control-plane/src/index.ts";
import { apiClient, eventually, readyLine, spawnNode, stopProc, tempDir, type Proc } from "./support.ts";

/**
 * An agent killed in the middle of starting a session (after Jupyter is up,
 * before it reported back) must not leave the session stuck or started twice:
 * the lease expires, a restarted agent claims the action again, adopts the
 * running Jupyter, and the action completes exactly once.
 */
describe("agent killed and restarted mid-action", () => {
  let dataDir: string;
  let cp: Awaited<ReturnType<typeof startControlPlane>>;
  let api: ReturnType<typeof apiClient>;
  const agents: Proc[] = [];

  const agentEnv = (extra: Record<string, string> = {}) => ({
    DAYBOX_API_URL: cp.url,
    DAYBOX_DATA_DIR: dataDir,
    DAYBOX_AGENT_TOKEN_FILE: cp.agentTokenFile,
    DAYBOX_NODE_NAME: "node-a",
    DAYBOX_LOCAL_GPUS: "2",
    DAYBOX_LOCAL_GPU_TYPE: "sim-a100",
    DAYBOX_POLL_MS: "100",
    ...extra,
  });

  beforeAll(async () => {
    dataDir = await tempDir("agent-restart");
    const env = loadEnv({
      DAYBOX_DATA_DIR: dataDir,
      DAYBOX_DATABASE_URL: "pglite://memory",
      DAYBOX_API_PORT: "0",
      DAYBOX_TICK_MS: "100",
      DAYBOX_ACTION_LEASE_MS: "3000",
      DAYBOX_BOOTSTRAP_QUOTA: "sim-a100=2",
    });
    cp = await startControlPlane(env, { log: () => {} });
    api = apiClient(cp.url, cp.adminToken!);
  });

  afterAll(async () => {
    for (const a of agents) await stopProc(a);
    await cp?.close();
  });

  it("completes the start once, adopting the session the dead agent launched", async () => {
    // 1. An agent that dies right after its runtime started the session.
    const doomed = spawnNode(["--import", "tsx", "apps/agent/src/main.ts"], agentEnv({ DAYBOX_AGENT_FAULT: "exit-after-start" }));
    agents.push(doomed);
    await readyLine(doomed);
    const created = await api.sessions.create.mutate({ gpus: 1 });
    expect(await doomed.exited).toBe(86);

    const runtimeFile = path.join(dataDir, "sessions", created.id, "runtime.json");
    const first = JSON.parse(await readFile(runtimeFile, "utf8")) as { pid: number; jupyterUrl: string | null };
    expect(first.jupyterUrl, "the test needs jupyter on PATH (infra/testbed/jupyter.sh)").not.toBeNull();
    expect((await api.sessions.byId.query({ id: created.id })).state).toBe("Starting");
    const [claimed] = await cp.repos.actions.forSession(created.id);
    expect(claimed).toMatchObject({ kind: "start", status: "claimed", attempts: 1 });

    // 2. A restarted agent: it may claim only after the lease expires.
    const restarted = spawnNode(["--import", "tsx", "apps/agent/src/main.ts"], agentEnv());
    agents.push(restarted);
    await readyLine(restarted);
    const running = await eventually("session Running", async () => {
      const s = await api.sessions.byId.query({ id: created.id });
      return s.state === "Running" ? s : undefined;
    });
    expect(running.gpuIndices).toHaveLength(1);

    // 3. Exactly once: same process adopted, one successful completion, one Running event.
    const second = JSON.parse(await readFile(runtimeFile, "utf8")) as { pid: number };
    expect(second.pid).toBe(first.pid);
    const actions = await cp.repos.actions.forSession(created.id);
    expect(actions).toHaveLength(1);
    expect(actions[0]).toMatchObject({ kind: "start", status: "succeeded", attempts: 2 });
    const events = await api.sessions.events.query({ id: created.id });
    expect(events.filter((e) => e.toState === "Running")).toHaveLength(1);
    expect(events.map((e) => e.toState)).toEqual(["Pending", "Scheduled", "Starting", "Running"]);
    expect(events.every((e) => e.reason.length > 0)).toBe(true);

    // 4. And it stops cleanly: the process group is gone, the GPU is free.
    await api.sessions.stop.mutate({ id: created.id });
    await eventually("session Stopped", async () => {
      const s = await api.sessions.byId.query({ id: created.id });
      return s.state === "Stopped" ? s : undefined;
    });
    expect(() => process.kill(first.pid, 0)).toThrow();
    const [node] = await api.nodes.list.query();
    expect(node?.gpusAllocated).toBe(0);
  });
});
