export { appRouter, type AppRouter } from "./router.ts";
export { createApiServer, type ApiServer } from "./server.ts";
export { Notifier } from "./notifier.ts";
export { createContextFactory, type ApiServices } from "./context.ts";
export { createCallerFactory } from "./trpc.ts";
export type { SessionDto, SessionEventDto, NodeDto, JobDto, ResumeDto } from "./dto.ts";
export type { StartResult, SnapshotResult } from "./routers/agent.ts";
export { TERMINAL_PATH, type TerminalControl } from "./terminal.ts";
export { loadReclaimInputs } from "./reclaim.ts";
