import { formatDuration, type Clock } from "@daybox/core";
import type { Repos } from "@daybox/db";
import { loadReclaimInputs } from "@daybox/api";
import { evaluate, type Verdict } from "@daybox/policy";
import { createWebhooks, type WebhookEvent } from "./webhooks.ts";

const ACTOR = "control-plane";

/**
 * The reclaim half of a tick: evaluate the active policies against every
 * running session's signals (pure), then act. A warning is an event on the
 * session's stream (once per idle stretch); a reclaim parks (snapshot, then
 * release) or stops, as the policy says; "notify" policies only warn.
 * Warnings and reclaims also go to the project's webhook, if it has one.
 */
export function createReclaimer(deps: { repos: Repos; clock: Clock; log: (msg: string) => void; webhooks?: ReturnType<typeof createWebhooks> }) {
  const { repos, clock, log } = deps;
  const webhooks = deps.webhooks ?? createWebhooks({ log });
  type Row = Awaited<ReturnType<typeof loadReclaimInputs>>["rows"][number];
  const hook = (row: Row, v: Verdict, event: WebhookEvent["event"], reason: string, now: Date) =>
    webhooks.send(row.project.webhookUrl, {
      event,
      at: now.toISOString(),
      session: { id: row.id, name: row.name, owner: row.owner.name, project: row.project.name, gpuType: row.gpuType, gpuCount: row.gpuCount },
      reason,
      policy: v.policy,
      reclaimAt: v.reclaimAt?.toISOString() ?? null,
    });

  /**
   * A background snapshot when the policy's interval has passed since the
   * last one, so a node that dies loses at most that much. One at a time; a
   * failed one is retried after a tenth of the interval, not every tick.
   */
  async function periodicSnapshot(row: { id: string; nodeId: string | null; project: { name: string } }, v: Verdict, now: Date): Promise<boolean> {
    const interval = v.snapshotIntervalMs ?? 0;
    const last = (await repos.actions.forSession(row.id)).find((a) => a.kind === "snapshot");
    if (last?.status === "pending" || last?.status === "claimed") return false;
    if (last?.status === "failed" && last.completedAt && now.getTime() - last.completedAt.getTime() < interval / 10) return false;
    const why = `periodic snapshot: policy '${v.policy?.name}' v${v.policy?.version} snapshots every ${formatDuration(interval)}`;
    const { created } = await repos.actions.enqueueOnce({
      kind: "snapshot",
      nodeId: row.nodeId!,
      sessionId: row.id,
      payload: { sessionId: row.id, ...(await repos.snapshots.nextSnapshot(row.id, row.project.name)), requestedBy: ACTOR },
      reason: why,
    });
    if (created) log(`${why} (${row.id})`);
    return created;
  }
  return {
    async tick(): Promise<{ verdicts: Verdict[]; changed: boolean }> {
      const { rows, sessions, signals, policies } = await loadReclaimInputs(repos);
      if (policies.length === 0 || sessions.length === 0) return { verdicts: [], changed: false };
      const now = clock.now();
      const verdicts = evaluate(sessions, signals, policies, now);
      let changed = false;
      for (const v of verdicts) {
        const row = rows.find((r) => r.id === v.sessionId)!;
        try {
          if (v.snapshotDue && v.kind !== "reclaim" && row.nodeId) changed = (await periodicSnapshot(row, v, now)) || changed;
          if (v.kind === "warn") {
            const stale = row.warnedAt && v.idleSince && row.warnedAt < v.idleSince;
            if (!row.warnedAt || stale) {
              const warned = await repos.sessions.warn(row.id, `warning: ${v.reason}`, ACTOR, now);
              if (warned) {
                log(`warned ${row.id}: ${v.reason}`);
                hook(row, v, "session.warning", `warning: ${v.reason}`, now);
              }
              changed ||= warned;
            }
          } else if (v.kind === "reclaim" && v.action === "park") {
            const payload = await repos.snapshots.nextSnapshot(row.id, row.project.name);
            const action = await repos.sessions.startPark({ id: row.id, reason: `reclaimed: ${v.reason}`, actor: ACTOR, payload, at: now });
            if (action) {
              log(`parking ${row.id}: ${v.reason}`);
              hook(row, v, "session.reclaimed", `reclaimed: ${v.reason}`, now);
            }
            changed ||= action !== null;
          } else if (v.kind === "reclaim" && v.action === "stop" && row.nodeId) {
            const queued = await repos.sessions.queueStop({ id: row.id, nodeId: row.nodeId, reason: `reclaimed without a snapshot: ${v.reason}`, actor: ACTOR, purge: false, desiredState: "stopped" });
            if (queued) hook(row, v, "session.reclaimed", `reclaimed without a snapshot: ${v.reason}`, now);
            changed ||= queued !== null;
          }
        } catch (err) {
          log(`reclaim ${row.id}: ${(err as Error).message}`);
        }
      }
      return { verdicts, changed };
    },
  };
}
