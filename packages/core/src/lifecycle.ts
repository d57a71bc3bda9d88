/**
 * Session lifecycle: the states a session moves through and which user
 * requests are legal in each. Pure; shared by the API (to refuse illegal
 * requests with a clear reason) and the control plane.
 */

export const SESSION_STATES = [
  "Pending",
  "Scheduled",
  "Starting",
  "Running",
  "Snapshotting",
  "Stopping",
  "Stopped",
  "Parked",
  "Failed",
  "Terminated",
  /** Its node was lost; the control plane resumes it elsewhere from its latest snapshot. */
  "Lost",
] as const;
export type SessionStateName = (typeof SESSION_STATES)[number];

/** States in which a session holds GPUs on a node. */
export const GPU_HOLDING_STATES: readonly SessionStateName[] = ["Scheduled", "Starting", "Running", "Snapshotting", "Stopping"];

/** States from which the session will never run again without a user request. */
export const RESTING_STATES: readonly SessionStateName[] = ["Stopped", "Parked", "Failed", "Terminated"];

export type UserRequest = "stop" | "resume" | "delete" | "park";

export type Verdict = { ok: true } | { ok: false; reason: string };

const allowed: Record<UserRequest, readonly SessionStateName[]> = {
  stop: ["Pending", "Scheduled", "Starting", "Running", "Lost"],
  resume: ["Stopped", "Parked", "Failed"],
  delete: ["Pending", "Scheduled", "Starting", "Running", "Stopping", "Stopped", "Parked", "Failed", "Lost"],
  park: ["Running"],
};

const verbs: Record<UserRequest, string> = {
  stop: "stopped",
  resume: "resumed",
  delete: "deleted",
  park: "parked",
};

/** Whether a user may make `request` of a session in `state`, and why not. */
export function checkRequest(request: UserRequest, state: SessionStateName): Verdict {
  if (allowed[request].includes(state)) return { ok: true };
  const from = allowed[request].join(", ");
  return {
    ok: false,
    reason: `session is ${state}; only ${from} sessions can be ${verbs[request]}`,
  };
}
