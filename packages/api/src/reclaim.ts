import type { Repos } from "@daybox/db";
import { parsePolicy, type ActivitySignals, type Policy, type SessionFacts } from "@daybox/policy";

type Row = Awaited<ReturnType<Repos["activity"]["runningForReclaim"]>>[number];
type Stored = Awaited<ReturnType<Repos["policies"]["active"]>>[number];

/** A stored version back into a policy; stored documents were validated when applied. */
export function storedPolicy(row: Stored): Policy {
  const parsed = parsePolicy(row.spec);
  if (!parsed.ok) throw new Error(`stored policy ${row.name} v${row.version} no longer validates: ${parsed.error}`);
  return { ...parsed.policy, version: row.version };
}

const samples = (json: unknown) => (Array.isArray(json) ? (json as [number, number][]).map(([t, v]) => ({ at: new Date(t), value: v })) : []);

export function sessionFacts(s: Row): SessionFacts {
  return {
    id: s.id,
    owner: s.owner.name,
    cluster: s.node?.cluster.name ?? "local",
    project: s.project.name,
    gpuType: s.gpuType,
    labels: s.labels,
    runningSince: s.startedAt ?? s.createdAt,
    keepAliveUntil: s.keepAliveUntil,
    extensionsUsed: s.extensionsUsed,
    warnedAt: s.warnedAt,
    lastSnapshotAt: s.snapshots[0]?.createdAt ?? null,
  };
}

export function sessionSignals(s: Row): ActivitySignals | null {
  const a = s.activity;
  if (!a) return null;
  const k = a.kernel as { busy: boolean; lastActivityAt: string | null } | null;
  return {
    collectedAt: a.collectedAt,
    kernel: k ? { busy: k.busy, lastActivityAt: k.lastActivityAt ? new Date(k.lastActivityAt) : null } : null,
    terminalLastActivityAt: a.terminalLastActivityAt,
    gpu: samples(a.gpu),
    cpu: samples(a.cpu),
  };
}

/** Everything `evaluate` needs, read from the database. */
export async function loadReclaimInputs(repos: Repos) {
  const [rows, stored] = await Promise.all([repos.activity.runningForReclaim(), repos.policies.active()]);
  const signals = new Map<string, ActivitySignals>();
  for (const r of rows) {
    const sig = sessionSignals(r);
    if (sig) signals.set(r.id, sig);
  }
  return { rows, sessions: rows.map(sessionFacts), signals, policies: stored.map(storedPolicy) };
}
