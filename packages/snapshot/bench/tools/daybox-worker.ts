/**
 * One Daybox operation in its own process (as the agent would run it), so
 * its wall time includes startup like the other tools' and it can be
 * profiled with --cpu-prof:
 *   node --import tsx daybox-worker.ts '<json>'
 * {op:"snapshot", repoUrl, source, parentId?, cacheDir?} → {id, stats}
 * {op:"restore", repoUrl, snapshotId, target, cacheDir?}  → RestoreResult
 * S3 settings from DAYBOX_S3_ENDPOINT / AWS_* (as the CLI reads them).
 */
import { createSnapshot, PackCache, Repository, restoreSnapshot } from "../../src/index.ts";
import { parseStoreUrl, withRetries } from "../../src/stores/index.ts";

interface Req {
  op: "snapshot" | "restore";
  repoUrl: string;
  source?: string;
  parentId?: string | null;
  snapshotId?: string;
  target?: string;
  cacheDir?: string;
}

const req = JSON.parse(process.argv[2]!) as Req;
const t0 = performance.now();
// Same wiring as `daybox snapshot` (apps/cli/src/commands/snapshot.ts).
const store = withRetries(parseStoreUrl(req.repoUrl, process.env), { attempts: 5, baseDelayMs: 200 });
const repo = await Repository.open(store);
const cache = req.cacheDir ? new PackCache(req.cacheDir, 64 * 1024 ** 3) : undefined;
const phases: Record<string, number> = {};
let last = performance.now();
let lastPhase = "start";
const onProgress = (p: { phase: string }) => {
  if (p.phase !== lastPhase) {
    const now = performance.now();
    phases[lastPhase] = (phases[lastPhase] ?? 0) + (now - last);
    last = now;
    lastPhase = p.phase;
  }
};
if (req.op === "snapshot") {
  const m = await createSnapshot({ repo, source: req.source!, parentId: req.parentId ?? null, ...(cache ? { cache } : {}), onProgress });
  phases[lastPhase] = (phases[lastPhase] ?? 0) + (performance.now() - last);
  console.log(JSON.stringify({ id: m.id, stats: { ...m.stats, skipped: m.stats.skipped.length }, phases, totalMs: performance.now() - t0 }));
} else {
  const r = await restoreSnapshot({ repo, snapshotId: req.snapshotId!, target: req.target!, ...(cache ? { cache } : {}), onProgress });
  console.log(JSON.stringify({ ...r, totalMs: performance.now() - t0 }));
}
