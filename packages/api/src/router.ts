import { agentRouter } from "./routers/agent.ts";
import { auditRouter, projectsRouter, usersRouter } from "./routers/admin.ts";
import { jobsRouter } from "./routers/jobs.ts";
import { clustersRouter } from "./routers/clusters.ts";
import { nodesRouter } from "./routers/nodes.ts";
import { policiesRouter } from "./routers/policies.ts";
import { sessionsRouter } from "./routers/sessions.ts";
import { authRouter, tokensRouter } from "./routers/tokens.ts";
import { usageRouter } from "./routers/usage.ts";
import { router } from "./trpc.ts";

export const appRouter = router({
  auth: authRouter,
  sessions: sessionsRouter,
  jobs: jobsRouter,
  projects: projectsRouter,
  users: usersRouter,
  tokens: tokensRouter,
  clusters: clustersRouter,
  nodes: nodesRouter,
  usage: usageRouter,
  policies: policiesRouter,
  audit: auditRouter,
  agent: agentRouter,
});

/** The only thing clients import from the API: its types. */
export type AppRouter = typeof appRouter;
