import type { Progress } from "@daybox/snapshot";
import { formatDuration } from "./output.ts";

const MB = 1024 * 1024;

/** One line, redrawn in place on a terminal: `[#####-----] 52% 1.1/2.0 GB 210 MB/s ETA 4s  upload`. */
export function progressLine(p: Progress, width = 24): string {
  const share = p.bytesTotal > 0 ? Math.min(1, p.bytes / p.bytesTotal) : p.phase === "finish" ? 1 : 0;
  const filled = Math.round(share * width);
  const rate = p.elapsedMs > 0 ? p.bytes / MB / (p.elapsedMs / 1000) : 0;
  const left = p.bytesTotal - p.bytes;
  // While the tree is still being walked ("scan"), the totals are still growing: no ETA yet.
  const eta = p.phase !== "scan" && rate > 0 && left > 0 ? ` ETA ${formatDuration((left / MB / rate) * 1000)}` : "";
  return (
    `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${String(Math.round(share * 100)).padStart(3)}% ` +
    `${size(p.bytes)}/${size(p.bytesTotal)} ${p.files}/${p.filesTotal} files ${rate.toFixed(0)} MB/s${eta}  ${p.phase}`
  );
}

export function size(bytes: number): string {
  if (bytes >= 1024 * MB) return `${(bytes / 1024 / MB).toFixed(1)} GB`;
  if (bytes >= MB) return `${(bytes / MB).toFixed(1)} MB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} kB`;
  return `${bytes} B`;
}

/** A progress listener writing to stderr: redrawn on a TTY, silent otherwise (logs stay clean). */
export function stderrProgress(enabled: boolean): ((p: Progress) => void) | undefined {
  if (!enabled || !process.stderr.isTTY) return undefined;
  return (p) => {
    process.stderr.write(`\r${progressLine(p)}\x1b[K`);
    if (p.phase === "finish") process.stderr.write("\n");
  };
}
