/**
 * Reclaim policy scopes (the policy engine lands with issue #4). The most
 * specific scope that matches a session wins: GPU type, then project, then
 * cluster, then global.
 */
export type PolicyScope =
  | { kind: "global" }
  | { kind: "cluster"; cluster: string }
  | { kind: "project"; project: string }
  | { kind: "gpu"; gpuType: string };

const specificity: Record<PolicyScope["kind"], number> = { global: 0, cluster: 1, project: 2, gpu: 3 };

export interface ScopedSession {
  cluster: string;
  project: string;
  gpuType: string;
}

export function scopeMatches(scope: PolicyScope, s: ScopedSession): boolean {
  switch (scope.kind) {
    case "global":
      return true;
    case "cluster":
      return scope.cluster === s.cluster;
    case "project":
      return scope.project === s.project;
    case "gpu":
      return scope.gpuType === s.gpuType;
  }
}

/** The most specific of `policies` that applies to the session, or null. */
export function mostSpecific<P extends { scope: PolicyScope }>(policies: readonly P[], s: ScopedSession): P | null {
  let best: P | null = null;
  for (const p of policies) {
    if (scopeMatches(p.scope, s) && (!best || specificity[p.scope.kind] > specificity[best.scope.kind])) best = p;
  }
  return best;
}
