import type { PrismaClient } from "../generated/prisma/client.ts";
import { actionsRepo } from "./actions.ts";
import { activityRepo } from "./activity.ts";
import { auditRepo } from "./audit.ts";
import { clustersRepo } from "./clusters.ts";
import { fleetRepo } from "./fleet.ts";
import { jobsRepo } from "./jobs.ts";
import { loginsRepo } from "./logins.ts";
import { nodesRepo } from "./nodes.ts";
import { resumesRepo } from "./resumes.ts";
import { usageRepo } from "./usage.ts";
import { policiesRepo } from "./policies.ts";
import { projectsRepo } from "./projects.ts";
import { sessionsRepo } from "./sessions.ts";
import { snapshotsRepo } from "./snapshots.ts";
import { tokensRepo, usersRepo } from "./users.ts";
import { loadWorld } from "./world.ts";

/**
 * Every repository over one Prisma client: the only way the rest of Daybox
 * touches the database. `snapshotsKept`: committed snapshots each session
 * keeps (default DEFAULT_SNAPSHOTS_KEPT; 0: all).
 */
export function createRepos(db: PrismaClient, opts: { snapshotsKept?: number } = {}) {
  return {
    users: usersRepo(db),
    tokens: tokensRepo(db),
    logins: loginsRepo(db),
    projects: projectsRepo(db),
    clusters: clustersRepo(db),
    nodes: nodesRepo(db),
    sessions: sessionsRepo(db),
    jobs: jobsRepo(db),
    resumes: resumesRepo(db),
    usage: usageRepo(db),
    fleet: fleetRepo(db),
    actions: actionsRepo(db),
    snapshots: snapshotsRepo(db, opts.snapshotsKept === undefined ? {} : { kept: opts.snapshotsKept }),
    policies: policiesRepo(db),
    activity: activityRepo(db),
    audit: auditRepo(db),
    loadWorld: () => loadWorld(db),
  };
}
export type Repos = ReturnType<typeof createRepos>;

export { TOKEN_PATTERN, hashToken, type AuthResult } from "./users.ts";
export type { Transition, SessionScope } from "./sessions.ts";
export type { ActionOutcome } from "./actions.ts";
export { JOB_LOG_CAP_BYTES, type JobTransition } from "./jobs.ts";
export type { World } from "./world.ts";
export { FLEET_HISTORY_MS, type FleetSampleInput } from "./fleet.ts";
export type { NodeRegistration } from "./nodes.ts";
export type { PolicyVersion } from "./policies.ts";
export { ACTIVITY_HISTORY_MS, type ActivityReport } from "./activity.ts";
export type { Actor } from "./types.ts";
