import { FakeClock } from "@daybox/core";
import { createRepos, type Repos } from "@daybox/db";
import { openTestDatabase, type Database } from "@daybox/db/testing";
import { Notifier, createApiServer, createWebAuth, type ApiServer, type WebAuth } from "@daybox/api";
// An app's source, imported by a cross-package test on purpose: the real reconcile loop, ticked by hand.
import { createReconciler } from "../../../apps/control-plane/src/reconcile.ts";
import { createReclaimer } from "../../../apps/control-plane/src/reclaim.ts";
import { clientFor, type ApiClient } from "./clients.ts";
import { FakeAgent } from "./fake-agent.ts";

export type DatabaseKind = "pglite" | "postgres";

/** Short enough to expire in a test, long enough that nothing expires by accident. */
export const ACTION_LEASE_MS = 30_000;
/** The portal origin the harness's web sign-in trusts (browsers' requests carry it as Origin). */
export const PORTAL_ORIGIN = "http://portal.test";

export interface Seeded {
  /** Token secrets by user name. */
  tokens: { admin: string; alice: string; bob: string; carol: string; dave: string; agent: string };
}

/**
 * One database, one API server over real HTTP, one reconciler ticked by hand,
 * and a fake clock shared by all three, seeded with:
 * - admin; researchers alice, bob (members of "vision", quota sim-a100 = 4),
 *   carol (manager of "nlp") and dave (member of "nlp", quota sim-t4 = 2);
 * - an agent-role user whose token the fake agents use;
 * - node "node-a" (4 × sim-a100), registered through the agent API.
 */
export interface Harness extends Seeded {
  kind: DatabaseKind;
  db: Database;
  repos: Repos;
  clock: FakeClock;
  notifier: Notifier;
  webAuth: WebAuth;
  server: ApiServer;
  url: string;
  admin: ApiClient;
  alice: ApiClient;
  bob: ApiClient;
  carol: ApiClient;
  dave: ApiClient;
  agentApi: ApiClient;
  /** The fake agent of node-a. */
  nodeA: FakeAgent;
  client(token: string): ApiClient;
  /** One reconcile pass: place, wait, stop. */
  tick(): Promise<void>;
  /** One reclaim pass: evaluate policies, warn, park or stop. */
  reclaim(): ReturnType<ReturnType<typeof createReclaimer>["tick"]>;
  /** What the reconciler logged (apply failures show up here). */
  reconcilerLog: string[];
  /** A fake agent for a new node of `gpuType` (registered). */
  addNode(name: string, gpuType: string, gpuCount: number): Promise<FakeAgent>;
  /** A new project via the admin API, with alice and bob as members and one quota. */
  addProject(name: string, gpuType: string, guaranteed: number): Promise<void>;
  close(): Promise<void>;
}

export async function startHarness(kind: DatabaseKind): Promise<Harness> {
  const db = await openTestDatabase(kind);
  try {
    const repos = createRepos(db.prisma);
    const clock = new FakeClock("2026-03-02T09:00:00Z");
    const notifier = new Notifier();
    const seeded = await seed(repos);
    const webAuth = createWebAuth(repos, { secret: "integration-test-secret-0123456789abcdef", publicUrl: PORTAL_ORIGIN });
    const server = await createApiServer(
      { repos, clock, notifier, webAuth, version: "test", actionLeaseMs: ACTION_LEASE_MS },
      { host: "127.0.0.1", port: 0 },
    );
    const reconcilerLog: string[] = [];
    // Heartbeats are not under test here: a long timeout keeps nodes Ready however far the fake clock moves.
    const reconciler = createReconciler({
      repos,
      clock,
      log: (msg) => reconcilerLog.push(msg),
      onChange: () => notifier.notify(),
      options: { heartbeatTimeoutMs: 365 * 86_400_000 },
    });
    const reclaimer = createReclaimer({ repos, clock, log: (msg) => reconcilerLog.push(msg) });
    const client = (token: string) => clientFor(server.url, token);
    const admin = client(seeded.tokens.admin);
    const agentApi = client(seeded.tokens.agent);
    const addNode = async (name: string, gpuType: string, gpuCount: number) => {
      const agent = new FakeAgent(agentApi, { name, gpuType, gpuCount });
      await agent.register();
      return agent;
    };
    const nodeA = await addNode("node-a", "sim-a100", 4);
    return {
      ...seeded,
      kind,
      db,
      repos,
      clock,
      notifier,
      webAuth,
      server,
      url: server.url,
      admin,
      alice: client(seeded.tokens.alice),
      bob: client(seeded.tokens.bob),
      carol: client(seeded.tokens.carol),
      dave: client(seeded.tokens.dave),
      agentApi,
      nodeA,
      client,
      reconcilerLog,
      tick: async () => {
        await reconciler.tick();
      },
      reclaim: () => reclaimer.tick(),
      addNode,
      async addProject(name, gpuType, guaranteed) {
        await admin.projects.create.mutate({ name });
        await admin.projects.addMember.mutate({ project: name, user: "alice" });
        await admin.projects.addMember.mutate({ project: name, user: "bob" });
        await admin.projects.setQuota.mutate({ project: name, gpuType, guaranteed });
      },
      async close() {
        try {
          await server.close();
        } finally {
          await db.close();
        }
      },
    };
  } catch (err) {
    await db.close();
    throw err;
  }
}

async function seed(repos: Repos): Promise<Seeded> {
  const user = async (name: string, role: "admin" | "researcher" | "agent") => {
    const u = await repos.users.create({ name, role });
    const { secret } = await repos.tokens.create({ userId: u.id, name: `${name} test token` });
    return { id: u.id, token: secret };
  };
  const admin = await user("admin", "admin");
  const alice = await user("alice", "researcher");
  const bob = await user("bob", "researcher");
  const carol = await user("carol", "researcher");
  const dave = await user("dave", "researcher");
  const agent = await user("fake-agent", "agent");

  const vision = await repos.projects.create({ name: "vision", description: "computer vision" });
  await repos.projects.setQuota(vision.id, "sim-a100", 4);
  await repos.projects.setMember(vision.id, alice.id, "member");
  await repos.projects.setMember(vision.id, bob.id, "member");

  // No node has sim-t4 GPUs: nlp's sessions stay Pending and never take node-a's GPUs.
  const nlp = await repos.projects.create({ name: "nlp", description: "language models" });
  await repos.projects.setQuota(nlp.id, "sim-t4", 2);
  await repos.projects.setMember(nlp.id, carol.id, "manager");
  await repos.projects.setMember(nlp.id, dave.id, "member");

  return {
    tokens: { admin: admin.token, alice: alice.token, bob: bob.token, carol: carol.token, dave: dave.token, agent: agent.token },
  };
}
