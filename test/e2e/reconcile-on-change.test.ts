import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadEnv, startControlPlane } from "../../apps/control-plane/src/index.ts";
import { apiClient, eventually, readyLine, spawnNode, stopProc, tempDir, type Proc } from "./support.ts";

/**
 * The reconcile loop acts on what the API announces at once, not at its next
 * tick: with a tick of ten minutes, a session created, stopped and resumed
 * through the API still gets there in seconds.
 */
describe("reconcile on change", () => {
  let cp: Awaited<ReturnType<typeof startControlPlane>>;
  let api: ReturnType<typeof apiClient>;
  let agent: Proc | undefined;

  beforeAll(async () => {
    const dataDir = await tempDir("reconcile-on-change");
    cp = await startControlPlane(
      loadEnv({ DAYBOX_DATA_DIR: dataDir, DAYBOX_DATABASE_URL: "pglite://memory", DAYBOX_API_PORT: "0", DAYBOX_TICK_MS: "600000", DAYBOX_BOOTSTRAP_QUOTA: "sim-a100=1" }),
      { log: () => {} },
    );
    api = apiClient(cp.url, cp.adminToken!);
    agent = spawnNode(["--import", "tsx", "apps/agent/src/main.ts"], {
      DAYBOX_API_URL: cp.url,
      DAYBOX_DATA_DIR: dataDir,
      DAYBOX_AGENT_TOKEN_FILE: cp.agentTokenFile,
      DAYBOX_NODE_NAME: "node-a",
      DAYBOX_LOCAL_GPUS: "1",
      DAYBOX_LOCAL_GPU_TYPE: "sim-a100",
      DAYBOX_JUPYTER: "never",
    });
    await readyLine(agent);
  });

  afterAll(async () => {
    await stopProc(agent);
    await cp?.close();
  });

  const reaches = (id: string, state: string) =>
    eventually(
      `session ${state}`,
      async () => {
        const s = await api.sessions.byId.query({ id });
        return s.state === state ? s : undefined;
      },
      20_000,
      50,
    );

  it("places, stops and resumes sessions as soon as the API is asked", async () => {
    const t0 = Date.now();
    const created = await api.sessions.create.mutate({ gpus: 1 });
    const running = await reaches(created.id, "Running");
    expect(running.gpuIndices).toEqual([0]);

    await api.sessions.stop.mutate({ id: created.id });
    await reaches(created.id, "Stopped");
    await api.sessions.resume.mutate({ id: created.id });
    await reaches(created.id, "Running");
    // Three round trips, each of which would otherwise wait for a tick ten minutes away.
    expect(Date.now() - t0).toBeLessThan(60_000);
    const events = await api.sessions.events.query({ id: created.id });
    expect(events.map((e) => e.toState)).toEqual(["Pending", "Scheduled", "Starting", "Running", "Stopping", "Stopped", "Pending", "Scheduled", "Starting", "Running"]);
  });
});
