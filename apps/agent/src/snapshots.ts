import { createSnapshot, PackCache, pruneRepository, Repository, RepositoryBusyError, restoreSnapshot, type Progress } from "@daybox/snapshot";
import { parseStoreUrl, withRetries } from "@daybox/snapshot/stores";
import type { SnapshotResult } from "@daybox/api";
import type { AgentEnv } from "./env.ts";

/**
 * Session snapshots on this node: one repository per project (no dedup
 * across tenants), a node-local pack cache shared by all of them.
 */
export function createSnapshotter(env: AgentEnv) {
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

  return {
    /** `parked`: the snapshot a parked session resumes from; retention always keeps it. */
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
     * A deleted session's snapshots: their manifests are deleted, then the
     * project's repository is pruned (packs no other snapshot needs go now;
     * orphans and dictionaries once past prune's grace period). A prune that
     * finds the repository in use is left to the next one.
     */
    async forget(opts: { sessionId: string; project: string }): Promise<{ forgottenSnapshots: string[]; freedBytes: number; pruneSkipped?: string }> {
      const repo = await repoFor(opts.project);
      const forgotten: string[] = [];
      for (const m of await repo.snapshots()) {
        if (m.tags["session"] !== opts.sessionId) continue;
        await repo.deleteSnapshot(m.id);
        forgotten.push(m.id);
      }
      if (!forgotten.length) return { forgottenSnapshots: [], freedBytes: 0 };
      try {
        const pruned = await pruneRepository(repo);
        return { forgottenSnapshots: forgotten, freedBytes: pruned.deletedBytes };
      } catch (err) {
        if (!(err instanceof RepositoryBusyError)) throw err;
        return { forgottenSnapshots: forgotten, freedBytes: 0, pruneSkipped: err.message };
      }
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
