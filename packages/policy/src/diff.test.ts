import { describe, expect, it } from "vitest";
import { lineDiff } from "./diff.ts";

describe("lineDiff", () => {
  it("marks removed and added lines around the common ones", () => {
    expect(lineDiff("name: a\nwarning: 5m\naction: park", "name: a\nwarning: 10m\naction: park")).toBe(
      "  name: a\n- warning: 5m\n+ warning: 10m\n  action: park",
    );
  });
  it("shows an unchanged document as context only, and a new one as all additions", () => {
    expect(lineDiff("a\nb", "a\nb")).toBe("  a\n  b");
    expect(lineDiff("", "a\nb")).toBe("+ a\n+ b");
  });
});
