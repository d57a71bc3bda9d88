import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFleetSampler } from "../../apps/control-plane/src/fleet-sampler.ts";
import { expectTRPCError } from "./support/clients.ts";
import { startHarness, type Harness } from "./support/harness.ts";

/**
 * The fleet utilization history behind the admin's chart: one sample a
 * minute by the control plane's clock, served to admins only.
 */
describe.each(["pglite", "postgres"] as const)("fleet history on %s", (kind) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(kind);
  });
  afterAll(async () => {
    await h?.close();
  });

  it("samples once a minute and serves the points to admins", async () => {
    const sampler = createFleetSampler({ repos: h.repos, clock: h.clock });
    const first = await h.admin.usage.fleetHistory.query({ hours: 1 });
    expect(first.points).toEqual([]);

    expect(await sampler.tick()).toBe(true);
    h.clock.advance(30_000);
    expect(await sampler.tick(), "not due yet").toBe(false);
    await h.addNode("fleet-node", "sim-v100", 4);
    await h.alice.sessions.create.mutate({ project: "vision", gpus: 1, gpuType: "sim-a100" });
    await h.tick();
    h.clock.advance(30_000);
    expect(await sampler.tick()).toBe(true);

    const { points } = await h.admin.usage.fleetHistory.query({ hours: 1 });
    expect(points).toHaveLength(2);
    const [a, b] = points;
    expect(b!.at - a!.at).toBe(60_000);
    expect(b!.total - a!.total, "the new node's GPUs count").toBe(4);
    expect(b!.allocated - a!.allocated, "the placed session holds a GPU").toBe(1);
    expect(b!.allocated).toBeGreaterThanOrEqual(b!.busy + b!.idleAllocated - b!.forJobs);

    // A restarted control plane continues the cadence from the last stored sample.
    const restarted = createFleetSampler({ repos: h.repos, clock: h.clock });
    expect(await restarted.tick()).toBe(false);
    h.clock.advance(2 * 3_600_000);
    expect((await h.admin.usage.fleetHistory.query({ hours: 1 })).points).toEqual([]);
    expect((await h.admin.usage.fleetHistory.query({ hours: 3 })).points).toHaveLength(2);
  });

  it("is for admins, and says what a bad range is", async () => {
    await expectTRPCError(h.alice.usage.fleetHistory.query({ hours: 1 }), "FORBIDDEN", "only admins");
    await expectTRPCError(h.admin.usage.fleetHistory.query({ hours: 0 }), "BAD_REQUEST", "hours");
    await expectTRPCError(h.admin.usage.fleetHistory.query({ hours: 10_000 }), "BAD_REQUEST", "720");
  });
});
