/** Every decision the scheduler makes, each with a reason a user can read. */
export type Action =
  | { kind: "place"; sessionId: string; nodeId: string; gpuIndices: number[]; reason: string }
  | { kind: "wait"; sessionId: string; reason: string }
  | { kind: "stop"; sessionId: string; nodeId: string; reason: string }
  /** Snapshot, verify, then release (a draining node's running sessions): nothing is lost and it resumes elsewhere. */
  | { kind: "park"; sessionId: string; nodeId: string; reason: string }
  | { kind: "finalize"; sessionId: string; to: "Stopped" | "Terminated"; reason: string }
  | { kind: "node-health"; nodeId: string; ready: boolean; reason: string }
  /** The session's node was lost: release its GPUs there and resume it elsewhere from its latest snapshot. */
  | { kind: "recover"; sessionId: string; nodeId: string; reason: string }
  /** The job's node was lost: requeue it (a new attempt elsewhere). */
  | { kind: "requeue-job"; jobId: string; nodeId: string; reason: string }
  | { kind: "place-job"; jobId: string; nodeId: string; gpuIndices: number[]; reason: string }
  | { kind: "job-wait"; jobId: string; reason: string }
  /** SIGTERM, the job's grace period, then SIGKILL; the job is requeued. `forSessionId`: the session that needs its GPUs. */
  | { kind: "preempt-job"; jobId: string; nodeId: string; forSessionId: string | null; reason: string };
