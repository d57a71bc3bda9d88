/** Summary statistics for benchmark samples. */

export function median(xs: readonly number[] | undefined): number {
  if (!xs?.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Nearest-rank percentile (p in 0..100): always one of the samples; with 5 samples, p95 is the largest. */
export function percentile(xs: readonly number[] | undefined, p: number): number {
  if (!xs?.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)]!;
}
