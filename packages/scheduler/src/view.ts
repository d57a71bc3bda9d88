import type { SessionStateName } from "@daybox/core";

/** What the scheduler sees of a node. */
export interface NodeView {
  id: string;
  name: string;
  gpuType: string;
  gpuCount: number;
  ready: boolean;
  schedulable: boolean;
  draining: boolean;
  lastHeartbeat: Date;
}

/** What the scheduler sees of a session. */
export interface SessionView {
  id: string;
  projectId: string;
  projectName: string;
  gpuType: string;
  gpuCount: number;
  state: SessionStateName;
  desiredState: "running" | "stopped" | "parked" | "terminated";
  reason: string;
  nodeId: string | null;
  gpuIndices: readonly number[];
  createdAt: Date;
  /** An agent action of this kind is pending or claimed for the session. */
  openAction: "start" | "stop" | null;
}

export interface QuotaView {
  projectId: string;
  gpuType: string;
  guaranteed: number;
}

/** A consistent, immutable view of the world, taken once per tick. */
export interface WorldView {
  nodes: readonly NodeView[];
  sessions: readonly SessionView[];
  quotas: readonly QuotaView[];
}

export interface PlanOptions {
  /** A node whose last heartbeat is older than this is NotReady. */
  heartbeatTimeoutMs: number;
}

export const defaultPlanOptions: PlanOptions = { heartbeatTimeoutMs: 30_000 };
