import type { SessionStateName } from "@daybox/core";
import type { JobStateName, JobView, NodeView, QuotaView, SessionView, WorldView } from "./view.ts";

export const NOW = new Date("2026-06-01T12:00:00Z");

/** Fixture builders for scheduler tests: `node("n1").gpus(4)`, `session("s1").gpus(2).on("n1", [0, 1])`. */
export function node(name: string) {
  const v: NodeView = {
    id: name,
    name,
    gpuType: "a100",
    gpuCount: 4,
    ready: true,
    schedulable: true,
    draining: false,
    lastHeartbeat: NOW,
  };
  const b = {
    view: v,
    gpus(n: number, type = v.gpuType) {
      v.gpuCount = n;
      v.gpuType = type;
      return b;
    },
    cordoned() {
      v.schedulable = false;
      return b;
    },
    draining() {
      v.draining = true;
      return b;
    },
    silentFor(ms: number) {
      v.lastHeartbeat = new Date(NOW.getTime() - ms);
      return b;
    },
    notReady() {
      v.ready = false;
      return b;
    },
    /** Its cluster lost it (and it already shows not ready). */
    lost() {
      v.lost = true;
      v.ready = false;
      return b;
    },
  };
  return b;
}

let seq = 0;
export function session(id: string) {
  const v: SessionView = {
    id,
    projectId: "p1",
    projectName: "vision",
    gpuType: "a100",
    gpuCount: 1,
    state: "Pending",
    desiredState: "running",
    reason: "",
    nodeId: null,
    gpuIndices: [],
    createdAt: new Date(NOW.getTime() - 60_000 + seq++),
    openAction: null,
  };
  const b = {
    view: v,
    gpus(n: number, type = v.gpuType) {
      v.gpuCount = n;
      v.gpuType = type;
      return b;
    },
    project(id: string, name = id) {
      v.projectId = id;
      v.projectName = name;
      return b;
    },
    on(nodeId: string, indices: number[], state: SessionStateName = "Running") {
      v.nodeId = nodeId;
      v.gpuIndices = indices;
      v.state = state;
      v.gpuCount = indices.length;
      return b;
    },
    state(s: SessionStateName) {
      v.state = s;
      return b;
    },
    wants(d: SessionView["desiredState"]) {
      v.desiredState = d;
      return b;
    },
    reason(r: string) {
      v.reason = r;
      return b;
    },
    cachedOn(nodeId: string) {
      v.cacheNodeId = nodeId;
      return b;
    },
    openAction(a: SessionView["openAction"]) {
      v.openAction = a;
      return b;
    },
  };
  return b;
}

/** `job("j1").gpus(2).priority(5).on("n1", [0, 1], { ranForMs: 60_000 })` */
export function job(id: string) {
  const v: JobView = {
    id,
    projectId: "p1",
    projectName: "vision",
    gpuType: "a100",
    gpuCount: 1,
    priority: 0,
    state: "Queued",
    reason: "",
    nodeId: null,
    gpuIndices: [],
    submittedAt: new Date(NOW.getTime() - 3_600_000 + seq++),
    startedAt: null,
    gracePeriodSeconds: 30,
  };
  const b = {
    view: v,
    gpus(n: number, type = v.gpuType) {
      v.gpuCount = n;
      v.gpuType = type;
      return b;
    },
    project(id: string, name = id) {
      v.projectId = id;
      v.projectName = name;
      return b;
    },
    priority(p: number) {
      v.priority = p;
      return b;
    },
    submittedAgo(ms: number) {
      v.submittedAt = new Date(NOW.getTime() - ms);
      return b;
    },
    on(nodeId: string, indices: number[], opts: { ranForMs?: number; state?: JobStateName } = {}) {
      v.nodeId = nodeId;
      v.gpuIndices = indices;
      v.gpuCount = indices.length;
      v.state = opts.state ?? "Running";
      v.startedAt = new Date(NOW.getTime() - (opts.ranForMs ?? 60_000));
      return b;
    },
    state(s: JobStateName) {
      v.state = s;
      return b;
    },
    reason(r: string) {
      v.reason = r;
      return b;
    },
  };
  return b;
}

export function quota(gpuType: string, guaranteed: number, projectId = "p1"): QuotaView {
  return { projectId, gpuType, guaranteed };
}

export function world(parts: {
  nodes?: { view: NodeView }[];
  sessions?: { view: SessionView }[];
  jobs?: { view: JobView }[];
  quotas?: QuotaView[];
}): WorldView {
  return {
    nodes: (parts.nodes ?? []).map((n) => n.view),
    sessions: (parts.sessions ?? []).map((s) => s.view),
    jobs: (parts.jobs ?? []).map((j) => j.view),
    quotas: parts.quotas ?? [quota("a100", 8)],
  };
}
