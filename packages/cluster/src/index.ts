export type { JobExit, JobRunner, JobSpec, SessionRuntime, SessionSpec, RunningSession, Terminal, TerminalOptions } from "./runtime.ts";
export { LocalRuntime, type LocalRuntimeOptions } from "./local/local-runtime.ts";
export { findJupyter } from "./local/jupyter.ts";
export { LocalJobRunner } from "./local/jobs.ts";
