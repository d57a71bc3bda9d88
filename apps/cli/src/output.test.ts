import { describe, expect, it } from "vitest";
import { fields, formatDuration, relativeTime, table, transition } from "./output.ts";

describe("table", () => {
  it("aligns columns two spaces apart and leaves the last column unpadded", () => {
    expect(
      table(
        ["ID", "STATE", "REASON"],
        [
          ["ses-1", "Running", "started"],
          ["ses-22", "Pending", "waiting for capacity"],
        ],
      ),
    ).toBe(["ID      STATE    REASON", "ses-1   Running  started", "ses-22  Pending  waiting for capacity"].join("\n"));
  });

  it("shows missing values as a dash and never ends a line in blanks", () => {
    expect(table(["NAME", "NODE"], [["a", null], ["b", ""], ["c", undefined]])).toBe("NAME  NODE\na     -\nb     -\nc     -");
  });

  it("counts non-ASCII characters as one column", () => {
    expect(table(["GPUS", "X"], [["2×a100", "y"]])).toBe("GPUS    X\n2×a100  y");
  });

  it("keeps a row on one line when a value has newlines", () => {
    expect(table(["A", "B"], [["x", "line 1\nline 2"]])).toBe("A  B\nx  line 1 line 2");
  });

  it("prints only the header for no rows", () => {
    expect(table(["A", "B"], [])).toBe("A  B");
  });
});

describe("fields", () => {
  it("aligns values after the longest key", () => {
    expect(fields([["ID", "ses-1"], ["Last activity", null]])).toBe("ID:             ses-1\nLast activity:  -");
  });
});

describe("relativeTime", () => {
  const now = new Date("2026-01-01T12:00:00Z");
  const ago = (ms: number) => new Date(now.getTime() - ms).toISOString();
  it.each([
    [ago(0), "just now"],
    [ago(4_999), "just now"],
    [ago(5_000), "5s ago"],
    [ago(59_999), "59s ago"],
    [ago(3 * 60_000 + 20_000), "3m ago"],
    [ago(2 * 3_600_000), "2h ago"],
    [ago(49 * 3_600_000), "2d ago"],
    [ago(-5 * 60_000), "in 5m"],
    [null, "-"],
    ["not a date", "-"],
  ])("%s → %s", (iso, expected) => {
    expect(relativeTime(iso, now)).toBe(expected);
  });
});

describe("formatDuration", () => {
  it.each([
    [0, "0ms"],
    [450, "450ms"],
    [1_000, "1s"],
    [95_000, "1m35s"],
    [300_000, "5m"],
    [3_600_000 + 5_000, "1h"],
    [90 * 60_000, "1h30m"],
    [26 * 3_600_000, "1d2h"],
  ])("%d ms → %s", (ms, expected) => {
    expect(formatDuration(ms)).toBe(expected);
  });
});

describe("transition", () => {
  it("shows the first event of a session as just its state", () => {
    expect(transition(null, "Pending")).toBe("Pending");
    expect(transition("Pending", "Running")).toBe("Pending → Running");
  });
});
