/**
 * One Daybox operation in its own process (as the agent would run it), so
 * its wall time includes startup like the other tools' and it can be
 * profiled with --cpu-prof:
 *   node --import tsx daybox-worker.ts '<json>'
 * {op:"snapshot", repoUrl, source, parentId?, cacheDir?} → {id, stats}
 * {op:"restore", repoUrl, snapshotId, target, cacheDir?}  → RestoreResult
 * S3 settings from DAYBOX_S3_ENDPOINT / AWS_* (as the CLI reads them).
 * Experiment knob (not the product's wiring): DAYBOX_BENCH_SDK_CHECKSUMS=when_required
 * builds the S3Store on a client that skips the SDK's own CRC32 request
 * checksums and response validation (the engine verifies every chunk's sha256 anyway).
 */
import { createSnapshot, PackCache, Repository, restoreSnapshot } from "../../src/index.ts";
import { S3Client } from "@aws-sdk/client-s3";
import { parseStoreUrl, S3Store, withRetries } from "../../src/stores/index.ts";

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
const store = withRetries(process.env["DAYBOX_BENCH_SDK_CHECKSUMS"] === "when_required" ? lightStore(req.repoUrl) : parseStoreUrl(req.repoUrl, process.env), { attempts: 5, baseDelayMs: 200 });

function lightStore(url: string) {
  const u = new URL(url);
  const client = new S3Client({
    endpoint: process.env["DAYBOX_S3_ENDPOINT"]!,
    region: process.env["AWS_REGION"] ?? "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: process.env["AWS_ACCESS_KEY_ID"]!, secretAccessKey: process.env["AWS_SECRET_ACCESS_KEY"]! },
    maxAttempts: 1,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  return new S3Store({ bucket: u.hostname, prefix: u.pathname.replace(/^\/+/, ""), client });
}
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
