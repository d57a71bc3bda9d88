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
  /** Its cluster lost it (Node object deleted, or NotReady too long): what ran there is recovered elsewhere. */
  lost?: boolean;
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
  /** The node that last ran it (its directory and pack cache are there): placement prefers it. */
  cacheNodeId?: string | null;
  /** An agent action of this kind is pending or claimed for the session. */
  openAction: "start" | "stop" | null;
}

export type JobStateName = "Queued" | "Scheduled" | "Running" | "Preempting" | "Cancelling" | "Succeeded" | "Failed" | "Cancelled";

/** States in which a batch job holds GPUs on a node. */
export const JOB_HOLDING_STATES: readonly JobStateName[] = ["Scheduled", "Running", "Preempting", "Cancelling"];

/** What the scheduler sees of a batch job. */
export interface JobView {
  id: string;
  projectId: string;
  projectName: string;
  gpuType: string;
  gpuCount: number;
  /** Higher runs first and is preempted last. */
  priority: number;
  state: JobStateName;
  reason: string;
  nodeId: string | null;
  gpuIndices: readonly number[];
  submittedAt: Date;
  /** Start of the current run: the progress a preemption would lose. */
  startedAt: Date | null;
  gracePeriodSeconds: number;
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
  jobs: readonly JobView[];
  quotas: readonly QuotaView[];
}

export interface PlanOptions {
  /** A node whose last heartbeat is older than this is NotReady. */
  heartbeatTimeoutMs: number;
}

export const defaultPlanOptions: PlanOptions = { heartbeatTimeoutMs: 30_000 };
