import { describe, expect, it } from "vitest";
import type { ResumeDto } from "@daybox/api";
import { resumeLine } from "./session.ts";

const base: ResumeDto = {
  requestedAt: "2026-11-28T10:00:00.000Z",
  runningAt: "2026-11-28T10:00:03.210Z",
  node: "gpu-1",
  totalMs: 3210,
  schedulingMs: 40,
  preemptionMs: null,
  restoreMs: 1800,
  startMs: 1370,
  restoreSource: "local",
  fetchedBytes: 0,
};

describe("resumeLine", () => {
  it.each([
    { name: "warm", r: base, want: "3.2s: scheduling 0.0s, restore 1.8s from the local copy, start 1.4s on gpu-1" },
    { name: "after preempting a job", r: { ...base, schedulingMs: 21_000, preemptionMs: 20_500, restoreSource: "store" as const, totalMs: 40_000 }, want: "40.0s: scheduling 21.0s (waiting 20.5s for preempted batch jobs), restore 1.8s from the store, start 1.4s on gpu-1" },
    { name: "a stopped session (nothing to restore)", r: { ...base, restoreMs: null, restoreSource: null }, want: "3.2s: scheduling 0.0s, start 1.4s on gpu-1" },
    { name: "still on its way", r: { ...base, totalMs: null, runningAt: null }, want: "requested 2026-11-28T10:00:00.000Z; not Running yet" },
  ])("$name", ({ r, want }) => expect(resumeLine(r)).toBe(want));
});
