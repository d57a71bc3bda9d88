import { createSnapshot, mapLimit, PackCache, pruneRepository, Repository, RepositoryBusyError, restoreSnapshot, type Progress } from "@daybox/snapshot";
import { parseStoreUrl, withRetries } from "@daybox/snapshot/stores";
import type { SnapshotResult } from "@daybox/api";
import type { AgentEnv } from "./env.ts";

const PRUNE_ATTEMPTS = 6;
const PRUNE_RETRY_MS = 10_000; // doubling: the last try ~5 minutes after the first
/**
 * A prune reads every manifest of the project and holds its repository while
 * it deletes (snapshots wait for it): after retention it runs at most this
 * often per project. Deleting a session prunes at once.
 */
const RETENTION_PRUNE_MS = 60 * 60_000;
/** Manifests deleted at once. */
const FORGET_CONCURRENCY = 8;

/**
 * Session snapshots on this node: one repository per project (no dedup
 * across tenants), a node-local pack cache shared by all of them.
 */
export function createSnapshotter(env: AgentEnv, log: (msg: string) => void = () => {}) {
  const cache = new PackCache(env.packCacheDir, env.DAYBOX_PACK_CACHE_GB * 1024 ** 3);
  const repos = new Map<string, Promise<Repository>>();
  const urlFor = (project: string) => `${env.snapshotRepo}/${project}`;
  const repoFor = (project: string) => {
    if (!/^[a-z0-9-]+$/.test(project)) throw new Error(`invalid project name ${JSON.stringify(project)}`);
    let repo = repos.get(project);
    if (!repo) {
      repo = Repository.open(withRetries(parseStoreUrl(urlFor(project), env), { attempts: 5, baseDelayMs: 200 }));
      repo.catch(() => repos.delete(project));
      repos.set(project, repo);
    }
    return repo;
  };

  /**
   * Prunes a project's repository off the action loop (a prune reads every
   * manifest: it must not hold up a resume), one at a time per project. A
   * prune refuses to start while a snapshot runs: it is tried again later,
   * a few times, then left to the next one.
   */
  const prunes = new Map<string, Promise<void>>();
  const closing = new AbortController();
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        closing.signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      closing.signal.addEventListener("abort", done);
    });
  const queued = new Set<string>(); // projects with a prune waiting to start: one more would find nothing new
  const lastPrune = new Map<string, number>(); // project → when its last prune started
  const later = new Map<string, ReturnType<typeof setTimeout>>(); // project → its rate-limited prune
  closing.signal.addEventListener("abort", () => {
    for (const t of later.values()) clearTimeout(t);
    later.clear();
  });
  /** A prune once RETENTION_PRUNE_MS have passed since the project's last one. */
  const pruneLater = (project: string) => {
    if (later.has(project) || queued.has(project) || closing.signal.aborted) return;
    const wait = (lastPrune.get(project) ?? -Infinity) + RETENTION_PRUNE_MS - Date.now();
    if (wait <= 0) return pruneSoon(project);
    const timer = setTimeout(() => {
      later.delete(project);
      pruneSoon(project);
    }, wait);
    timer.unref();
    later.set(project, timer);
  };
  const pruneSoon = (project: string) => {
    if (queued.has(project)) return;
    queued.add(project);
    clearTimeout(later.get(project));
    later.delete(project);
    const run = async () => {
      queued.delete(project);
      lastPrune.set(project, Date.now());
      for (let attempt = 1, delay = PRUNE_RETRY_MS; !closing.signal.aborted; attempt++, delay *= 2) {
        try {
          const r = await pruneRepository(await repoFor(project));
          return log(`pruned the repository of project ${project}: ${r.deletedPacks} pack(s) deleted (${r.deletedBytes} bytes), ${r.keptPacks} kept`);
        } catch (err) {
          const busy = err instanceof RepositoryBusyError;
          if (!busy || attempt === PRUNE_ATTEMPTS) return log(`prune of project ${project} ${busy ? `given up after ${attempt} attempts` : "failed"}: ${(err as Error).message}`);
          await pause(delay);
        }
      }
    };
    const next = (prunes.get(project) ?? Promise.resolve()).then(run);
    prunes.set(project, next);
    void next.finally(() => prunes.get(project) === next && prunes.delete(project));
  };

  return {
    /** `parked`: the snapshot a parked session resumes from (tagged: `daybox snapshot prune --keep-last` always keeps it). */
    async snapshot(opts: { sessionId: string; project: string; dir: string; parentId: string | null; onProgress: (p: Progress) => void; parked?: boolean }): Promise<SnapshotResult> {
      const repo = await repoFor(opts.project);
      let parentId = opts.parentId;
      if (parentId && !(await repo.snapshotIds()).includes(parentId)) parentId = null; // pruned: take a full snapshot
      const m = await createSnapshot({ repo, source: opts.dir, parentId, tags: { session: opts.sessionId, ...(opts.parked ? { parked: "true" } : {}) }, cache, onProgress: opts.onProgress });
      return {
        snapshotId: m.id,
        parentId: m.parent,
        storeUrl: urlFor(opts.project),
        sizeBytes: m.stats.bytes,
        newBytes: m.stats.newBytes,
        fileCount: m.stats.files,
        durationMs: m.stats.durationMs,
      };
    },
    /**
     * Snapshots the control plane deletes (a deleted session's, or those a
     * newer one retired: `retention`), as it recorded them: those in this
     * node's repository for the project are deleted (one gone already counts
     * as deleted: a retried action), the others are left and counted; those
     * the store failed to delete are left too, the first failure reported.
     * A prune of the repository then frees the data only they needed, in the
     * background: at once (see pruneSoon), or for retention at most hourly
     * per project (see pruneLater).
     */
    async forget(opts: { project: string; snapshots: { id: string; storeUrl: string }[]; retention?: boolean }): Promise<{ forgottenSnapshots: string[]; elsewhere: number; forgetError?: string }> {
      const repo = await repoFor(opts.project);
      const here = opts.snapshots.filter((s) => s.storeUrl === urlFor(opts.project));
      const forgotten: string[] = [];
      let failure: string | undefined;
      await mapLimit(here, FORGET_CONCURRENCY, async (s) => {
        try {
          await repo.forgetSnapshot(s.id);
          forgotten.push(s.id);
        } catch (err) {
          failure ??= `snapshot ${s.id}: ${(err as Error).message}`.slice(0, 2000);
        }
      });
      if (forgotten.length) (opts.retention ? pruneLater : pruneSoon)(opts.project);
      return { forgottenSnapshots: forgotten, elsewhere: opts.snapshots.length - here.length, ...(failure ? { forgetError: failure } : {}) };
    },
    /** Waits for the prunes in progress (a prune stopped half-way holds its lock until it expires). */
    async close() {
      closing.abort();
      await Promise.all(prunes.values());
    },
    /**
     * `reuseLocal`: keep `dir` as it is when it still holds exactly this snapshot
     * (a session resuming on the node that parked it); anything else restores in full.
     */
    async restore(opts: { project: string; snapshotId: string; dir: string; onProgress: (p: Progress) => void; reuseLocal?: boolean }) {
      const repo = await repoFor(opts.project);
      return restoreSnapshot({ repo, snapshotId: opts.snapshotId, target: opts.dir, cache, onProgress: opts.onProgress, reuseTarget: opts.reuseLocal ?? false });
    },
  };
}
