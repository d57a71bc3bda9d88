import { describe, expect, it } from "vitest";
import { plan } from "./plan.ts";
import { NOW, job, node, quota, session, world } from "./fixtures.ts";
import type { Action } from "./actions.ts";

type Case = { name: string; view: ReturnType<typeof world>; expect: Partial<Action>[] };

describe("plan: placing pending sessions", () => {
  const cases: Case[] = [
    {
      name: "fits on the only node",
      view: world({ nodes: [node("n1").gpus(4)], sessions: [session("s1").gpus(2)] }),
      expect: [{ kind: "place", sessionId: "s1", nodeId: "n1", gpuIndices: [0, 1], reason: "placed on node n1 (GPU 0, 1; 4 of 4 were free)" }],
    },
    {
      name: "takes the lowest free indices next to a running session",
      view: world({
        nodes: [node("n1").gpus(4)],
        sessions: [session("run").on("n1", [0, 2]), session("s1").gpus(2)],
      }),
      expect: [{ kind: "place", sessionId: "s1", gpuIndices: [1, 3] }],
    },
    {
      name: "best fit: the fullest node that still fits",
      view: world({
        nodes: [node("big").gpus(8), node("small").gpus(4)],
        sessions: [session("run").on("small", [0, 1]), session("s1").gpus(2)],
      }),
      expect: [{ kind: "place", sessionId: "s1", nodeId: "small", gpuIndices: [2, 3] }],
    },
    {
      name: "a resumed session goes back to the node holding its cache when it fits",
      view: world({ nodes: [node("a").gpus(4), node("b").gpus(2)], sessions: [session("s1").cachedOn("a")] }),
      expect: [{ kind: "place", sessionId: "s1", nodeId: "a" }],
    },
    {
      name: "…and to the best fit elsewhere when its cache node is full",
      view: world({ nodes: [node("a").gpus(1), node("b").gpus(2), node("c").gpus(4)], sessions: [session("run").on("a", [0]), session("s1").cachedOn("a")] }),
      expect: [{ kind: "place", sessionId: "s1", nodeId: "b" }],
    },
    {
      name: "waits for capacity when every GPU is taken",
      view: world({
        nodes: [node("n1").gpus(2)],
        sessions: [session("run").on("n1", [0, 1]), session("s1").gpus(1)],
      }),
      expect: [{ kind: "wait", sessionId: "s1", reason: "waiting for capacity: needs 1 a100 GPU on one node; at most 0 free right now" }],
    },
    {
      name: "over quota even though GPUs are free",
      view: world({
        nodes: [node("n1").gpus(8)],
        sessions: [session("run").on("n1", [0, 1, 2]), session("s1").gpus(2)],
        quotas: [quota("a100", 4)],
      }),
      expect: [
        {
          kind: "wait",
          sessionId: "s1",
          reason:
            "over quota: project vision uses 3 of its 4 a100 GPUs; this session needs 2 more — waiting for the project's other sessions to stop",
        },
      ],
    },
    {
      name: "no quota for the requested type",
      view: world({ nodes: [node("n1").gpus(4, "h100")], sessions: [session("s1").gpus(1, "h100")] }),
      expect: [{ kind: "wait", sessionId: "s1", reason: "over quota: project vision has no quota for h100 GPUs" }],
    },
    {
      name: "wrong GPU type: no node has it",
      view: world({
        nodes: [node("n1").gpus(4, "a100")],
        sessions: [session("s1").gpus(1, "h100")],
        quotas: [quota("h100", 4)],
      }),
      expect: [{ kind: "wait", sessionId: "s1", reason: "waiting for capacity: no node has h100 GPUs (the cluster has a100)" }],
    },
    {
      name: "more GPUs than any node has",
      view: world({ nodes: [node("n1").gpus(4)], sessions: [session("s1").gpus(6)] }),
      expect: [{ kind: "wait", sessionId: "s1", reason: "waiting for capacity: no node has 6 a100 GPUs; the largest a100 node has 4" }],
    },
    {
      name: "cordoned node takes nothing new",
      view: world({ nodes: [node("n1").gpus(4).cordoned()], sessions: [session("s1")] }),
      expect: [{ kind: "wait", sessionId: "s1", reason: "waiting for capacity: every a100 node is unavailable (n1 cordoned)" }],
    },
    {
      name: "cordoned node is skipped for an open one",
      view: world({ nodes: [node("a").gpus(4).cordoned(), node("b").gpus(4)], sessions: [session("s1")] }),
      expect: [{ kind: "place", sessionId: "s1", nodeId: "b" }],
    },
    {
      name: "first come first served: the earlier session gets the last GPU, the later waits",
      view: world({ nodes: [node("n1").gpus(1)], sessions: [session("first"), session("second")] }),
      expect: [
        { kind: "place", sessionId: "first" },
        { kind: "wait", sessionId: "second", reason: "waiting for capacity: needs 1 a100 GPU on one node; at most 0 free right now" },
      ],
    },
    {
      name: "quota counts sessions placed earlier in the same tick",
      view: world({
        nodes: [node("n1").gpus(8)],
        sessions: [session("a").gpus(2), session("b").gpus(2)],
        quotas: [quota("a100", 3)],
      }),
      expect: [{ kind: "place", sessionId: "a" }, { kind: "wait", sessionId: "b" }],
    },
    {
      name: "an unchanged wait reason is not repeated",
      view: world({
        nodes: [node("n1").gpus(4).cordoned()],
        sessions: [session("s1").reason("waiting for capacity: every a100 node is unavailable (n1 cordoned)")],
      }),
      expect: [],
    },
  ];

  it.each(cases)("$name", ({ view, expect: want }) => {
    const got = plan(view, NOW);
    expect(got).toHaveLength(want.length);
    want.forEach((w, i) => expect(got[i]).toMatchObject(w));
  });
});

describe("plan: stopping and node health", () => {
  const cases: Case[] = [
    {
      name: "a stop request on a running session becomes a stop action",
      view: world({ nodes: [node("n1")], sessions: [session("s1").on("n1", [0], "Stopping").wants("stopped").reason("stopped by alice")] }),
      expect: [{ kind: "stop", sessionId: "s1", nodeId: "n1", reason: "stopped by alice" }],
    },
    {
      name: "no second stop action while one is open",
      view: world({ nodes: [node("n1")], sessions: [session("s1").on("n1", [0], "Stopping").wants("stopped").openAction("stop")] }),
      expect: [],
    },
    {
      name: "a pending session that was stopped is finalized without an agent",
      view: world({ nodes: [node("n1")], sessions: [session("s1").wants("terminated")] }),
      expect: [{ kind: "finalize", sessionId: "s1", to: "Terminated" }],
    },
    {
      name: "running sessions on a draining node are parked, so they resume elsewhere with nothing lost",
      view: world({ nodes: [node("n1").draining()], sessions: [session("s1").on("n1", [0])] }),
      expect: [{ kind: "park", sessionId: "s1", nodeId: "n1", reason: "node n1 is draining" }],
    },
    {
      name: "a session still starting on a draining node is stopped",
      view: world({ nodes: [node("n1").draining()], sessions: [session("s1").on("n1", [0], "Starting")] }),
      expect: [{ kind: "stop", sessionId: "s1", reason: "node n1 is draining" }],
    },
    {
      name: "a session already parking on a draining node is left to finish",
      view: world({ nodes: [node("n1").draining()], sessions: [session("s1").on("n1", [0], "Snapshotting").wants("parked")] }),
      expect: [],
    },
    {
      name: "a silent node becomes not ready and takes no sessions",
      view: world({ nodes: [node("n1").silentFor(45_000)], sessions: [session("s1")] }),
      expect: [
        { kind: "node-health", nodeId: "n1", ready: false, reason: "node n1 has not heartbeated for 45s" },
        { kind: "wait", sessionId: "s1", reason: "waiting for capacity: every a100 node is unavailable (n1 not ready)" },
      ],
    },
    {
      name: "sessions and jobs on a lost node are recovered; nothing else is placed there",
      view: world({
        nodes: [node("gone").lost(), node("n2").gpus(1)],
        sessions: [session("s1").on("gone", [0]), session("s2").on("gone", [1], "Snapshotting").wants("parked"), session("s3")],
        jobs: [job("j1").on("gone", [2])],
      }),
      expect: [
        { kind: "recover", sessionId: "s1", nodeId: "gone", reason: "node gone was lost" },
        { kind: "recover", sessionId: "s2", nodeId: "gone" },
        { kind: "requeue-job", jobId: "j1", nodeId: "gone" },
        { kind: "place", sessionId: "s3", nodeId: "n2" },
      ],
    },
    {
      name: "a lost node stays not ready even while its agent heartbeats",
      view: world({ nodes: [node("gone").lost()] }),
      expect: [],
    },
    {
      name: "a Lost session is placed again like a pending one, on a node that is not lost",
      view: world({ nodes: [node("gone").lost(), node("n2")], sessions: [session("s1").state("Lost").cachedOn("gone")] }),
      expect: [{ kind: "place", sessionId: "s1", nodeId: "n2" }],
    },
    {
      name: "a Lost session that was stopped meanwhile is finalized",
      view: world({ nodes: [node("n1")], sessions: [session("s1").state("Lost").wants("stopped")] }),
      expect: [{ kind: "finalize", sessionId: "s1", to: "Stopped", reason: "stopped while waiting to be recovered" }],
    },
    {
      name: "a node that heartbeats again is ready",
      view: world({ nodes: [node("n1").notReady()] }),
      expect: [{ kind: "node-health", nodeId: "n1", ready: true }],
    },
  ];

  it.each(cases)("$name", ({ view, expect: want }) => {
    const got = plan(view, NOW);
    expect(got).toHaveLength(want.length);
    want.forEach((w, i) => expect(got[i]).toMatchObject(w));
  });

  it("never hands one GPU to two sessions in one tick", () => {
    const sessions = Array.from({ length: 12 }, (_, i) => session(`s${i}`).gpus(1 + (i % 3)));
    const view = world({ nodes: [node("a").gpus(8), node("b").gpus(4)], sessions, quotas: [quota("a100", 100)] });
    const placed = plan(view, NOW).filter((a) => a.kind === "place");
    const seen = new Set<string>();
    for (const p of placed) for (const i of p.gpuIndices) {
      const key = `${p.nodeId}/${i}`;
      expect(seen.has(key)).toBe(false);
      seen.add(key);
    }
    expect(seen.size).toBeLessThanOrEqual(12);
  });
});
