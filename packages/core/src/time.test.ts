import { describe, expect, it } from "vitest";
import { FakeClock, formatDuration, parseDuration } from "./time.ts";

describe("durations", () => {
  it.each([
    ["90s", 90_000],
    ["45m", 2_700_000],
    ["2h", 7_200_000],
    ["1.5h", 5_400_000],
    ["250ms", 250],
  ])("parses %s", (text, ms) => expect(parseDuration(text)).toBe(ms));
  it.each(["", "5", "m5", "5 minutes", "-3m"])("refuses %j", (text) => expect(parseDuration(text)).toBeNull());
  it.each([
    [5_000, "5s"],
    [192_000, "3m 12s"],
    [7_500_000, "2h 5m"],
    [3 * 86_400_000 + 3_600_000, "3d 1h"],
  ])("formats %d ms as %s", (ms, text) => expect(formatDuration(ms)).toBe(text));
  it("a fake clock moves only when told", () => {
    const clock = new FakeClock("2026-01-01T00:00:00Z");
    clock.advance(60_000);
    expect(clock.now().toISOString()).toBe("2026-01-01T00:01:00.000Z");
  });
});
