import { InvalidArgumentError } from "commander";
import { describe, expect, it } from "vitest";
import { integer, parseDuration } from "./args.ts";

describe("parseDuration", () => {
  it.each([
    ["5m", 300_000],
    ["90s", 90_000],
    ["1h30m", 5_400_000],
    ["500ms", 500],
    ["30", 30_000],
    ["5 minutes", null],
    ["", null],
  ])("%s → %s", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });
});

describe("integer", () => {
  it("accepts whole numbers in range and refuses the rest as usage errors", () => {
    expect(integer(1, 64)("8")).toBe(8);
    expect(() => integer(1, 64)("0")).toThrow(InvalidArgumentError);
    expect(() => integer(1, 64)("1.5")).toThrow(/whole number/);
    expect(() => integer(1, 64)("two")).toThrow(/whole number/);
  });
});
