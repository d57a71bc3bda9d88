/** Every decision the scheduler makes, each with a reason a user can read. */
export type Action =
  | { kind: "place"; sessionId: string; nodeId: string; gpuIndices: number[]; reason: string }
  | { kind: "wait"; sessionId: string; reason: string }
  | { kind: "stop"; sessionId: string; nodeId: string; reason: string }
  | { kind: "finalize"; sessionId: string; to: "Stopped" | "Terminated"; reason: string }
  | { kind: "node-health"; nodeId: string; ready: boolean; reason: string };
