import { describe, expect, it } from "vitest";
import { ClaimWaiters } from "./claim-waiters.ts";

describe("long-poll claims", () => {
  it("wakes only the nodes that have work, with one query for all waiting agents", async () => {
    const queries: string[][] = [];
    let ready: string[] = [];
    const waiters = new ClaimWaiters(async (ids) => {
      queries.push(ids.toSorted());
      return ready.filter((id) => ids.includes(id));
    }, 20);
    const woke: string[] = [];
    const nodes = Array.from({ length: 50 }, (_, i) => `n${i}`);
    const waits = nodes.map((n) => waiters.wait(n, 2_000).then(() => woke.push(n)));
    await new Promise((r) => setTimeout(r, 70));
    expect(woke).toEqual([]);
    ready = ["n7", "n42"];
    await new Promise((r) => setTimeout(r, 70));
    expect(woke.toSorted()).toEqual(["n42", "n7"]);
    // Every scan asked about all waiting nodes at once.
    expect(queries.length).toBeGreaterThanOrEqual(2);
    expect(queries.length).toBeLessThanOrEqual(10);
    expect(queries[0]).toHaveLength(50);
    waiters.close();
    await Promise.all(waits);
    expect(woke).toHaveLength(50);
  });

  it("gives up at the timeout, and stops querying when nobody waits", async () => {
    let queries = 0;
    const waiters = new ClaimWaiters(async () => {
      queries++;
      return [];
    }, 10);
    const t0 = Date.now();
    await waiters.wait("n1", 60);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(55);
    await new Promise((r) => setTimeout(r, 40));
    const after = queries;
    await new Promise((r) => setTimeout(r, 60));
    expect(queries).toBe(after);
  });

  it("survives a failing query: waiters time out instead of hanging", async () => {
    const waiters = new ClaimWaiters(async () => {
      throw new Error("database away");
    }, 10);
    const t0 = Date.now();
    await waiters.wait("n1", 50);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
  });
});
