import type { Repos, SessionScope } from "@daybox/db";
import type { Principal } from "./auth.ts";
import { NotFound } from "./errors.ts";

/** Which sessions a principal may see and act on: own, managed projects', or all for admins. */
export async function sessionScope(repos: Repos, p: Principal): Promise<SessionScope> {
  if (p.role === "admin") return { all: true };
  const memberships = await repos.projects.membershipsOf(p.id);
  return { ownerId: p.id, projectIds: memberships.filter((m) => m.role === "manager").map((m) => m.projectId) };
}

export function inScope(scope: SessionScope, s: { ownerId: string; projectId: string }): boolean {
  return !!scope.all || s.ownerId === scope.ownerId || !!scope.projectIds?.includes(s.projectId);
}

/**
 * Loads a session the principal may see. Sessions of other users are reported
 * as not found, not forbidden, so ids cannot be probed for existence.
 */
export async function visibleSession(repos: Repos, p: Principal, id: string) {
  const s = await repos.sessions.byId(id);
  if (!s || !inScope(await sessionScope(repos, p), s)) {
    throw new NotFound("session", id, " (or it is not yours); `daybox session ls` lists your sessions");
  }
  return s;
}

/** Loads a batch job the principal may see (same rule as sessions; others' jobs are not found). */
export async function visibleJob(repos: Repos, p: Principal, id: string) {
  const j = await repos.jobs.byId(id);
  if (!j || !inScope(await sessionScope(repos, p), j)) {
    throw new NotFound("job", id, " (or it is not yours); `daybox job ls` lists your jobs");
  }
  return j;
}
