import { describe, expect, it } from "vitest";
import { resumeHistogram } from "./metrics.ts";
import type { ResumeDto } from "./dto.ts";
import { computeUsage, gpuActivity, reclaimedMs } from "./usage.ts";

const T = (min: number) => new Date(Date.UTC(2026, 0, 1, 0, min));
const ev = (toState: string, min: number, actor = "agent:n1", reason = "") => ({ toState, actor, reason, at: T(min) });
const policyPark = (min: number) => ev("Snapshotting", min, "control-plane", "reclaimed: idle for 31m");

describe("reclaimedMs: time parked by a reclaim policy", () => {
  const cases = [
    { name: "policy park until resume", events: [policyPark(0), ev("Parked", 1), ev("Pending", 61)], since: T(0), now: T(100), minutes: 60 },
    { name: "still parked: until now", events: [policyPark(0), ev("Parked", 10)], since: T(0), now: T(40), minutes: 30 },
    { name: "a manual park is not a reclaim", events: [ev("Snapshotting", 0, "user:alice", "park requested by alice"), ev("Parked", 1), ev("Pending", 61)], since: T(0), now: T(100), minutes: 0 },
    { name: "clipped to the window", events: [policyPark(0), ev("Parked", 0), ev("Terminated", 120)], since: T(90), now: T(200), minutes: 30 },
    { name: "a failed park (back to Running) starts nothing", events: [policyPark(0), ev("Running", 1), ev("Pending", 50)], since: T(0), now: T(100), minutes: 0 },
    {
      name: "two reclaims, one manual park between",
      events: [policyPark(0), ev("Parked", 0), ev("Pending", 10), ev("Snapshotting", 20, "user:a", "park"), ev("Parked", 20), ev("Pending", 30), policyPark(40), ev("Parked", 40), ev("Pending", 45)],
      since: T(0),
      now: T(100),
      minutes: 15,
    },
  ];
  it.each(cases)("$name", ({ events, since, now, minutes }) => {
    expect(reclaimedMs(events, since, now)).toBe(minutes * 60_000);
  });
});

describe("gpuActivity", () => {
  const now = T(10);
  it.each([
    { gpu: [[T(9).getTime(), 2]], want: "idle" },
    { gpu: [[T(9).getTime(), 5]], want: "busy" },
    { gpu: [[T(1).getTime(), 0]], want: "unknown" },
    { gpu: [], want: "unknown" },
    { gpu: null, want: "unknown" },
  ])("$gpu → $want", ({ gpu, want }) => expect(gpuActivity(gpu, now)).toBe(want));
});

describe("computeUsage", () => {
  it("splits each project's GPUs into sessions, batch, borrowed and idle; fleet totals add up", () => {
    const now = T(600);
    const fresh = (util: number) => ({ gpu: [[now.getTime() - 10_000, util]], collectedAt: now });
    const project = (id: string) => ({ projectId: id, project: { name: id } });
    const usage = computeUsage(
      {
        nodes: [
          { id: "n1", gpuType: "a100", gpuCount: 8, state: "Ready" },
          { id: "n2", gpuType: "a100", gpuCount: 8, state: "NotReady" },
        ],
        quotas: [{ ...project("vision"), gpuType: "a100", guaranteed: 4, updatedAt: now }],
        sessions: [
          { id: "s1", ...project("vision"), gpuType: "a100", gpuCount: 2, state: "Running", activity: fresh(1) },
          { id: "s2", ...project("vision"), gpuType: "a100", gpuCount: 1, state: "Running", activity: fresh(80) },
          { id: "s3", ...project("nlp"), gpuType: "a100", gpuCount: 1, state: "Starting", activity: null },
        ],
        jobs: [
          { id: "j1", ...project("vision"), gpuType: "a100", gpuCount: 2, state: "Running" },
          { id: "j2", ...project("batch"), gpuType: "a100", gpuCount: 1, state: "Running" },
        ],
      } as never,
      [{ id: "s9", ...project("vision"), gpuType: "a100", gpuCount: 2, events: [policyPark(0), ev("Parked", 0), ev("Pending", 90)] }] as never,
      T(0),
      now,
    );
    expect(usage.projects).toEqual([
      { project: "batch", gpuType: "a100", guaranteed: 0, sessions: 0, batch: 1, borrowed: 1, idleAllocated: 0, gpuHoursReclaimed: 0 },
      { project: "nlp", gpuType: "a100", guaranteed: 0, sessions: 1, batch: 0, borrowed: 1, idleAllocated: 0, gpuHoursReclaimed: 0 },
      { project: "vision", gpuType: "a100", guaranteed: 4, sessions: 3, batch: 2, borrowed: 1, idleAllocated: 2, gpuHoursReclaimed: 3 },
    ]);
    expect(usage.fleet).toEqual([{ gpuType: "a100", total: 8, allocated: 7, sessions: 4, batch: 3, busy: 4, idleAllocated: 2, unknown: 1, free: 1, gpuHoursReclaimed: 3 }]);
  });
});

describe("resumeHistogram", () => {
  it("renders cumulative buckets, sum and count per phase in the Prometheus text format", () => {
    const r = (totalMs: number | null, restoreMs: number | null) => ({ totalMs, restoreMs, schedulingMs: 100, preemptionMs: null, startMs: 400 }) as ResumeDto;
    const lines = resumeHistogram([r(800, 200), r(2_500, 1_900), r(null, null)]);
    expect(lines).toContain('daybox_resume_duration_seconds_bucket{phase="total",le="1"} 1');
    expect(lines).toContain('daybox_resume_duration_seconds_bucket{phase="total",le="2"} 1');
    expect(lines).toContain('daybox_resume_duration_seconds_bucket{phase="total",le="3"} 2');
    expect(lines).toContain('daybox_resume_duration_seconds_bucket{phase="total",le="+Inf"} 2');
    expect(lines).toContain('daybox_resume_duration_seconds_sum{phase="total"} 3.300');
    expect(lines).toContain('daybox_resume_duration_seconds_count{phase="scheduling"} 3');
    expect(lines).toContain('daybox_resume_duration_seconds_count{phase="preemption"} 0');
    expect(lines.indexOf('daybox_resume_duration_seconds_count{phase="total"} 2')).toBeLessThan(lines.indexOf('daybox_resume_duration_seconds_bucket{phase="scheduling",le="0.5"} 3'));
  });
});
