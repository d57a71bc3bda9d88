export * from "./view.ts";
export * from "./actions.ts";
export * from "./plan.ts";
export * from "./preempt.ts";
