import { describe, expect, it } from "vitest";
import { mostSpecific, type PolicyScope } from "./scope.ts";

const session = { cluster: "local", project: "vision", gpuType: "a100" };
const p = (name: string, scope: PolicyScope) => ({ name, scope });

describe("mostSpecific", () => {
  it.each([
    ["only global", [p("g", { kind: "global" })], "g"],
    ["project beats cluster and global", [p("g", { kind: "global" }), p("p", { kind: "project", project: "vision" }), p("c", { kind: "cluster", cluster: "local" })], "p"],
    ["gpu type beats project", [p("p", { kind: "project", project: "vision" }), p("t", { kind: "gpu", gpuType: "a100" })], "t"],
    ["another project's policy does not apply", [p("g", { kind: "global" }), p("x", { kind: "project", project: "nlp" })], "g"],
    ["nothing applies", [p("x", { kind: "gpu", gpuType: "h100" })], null],
  ] as const)("%s", (_name, policies, want) => {
    expect(mostSpecific(policies, session)?.name ?? null).toBe(want);
  });
});
