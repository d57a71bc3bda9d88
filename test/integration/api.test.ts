import http from "node:http";
import type { AddressInfo } from "node:net";
import { TRPCClientError } from "@trpc/client";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { AppRouter, SessionEventDto } from "@daybox/api";
import { clientWithHeader, expectReadable, expectTRPCError, type ApiClient } from "./support/clients.ts";
import { FakeAgent, jupyterFor } from "./support/fake-agent.ts";
import { ACTION_LEASE_MS, startHarness, type Harness } from "./support/harness.ts";

/**
 * The API over real HTTP, as the CLI, the portal and node agents use it,
 * against both databases Daybox runs on. One server per database; the
 * reconciler is ticked by hand and a fake agent plays the node, so every step
 * of a session's life is observable and nothing sleeps on a timer.
 *
 * Tests in one database's suite share the server and run in order. Scenarios
 * that depend on capacity each get their own GPU type, node and project, so
 * what one leaves behind cannot change what another sees.
 */
describe.each(["pglite", "postgres"] as const)("API over HTTP on %s", (kind) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(kind);
  });
  afterAll(async () => {
    await h?.close();
  });

  const sessionOf = (c: ApiClient, id: string) => c.sessions.byId.query({ id });
  const eventsOf = (c: ApiClient, id: string) => c.sessions.events.query({ id });

  /** create → tick → claim → starting → complete: a Running session on `agent`'s node. */
  async function runningSession(c: ApiClient, agent: FakeAgent, input: { project: string; gpus: number; gpuType?: string; name?: string }) {
    const created = await c.sessions.create.mutate(input);
    await h.tick();
    const claimed = await agent.claim();
    expect(claimed, `expected a start for ${created.id}: ${(await sessionOf(c, created.id)).reason}`).toMatchObject({ kind: "start", sessionId: created.id });
    await agent.start(claimed!);
    const s = await sessionOf(c, created.id);
    expect(s.state).toBe("Running");
    return s;
  }

  describe("authentication", () => {
    const unknownToken = `dbx_${"Q".repeat(43)}`;
    it.each([
      { name: "no Authorization header", header: () => undefined, says: ["no API token", "daybox login"] },
      { name: "an empty Bearer", header: () => "Bearer ", says: ["malformed API token", "Authorization: Bearer <token>"] },
      { name: "a token that is not a Daybox token", header: () => "Bearer dbx_nope", says: ["malformed API token", "dbx_", "43"] },
      { name: "a token without `Bearer`", header: () => h.tokens.alice, says: ["malformed API token", "Authorization: Bearer <token>"] },
      { name: "a well-formed unknown token", header: () => `Bearer ${unknownToken}`, says: ["unknown API token", "daybox login"] },
    ])("refuses $name with UNAUTHORIZED and says what to do", async ({ header, says }) => {
      const c = clientWithHeader(h.url, header());
      await expectTRPCError(c.auth.whoami.query(), "UNAUTHORIZED", ...says);
      await expectTRPCError(c.sessions.create.mutate({ gpus: 1 }), "UNAUTHORIZED", ...says);
    });

    it("accepts a valid token and names its user", async () => {
      await expect(h.alice.auth.whoami.query()).resolves.toEqual({
        name: "alice",
        role: "researcher",
        email: null,
        via: "token",
        projects: [{ name: "vision", role: "member" }],
      });
      await expect(h.carol.auth.whoami.query()).resolves.toMatchObject({ projects: [{ name: "nlp", role: "manager" }] });
    });

    it("records when a token was last used", async () => {
      const fresh = await h.alice.tokens.create.mutate({ name: "laptop" });
      expect(fresh.token).toMatch(/^dbx_[A-Za-z0-9_-]{43}$/);
      const before = (await h.alice.tokens.list.query()).find((t) => t.id === fresh.id);
      expect(before).toMatchObject({ name: "laptop", user: "alice", lastUsedAt: null, current: false });

      const laptop = h.client(fresh.token);
      await laptop.auth.whoami.query();
      const after = (await laptop.tokens.list.query()).find((t) => t.id === fresh.id);
      expect(after).toMatchObject({ lastUsedAt: h.clock.now().toISOString(), current: true });
      // The listing never shows secrets, only a recognizable prefix.
      expect(JSON.stringify(await h.alice.tokens.list.query())).not.toContain(fresh.token);
    });

    it("refuses a revoked token", async () => {
      const t = await h.alice.tokens.create.mutate({ name: "to-revoke" });
      const c = h.client(t.token);
      await expect(c.auth.whoami.query()).resolves.toMatchObject({ name: "alice" });
      // Only its owner (or an admin) can revoke it; to bob it does not exist.
      await expectTRPCError(h.bob.tokens.revoke.mutate({ id: t.id }), "NOT_FOUND", `token ${t.id} not found`);
      await h.alice.tokens.revoke.mutate({ id: t.id });
      await expectTRPCError(c.auth.whoami.query(), "UNAUTHORIZED", "revoked", "daybox login");
      // alice's other tokens keep working.
      await expect(h.alice.auth.whoami.query()).resolves.toMatchObject({ name: "alice" });
    });

    it("refuses an expired token", async () => {
      const t = await h.alice.tokens.create.mutate({ name: "one-day", expiresInDays: 1 });
      expect(t.expiresAt).toBe(new Date(h.clock.now().getTime() + 86_400_000).toISOString());
      const c = h.client(t.token);
      await expect(c.auth.whoami.query()).resolves.toMatchObject({ name: "alice" });
      h.clock.advance(86_400_000);
      await expectTRPCError(c.auth.whoami.query(), "UNAUTHORIZED", "expired", "daybox login");
    });
  });

  describe("authorization", () => {
    it.each([
      { name: "projects.create", call: (c: ApiClient) => c.projects.create.mutate({ name: "sneaky" }) },
      { name: "projects.setQuota", call: (c: ApiClient) => c.projects.setQuota.mutate({ project: "vision", gpuType: "sim-a100", guaranteed: 64 }) },
      { name: "projects.addMember", call: (c: ApiClient) => c.projects.addMember.mutate({ project: "nlp", user: "alice", role: "manager" }) },
      { name: "nodes.cordon", call: (c: ApiClient) => c.nodes.cordon.mutate({ name: "node-a" }) },
      { name: "nodes.drain", call: (c: ApiClient) => c.nodes.drain.mutate({ name: "node-a" }) },
      { name: "users.create", call: (c: ApiClient) => c.users.create.mutate({ name: "mallory", role: "admin" }) },
      { name: "users.list", call: (c: ApiClient) => c.users.list.query() },
      { name: "audit.list", call: (c: ApiClient) => c.audit.list.query() },
    ])("a researcher calling $name is FORBIDDEN", async ({ call }) => {
      await expectTRPCError(call(h.alice), "FORBIDDEN", "only admins can do this", "alice is a researcher");
    });

    it("refused admin calls change nothing", async () => {
      expect(await h.repos.projects.byName("sneaky")).toBeNull();
      expect(await h.repos.users.byName("mallory")).toBeNull();
      const vision = await h.admin.projects.byName.query({ name: "vision" });
      expect(vision.quotas).toEqual([{ gpuType: "sim-a100", guaranteed: 4 }]);
      expect((await h.admin.projects.byName.query({ name: "nlp" })).members).not.toContainEqual({ user: "alice", role: "manager" });
      const nodeA = (await h.alice.nodes.list.query()).find((n) => n.name === "node-a");
      expect(nodeA).toMatchObject({ schedulable: true, draining: false });
      expect(await h.admin.audit.list.query({ limit: 100 })).toEqual([expect.objectContaining({ action: "node.register", actor: "fake-agent" })]);
    });

    it("an agent token may call only the agent API", async () => {
      await expectTRPCError(h.agentApi.sessions.list.query(), "FORBIDDEN", "agent tokens may only call the agent API");
      await expectTRPCError(h.agentApi.auth.whoami.query(), "FORBIDDEN", "agent tokens may only call the agent API");
      await expectTRPCError(h.agentApi.audit.list.query(), "FORBIDDEN", "agent tokens may only call the agent API");
    });

    it.each([
      { name: "agent.register", call: (c: ApiClient) => new FakeAgent(c, { name: "rogue", gpuType: "sim-a100", gpuCount: 8 }).register() },
      { name: "agent.claim", call: (c: ApiClient) => c.agent.claim.mutate({ nodeId: h.nodeA.nodeId }) },
      { name: "agent.heartbeat", call: (c: ApiClient) => c.agent.heartbeat.mutate({ nodeId: h.nodeA.nodeId }) },
    ])("a user token calling $name is FORBIDDEN, even an admin's", async ({ call }) => {
      await expectTRPCError(call(h.alice), "FORBIDDEN", "only node agents may call the agent API");
      await expectTRPCError(call(h.admin), "FORBIDDEN", "only node agents may call the agent API");
      expect(await h.repos.nodes.byName("rogue")).toBeNull();
    });
  });

  describe("input validation", () => {
    it.each([
      { gpus: 0, says: "gpus: must be at least 1" },
      { gpus: -1, says: "gpus: must be at least 1" },
      { gpus: 1.5, says: "gpus: must be a whole number" },
      { gpus: 10_000, says: "gpus: must be at most 64" },
      { gpus: "2" as unknown as number, says: "gpus: must be a number" },
    ])("sessions.create with gpus $gpus is BAD_REQUEST: $says", async ({ gpus, says }) => {
      await expectTRPCError(h.alice.sessions.create.mutate({ project: "vision", gpus }), "BAD_REQUEST", "invalid input", says);
    });

    it("refuses a malformed GPU type", async () => {
      await expectTRPCError(
        h.alice.sessions.create.mutate({ project: "vision", gpus: 1, gpuType: "A100!!" }),
        "BAD_REQUEST",
        "gpuType: not a valid GPU type (e.g. a100-80gb)",
      );
    });

    it("refuses an unknown project", async () => {
      await expectTRPCError(
        h.alice.sessions.create.mutate({ project: "atlantis", gpus: 1 }),
        "BAD_REQUEST",
        "project atlantis does not exist",
        "daybox project ls",
      );
    });

    it("refuses a project the caller is not a member of", async () => {
      await expectTRPCError(
        h.alice.sessions.create.mutate({ project: "nlp", gpus: 1 }),
        "PRECONDITION_FAILED",
        "you are not a member of project nlp",
        "ask an admin",
      );
    });

    it("refuses more GPUs than the project's quota", async () => {
      await expectTRPCError(
        h.alice.sessions.create.mutate({ project: "vision", gpus: 5 }),
        "PRECONDITION_FAILED",
        "project vision may use at most 4 sim-a100 GPUs at once; this session asks for 5",
      );
    });

    it("refuses a GPU type the project has no quota for, and lists the ones it has", async () => {
      await expectTRPCError(
        h.alice.sessions.create.mutate({ project: "vision", gpus: 1, gpuType: "sim-h100" }),
        "PRECONDITION_FAILED",
        "project vision has no quota for sim-h100 GPUs (it has sim-a100: 4)",
      );
    });

    it("refused creations leave no session behind", async () => {
      expect(await h.alice.sessions.list.query({ includeTerminated: true })).toEqual([]);
    });

    it.each([
      { name: "byId", call: (c: ApiClient, id: string) => c.sessions.byId.query({ id }) },
      { name: "stop", call: (c: ApiClient, id: string) => c.sessions.stop.mutate({ id }) },
      { name: "delete", call: (c: ApiClient, id: string) => c.sessions.delete.mutate({ id }) },
      { name: "events", call: (c: ApiClient, id: string) => c.sessions.events.query({ id }) },
    ])("$name: a malformed session id is BAD_REQUEST, an unknown one NOT_FOUND", async ({ call }) => {
      await expectTRPCError(call(h.alice, "train-1"), "BAD_REQUEST", "expected a session id like ses-0a1b2c3d4e5f");
      await expectTRPCError(call(h.alice, "ses-000000000000"), "NOT_FOUND", "session ses-000000000000 not found", "daybox session ls");
    });
  });

  describe("isolation", () => {
    it("bob can neither see nor change alice's session", async () => {
      const s = await h.alice.sessions.create.mutate({ project: "vision", gpus: 1, name: "alice-private" });
      const before = await sessionOf(h.alice, s.id);
      const eventsBefore = await eventsOf(h.alice, s.id);

      const attempts: [string, () => Promise<unknown>][] = [
        ["byId", () => h.bob.sessions.byId.query({ id: s.id })],
        ["events", () => h.bob.sessions.events.query({ id: s.id })],
        ["open", () => h.bob.sessions.open.query({ id: s.id })],
        ["stop", () => h.bob.sessions.stop.mutate({ id: s.id })],
        ["resume", () => h.bob.sessions.resume.mutate({ id: s.id })],
        ["park", () => h.bob.sessions.park.mutate({ id: s.id })],
        ["delete", () => h.bob.sessions.delete.mutate({ id: s.id })],
      ];
      for (const [what, attempt] of attempts) {
        const err = await expectTRPCError(attempt(), "NOT_FOUND", `session ${s.id} not found (or it is not yours)`);
        expect(err.message, what).not.toContain("alice");
      }

      expect(await sessionOf(h.alice, s.id)).toEqual(before);
      expect(await eventsOf(h.alice, s.id)).toEqual(eventsBefore);
      expect((await h.bob.sessions.list.query({ includeTerminated: true })).map((x) => x.id)).not.toContain(s.id);
      expect((await h.alice.sessions.list.query()).map((x) => x.id)).toContain(s.id);

      await h.alice.sessions.delete.mutate({ id: s.id });
    });

    it("a project manager sees their project's sessions and no others; admins see all", async () => {
      const mine = await h.alice.sessions.create.mutate({ project: "vision", gpus: 1, name: "vision-run" });
      // dave is only in nlp, which has one GPU type: both are picked for him.
      const daves = await h.dave.sessions.create.mutate({ gpus: 1, name: "nlp-run" });
      expect(daves).toMatchObject({ project: "nlp", gpuType: "sim-t4", owner: "dave" });

      const carolSees = (await h.carol.sessions.list.query()).map((x) => x.id);
      expect(carolSees).toContain(daves.id);
      expect(carolSees).not.toContain(mine.id);
      await expect(sessionOf(h.carol, daves.id)).resolves.toMatchObject({ owner: "dave" });
      await expect(eventsOf(h.carol, daves.id)).resolves.toHaveLength(1);
      await expectTRPCError(sessionOf(h.carol, mine.id), "NOT_FOUND", `session ${mine.id} not found`);
      expect((await h.carol.sessions.list.query({ project: "vision" })).map((x) => x.id)).toEqual([]);

      const adminSees = (await h.admin.sessions.list.query()).map((x) => x.id);
      expect(adminSees).toEqual(expect.arrayContaining([mine.id, daves.id]));
      expect((await h.dave.sessions.list.query()).map((x) => x.id)).toEqual([daves.id]);

      // Only the owner opens a session: the Jupyter token is theirs alone.
      await expectTRPCError(h.admin.sessions.open.query({ id: mine.id }), "FORBIDDEN", "only alice can open vision-run");
      await expectTRPCError(h.carol.sessions.open.query({ id: daves.id }), "FORBIDDEN", "only dave can open nlp-run");
      await expectTRPCError(h.alice.sessions.open.query({ id: mine.id }), "CONFLICT", "session vision-run is Pending; it can be opened once Running");

      // A manager may act on their project's sessions.
      await expect(h.carol.sessions.stop.mutate({ id: daves.id })).resolves.toMatchObject({ state: "Stopped", reason: "stopped by carol" });
      await h.alice.sessions.delete.mutate({ id: mine.id });
    });
  });

  describe("a session's life", () => {
    let id = "";

    it("goes Pending → Scheduled → Starting → Running, each step with a reason", async () => {
      const created = await h.alice.sessions.create.mutate({ project: "vision", gpus: 2, name: "train-resnet" });
      id = created.id;
      expect(created).toMatchObject({
        state: "Pending",
        desiredState: "running",
        owner: "alice",
        project: "vision",
        gpuType: "sim-a100",
        gpuCount: 2,
        node: null,
        gpuIndices: [],
        reason: "created by alice; waiting to be scheduled",
      });

      await h.tick();
      expect(await sessionOf(h.alice, id)).toMatchObject({
        state: "Scheduled",
        node: "node-a",
        gpuIndices: [0, 1],
        reason: "placed on node node-a (GPU 0, 1; 4 of 4 were free)",
      });

      const action = await h.nodeA.claimNext("start", id);
      expect(action).toMatchObject({ attempts: 1, leaseMs: ACTION_LEASE_MS });
      expect(action.payload).toMatchObject({ sessionId: id, name: "train-resnet", gpuIndices: [0, 1] });
      const ref = { actionId: action.id, claimToken: action.claimToken };

      await h.agentApi.agent.starting.mutate(ref);
      expect(await sessionOf(h.alice, id)).toMatchObject({ state: "Starting", reason: "starting on node node-a" });

      await h.agentApi.agent.complete.mutate({ ...ref, outcome: { ok: true, result: jupyterFor(id) } });
      const running = await sessionOf(h.alice, id);
      expect(running).toMatchObject({
        state: "Running",
        node: "node-a",
        gpuIndices: [0, 1],
        hasJupyter: true,
        startedAt: h.clock.now().toISOString(),
        reason: "running on node node-a (GPU 0, 1) with Jupyter",
      });
      // The Jupyter token is only handed out by `open`.
      expect(JSON.stringify(running)).not.toContain(`jt-${id}`);

      const events = await eventsOf(h.alice, id);
      expect(events.map((e) => [e.fromState, e.toState, e.actor])).toEqual([
        [null, "Pending", "user:alice"],
        ["Pending", "Scheduled", "control-plane"],
        ["Scheduled", "Starting", "agent:node-a"],
        ["Starting", "Running", "agent:node-a"],
      ]);
      for (const e of events) expect(e.reason.trim()).not.toBe("");
      expect(events.map((e) => BigInt(e.id))).toEqual(events.map((e) => BigInt(e.id)).toSorted((a, b) => (a < b ? -1 : 1)));

      const nodeA = (await h.alice.nodes.list.query()).find((n) => n.name === "node-a");
      expect(nodeA).toMatchObject({ gpusAllocated: 2, sessions: [{ id, owner: "alice", state: "Running", gpuIndices: [0, 1] }] });
    });

    it("opens for its owner with the Jupyter token", async () => {
      const { url } = await h.alice.sessions.open.query({ id });
      const { jupyterUrl, jupyterToken } = jupyterFor(id);
      expect(url).toBe(`${jupyterUrl}?token=${jupyterToken}`);
    });

    it("refuses requests that make no sense while Running", async () => {
      await expectTRPCError(
        h.alice.sessions.resume.mutate({ id }),
        "CONFLICT",
        `cannot resume train-resnet (${id}): session is Running; only Stopped, Parked, Failed sessions can be resumed`,
      );
      expect(await sessionOf(h.alice, id)).toMatchObject({ state: "Running" });
    });

    it("stops: Stopping, one stop action, then Stopped with its GPUs released", async () => {
      await expect(h.alice.sessions.stop.mutate({ id })).resolves.toMatchObject({
        state: "Stopping",
        desiredState: "stopped",
        reason: "stopped by alice",
        node: "node-a",
      });
      await h.tick();
      const stop = await h.nodeA.claimNext("stop", id);
      expect(stop.payload).toEqual({ sessionId: id, purge: false });
      // Another tick while the stop is in flight queues nothing new.
      await h.tick();
      await expect(h.nodeA.claim()).resolves.toBeNull();

      await h.nodeA.stop(stop);
      const stopped = await sessionOf(h.alice, id);
      expect(stopped).toMatchObject({
        state: "Stopped",
        node: null,
        gpuIndices: [],
        hasJupyter: false,
        stoppedAt: h.clock.now().toISOString(),
        reason: "stopped by alice; GPUs released on node node-a",
      });
      expect((await h.alice.nodes.list.query()).find((n) => n.name === "node-a")).toMatchObject({ gpusAllocated: 0, sessions: [] });
      expect((await eventsOf(h.alice, id)).slice(-2).map((e) => [e.fromState, e.toState])).toEqual([
        ["Running", "Stopping"],
        ["Stopping", "Stopped"],
      ]);
    });

    it("refuses requests that make no sense while Stopped", async () => {
      await expectTRPCError(h.alice.sessions.park.mutate({ id }), "CONFLICT", "session is Stopped; only Running sessions can be parked");
      await expectTRPCError(h.alice.sessions.stop.mutate({ id }), "CONFLICT", "session is Stopped; only Pending, Scheduled, Starting, Running, Lost sessions can be stopped");
      await expectTRPCError(h.alice.sessions.open.query({ id }), "CONFLICT", "session train-resnet is Stopped; it can be opened once Running");
    });

    it("resumes: Pending, then placed again", async () => {
      await expect(h.alice.sessions.resume.mutate({ id })).resolves.toMatchObject({
        state: "Pending",
        desiredState: "running",
        stoppedAt: null,
        reason: "resumed by alice; waiting to be scheduled",
      });
      await h.tick();
      expect(await sessionOf(h.alice, id)).toMatchObject({ state: "Scheduled", node: "node-a", gpuIndices: [0, 1] });
    });

    it("deletes: the queued start is cancelled, the stop runs, and it ends Terminated and hidden", async () => {
      await expect(h.alice.sessions.delete.mutate({ id })).resolves.toMatchObject({
        state: "Stopping",
        desiredState: "terminated",
        reason: "deleted by alice",
      });
      await h.tick();
      // The start queued by the resume was never claimed: the agent gets the stop, not a start.
      await h.nodeA.stop(await h.nodeA.claimNext("stop", id));
      await expect(h.nodeA.claim()).resolves.toBeNull();

      expect(await sessionOf(h.alice, id)).toMatchObject({
        state: "Terminated",
        desiredState: "terminated",
        node: null,
        reason: "deleted by alice; GPUs released on node node-a",
      });
      expect((await h.alice.sessions.list.query()).map((s) => s.id)).not.toContain(id);
      expect((await h.alice.sessions.list.query({ includeTerminated: true })).map((s) => s.id)).toContain(id);
      const terminated = await h.alice.sessions.list.query({ state: "Terminated" });
      expect(terminated.map((s) => s.id)).toContain(id);
      expect(new Set(terminated.map((s) => s.state))).toEqual(new Set(["Terminated"]));
      await expectTRPCError(
        h.alice.sessions.delete.mutate({ id }),
        "CONFLICT",
        "session is Terminated; only Pending, Scheduled, Starting, Running, Stopping, Stopped, Parked, Failed, Lost sessions can be deleted",
      );

      const states = (await eventsOf(h.alice, id)).map((e) => e.toState);
      expect(states).toEqual(["Pending", "Scheduled", "Starting", "Running", "Stopping", "Stopped", "Pending", "Scheduled", "Stopping", "Terminated"]);
      const actions = await h.repos.actions.forSession(id);
      expect(actions.map((a) => [a.kind, a.status]).toReversed()).toEqual([
        ["start", "succeeded"],
        ["stop", "succeeded"],
        ["start", "cancelled"],
        ["stop", "succeeded"],
      ]);
    });
  });

  describe("scheduling reasons, read through the API", () => {
    it("a session that does not fit waits for capacity, and is placed when GPUs free up", async () => {
      await h.addProject("sched-cap", "sim-v100", 8);
      const nodeV = await h.addNode("node-v", "sim-v100", 2);
      const big = await h.alice.sessions.create.mutate({ project: "sched-cap", gpus: 2 });
      await h.tick();
      expect(await sessionOf(h.alice, big.id)).toMatchObject({ state: "Scheduled", node: "node-v" });

      const small = await h.bob.sessions.create.mutate({ project: "sched-cap", gpus: 1 });
      const huge = await h.bob.sessions.create.mutate({ project: "sched-cap", gpus: 3 });
      await h.tick();
      expect(await sessionOf(h.bob, small.id)).toMatchObject({
        state: "Pending",
        reason: "waiting for capacity: needs 1 sim-v100 GPU on one node; at most 0 free right now",
      });
      expect(await sessionOf(h.bob, huge.id)).toMatchObject({
        state: "Pending",
        reason: "waiting for capacity: no node has 3 sim-v100 GPUs; the largest sim-v100 node has 2",
      });
      // The wait is an event too, so `session events` tells the story.
      expect((await eventsOf(h.bob, small.id)).at(-1)).toMatchObject({ fromState: "Pending", toState: "Pending", actor: "control-plane" });
      // An unchanged reason is not recorded again.
      await h.tick();
      expect(await eventsOf(h.bob, small.id)).toHaveLength(2);

      await h.alice.sessions.stop.mutate({ id: big.id });
      await h.tick();
      await nodeV.stop(await nodeV.claimNext("stop", big.id));
      await h.tick();
      expect(await sessionOf(h.bob, small.id)).toMatchObject({ state: "Scheduled", node: "node-v", gpuIndices: [0] });
      expect(await sessionOf(h.bob, huge.id)).toMatchObject({ state: "Pending" });
    });

    it("a session over its project's quota waits with an over-quota reason, though GPUs are free", async () => {
      await h.addProject("sched-quota", "sim-h100", 4);
      await h.addNode("node-h", "sim-h100", 8);
      const first = await h.alice.sessions.create.mutate({ project: "sched-quota", gpus: 3 });
      const second = await h.bob.sessions.create.mutate({ project: "sched-quota", gpus: 3 });
      await h.tick();
      expect(await sessionOf(h.alice, first.id)).toMatchObject({ state: "Scheduled", node: "node-h" });
      expect(await sessionOf(h.bob, second.id)).toMatchObject({
        state: "Pending",
        reason:
          "over quota: project sched-quota uses 3 of its 4 sim-h100 GPUs; this session needs 3 more — waiting for the project's other sessions to stop",
      });
      expect((await h.bob.nodes.list.query()).find((n) => n.name === "node-h")).toMatchObject({ gpuCount: 8, gpusAllocated: 3 });
    });

    it("a cordoned node takes nothing new; a drained node's sessions are parked", async () => {
      await h.addProject("sched-cordon", "sim-l4", 2);
      const nodeL4 = await h.addNode("node-l4", "sim-l4", 2);
      await expect(h.admin.nodes.cordon.mutate({ name: "node-l4" })).resolves.toMatchObject({ schedulable: false, draining: false });

      const s = await h.alice.sessions.create.mutate({ project: "sched-cordon", gpus: 1 });
      await h.tick();
      expect(await sessionOf(h.alice, s.id)).toMatchObject({
        state: "Pending",
        reason: "waiting for capacity: every sim-l4 node is unavailable (node-l4 cordoned)",
      });

      await h.admin.nodes.uncordon.mutate({ name: "node-l4" });
      await h.tick();
      await nodeL4.start(await nodeL4.claimNext("start", s.id));
      expect(await sessionOf(h.alice, s.id)).toMatchObject({ state: "Running", node: "node-l4" });

      await expect(h.admin.nodes.drain.mutate({ name: "node-l4" })).resolves.toMatchObject({ schedulable: false, draining: true });
      await h.tick();
      expect(await sessionOf(h.alice, s.id)).toMatchObject({
        state: "Snapshotting",
        desiredState: "parked",
        reason: `node node-l4 is draining: parking the session (snapshot, verify, release) so it can resume on another node; \`daybox session resume ${s.id}\``,
      });
      await h.tick();
      const park = await nodeL4.claim();
      expect(park).toMatchObject({ kind: "park", sessionId: s.id });
      expect(await nodeL4.claim(), "one park, however many ticks").toBeNull();
      await h.agentApi.agent.complete.mutate({
        actionId: park!.id,
        claimToken: park!.claimToken,
        outcome: { ok: true, result: { snapshotId: "snap-drained-01", parentId: null, storeUrl: "file:///s", sizeBytes: 10, newBytes: 10, fileCount: 1, durationMs: 5 } },
      });
      expect(await sessionOf(h.alice, s.id)).toMatchObject({ state: "Parked", node: null, parkedSnapshotId: "snap-drained-01" });

      const later = await h.alice.sessions.create.mutate({ project: "sched-cordon", gpus: 1 });
      await h.tick();
      expect(await sessionOf(h.alice, later.id)).toMatchObject({
        state: "Pending",
        reason: "waiting for capacity: every sim-l4 node is unavailable (node-l4 draining)",
      });
      expect((await h.alice.nodes.list.query()).find((n) => n.name === "node-l4")).toMatchObject({ gpusAllocated: 0, draining: true });
    });

    it("cordoning an unknown node is NOT_FOUND and says where to look", async () => {
      await expectTRPCError(h.admin.nodes.cordon.mutate({ name: "node-zz" }), "NOT_FOUND", "node node-zz not found", "daybox node ls");
    });
  });

  describe("action leases", () => {
    it("an expired lease passes the action to the next claimant, and only its claim can complete it", async () => {
      const s = await h.alice.sessions.create.mutate({ project: "vision", gpus: 1, name: "lease-test" });
      await h.tick();
      const first = await h.nodeA.claimNext("start", s.id);
      // A live lease is not handed out twice.
      await expect(h.nodeA.claim()).resolves.toBeNull();

      h.clock.advance(ACTION_LEASE_MS + 1);
      const restarted = new FakeAgent(h.agentApi, h.nodeA.node);
      await expect(restarted.register()).resolves.toEqual({ nodeId: h.nodeA.nodeId, leaseMs: ACTION_LEASE_MS });
      const second = await restarted.claimNext("start", s.id);
      expect(second).toMatchObject({ id: first.id, attempts: 2 });
      expect(second.claimToken).not.toBe(first.claimToken);

      const stale = { actionId: first.id, claimToken: first.claimToken };
      const noLonger = `action ${first.id} is no longer claimed by this agent`;
      await expectTRPCError(h.agentApi.agent.starting.mutate(stale), "CONFLICT", noLonger, "lease expired");
      await expectTRPCError(h.agentApi.agent.complete.mutate({ ...stale, outcome: { ok: true, result: jupyterFor(s.id) } }), "CONFLICT", noLonger);
      await expectTRPCError(h.agentApi.agent.complete.mutate({ ...stale, outcome: { ok: false, error: "boom" } }), "CONFLICT", noLonger);
      await expect(h.agentApi.agent.renew.mutate(stale)).resolves.toEqual({ ok: false });
      expect(await sessionOf(h.alice, s.id)).toMatchObject({ state: "Scheduled" });

      await restarted.start(second);
      expect(await sessionOf(h.alice, s.id)).toMatchObject({ state: "Running" });
      // Completed is final, even for the claim that completed it.
      await expectTRPCError(
        h.agentApi.agent.complete.mutate({ actionId: second.id, claimToken: second.claimToken, outcome: { ok: true, result: {} } }),
        "CONFLICT",
        `action ${second.id} is no longer claimed`,
      );

      expect(await h.repos.actions.byId(first.id)).toMatchObject({ status: "succeeded", attempts: 2, claimToken: second.claimToken });
      const events = await eventsOf(h.alice, s.id);
      expect(events.filter((e) => e.toState === "Running")).toHaveLength(1);
      expect(events.filter((e) => e.toState === "Starting")).toHaveLength(1);
    });

    it("a renewed lease is not taken over", async () => {
      const s = await h.alice.sessions.create.mutate({ project: "vision", gpus: 1, name: "renew-test" });
      await h.tick();
      const action = await h.nodeA.claimNext("start", s.id);
      h.clock.advance(ACTION_LEASE_MS - 1_000);
      await expect(h.agentApi.agent.renew.mutate({ actionId: action.id, claimToken: action.claimToken })).resolves.toEqual({ ok: true });
      h.clock.advance(2_000);
      await expect(h.nodeA.claim()).resolves.toBeNull();
      await h.nodeA.start(action);
      expect(await h.repos.actions.byId(action.id)).toMatchObject({ status: "succeeded", attempts: 1 });
    });

    it("a failed start fails the session, releasing its GPUs, with the agent's error as the reason", async () => {
      const s = await h.alice.sessions.create.mutate({ project: "vision", gpus: 1, name: "doomed" });
      await h.tick();
      const action = await h.nodeA.claimNext("start", s.id);
      await h.agentApi.agent.complete.mutate({
        actionId: action.id,
        claimToken: action.claimToken,
        outcome: { ok: false, error: "image default: no such image" },
      });
      expect(await sessionOf(h.alice, s.id)).toMatchObject({
        state: "Failed",
        node: null,
        gpuIndices: [],
        reason: "failed to start on node node-a: image default: no such image",
      });
      expect(await h.repos.actions.byId(action.id)).toMatchObject({ status: "failed", error: "image default: no such image" });
    });
  });

  describe("agent reports", () => {
    it("a start completion with a malformed result is BAD_REQUEST, and the claim stays open for a corrected one", async () => {
      const s = await h.alice.sessions.create.mutate({ project: "vision", gpus: 1, name: "terminal-only" });
      await h.tick();
      const action = await h.nodeA.claimNext("start", s.id);
      const ref = { actionId: action.id, claimToken: action.claimToken };

      await expectTRPCError(
        h.agentApi.agent.complete.mutate({ ...ref, outcome: { ok: true, result: { jupyterUrl: "not a url", jupyterToken: null } } }),
        "BAD_REQUEST",
        "jupyterUrl",
      );
      expect(await h.repos.actions.byId(action.id)).toMatchObject({ status: "claimed" });
      expect(await sessionOf(h.alice, s.id)).toMatchObject({ state: "Scheduled" });

      // `result` is optional in the protocol: a start without it is a terminal-only session.
      await h.agentApi.agent.complete.mutate({ ...ref, outcome: { ok: true } });
      const running = await sessionOf(h.alice, s.id);
      expect(running).toMatchObject({ state: "Running", hasJupyter: false });
      expect(running.reason).toContain("terminal only: no `jupyter` on the node");
      await expectTRPCError(h.alice.sessions.open.query({ id: s.id }), "CONFLICT", "terminal-only", `daybox attach ${s.id}`);

      // Release node-a's GPU for the tests that follow.
      await h.alice.sessions.stop.mutate({ id: s.id });
      await h.tick();
      await h.nodeA.stop(await h.nodeA.claimNext("stop", s.id));
      expect(await sessionOf(h.alice, s.id)).toMatchObject({ state: "Stopped", gpuIndices: [] });
    });

    it("a report that a session exited, from a node it does not run on, changes nothing", async () => {
      const s = await runningSession(h.alice, h.nodeA, { project: "vision", gpus: 1, name: "exit-elsewhere" });
      const elsewhere = await h.addNode("node-b", "sim-b", 1);
      // e.g. a late report from the node the session ran on before it was stopped and resumed elsewhere.
      await expect(
        h.agentApi.agent.sessionExited.mutate({ nodeId: elsewhere.nodeId, sessionId: s.id, detail: "exit status 0" }),
      ).resolves.toEqual({ ok: false });
      expect(await sessionOf(h.alice, s.id)).toMatchObject({ state: "Running", node: "node-a" });

      // Release node-a's GPU for the tests that follow.
      await h.alice.sessions.stop.mutate({ id: s.id });
      await h.tick();
      await h.nodeA.stop(await h.nodeA.claimNext("stop", s.id));
      expect(await sessionOf(h.alice, s.id)).toMatchObject({ state: "Stopped", gpuIndices: [] });
    });

    it("a report that a session exited, from its own node, fails it and releases its GPUs", async () => {
      const s = await runningSession(h.alice, h.nodeA, { project: "vision", gpus: 1, name: "exit-here" });
      await expect(
        h.agentApi.agent.sessionExited.mutate({ nodeId: h.nodeA.nodeId, sessionId: s.id, detail: "exit status 137" }),
      ).resolves.toEqual({ ok: true });
      expect(await sessionOf(h.alice, s.id)).toMatchObject({
        state: "Failed",
        node: null,
        gpuIndices: [],
        reason: "the session's processes exited on node node-a: exit status 137",
      });
    });
  });

  describe("live events (SSE)", () => {
    /**
     * Subscribes to sessions.watch from the current end of the event log.
     * `failures` holds errors as the client saw them: "fatal" ends the
     * subscription (onError), "retrying" means the client reconnects.
     */
    async function watch(c: ApiClient, input: { sessionId?: string } = {}) {
      const events: SessionEventDto[] = [];
      const failures: { how: "fatal" | "retrying"; err: TRPCClientError<AppRouter> }[] = [];
      const lastEventId = String(await h.repos.sessions.lastEventId());
      const sub = c.sessions.watch.subscribe(
        { ...input, lastEventId },
        {
          onData: (tracked) => events.push(tracked.data),
          onError: (err) => failures.push({ how: "fatal", err }),
          onConnectionStateChange: (state) => {
            if (state.state === "connecting" && state.error) failures.push({ how: "retrying", err: state.error });
          },
        },
      );
      return { events, failures, stop: () => sub.unsubscribe() };
    }

    it("streams a session's transitions to its owner as they happen, and not to bob", async () => {
      const alice = await watch(h.alice);
      const bob = await watch(h.bob);
      try {
        const s = await h.alice.sessions.create.mutate({ project: "vision", gpus: 1, name: "watched" });
        await vi.waitFor(() => expect(alice.events.map((e) => [e.sessionId, e.toState])).toEqual([[s.id, "Pending"]]), { timeout: 5_000 });

        await h.alice.sessions.stop.mutate({ id: s.id });
        await vi.waitFor(
          () => expect(alice.events.map((e) => e.toState)).toEqual(["Pending", "Stopped"]),
          { timeout: 5_000 },
        );
        expect(alice.events[1]).toMatchObject({ sessionName: "watched", fromState: "Pending", reason: "stopped by alice", actor: "user:alice" });

        // bob's stream is live (it gets his own session), yet it never carried alice's events, which came first.
        const mine = await h.bob.sessions.create.mutate({ project: "vision", gpus: 1, name: "bobs" });
        await vi.waitFor(() => expect(bob.events.map((e) => e.sessionId)).toContain(mine.id), { timeout: 5_000 });
        expect(bob.events.map((e) => e.sessionId)).toEqual([mine.id]);
        expect(alice.events.map((e) => e.sessionId)).not.toContain(mine.id);
        expect([...alice.failures, ...bob.failures]).toEqual([]);
        await h.bob.sessions.delete.mutate({ id: mine.id });
      } finally {
        alice.stop();
        bob.stop();
      }
    });

    it("refuses to stream someone else's session: NOT_FOUND, as for byId", async () => {
      const s = await h.alice.sessions.create.mutate({ project: "vision", gpus: 1, name: "not-for-bob" });
      const bob = await watch(h.bob, { sessionId: s.id });
      try {
        await vi.waitFor(() => expect(bob.failures.length).toBeGreaterThan(0), { timeout: 5_000 });
        const { how, err } = bob.failures[0]!;
        expect(err).toBeInstanceOf(TRPCClientError);
        expect(err.message).toContain(`session ${s.id} not found`);
        expectReadable(err);
        // NOT_FOUND ends the subscription; a server error would make the client reconnect forever.
        expect({ how, code: err.data?.code }).toEqual({ how: "fatal", code: "NOT_FOUND" });
        expect(bob.events).toEqual([]);
      } finally {
        bob.stop();
        await h.alice.sessions.delete.mutate({ id: s.id });
      }
    });

    it("refuses a bad token on the stream with UNAUTHORIZED, once", async () => {
      const stranger = await watch(clientWithHeader(h.url, "Bearer dbx_nope"));
      try {
        await vi.waitFor(() => expect(stranger.failures.length).toBeGreaterThan(0), { timeout: 5_000 });
        const { how, err } = stranger.failures[0]!;
        expect({ how, code: err.data?.code }).toEqual({ how: "fatal", code: "UNAUTHORIZED" });
        expect(err.message).toContain("malformed API token");
        expectReadable(err);
      } finally {
        stranger.stop();
      }
    });
  });

  describe("reclaim policies", () => {
    const doc = (over: Record<string, unknown> = {}) => ({ name: "vision-idle", scope: { kind: "project", project: "reclaim-dry" }, idle: { after: "30m" }, warning: "5m", ...over });

    it("admins apply versioned policies, audited with who and why; unchanged documents write nothing", async () => {
      await expectTRPCError(h.alice.policies.apply.mutate({ document: doc(), reason: "try" }), "FORBIDDEN", "only admins");
      const v1 = await h.admin.policies.apply.mutate({ document: doc(), reason: "first cut" });
      expect(v1).toMatchObject({ name: "vision-idle", version: 1, changed: true, scope: "project:reclaim-dry", action: "park", createdBy: "admin" });
      expect(v1.summary).toBe("park after 30m 0s of no kernel or terminal activity and GPU util < 5%; warn 5m 0s before");
      expect(v1.document).toMatchObject({ idle: { after: "30m" }, warning: "5m" });
      expect(await h.admin.policies.apply.mutate({ document: doc(), reason: "again" })).toMatchObject({ version: 1, changed: false });
      const v2 = await h.admin.policies.apply.mutate({ document: doc({ idle: { after: "45m" } }), reason: "people complained" });
      expect(v2).toMatchObject({ version: 2, changed: true });

      // Researchers can read the rules they live by; only the active version is listed.
      const listed = (await h.alice.policies.list.query()).filter((p) => p.name === "vision-idle");
      expect(listed.map((p) => p.version)).toEqual([2]);
      expect(await h.alice.policies.show.query({ name: "vision-idle", version: 1 })).toMatchObject({ version: 1, active: false, reason: "first cut" });
      const history = await h.admin.policies.history.query({ name: "vision-idle" });
      expect(history.map((p) => [p.version, p.active, p.reason])).toEqual([
        [2, true, "people complained"],
        [1, false, "first cut"],
      ]);
      const log = await h.admin.audit.list.query({ limit: 10, action: "policy." });
      expect(log.slice(0, 2).map((r) => [r.actor, r.action, r.target, r.details])).toEqual([
        ["admin", "policy.apply", "policy:vision-idle", { version: 2, reason: "people complained", previous: 1 }],
        ["admin", "policy.apply", "policy:vision-idle", { version: 1, reason: "first cut", previous: null }],
      ]);
    });

    it.each([
      [{ name: "p", idle: { after: "soon" } }, 'idle.after: "soon" is not a duration'],
      [{ name: "p", idle: { after: "30m" }, warning: "1h" }, "warning (1h 0m) must be shorter than idle.after (30m 0s)"],
      [{ name: "p", idle: { after: "30m" }, action: "explode" }, "action"],
      [{ name: "p", idle: { after: "30m" }, unknownField: 1 }, "unknownField"],
    ])("refuses an invalid policy %j with a readable error", async (bad, says) => {
      await expectTRPCError(h.admin.policies.apply.mutate({ document: bad, reason: "x" }), "BAD_REQUEST", "invalid policy", says);
      await expectTRPCError(h.admin.policies.dryRun.mutate({ document: bad }), "BAD_REQUEST", says);
    });

    it("requires a reason, and removal keeps the history", async () => {
      await expectTRPCError(h.admin.policies.apply.mutate({ document: doc({ name: "temp" }), reason: " " }), "BAD_REQUEST", "reason");
      await h.admin.policies.apply.mutate({ document: doc({ name: "temp" }), reason: "trial" });
      await expectTRPCError(h.alice.policies.remove.mutate({ name: "temp", reason: "x" }), "FORBIDDEN");
      await expect(h.admin.policies.remove.mutate({ name: "temp", reason: "trial over" })).resolves.toEqual({ name: "temp", removed: true });
      expect((await h.admin.policies.list.query()).map((p) => p.name)).not.toContain("temp");
      expect(await h.admin.policies.history.query({ name: "temp" })).toHaveLength(1);
      await expectTRPCError(h.admin.policies.remove.mutate({ name: "temp", reason: "again" }), "NOT_FOUND", "active policy temp not found");
      await expectTRPCError(h.admin.policies.show.query({ name: "nope" }), "NOT_FOUND", "policy nope not found");
    });

    it("dry-run shows which running sessions a policy would warn or leave alone, and why, from real agent signals", async () => {
      await h.addProject("reclaim-dry", "sim-t4", 4);
      const node = await h.addNode("node-t4", "sim-t4", 4);
      const busy = await runningSession(h.alice, node, { project: "reclaim-dry", gpus: 1, name: "busy" });
      const idle = await runningSession(h.bob, node, { project: "reclaim-dry", gpus: 1, name: "idle" });
      await runningSession(h.bob, node, { project: "reclaim-dry", gpus: 1, name: "silent" });
      const start = h.clock.now().getTime();
      h.clock.advance(40 * 60_000);
      const now = h.clock.now().getTime();
      const gpu = (util: number): [number, number][] => Array.from({ length: 41 }, (_, i) => [start + i * 60_000, util]);
      const reported = await h.agentApi.agent.activity.mutate({
        nodeId: node.nodeId,
        reports: [
          { sessionId: busy.id, kernel: { busy: false, lastActivityAt: new Date(now - 20_000).toISOString() }, terminalLastActivityAt: null, gpu: gpu(80), cpu: [] },
          { sessionId: idle.id, kernel: { busy: false, lastActivityAt: new Date(start).toISOString() }, terminalLastActivityAt: null, gpu: gpu(1), cpu: [] },
          // Another node's session: ignored.
          { sessionId: "ses-000000000000", kernel: null, terminalLastActivityAt: null, gpu: [], cpu: [] },
        ],
      });
      expect(reported).toEqual({ accepted: 2 });

      const dry = await h.admin.policies.dryRun.mutate({ document: doc({ idle: { after: "30m" } }) });
      expect(dry).toMatchObject({ policy: { name: "vision-idle", version: 3 }, governed: 3, counts: { active: 2, warn: 1, reclaim: 0 } });
      const by = new Map(dry.verdicts.map((v) => [v.session, v]));
      expect(by.get("busy")).toMatchObject({ kind: "active", owner: "alice" });
      expect(by.get("busy")!.reason).toMatch(/^active: GPU util 80% /);
      expect(by.get("idle")).toMatchObject({ kind: "warn", owner: "bob", idleSince: new Date(start).toISOString() });
      expect(by.get("idle")!.reason).toMatch(/^no kernel or terminal activity and GPU util < 5% for 40m 0s; policy 'vision-idle' v3 parks after 30m 0s: park at /);
      expect(by.get("silent")!.reason).toMatch(/no fresh activity signals from its node \(none yet\)/);
      // What the portal charts and shows: the history behind the verdict, for those who can see the session.
      const sig = await h.bob.sessions.signals.query({ id: idle.id });
      expect(sig.gpu).toHaveLength(41);
      expect(sig.kernelBusy).toEqual([[now, 0]]);
      expect(sig.kernel).toEqual({ busy: false, lastActivityAt: new Date(start).toISOString() });
      expect(sig.verdict).toMatchObject({ sessionId: idle.id });
      expect((await h.bob.sessions.reclaimStatus.query()).map((v) => v.sessionId)).toEqual(expect.arrayContaining([idle.id]));
      await expectTRPCError(h.carol.sessions.signals.query({ id: idle.id }), "NOT_FOUND");
      expect((await h.carol.sessions.reclaimStatus.query()).map((v) => v.sessionId)).not.toContain(idle.id);
      // A dry run changes nothing.
      expect((await h.admin.policies.show.query({ name: "vision-idle" })).version).toBe(2);
      // Researchers cannot run one.
      await expectTRPCError(h.alice.policies.dryRun.mutate({ document: doc() }), "FORBIDDEN");
    });
  });

  describe("park, resume and the reclaim loop", () => {
    const snap = (id: string, over: Record<string, unknown> = {}) => ({
      snapshotId: id,
      parentId: null,
      storeUrl: "file:///var/lib/daybox/snapshots",
      sizeBytes: 3_000_000,
      newBytes: 1_000_000,
      fileCount: 120,
      durationMs: 800,
      ...over,
    });
    const nodeOf = async (name: string) => (await h.admin.nodes.list.query()).find((n) => n.name === name)!;
    let node: FakeAgent;
    const stopSession = async (id: string, owner = h.alice) => {
      await owner.sessions.stop.mutate({ id });
      await h.tick();
      await node.stop(await node.claimNext("stop", id));
    };

    beforeAll(async () => {
      await h.addProject("parking", "sim-l40", 2);
      node = await h.addNode("node-park", "sim-l40", 2);
    });

    it("parks on request: snapshots while holding the GPUs, releases them only with a verified snapshot, resumes from it", async () => {
      const s = await runningSession(h.alice, node, { project: "parking", gpus: 2, gpuType: "sim-l40", name: "park-me" });
      const parking = await h.alice.sessions.park.mutate({ id: s.id });
      expect(parking).toMatchObject({ state: "Snapshotting", reason: "park requested by alice: snapshotting before the GPUs are released" });
      // Still holding its GPUs: nothing else can be placed there until the snapshot is committed.
      expect(await nodeOf("node-park")).toMatchObject({ gpusAllocated: 2 });
      await expectTRPCError(h.alice.sessions.park.mutate({ id: s.id }), "CONFLICT", "session is Snapshotting");
      await expectTRPCError(h.alice.sessions.stop.mutate({ id: s.id }), "CONFLICT", "session is Snapshotting");

      const park = await node.claim();
      expect(park).toMatchObject({ kind: "park", sessionId: s.id, payload: { project: "parking", parentSnapshotId: null, gpuIndices: [0, 1] } });
      await h.agentApi.agent.complete.mutate({
        actionId: park!.id,
        claimToken: park!.claimToken,
        outcome: { ok: true, result: { ...snap("snap-final-0001", { parentId: "snap-pre-00001", newBytes: 4096 }), preCopy: snap("snap-pre-00001") } },
      });
      const parked = await sessionOf(h.alice, s.id);
      expect(parked).toMatchObject({ state: "Parked", node: null, gpuIndices: [], parkedSnapshotId: "snap-final-0001" });
      expect(parked.reason).toBe("parked: snapshot snap-final-0001 committed and verified (120 files, 2.9 MB, 4.0 KB new); GPUs released on node node-park");
      expect(await nodeOf("node-park")).toMatchObject({ gpusAllocated: 0 });
      const snaps = await h.alice.sessions.snapshots.query({ id: s.id });
      expect(snaps.map((x) => [x.id, x.parentId])).toEqual([
        ["snap-final-0001", "snap-pre-00001"],
        ["snap-pre-00001", null],
      ]);
      // Nobody else can resume it.
      await expectTRPCError(h.bob.sessions.resume.mutate({ id: s.id }), "NOT_FOUND");

      h.clock.advance(1000);
      const resumed = await h.alice.sessions.resume.mutate({ id: s.id });
      expect(resumed).toMatchObject({ state: "Pending", reason: "resumed by alice; waiting to be scheduled, then restored from snapshot snap-final-0001" });
      await h.tick();
      const start = await node.claimNext("start", s.id);
      expect(start.payload).toMatchObject({ restoreSnapshotId: "snap-final-0001", project: "parking" });
      const ref = { actionId: start.id, claimToken: start.claimToken };
      await h.agentApi.agent.starting.mutate({ ...ref, restoring: "snap-final-0001" });
      expect((await sessionOf(h.alice, s.id)).reason).toBe("restoring snapshot snap-final-0001 on node node-park, then starting");
      h.clock.advance(2400);
      await h.agentApi.agent.complete.mutate({ ...ref, outcome: { ok: true, result: { ...jupyterFor(s.id), restoreMs: 1100, fetchedBytes: 3_300_000 } } });
      const back = await sessionOf(h.alice, s.id);
      expect(back).toMatchObject({ state: "Running", parkedSnapshotId: null, gpuIndices: [0, 1] });
      expect(back.reason).toBe("running on node node-park (GPU 0, 1) with Jupyter; resumed in 2.4s (restore 1.1s, 3.1 MB from the store)");
      const states = (await eventsOf(h.alice, s.id)).map((e) => e.toState);
      expect(states.slice(-6)).toEqual(["Snapshotting", "Parked", "Pending", "Scheduled", "Starting", "Running"]);
      await stopSession(s.id);
    });

    it("keeps each session's newest snapshots: a snapshot names the older ones to delete once it is committed", async () => {
      const s = await runningSession(h.alice, node, { project: "parking", gpus: 1, gpuType: "sim-l40", name: "keeps-five" });
      const request = async () => {
        await h.alice.sessions.snapshot.mutate({ id: s.id });
        return node.claimNext("snapshot", s.id);
      };
      const complete = (a: { id: string; claimToken: string }, id: string, report: Record<string, unknown> = {}) => {
        h.clock.advance(1000);
        return h.agentApi.agent.complete.mutate({ actionId: a.id, claimToken: a.claimToken, outcome: { ok: true, result: { ...snap(id), ...report } } });
      };
      const listed = async () => (await h.alice.sessions.snapshots.query({ id: s.id })).map((x) => x.id);
      const ref = (id: string) => ({ id, storeUrl: snap(id).storeUrl });
      for (let i = 1; i <= 5; i++) {
        const a = await request();
        expect(a.payload).toMatchObject({ project: "parking", parentSnapshotId: i === 1 ? null : `snap-keep-000${i - 1}`, retire: [] });
        await complete(a, `snap-keep-000${i}`);
      }
      // The sixth makes six: the oldest goes once the sixth is committed, and only what the action named is
      // marked deleted (not the new one, not one it did not name).
      const sixth = await request();
      expect(sixth.payload).toMatchObject({ retire: [ref("snap-keep-0001")] });
      await complete(sixth, "snap-keep-0006", { forgottenSnapshots: ["snap-keep-0001", "snap-keep-0006", "snap-keep-0003"] });
      expect(await listed()).toEqual(["snap-keep-0006", "snap-keep-0005", "snap-keep-0004", "snap-keep-0003", "snap-keep-0002"]);
      const newest = async () => (await h.alice.sessions.snapshots.query({ id: s.id }))[0]!;
      expect((await newest()).reason).toBe("snapshot requested by alice; 1 older snapshot(s) deleted (retention keeps the newest)");
      // A store that fails, or a report that cannot be read: the snapshot stands, the old ones stay listed, and
      // the next snapshot names them again.
      const seventh = await request();
      expect(seventh.payload).toMatchObject({ retire: [ref("snap-keep-0002")] });
      await complete(seventh, "snap-keep-0007", { forgetError: "store unreachable (ECONNREFUSED)" });
      expect((await newest()).reason).toBe("snapshot requested by alice; older snapshots not deleted (store unreachable (ECONNREFUSED)): the next snapshot tries again");
      const eighth = await request();
      expect(eighth.payload).toMatchObject({ retire: [ref("snap-keep-0003"), ref("snap-keep-0002")] });
      await complete(eighth, "snap-keep-0008", { forgottenSnapshots: "all" });
      expect(await newest()).toMatchObject({ id: "snap-keep-0008", reason: expect.stringMatching(/^snapshot requested by alice; older snapshots not deleted \(the agent's report of them was unreadable \(forgottenSnapshots: .*\)\): the next snapshot tries again$/) });
      expect(await listed()).toHaveLength(7);
      const ninth = await request();
      expect(ninth.payload).toMatchObject({ parentSnapshotId: "snap-keep-0008", retire: [ref("snap-keep-0004"), ref("snap-keep-0003"), ref("snap-keep-0002")] });
      await complete(ninth, "snap-keep-0009", { forgottenSnapshots: ["snap-keep-0004", "snap-keep-0003", "snap-keep-0002"] });
      expect(await listed()).toEqual(["snap-keep-0009", "snap-keep-0008", "snap-keep-0007", "snap-keep-0006", "snap-keep-0005"]);
      // A failed snapshot deletes nothing, whatever its report says.
      const failed = await request();
      await h.agentApi.agent.complete.mutate({ actionId: failed.id, claimToken: failed.claimToken, outcome: { ok: false, error: "disk full", result: { forgottenSnapshots: ["snap-keep-0005"] } } });
      expect(await listed()).toHaveLength(5);
      // A park names them too (its pre-copy and final are both new).
      await h.alice.sessions.park.mutate({ id: s.id });
      const park = await node.claimNext("park", s.id);
      expect(park.payload).toMatchObject({ parentSnapshotId: "snap-keep-0009", retire: [ref("snap-keep-0005")] });
      h.clock.advance(1000);
      await h.agentApi.agent.complete.mutate({
        actionId: park.id,
        claimToken: park.claimToken,
        outcome: { ok: true, result: { ...snap("snap-keep-final", { parentId: "snap-keep-pre" }), preCopy: snap("snap-keep-pre"), forgottenSnapshots: ["snap-keep-0005"] } },
      });
      expect(await listed()).toEqual(["snap-keep-final", "snap-keep-pre", "snap-keep-0009", "snap-keep-0008", "snap-keep-0007", "snap-keep-0006"]);
      expect(await sessionOf(h.alice, s.id)).toMatchObject({ state: "Parked", parkedSnapshotId: "snap-keep-final" });
      // Deleted: the purge names them all; a store that deletes only some says so, and the rest stay listed.
      await h.alice.sessions.delete.mutate({ id: s.id });
      const purge = await node.claimNext("stop", s.id);
      const named = (purge.payload as { snapshots: { id: string }[] }).snapshots.map((x) => x.id);
      expect(named).toHaveLength(6);
      await h.agentApi.agent.complete.mutate({
        actionId: purge.id,
        claimToken: purge.claimToken,
        outcome: { ok: true, result: { purged: true, forgottenSnapshots: named.slice(0, 4), forgetError: "snapshot snap-keep-0008: access denied" } },
      });
      expect(await listed()).toEqual(named.slice(4).reverse());
      expect((await sessionOf(h.alice, s.id)).reason).toMatch(
        /; 4 snapshot\(s\) deleted from the store \(node node-park prunes the data only they held\); others could not be deleted \(snapshot snap-keep-0008: access denied\): `daybox snapshot rm` against the project's repository does it$/,
      );
    });

    it("deleting a session its lost node held has another node of the same repository delete its snapshots", async () => {
      const s3 = "s3://daybox/snapshots/parking";
      await h.admin.projects.setQuota.mutate({ project: "parking", gpuType: "sim-h200", guaranteed: 5 });
      const doomed = await h.addNode("node-doomed", "sim-h200", 5);
      const takeSnapshot = async (agent: FakeAgent, sessionId: string, id: string, storeUrl: string) => {
        await h.alice.sessions.snapshot.mutate({ id: sessionId });
        const a = await agent.claimNext("snapshot", sessionId);
        await h.agentApi.agent.complete.mutate({ actionId: a.id, claimToken: a.claimToken, outcome: { ok: true, result: snap(id, { storeUrl }) } });
      };
      const onDoomed = (name: string) => runningSession(h.alice, doomed, { project: "parking", gpus: 1, gpuType: "sim-h200", name });
      const lost = await onDoomed("lost-then-deleted");
      await takeSnapshot(doomed, lost.id, "snap-doomed-01", s3);
      const local = await onDoomed("in-its-node-repo");
      await takeSnapshot(doomed, local.id, "snap-doomed-02", "file:///var/lib/daybox/snapshots/parking");
      const stopped = await onDoomed("stopped-while-lost");
      await takeSnapshot(doomed, stopped.id, "snap-doomed-04", s3);
      // Parked there, then deleted: its purge waits for node-doomed.
      const parked = await onDoomed("parked-then-deleted");
      await h.alice.sessions.park.mutate({ id: parked.id });
      const park = await doomed.claimNext("park", parked.id);
      await h.agentApi.agent.complete.mutate({ actionId: park.id, claimToken: park.claimToken, outcome: { ok: true, result: snap("snap-doomed-05", { storeUrl: s3 }) } });
      const deleting = await onDoomed("deleted-as-node-dies");
      await takeSnapshot(doomed, deleting.id, "snap-doomed-03", s3);
      expect(await h.alice.sessions.delete.mutate({ id: parked.id })).toMatchObject({ state: "Terminated" });
      expect(await h.alice.sessions.delete.mutate({ id: deleting.id })).toMatchObject({ state: "Stopping" });
      // node-park stores its snapshots in the same S3 repository (and a file:// one under the same URL as node-doomed's).
      const other = await runningSession(h.alice, node, { project: "parking", gpus: 1, gpuType: "sim-l40", name: "on-park" });
      await takeSnapshot(node, other.id, "snap-onpark-01", s3);
      await takeSnapshot(node, other.id, "snap-onpark-02", "file:///var/lib/daybox/snapshots/parking");

      await h.repos.nodes.setClusterStatus({ clusterName: "local", name: "node-doomed", status: "the node is gone", lost: true, at: h.clock.now() });
      // The purge node-doomed had not done goes to node-park, for the snapshots.
      const moved = await node.claimNext("stop", parked.id);
      expect(moved.payload).toEqual({ sessionId: parked.id, purge: true, project: "parking", snapshots: [{ id: "snap-doomed-05", storeUrl: s3 }] });
      await h.agentApi.agent.complete.mutate({ actionId: moved.id, claimToken: moved.claimToken, outcome: { ok: true, result: { purged: true, forgottenSnapshots: ["snap-doomed-05"] } } });
      expect(await h.alice.sessions.snapshots.query({ id: parked.id })).toEqual([]);
      // Not on node-doomed any more: what it would claim next is the stop of the session still holding GPUs there.
      expect((await doomed.claim())?.sessionId).toBe(deleting.id);
      await h.tick();
      // Being deleted when its node was lost: its stop there is cancelled; node-park deletes its snapshots.
      expect(await sessionOf(h.alice, deleting.id)).toMatchObject({ state: "Terminated" });
      const first = await node.claimNext("stop", deleting.id);
      expect(first.payload).toEqual({ sessionId: deleting.id, purge: true, project: "parking", snapshots: [{ id: "snap-doomed-03", storeUrl: s3 }] });
      await h.agentApi.agent.complete.mutate({ actionId: first.id, claimToken: first.claimToken, outcome: { ok: true, result: { purged: true, forgottenSnapshots: ["snap-doomed-03"] } } });
      expect(await h.alice.sessions.snapshots.query({ id: deleting.id })).toEqual([]);

      // Lost (waiting to be placed again: no other sim-h200 node), then deleted.
      expect(await sessionOf(h.alice, lost.id)).toMatchObject({ state: "Lost" });
      expect(await h.alice.sessions.delete.mutate({ id: lost.id })).toMatchObject({ state: "Terminated" });
      const purge = await node.claimNext("stop", lost.id);
      expect(purge.payload).toMatchObject({ purge: true, project: "parking", snapshots: [{ id: "snap-doomed-01", storeUrl: s3 }] });
      await h.agentApi.agent.complete.mutate({ actionId: purge.id, claimToken: purge.claimToken, outcome: { ok: true, result: { purged: true, forgottenSnapshots: ["snap-doomed-01"] } } });
      expect(await h.alice.sessions.snapshots.query({ id: lost.id })).toEqual([]);
      expect((await sessionOf(h.alice, lost.id)).reason).toMatch(/; 1 snapshot\(s\) deleted from the store \(node node-park prunes the data only they held\)$/);

      // Stopped while Lost: it keeps the snapshot it was to be restored from, and resumes from it.
      expect(await h.alice.sessions.stop.mutate({ id: stopped.id })).toMatchObject({ state: "Stopped", parkedSnapshotId: "snap-doomed-04" });
      expect(await h.alice.sessions.resume.mutate({ id: stopped.id })).toMatchObject({ state: "Pending", reason: "resumed by alice; waiting to be scheduled, then restored from snapshot snap-doomed-04" });
      await h.alice.sessions.stop.mutate({ id: stopped.id });

      // A file:// repository is each node's own, whatever its URL: no other node is asked, and its snapshot stays listed.
      expect(await h.alice.sessions.delete.mutate({ id: local.id })).toMatchObject({ state: "Terminated" });
      expect(await node.claim()).toBeNull();
      expect((await h.alice.sessions.snapshots.query({ id: local.id })).map((x) => x.id)).toEqual(["snap-doomed-02"]);
      await stopSession(other.id);
    });

    it("a failed park keeps the session running, on its GPUs, and says why", async () => {
      const s = await runningSession(h.alice, node, { project: "parking", gpus: 1, gpuType: "sim-l40", name: "park-fails" });
      await h.alice.sessions.park.mutate({ id: s.id });
      const park = await node.claim();
      await h.agentApi.agent.complete.mutate({
        actionId: park!.id,
        claimToken: park!.claimToken,
        outcome: { ok: false, error: "snapshot failed: store unreachable (ECONNREFUSED)", result: { jupyterUrl: "http://127.0.0.1:18999/lab", jupyterToken: "jt-new" } },
      });
      const after = await sessionOf(h.alice, s.id);
      expect(after).toMatchObject({ state: "Running", gpuIndices: [0], parkedSnapshotId: null });
      expect(after.reason).toBe("park failed, the session keeps running on node node-park: snapshot failed: store unreachable (ECONNREFUSED)");
      expect(await h.alice.sessions.open.query({ id: s.id })).toEqual({ url: "http://127.0.0.1:18999/lab?token=jt-new" });
      expect(await h.alice.sessions.snapshots.query({ id: s.id })).toEqual([]);
      await stopSession(s.id);
    });

    it("keep-alive: only for Running sessions, only by their owner, within bounds", async () => {
      const s = await runningSession(h.alice, node, { project: "parking", gpus: 1, gpuType: "sim-l40", name: "keep-me" });
      await expectTRPCError(h.bob.sessions.keepAlive.mutate({ id: s.id, forMs: 3_600_000 }), "NOT_FOUND");
      await expectTRPCError(h.alice.sessions.keepAlive.mutate({ id: s.id, forMs: 1000 }), "BAD_REQUEST", "at least 1 minute");
      const kept = await h.alice.sessions.keepAlive.mutate({ id: s.id, forMs: 2 * 3_600_000 });
      expect(kept.keepAliveUntil).toBe(new Date(h.clock.now().getTime() + 2 * 3_600_000).toISOString());
      expect((await eventsOf(h.alice, s.id)).at(-1)!.reason).toBe(`kept alive by alice until ${kept.keepAliveUntil}`);
      await stopSession(s.id);
      await expectTRPCError(h.alice.sessions.keepAlive.mutate({ id: s.id, forMs: 3_600_000 }), "CONFLICT", "only Running sessions can be kept alive");
    });

    it("an idle session is warned once, then parked when the warning runs out; a busy one is left alone", async () => {
      await h.admin.policies.apply.mutate({
        document: { name: "parking-idle", scope: { kind: "project", project: "parking" }, idle: { after: "30m", signals: ["kernel", "gpu"] }, warning: "5m" },
        reason: "integration test",
      });
      const idle = await runningSession(h.alice, node, { project: "parking", gpus: 1, gpuType: "sim-l40", name: "idler" });
      const busy = await runningSession(h.bob, node, { project: "parking", gpus: 1, gpuType: "sim-l40", name: "worker" });
      const t0 = h.clock.now().getTime();
      const report = (busyUtil: number) =>
        h.agentApi.agent.activity.mutate({
          nodeId: node.nodeId,
          reports: [
            { sessionId: idle.id, kernel: { busy: false, lastActivityAt: new Date(t0).toISOString() }, terminalLastActivityAt: null, gpu: [[h.clock.now().getTime(), 0]], cpu: [] },
            { sessionId: busy.id, kernel: { busy: true, lastActivityAt: h.clock.now().toISOString() }, terminalLastActivityAt: null, gpu: [[h.clock.now().getTime(), busyUtil]], cpu: [] },
          ],
        });
      for (let m = 0; m <= 26; m += 2) {
        await report(90);
        await h.reclaim();
        h.clock.advance(2 * 60_000);
      }
      // Warned on entering the warning window (26 min idle), exactly once.
      await report(90);
      await h.reclaim();
      await h.reclaim();
      const warned = await sessionOf(h.alice, idle.id);
      expect(warned).toMatchObject({ state: "Running" });
      expect(warned.warnedAt).not.toBeNull();
      const warnings = (await eventsOf(h.alice, idle.id)).filter((e) => e.reason.startsWith("warning: "));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.reason).toMatch(/^warning: no kernel activity and GPU util < 5% for 26m 0s; policy 'parking-idle' v1 parks after 30m 0s: park at .*; activity or keep-alive cancels this$/);
      expect(await sessionOf(h.bob, busy.id)).toMatchObject({ state: "Running", warnedAt: null });

      h.clock.advance(3 * 60_000);
      await report(90);
      const r = await h.reclaim();
      expect(r.verdicts.find((v) => v.sessionId === idle.id)).toMatchObject({ kind: "reclaim", action: "park" });
      const parking = await sessionOf(h.alice, idle.id);
      expect(parking.state).toBe("Snapshotting");
      expect(parking.reason).toMatch(/^reclaimed: no kernel activity and GPU util < 5% for 31m 0s; policy 'parking-idle' v1 parks after 30m 0s/);
      const park = await node.claim();
      expect(park).toMatchObject({ kind: "park", sessionId: idle.id });
      expect(await sessionOf(h.bob, busy.id)).toMatchObject({ state: "Running" });
      await h.agentApi.agent.complete.mutate({ actionId: park!.id, claimToken: park!.claimToken, outcome: { ok: true, result: snap("snap-idler-0001") } });
      expect(await sessionOf(h.alice, idle.id)).toMatchObject({ state: "Parked", parkedSnapshotId: "snap-idler-0001" });
      await stopSession(busy.id, h.bob);
      await h.admin.policies.remove.mutate({ name: "parking-idle", reason: "test over" });
    });

    it("extends a warned session as many times as the policy allows, and says why not after that", async () => {
      // The project's webhook receives the warning.
      const received: Record<string, unknown>[] = [];
      const hookServer = http.createServer((req, res) => {
        let body = "";
        req.on("data", (d: Buffer) => (body += d.toString()));
        req.on("end", () => {
          received.push({ ...(JSON.parse(body) as Record<string, unknown>), contentType: req.headers["content-type"] });
          res.end("ok");
        });
      });
      await new Promise<void>((r) => hookServer.listen(0, "127.0.0.1", r));
      const hookUrl = `http://127.0.0.1:${(hookServer.address() as AddressInfo).port}/daybox`;
      await expectTRPCError(h.alice.projects.setWebhook.mutate({ project: "parking", url: hookUrl }), "FORBIDDEN");
      await expectTRPCError(h.admin.projects.setWebhook.mutate({ project: "parking", url: "ftp://example.com/x" }), "BAD_REQUEST", "must be an http:// or https:// URL");
      expect(await h.admin.projects.setWebhook.mutate({ project: "parking", url: hookUrl })).toEqual({ project: "parking", webhook: hookUrl });

      const s = await runningSession(h.alice, node, { project: "parking", gpus: 1, gpuType: "sim-l40", name: "extend-me" });
      await expectTRPCError(h.alice.sessions.extend.mutate({ id: s.id }), "CONFLICT", "no reclaim policy applies to extend-me");
      await h.admin.policies.apply.mutate({
        document: { name: "parking-ext", scope: { kind: "project", project: "parking" }, idle: { after: "30m", signals: ["gpu"] }, warning: "5m", extensions: { max: 1, each: "2h" } },
        reason: "integration test",
      });
      const report = () =>
        h.agentApi.agent.activity.mutate({ nodeId: node.nodeId, reports: [{ sessionId: s.id, kernel: null, terminalLastActivityAt: null, gpu: [[h.clock.now().getTime(), 0]], cpu: [] }] });
      for (let m = 0; m <= 26; m += 2) {
        await report();
        await h.reclaim();
        h.clock.advance(2 * 60_000);
      }
      await report();
      await h.reclaim();
      const warned = await sessionOf(h.alice, s.id);
      expect(warned.warnedAt).not.toBeNull();
      expect(warned.reason).toContain("activity, keep-alive or an extension cancels this");
      await vi.waitFor(() => expect(received).toHaveLength(1), { timeout: 5_000 });
      expect(received[0]).toMatchObject({
        event: "session.warning",
        contentType: "application/json",
        session: { id: s.id, name: "extend-me", owner: "alice", project: "parking", gpuType: "sim-l40", gpuCount: 1 },
        reason: warned.reason,
        policy: { name: "parking-ext", version: 1 },
      });
      await h.admin.projects.setWebhook.mutate({ project: "parking", url: null });
      hookServer.close();

      await expectTRPCError(h.bob.sessions.extend.mutate({ id: s.id }), "NOT_FOUND");
      const extended = await h.alice.sessions.extend.mutate({ id: s.id });
      expect(extended.warnedAt).toBeNull();
      expect(new Date(extended.keepAliveUntil!).getTime()).toBe(h.clock.now().getTime() + 2 * 3_600_000);
      expect((await eventsOf(h.alice, s.id)).at(-1)!.reason).toBe(`extended by alice until ${extended.keepAliveUntil} (extension 1 of 1 under policy 'parking-ext' v1)`);
      const r = await h.reclaim();
      expect(r.verdicts.find((v) => v.sessionId === s.id)).toMatchObject({ kind: "exempt", canExtend: false });
      await expectTRPCError(h.alice.sessions.extend.mutate({ id: s.id }), "CONFLICT", "extend-me has used all 1 extensions policy 'parking-ext' v1 allows this run");
      await h.admin.policies.remove.mutate({ name: "parking-ext", reason: "test over" });
      await stopSession(s.id);
    });

    it("takes periodic background snapshots at the policy's interval, one at a time", async () => {
      await h.admin.policies.apply.mutate({
        document: { name: "parking-snap", scope: { kind: "project", project: "parking" }, idle: { after: "1d" }, snapshotInterval: "1h" },
        reason: "limit what a dead node loses",
      });
      const s = await runningSession(h.alice, node, { project: "parking", gpus: 1, gpuType: "sim-l40", name: "snapped" });
      const busy = () =>
        h.agentApi.agent.activity.mutate({
          nodeId: node.nodeId,
          reports: [{ sessionId: s.id, kernel: { busy: true, lastActivityAt: h.clock.now().toISOString() }, terminalLastActivityAt: null, gpu: [[h.clock.now().getTime(), 70]], cpu: [] }],
        });
      const snapshotActions = async () => (await h.alice.sessions.activity.query({ id: s.id })).filter((a) => a.kind === "snapshot");
      h.clock.advance(59 * 60_000);
      await busy();
      await h.reclaim();
      expect(await snapshotActions()).toEqual([]);
      h.clock.advance(2 * 60_000);
      await busy();
      await h.reclaim();
      await h.reclaim();
      const [queued, ...more] = await snapshotActions();
      expect(more).toEqual([]);
      expect(queued).toMatchObject({ status: "pending", reason: "periodic snapshot: policy 'parking-snap' v1 snapshots every 1h 0m" });
      const claimed = await node.claim();
      expect(claimed).toMatchObject({ kind: "snapshot", sessionId: s.id, payload: { project: "parking", parentSnapshotId: null } });
      await h.agentApi.agent.complete.mutate({ actionId: claimed!.id, claimToken: claimed!.claimToken, outcome: { ok: true, result: snap("snap-periodic-1") } });
      h.clock.advance(30 * 60_000);
      await busy();
      await h.reclaim();
      expect(await snapshotActions()).toHaveLength(1);
      h.clock.advance(31 * 60_000);
      await busy();
      await h.reclaim();
      const next = await node.claim();
      expect(next).toMatchObject({ kind: "snapshot", payload: { parentSnapshotId: "snap-periodic-1" } });
      // A failed one is retried after a tenth of the interval, not on every tick.
      await h.agentApi.agent.complete.mutate({ actionId: next!.id, claimToken: next!.claimToken, outcome: { ok: false, error: "store unreachable" } });
      await busy();
      await h.reclaim();
      expect(await node.claim()).toBeNull();
      h.clock.advance(7 * 60_000);
      await busy();
      await h.reclaim();
      const retry = await node.claim();
      expect(retry).toMatchObject({ kind: "snapshot", payload: { parentSnapshotId: "snap-periodic-1" } });
      await h.agentApi.agent.complete.mutate({ actionId: retry!.id, claimToken: retry!.claimToken, outcome: { ok: true, result: snap("snap-periodic-2") } });
      expect(await sessionOf(h.alice, s.id)).toMatchObject({ state: "Running" });
      await stopSession(s.id);
      await h.admin.policies.remove.mutate({ name: "parking-snap", reason: "test over" });
    });
  });

  describe("batch jobs, preemption and resume latency", () => {
    let node: FakeAgent;
    const jobOf = (c: ApiClient, id: string) => c.jobs.byId.query({ id });
    const claimJob = async (kind: "job_run" | "job_stop", jobId: string) => {
      const a = await node.claim();
      expect(a, `expected ${kind} for ${jobId}`).toMatchObject({ kind, jobId });
      return a!;
    };
    const done = (a: { id: string; claimToken: string }, result: Record<string, unknown> = {}) =>
      h.agentApi.agent.complete.mutate({ actionId: a.id, claimToken: a.claimToken, outcome: { ok: true, result } });
    const exited = (jobId: string, attempt: number, over: Partial<{ exitCode: number | null; signal: string | null; killedAfterGraceMs: number | null; runtimeMs: number }> = {}) =>
      h.agentApi.agent.jobExited.mutate({ nodeId: node.nodeId, jobId, attempt, exitCode: 0, signal: null, killedAfterGraceMs: null, runtimeMs: 1000, ...over });

    beforeAll(async () => {
      await h.addProject("interactive", "sim-gb300", 2);
      await h.addProject("batchwork", "sim-gb300", 0);
      node = await h.addNode("node-batch", "sim-gb300", 2);
    });

    it("a job runs on GPUs a parked session freed, is preempted when the session resumes, requeued, and finishes later", async () => {
      const s = await runningSession(h.alice, node, { project: "interactive", gpus: 2, gpuType: "sim-gb300", name: "notebook" });
      const submitted = await h.bob.jobs.submit.mutate({ project: "batchwork", gpus: 2, gpuType: "sim-gb300", command: ["python", "train.py", "--epochs", "3"], name: "train" });
      expect(submitted).toMatchObject({
        state: "Queued",
        gpuType: "sim-gb300",
        gracePeriodSeconds: 30,
        reason: "submitted by bob; queued (it will borrow GPUs beyond project batchwork's guarantee of 0 sim-gb300, so it may be preempted)",
      });
      const j = submitted.id;
      await h.tick();
      expect(await jobOf(h.bob, j)).toMatchObject({ state: "Queued", reason: "queued: needs 2 sim-gb300 GPUs on one node; at most 0 free right now" });

      // The session parks: its GPUs go to the job.
      await h.alice.sessions.park.mutate({ id: s.id });
      const park = await node.claim();
      await done(park!, { snapshotId: "snap-notebook-1", parentId: null, storeUrl: "file:///s", sizeBytes: 10, newBytes: 10, fileCount: 1, durationMs: 5 });
      expect(await sessionOf(h.alice, s.id)).toMatchObject({ state: "Parked" });
      await h.tick();
      const run = await claimJob("job_run", j);
      expect(run.payload).toMatchObject({ command: ["python", "train.py", "--epochs", "3"], gpuIndices: [0, 1], attempt: 1 });
      await done(run, { pid: 4242 });
      expect(await jobOf(h.bob, j)).toMatchObject({
        state: "Running",
        node: "node-batch",
        attempts: 1,
        reason: "running on node node-batch (GPU 0, 1), attempt 1",
      });
      expect((await h.admin.nodes.list.query()).find((n) => n.name === "node-batch")).toMatchObject({ gpusAllocated: 2, gpusForJobs: 2 });
      await h.agentApi.agent.jobLog.mutate({ nodeId: node.nodeId, jobId: j, attempt: 1, data: "epoch 1/3\n" });

      // The owner resumes: the borrowing job is preempted with its grace period.
      h.clock.advance(10 * 60_000);
      await h.alice.sessions.resume.mutate({ id: s.id });
      await h.tick();
      expect((await sessionOf(h.alice, s.id)).reason).toBe(`waiting for capacity: preempting batch job ${j} on node node-batch (grace period up to 30s)`);
      expect(await jobOf(h.bob, j)).toMatchObject({
        state: "Preempting",
        reason: `preempted for session ${s.id} (project interactive), which needs 2 sim-gb300 GPUs on node node-batch: the job borrows beyond project batchwork's guarantee`,
      });
      const stop = await claimJob("job_stop", j);
      expect(stop.payload).toMatchObject({ jobId: j, attempt: 1, graceMs: 30_000 });
      await done(stop, { signalled: true });
      await h.tick();
      expect((await sessionOf(h.alice, s.id)).reason).toBe(`waiting for capacity: batch job ${j} on node node-batch is being stopped (grace period up to 30s)`);
      expect(await node.claim()).toBeNull(); // nothing is placed on GPUs still held

      h.clock.advance(4_000);
      expect(await exited(j, 1, { exitCode: null, signal: "SIGTERM", runtimeMs: 600_000 })).toEqual({ ok: true });
      const requeued = await jobOf(h.bob, j);
      expect(requeued).toMatchObject({ state: "Queued", node: null, gpuIndices: [], preemptions: 1, attempts: 1 });
      expect(requeued.reason).toMatch(/; killed by SIGTERM on node node-batch after 10m 0s; requeued \(attempt 1 of this job was preempted\)$/);

      await h.tick();
      expect(await jobOf(h.bob, j)).toMatchObject({ state: "Queued", reason: "queued: needs 2 sim-gb300 GPUs on one node; at most 0 free right now" });
      const start = await node.claimNext("start", s.id);
      await h.agentApi.agent.starting.mutate({ actionId: start.id, claimToken: start.claimToken, restoring: "snap-notebook-1" });
      h.clock.advance(1_500);
      await done(start, { ...jupyterFor(s.id), restoreMs: 1_000, fetchedBytes: 0, restoreSource: "cache" });
      const back = await sessionOf(h.alice, s.id);
      expect(back.state).toBe("Running");
      expect(back.lastResume).toMatchObject({ totalMs: 5_500, schedulingMs: 4_000, preemptionMs: 4_000, restoreMs: 1_000, startMs: 500, restoreSource: "cache", fetchedBytes: 0, node: "node-batch" });
      expect(await h.alice.sessions.resumes.query({ id: s.id })).toHaveLength(1);

      // The session stops; the job runs again (attempt 2) and finishes. A late report about attempt 1 changes nothing.
      await h.alice.sessions.stop.mutate({ id: s.id });
      await h.tick();
      await node.stop(await node.claimNext("stop", s.id));
      await h.tick();
      const rerun = await claimJob("job_run", j);
      expect(rerun.payload).toMatchObject({ attempt: 2 });
      await done(rerun);
      expect(await exited(j, 1, { exitCode: 1 })).toEqual({ ok: false });
      await h.agentApi.agent.jobLog.mutate({ nodeId: node.nodeId, jobId: j, attempt: 2, data: "resumed from checkpoint\ndone\n" });
      expect(await exited(j, 2, { exitCode: 0, runtimeMs: 65_000 })).toEqual({ ok: true });
      const finished = await jobOf(h.bob, j);
      expect(finished).toMatchObject({ state: "Succeeded", exitCode: 0, attempts: 2, preemptions: 1, reason: "exited with code 0 on node node-batch after 1m 5s" });
      const events = await h.bob.jobs.events.query({ id: j });
      expect(events.map((e) => e.toState)).toEqual(["Queued", "Queued", "Scheduled", "Running", "Preempting", "Queued", "Queued", "Scheduled", "Running", "Succeeded"]);
      const logs = await h.bob.jobs.logs.query({ id: j });
      expect(logs.chunks.map((c) => [c.attempt, c.data])).toEqual([
        [1, "epoch 1/3\n"],
        [2, "resumed from checkpoint\ndone\n"],
      ]);
      expect(await h.bob.jobs.logs.query({ id: j, after: logs.cursor })).toMatchObject({ chunks: [], state: "Succeeded", cursor: logs.cursor });
      expect(await h.bob.jobs.list.query()).not.toContainEqual(expect.objectContaining({ id: j }));
      expect(await h.bob.jobs.list.query({ all: true })).toContainEqual(expect.objectContaining({ id: j }));
    });

    it("never preempts a job inside its own project's guarantee; cancelling stops it like a preemption, without requeue", async () => {
      await h.admin.projects.setQuota.mutate({ project: "batchwork", gpuType: "sim-gb300", guaranteed: 2 });
      const { id: j } = await h.bob.jobs.submit.mutate({ project: "batchwork", gpus: 2, gpuType: "sim-gb300", command: ["sleep", "infinity"], priority: -5, gracePeriodSeconds: 5 });
      await h.tick();
      expect((await jobOf(h.bob, j)).reason).toBe("placed on node node-batch (GPU 0, 1); within project batchwork's guarantee of 2");
      await done(await claimJob("job_run", j));
      const s = await h.alice.sessions.create.mutate({ project: "interactive", gpus: 1, gpuType: "sim-gb300", name: "waits" });
      await h.tick();
      expect((await sessionOf(h.alice, s.id)).reason).toBe("waiting for capacity: needs 1 sim-gb300 GPU on one node; at most 0 free right now");
      expect(await jobOf(h.bob, j)).toMatchObject({ state: "Running" });

      const cancelling = await h.bob.jobs.cancel.mutate({ id: j });
      expect(cancelling).toMatchObject({ state: "Cancelling", reason: "cancelled by bob" });
      await expectTRPCError(h.bob.jobs.cancel.mutate({ id: j }), "CONFLICT", "job is Cancelling");
      const stop = await claimJob("job_stop", j);
      expect(stop.payload).toMatchObject({ graceMs: 5_000 });
      await done(stop);
      await exited(j, 1, { exitCode: null, signal: "SIGKILL", killedAfterGraceMs: 5_000, runtimeMs: 9_000 });
      expect(await jobOf(h.bob, j)).toMatchObject({ state: "Cancelled", reason: "cancelled by bob; killed with SIGKILL on node node-batch after 9s: it was still running 5s after SIGTERM" });
      await h.tick();
      expect(await sessionOf(h.alice, s.id)).toMatchObject({ state: "Scheduled" });
      await node.start(await node.claimNext("start", s.id));
      await h.alice.sessions.stop.mutate({ id: s.id });
      await h.tick();
      await node.stop(await node.claimNext("stop", s.id));

      // A queued job is cancelled at once.
      const { id: queued } = await h.bob.jobs.submit.mutate({ project: "batchwork", gpus: 2, gpuType: "sim-gb300", command: ["true"] });
      expect(await h.bob.jobs.cancel.mutate({ id: queued })).toMatchObject({ state: "Cancelled" });
      await h.admin.projects.setQuota.mutate({ project: "batchwork", gpuType: "sim-gb300", guaranteed: 0 });
    });

    it("an agent that restarted without a job's processes gets the job requeued", async () => {
      const { id: j } = await h.bob.jobs.submit.mutate({ project: "batchwork", gpus: 1, gpuType: "sim-gb300", command: ["sleep", "600"] });
      await h.tick();
      await done(await claimJob("job_run", j));
      expect(await h.agentApi.agent.jobsPresent.mutate({ nodeId: node.nodeId, jobIds: [] })).toEqual({ lost: 1 });
      const lost = await jobOf(h.bob, j);
      expect(lost).toMatchObject({ state: "Queued", preemptions: 1 });
      expect(lost.reason).toContain("the agent on node node-batch restarted and no longer runs it; its processes were gone; requeued");
      await h.bob.jobs.cancel.mutate({ id: j });
    });

    it("accounts capacity per project (sessions, batch, borrowed, idle, GPU-hours reclaimed) and exposes it as Prometheus metrics", async () => {
      await h.admin.policies.apply.mutate({
        document: { name: "usage-idle", scope: { kind: "project", project: "interactive" }, idle: { after: "30m", signals: ["gpu"] }, warning: "2m" },
        reason: "integration test",
      });
      const idler = await runningSession(h.alice, node, { project: "interactive", gpus: 1, gpuType: "sim-gb300", name: "idler" });
      const report = (id: string, util: number) =>
        h.agentApi.agent.activity.mutate({ nodeId: node.nodeId, reports: [{ sessionId: id, kernel: null, terminalLastActivityAt: null, gpu: [[h.clock.now().getTime(), util]], cpu: [] }] });
      for (let m = 0; m <= 32; m += 2) {
        await report(idler.id, 0);
        await h.reclaim();
        h.clock.advance(2 * 60_000);
      }
      await report(idler.id, 0);
      await h.reclaim();
      expect(await sessionOf(h.alice, idler.id)).toMatchObject({ state: "Snapshotting" });
      const park = await node.claim();
      await done(park!, { snapshotId: "snap-idler-usage", parentId: null, storeUrl: "file:///s", sizeBytes: 10, newBytes: 10, fileCount: 1, durationMs: 5 });
      await h.admin.policies.remove.mutate({ name: "usage-idle", reason: "test over" });

      // On the freed GPUs: a borrowing job, and a session of alice's that idles.
      const { id: j } = await h.bob.jobs.submit.mutate({ project: "batchwork", gpus: 1, gpuType: "sim-gb300", command: ["python", "sweep.py"] });
      await h.tick();
      await done(await claimJob("job_run", j));
      const other = await runningSession(h.alice, node, { project: "interactive", gpus: 1, gpuType: "sim-gb300", name: "other" });
      h.clock.advance(2 * 3_600_000);
      await report(other.id, 1);

      const u = await h.bob.usage.summary.query({ since: "24h" });
      expect(u.projects).toEqual(
        expect.arrayContaining([
          { project: "interactive", gpuType: "sim-gb300", guaranteed: 2, sessions: 1, batch: 0, borrowed: 0, idleAllocated: 1, gpuHoursReclaimed: 2 },
          { project: "batchwork", gpuType: "sim-gb300", guaranteed: 0, sessions: 0, batch: 1, borrowed: 1, idleAllocated: 0, gpuHoursReclaimed: 0 },
        ]),
      );
      expect(u.fleet.find((f) => f.gpuType === "sim-gb300")).toEqual({ gpuType: "sim-gb300", total: 2, allocated: 2, sessions: 1, batch: 1, busy: 1, idleAllocated: 1, unknown: 0, free: 0, gpuHoursReclaimed: 2 });
      // carol is in neither project: fleet totals only.
      const forCarol = await h.carol.usage.summary.query();
      expect(forCarol.projects.map((p) => p.project)).not.toContain("interactive");
      expect(forCarol.fleet.map((f) => f.gpuType)).toContain("sim-gb300");
      await expectTRPCError(h.bob.usage.summary.query({ since: "-1h" }), "BAD_REQUEST", "since: expected a duration like 24h or 7d");

      const scrape = (token?: string) => fetch(`${h.url}/metrics`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
      expect((await scrape()).status).toBe(401);
      const forbidden = await scrape(h.tokens.alice);
      expect(forbidden.status).toBe(403);
      expect(await forbidden.json()).toEqual({ error: "metrics are for admins; alice is a researcher" });
      const res = await scrape(h.tokens.admin);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain("text/plain; version=0.0.4");
      const body = await res.text();
      for (const line of [
        'daybox_gpus{gpu_type="sim-gb300",state="total"} 2',
        'daybox_gpus{gpu_type="sim-gb300",state="idle_allocated"} 1',
        'daybox_gpus{gpu_type="sim-gb300",state="busy"} 1',
        'daybox_project_gpus{project="batchwork",gpu_type="sim-gb300",holder="borrowed"} 1',
        'daybox_gpu_hours_reclaimed_total{gpu_type="sim-gb300"} 2',
        "# TYPE daybox_resume_duration_seconds histogram",
      ]) {
        expect(body.split("\n"), line).toContain(line);
      }
      expect(body).toMatch(/^daybox_job_preemptions_total [1-9]\d*$/m);
      expect(body).toMatch(/^daybox_resume_duration_seconds_bucket\{phase="total",le="10"\} [1-9]\d*$/m);
      expect(body).toMatch(/^daybox_resume_duration_seconds_bucket\{phase="preemption",le="5"\} [1-9]\d*$/m);
      expect(body).toMatch(/^daybox_reclaim_parks_total [1-9]\d*$/m);

      // A parked session can be deleted; the reclaimed time stops counting then.
      const kept = await h.alice.sessions.snapshots.query({ id: idler.id });
      expect(kept.length).toBeGreaterThan(0);
      expect(await h.alice.sessions.delete.mutate({ id: idler.id })).toMatchObject({ state: "Terminated" });
      // The node that kept its directory is told to delete it, and the session's snapshots (where they are stored).
      const purge = await node.claim();
      expect(purge).toMatchObject({ kind: "stop", sessionId: idler.id, payload: { purge: true, project: "interactive" } });
      const named = (purge!.payload as { snapshots: { id: string; storeUrl: string }[] }).snapshots;
      expect(named.map((x) => x.id).sort()).toEqual(kept.map((x) => x.id).sort());
      await expect(done(purge!, { purged: true, forgottenSnapshots: "all" })).rejects.toThrow(/invalid stop result — forgottenSnapshots: /);
      await done(purge!, { purged: true, forgottenSnapshots: named.map((x) => x.id) });
      expect(await h.alice.sessions.snapshots.query({ id: idler.id })).toEqual([]);
      expect(await sessionOf(h.alice, idler.id)).toMatchObject({ state: "Terminated" });
      expect((await sessionOf(h.alice, idler.id)).reason).toMatch(new RegExp(`; ${named.length} snapshot\\(s\\) deleted from the store \\(node \\S+ prunes the data only they held\\)$`));
      h.clock.advance(3_600_000);
      expect((await h.bob.usage.summary.query({ since: "24h" })).projects.find((p) => p.project === "interactive")).toMatchObject({ gpuHoursReclaimed: 2 });

      await h.bob.jobs.cancel.mutate({ id: j });
      await done(await claimJob("job_stop", j));
      await exited(j, 1, { exitCode: 0 });
      // Deleted while its stop runs: once stopped, its node is told to purge it too.
      await h.alice.sessions.stop.mutate({ id: other.id });
      await h.tick();
      const stopping = await node.claimNext("stop", other.id);
      expect(stopping.payload).toMatchObject({ purge: false });
      expect(await h.alice.sessions.delete.mutate({ id: other.id })).toMatchObject({ state: "Stopping", desiredState: "terminated" });
      await node.stop(stopping);
      expect(await sessionOf(h.alice, other.id)).toMatchObject({ state: "Terminated" });
      const followUp = await node.claimNext("stop", other.id);
      expect(followUp.payload).toMatchObject({ purge: true, project: "interactive", snapshots: [] });
      await done(followUp, { purged: true });
    });

    it("refuses bad job requests with what was wrong, and hides other users' jobs", async () => {
      await expectTRPCError(h.bob.jobs.submit.mutate({ project: "batchwork", gpus: 1, command: [] }), "BAD_REQUEST", "command", "give the command to run after `--`");
      await expectTRPCError(h.bob.jobs.submit.mutate({ project: "batchwork", gpus: 0, command: ["x"] }), "BAD_REQUEST", "gpus", "must be at least 1");
      await expectTRPCError(h.bob.jobs.submit.mutate({ project: "batchwork", gpus: 1, command: ["x"], gracePeriodSeconds: -1 }), "BAD_REQUEST", "gracePeriodSeconds", "must not be negative");
      await expectTRPCError(h.bob.jobs.submit.mutate({ project: "batchwork", gpus: 1, command: ["x"], priority: 1000 }), "BAD_REQUEST", "priority", "at most 100");
      await expectTRPCError(h.bob.jobs.submit.mutate({ project: "batchwork", gpus: 1, gpuType: "sim-nope", command: ["x"] }), "BAD_REQUEST", "no node has sim-nope GPUs (the cluster has");
      await expectTRPCError(h.carol.jobs.submit.mutate({ project: "batchwork", gpus: 1, gpuType: "sim-gb300", command: ["x"] }), "PRECONDITION_FAILED", "you are not a member of project batchwork");
      await expectTRPCError(h.bob.jobs.byId.query({ id: "nope" }), "BAD_REQUEST", "expected a job id like job-0a1b2c3d4e5f");

      const { id: j } = await h.bob.jobs.submit.mutate({ project: "batchwork", gpus: 1, gpuType: "sim-gb300", command: ["echo", "secret"] });
      await expectTRPCError(h.alice.jobs.byId.query({ id: j }), "NOT_FOUND", `job ${j} not found`);
      await expectTRPCError(h.alice.jobs.logs.query({ id: j }), "NOT_FOUND");
      await expectTRPCError(h.alice.jobs.cancel.mutate({ id: j }), "NOT_FOUND");
      expect(await h.alice.jobs.list.query({ all: true })).not.toContainEqual(expect.objectContaining({ id: j }));
      expect(await h.admin.jobs.byId.query({ id: j })).toMatchObject({ owner: "bob" });
      await h.bob.jobs.cancel.mutate({ id: j });
    });
  });

  describe("audit log", () => {
    it("records admin actions with who did them", async () => {
      await h.admin.projects.setQuota.mutate({ project: "vision", gpuType: "sim-a100", guaranteed: 6 });
      await h.admin.nodes.cordon.mutate({ name: "node-a" });
      await h.admin.nodes.uncordon.mutate({ name: "node-a" });
      const erin = await h.admin.users.create.mutate({ name: "erin" });
      expect(erin).toMatchObject({ name: "erin", role: "researcher" });
      await expect(h.client(erin.token).auth.whoami.query()).resolves.toEqual({ name: "erin", role: "researcher", email: null, via: "token", projects: [] });
      await expectTRPCError(h.admin.users.create.mutate({ name: "erin" }), "CONFLICT", "user erin already exists");

      const log = await h.admin.audit.list.query({ limit: 1000 });
      expect(log.map((r) => BigInt(r.id))).toEqual(log.map((r) => BigInt(r.id)).toSorted((a, b) => (a > b ? -1 : 1)));
      expect(log.slice(0, 4).map((r) => [r.actor, r.action, r.target])).toEqual([
        ["admin", "user.create", "user:erin"],
        ["admin", "node.uncordon", "node:node-a"],
        ["admin", "node.cordon", "node:node-a"],
        ["admin", "quota.set", "project:vision"],
      ]);
      expect(log[3]?.details).toEqual({ gpuType: "sim-a100", before: 4, after: 6 });
      expect(log[0]?.details).toEqual({ role: "researcher" });
      expect(log).toContainEqual(expect.objectContaining({ actor: "fake-agent", action: "node.register", target: "node:node-a" }));
      expect(log).toContainEqual(expect.objectContaining({ actor: "admin", action: "node.drain", target: "node:node-l4" }));
      expect(log).toContainEqual(expect.objectContaining({ actor: "admin", action: "project.create", target: "project:sched-cap" }));
      // Secrets never reach the audit log.
      expect(JSON.stringify(log)).not.toContain(erin.token);

      const nodeActions = await h.admin.audit.list.query({ limit: 1000, action: "node." });
      expect(nodeActions.length).toBeGreaterThan(0);
      for (const r of nodeActions) expect(r.action).toMatch(/^node\./);
    });
  });
});
