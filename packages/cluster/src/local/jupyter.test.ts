import { describe, expect, it } from "vitest";
import { explainFailure } from "./jupyter.ts";

describe("explainFailure", () => {
  it("picks the critical line out of Jupyter's log", () => {
    const log = [
      "[I 2026-11-22 03:15:42.632 ServerApp] jupyter_server_terminals | extension was successfully linked.",
      "[C 2026-11-22 03:15:42.665 ServerApp] Running as root is not recommended. Use --allow-root to bypass.",
    ].join("\n");
    expect(explainFailure(log)).toBe("Running as root is not recommended. Use --allow-root to bypass.");
  });
  it("falls back to the last lines", () => {
    expect(explainFailure("a\nb\nc\nd\n")).toBe("b | c | d");
  });
});
