export * from "./evaluate.ts";
export * from "./scope.ts";
export * from "./spec.ts";
