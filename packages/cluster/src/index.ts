export type { SessionRuntime, SessionSpec, RunningSession, Terminal, TerminalOptions } from "./runtime.ts";
export { LocalRuntime, type LocalRuntimeOptions } from "./local/local-runtime.ts";
export { findJupyter } from "./local/jupyter.ts";
export { LocalJobRunner, type JobSpec, type JobExit } from "./local/jobs.ts";
