/** What the benchmarks need from the machine: the S3 test server, page cache eviction, a scratch directory. */
import { execFileSync, execSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { S3Env } from "./s3.ts";

export const REPO_ROOT = path.resolve(import.meta.dirname, "../../..");
const MARKER = ".daybox-bench";

/**
 * The S3 server: `endpoint`, else DAYBOX_BENCH_S3_ENDPOINT, else the testbed's
 * versitygw (infra/testbed/versitygw.sh, started if needed). Credentials from
 * DAYBOX_BENCH_S3_ACCESS_KEY / DAYBOX_BENCH_S3_SECRET_KEY (default: the testbed's).
 */
export function benchS3(endpoint: string | undefined, log: (msg: string) => void): S3Env {
  return {
    endpoint: endpoint ?? process.env["DAYBOX_BENCH_S3_ENDPOINT"] ?? startVersitygw(log),
    accessKeyId: process.env["DAYBOX_BENCH_S3_ACCESS_KEY"] ?? "daybox",
    secretAccessKey: process.env["DAYBOX_BENCH_S3_SECRET_KEY"] ?? "daybox-secret",
    region: "us-east-1",
  };
}

function startVersitygw(log: (msg: string) => void): string {
  const script = path.join(REPO_ROOT, "infra/testbed/versitygw.sh");
  if (!existsSync(script)) throw new Error(`no S3 endpoint: pass --endpoint or provide ${script}`);
  log("starting the S3 test server (infra/testbed/versitygw.sh)");
  return execFileSync("bash", [script], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim().split("\n").at(-1)!;
}

/**
 * Page cache eviction (`sync; echo 3 > /proc/sys/vm/drop_caches`). `enabled`
 * is false when not wanted or when the kernel does not let us (not root).
 */
export function pageCacheEvictor(wanted: boolean, log: (msg: string) => void): { enabled: boolean; drop: () => void } {
  const evictor = {
    enabled: wanted,
    drop() {
      if (!evictor.enabled) return;
      execSync("sync");
      writeFileSync("/proc/sys/vm/drop_caches", "3");
    },
  };
  try {
    evictor.drop();
  } catch {
    evictor.enabled = false;
    log("cannot write /proc/sys/vm/drop_caches (not root or not permitted): the page cache is NOT evicted");
  }
  return evictor;
}

/**
 * Empties `workDir` for a run, refusing a non-empty directory that no
 * benchmark created; returns whether an earlier run's files were deleted.
 */
export function prepareWorkDir(workDir: string): boolean {
  let deleted = false;
  if (existsSync(workDir)) {
    if (!existsSync(path.join(workDir, MARKER)) && readdirSync(workDir).length) throw new Error(`${workDir} exists and is not a benchmark work dir; pick another --work-dir`);
    deleted = readdirSync(workDir).length > 1;
    rmSync(workDir, { recursive: true, force: true });
  }
  mkdirSync(workDir, { recursive: true });
  writeFileSync(path.join(workDir, MARKER), "");
  return deleted;
}
