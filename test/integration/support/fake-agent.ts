import { expect } from "vitest";
import type { ApiClient } from "./clients.ts";

export type ClaimedAction = NonNullable<Awaited<ReturnType<ApiClient["agent"]["claim"]["mutate"]>>>;

/**
 * A node agent without processes: it speaks the agent protocol over the real
 * API (register, claim, starting, complete) and pretends the work succeeded.
 */
export class FakeAgent {
  nodeId = "";

  constructor(
    private readonly api: ApiClient,
    readonly node: { name: string; gpuType: string; gpuCount: number },
  ) {}

  /** Registers (or, for a restarted agent, re-registers) the node. */
  async register(): Promise<{ nodeId: string; leaseMs: number }> {
    const registered = await this.api.agent.register.mutate({
      runtime: "local",
      name: this.node.name,
      gpuType: this.node.gpuType,
      gpuCount: this.node.gpuCount,
      agentUrl: `http://127.0.0.1:9/${this.node.name}`,
      agentSecret: `secret-of-${this.node.name}`.padEnd(40, "x"),
      version: "fake-agent/1",
    });
    this.nodeId = registered.nodeId;
    return registered;
  }

  claim(): Promise<ClaimedAction | null> {
    return this.api.agent.claim.mutate({ nodeId: this.nodeId });
  }

  /** Claims the next action and checks it is the one expected. */
  async claimNext(kind: ClaimedAction["kind"], sessionId: string): Promise<ClaimedAction> {
    const action = await this.claim();
    expect(action, `node ${this.node.name} should have a ${kind} action for ${sessionId}`).toMatchObject({ kind, sessionId });
    return action!;
  }

  /** Scheduled → Starting → Running, with Jupyter. */
  async start(action: ClaimedAction): Promise<void> {
    const ref = { actionId: action.id, claimToken: action.claimToken };
    await this.api.agent.starting.mutate(ref);
    await this.api.agent.complete.mutate({ ...ref, outcome: { ok: true, result: jupyterFor(action.sessionId!) } });
  }

  /** Stopping → Stopped (or Terminated). */
  async stop(action: ClaimedAction): Promise<void> {
    await this.api.agent.complete.mutate({ actionId: action.id, claimToken: action.claimToken, outcome: { ok: true, result: {} } });
  }
}

export function jupyterFor(sessionId: string) {
  return { jupyterUrl: `http://127.0.0.1:18888/s/${sessionId}/lab`, jupyterToken: `jt-${sessionId}` };
}
