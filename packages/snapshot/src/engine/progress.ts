/** What long operations report, for progress bars and the agent's reports to the API. */
export interface Progress {
  /** "scan": a snapshot still walking its tree (files are read meanwhile; the totals grow until it is done). */
  phase: "scan" | "upload" | "verify" | "download" | "finish";
  files: number;
  filesTotal: number;
  bytes: number;
  bytesTotal: number;
  /** Bytes sent to (snapshot) or fetched from (restore) the object store. */
  transferredBytes: number;
  elapsedMs: number;
}

export type ProgressListener = (p: Progress) => void;

/** Throughput and ETA from a progress report. */
export function rates(p: Progress): { bytesPerSecond: number; etaMs: number | null } {
  const bytesPerSecond = p.elapsedMs > 0 ? (p.bytes / p.elapsedMs) * 1000 : 0;
  const left = p.bytesTotal - p.bytes;
  // During "scan" the totals still grow as the walk finds more: no ETA yet.
  return { bytesPerSecond, etaMs: p.phase !== "scan" && bytesPerSecond > 0 && left >= 0 ? (left / bytesPerSecond) * 1000 : null };
}

/** Calls `listener` at most every `intervalMs`, plus always for the final report. */
export function throttle(listener: ProgressListener | undefined, intervalMs = 200): (p: Progress, force?: boolean) => void {
  let last = 0;
  return (p, force = false) => {
    if (!listener) return;
    if (force || p.elapsedMs - last >= intervalMs) {
      last = p.elapsedMs;
      listener({ ...p });
    }
  };
}
