export * from "./lifecycle.ts";
export * from "./gpu.ts";
export * from "./ids.ts";
export * from "./time.ts";
