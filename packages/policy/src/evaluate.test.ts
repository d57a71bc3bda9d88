import { describe, expect, it } from "vitest";
import { evaluate, type ActivitySignals, type SessionFacts, type Verdict } from "./evaluate.ts";
import { parsePolicy, type Policy } from "./spec.ts";

const T0 = new Date("2026-11-22T10:00:00Z");
const at = (min: number) => new Date(T0.getTime() + min * 60_000);

function policy(doc: Record<string, unknown>, version = 3): Policy {
  const r = parsePolicy({ name: "research-default", idle: { after: "30m" }, ...doc });
  if (!r.ok) throw new Error(r.error);
  return { ...r.policy, version };
}

function session(over: Partial<SessionFacts> = {}): SessionFacts {
  return { id: "ses-1", owner: "ada", cluster: "local", project: "vision", gpuType: "a100", labels: [], runningSince: at(0), keepAliveUntil: null, extensionsUsed: 0, warnedAt: null, lastSnapshotAt: null, ...over };
}

/** Signals collected at `now`; by default a kernel last active at minute `kernelMin` and an idle GPU. */
function signals(now: Date, over: Partial<ActivitySignals> = {}): ActivitySignals {
  return { collectedAt: now, kernel: { busy: false, lastActivityAt: at(0) }, terminalLastActivityAt: null, gpu: [], cpu: [], ...over };
}

function one(s: SessionFacts, sig: ActivitySignals | null, policies: Policy[], now: Date): Verdict {
  return evaluate([s], new Map(sig ? [[s.id, sig]] : []), policies, now)[0]!;
}

const idleGpu = (fromMin: number, toMin: number, util = 1) => Array.from({ length: toMin - fromMin + 1 }, (_, i) => ({ at: at(fromMin + i), value: util }));

describe("evaluate", () => {
  const p = policy({});

  it("reports a session with recent kernel activity as active", () => {
    const now = at(10);
    const v = one(session(), signals(now, { kernel: { busy: false, lastActivityAt: at(9.8) } }), [p], now);
    expect(v).toMatchObject({ kind: "active", policy: { name: "research-default", version: 3 }, action: "park" });
    expect(v.reason).toMatch(/^active: kernel activity 12s ago; policy 'research-default' v3 parks after 30m 0s idle$/);
  });

  it("counts a busy kernel as activity now", () => {
    const now = at(100);
    expect(one(session(), signals(now, { kernel: { busy: true, lastActivityAt: at(1) } }), [p], now).kind).toBe("active");
  });

  it("reports idle time with what counts and when the policy acts", () => {
    const now = at(12);
    const v = one(session(), signals(now, { gpu: idleGpu(0, 12) }), [p], now);
    expect(v).toMatchObject({ kind: "idle", idleSince: at(0), reclaimAt: at(30) });
    expect(v.reason).toBe("no kernel or terminal activity and GPU util < 5% for 12m 0s; policy 'research-default' v3 parks after 30m 0s");
  });

  it("warns within the warning period before the deadline, naming when it will park", () => {
    const now = at(26);
    const v = one(session(), signals(now), [p], now);
    expect(v.kind).toBe("warn");
    expect(v.reclaimAt).toEqual(at(31)); // not warned yet: a full warning period from now
    expect(v.reason).toContain("park at 2026-11-22T10:31:00.000Z");
  });

  it("never reclaims a session whose owner was not warned, however long idle", () => {
    const now = at(500);
    expect(one(session(), signals(now), [p], now).kind).toBe("warn");
  });

  it("reclaims a warning period after the warning, with the reason from the issue's example", () => {
    const now = at(32);
    const v = one(session({ warnedAt: at(25) }), signals(now, { gpu: idleGpu(0, 32, 2) }), [p], now);
    expect(v).toMatchObject({ kind: "reclaim", action: "park" });
    expect(v.reason).toBe("no kernel or terminal activity and GPU util < 5% for 32m 0s; policy 'research-default' v3 parks after 30m 0s");
  });

  it("waits out the warning period even past the idle deadline", () => {
    const now = at(31);
    expect(one(session({ warnedAt: at(29) }), signals(now), [p], now)).toMatchObject({ kind: "warn", reclaimAt: at(34) });
  });

  it("activity after the warning cancels it: a later stretch needs a new warning", () => {
    const now = at(70);
    // Warned at 26, the user typed at 28; idle again since then for 42 min.
    const v = one(session({ warnedAt: at(26) }), signals(now, { terminalLastActivityAt: at(28) }), [p], now);
    expect(v.kind).toBe("warn");
    expect(v.idleSince).toEqual(at(28));
  });

  it("GPU use above the threshold is activity; below it is not", () => {
    const now = at(40);
    const busy = [...idleGpu(0, 34, 1), { at: at(35), value: 60 }, ...idleGpu(36, 40, 1)];
    expect(one(session(), signals(now, { gpu: busy }), [p], now)).toMatchObject({ kind: "idle", idleSince: at(35) });
    const cpuPolicy = policy({ idle: { after: "30m", signals: ["cpu"], cpuBelow: 50 } });
    const cpu = idleGpu(0, 40, 20); // 20% of a core, under the policy's 50%
    expect(one(session(), signals(now, { cpu, kernel: { busy: true, lastActivityAt: null } }), [cpuPolicy], now).kind).toBe("warn");
  });

  it("does not count idleness from before the GPU history it can see", () => {
    const now = at(600);
    const v = one(session(), signals(now, { kernel: null, gpu: idleGpu(599, 600) }), [policy({ idle: { after: "30m", signals: ["gpu"] } })], now);
    expect(v).toMatchObject({ kind: "idle", idleSince: at(599) });
    expect(v.reason).toMatch(/^GPU util < 5% for 1m 0s/);
  });

  it("counts only the signals the policy names", () => {
    const now = at(40);
    const gpuOnly = policy({ idle: { after: "30m", signals: ["gpu"] } });
    // Terminal chatter does not keep a GPU-only policy from acting.
    expect(one(session({ warnedAt: at(26) }), signals(now, { terminalLastActivityAt: at(39), gpu: idleGpu(0, 40) }), [gpuOnly], now).kind).toBe("reclaim");
  });

  it("never reclaims on stale or missing signals", () => {
    const now = at(120);
    const stale = one(session({ warnedAt: at(60) }), signals(at(100)), [p], now);
    expect(stale.kind).toBe("active");
    expect(stale.reason).toMatch(/no fresh activity signals from its node \(the last came 20m 0s ago\)/);
    expect(one(session(), null, [p], now).reason).toMatch(/none yet/);
  });

  it("a keep-alive exempts the session until it ends, and idleness restarts from its end", () => {
    const s = session({ keepAliveUntil: at(120) });
    expect(one(s, signals(at(100)), [p], at(100))).toMatchObject({ kind: "exempt" });
    expect(one(s, signals(at(100)), [p], at(100)).reason).toMatch(/kept alive by its owner until .* \(20m 0s left\)/);
    expect(one(s, signals(at(130)), [p], at(130))).toMatchObject({ kind: "idle", idleSince: at(120) });
  });

  it("exempts users and labels the policy names", () => {
    const ex = policy({ exempt: { users: ["ada"], labels: ["demo"] } });
    expect(one(session(), signals(at(99)), [ex], at(99))).toMatchObject({ kind: "exempt", reason: "ada is exempt from policy 'research-default' v3" });
    expect(one(session({ owner: "bob", labels: ["demo"] }), signals(at(99)), [ex], at(99)).reason).toBe("label 'demo' is exempt from policy 'research-default' v3");
  });

  it("reports no policy as exempt", () => {
    const other = policy({ scope: { kind: "project", project: "nlp" } });
    expect(one(session(), signals(at(99)), [other], at(99))).toMatchObject({ kind: "exempt", policy: null, reason: "no reclaim policy applies to this session" });
  });

  it("uses the most specific policy", () => {
    const global = policy({ name: "global" });
    const project = policy({ name: "vision-long", scope: { kind: "project", project: "vision" }, idle: { after: "2h" } }, 1);
    const v = one(session(), signals(at(40)), [global, project], at(40));
    expect(v).toMatchObject({ kind: "idle", policy: { name: "vision-long", version: 1 }, reclaimAt: at(120) });
  });

  it("enforces a maximum lifetime that keep-alive and activity do not lift", () => {
    const life = policy({ maxLifetime: "8h" });
    const busy = signals(at(478), { kernel: { busy: true, lastActivityAt: at(478) } });
    const s = session({ keepAliveUntil: at(1000) });
    const warn = one(s, busy, [life], at(478));
    expect(warn.kind).toBe("warn");
    expect(warn.reason).toMatch(/^running for 7h 58m; policy 'research-default' v3 parks after a maximum lifetime of 8h 0m/);
    expect(one({ ...s, warnedAt: at(476) }, busy, [life], at(481)).kind).toBe("reclaim");
  });

  it("with action notify, warns and never reclaims", () => {
    const notify = policy({ action: "notify" });
    const v = one(session({ warnedAt: at(26) }), signals(at(90)), [notify], at(90));
    expect(v).toMatchObject({ kind: "warn", action: "notify", reclaimAt: null });
    expect(v.reason).toMatch(/notifies the owner after 30m 0s \(owner notified\)$/);
  });

  it("says when a periodic snapshot is due and whether the owner may extend", () => {
    const periodic = policy({ snapshotInterval: "1h", extensions: { max: 2, each: "1h" } });
    expect(one(session(), signals(at(59)), [periodic], at(59))).toMatchObject({ snapshotDue: false, canExtend: true });
    expect(one(session(), signals(at(61)), [periodic], at(61)).snapshotDue).toBe(true);
    expect(one(session({ lastSnapshotAt: at(30), extensionsUsed: 2 }), signals(at(61)), [periodic], at(61))).toMatchObject({ snapshotDue: false, canExtend: false });
  });

  it("evaluates every session, each against its own signals", () => {
    const a = session({ id: "a" });
    const b = session({ id: "b", project: "nlp" });
    const now = at(5);
    const v = evaluate([a, b], new Map([["a", signals(now, { kernel: { busy: true, lastActivityAt: null } })]]), [p], now);
    expect(v.map((x) => [x.sessionId, x.kind])).toEqual([["a", "active"], ["b", "active"]]);
    expect(v[1]!.reason).toMatch(/none yet/);
  });
});

describe("parsePolicy", () => {
  it("fills defaults and converts durations", () => {
    const r = parsePolicy({ name: "p", idle: { after: "45m" } });
    expect(r).toEqual({
      ok: true,
      policy: expect.objectContaining({ scope: { kind: "global" }, action: "park", warning: 300_000, idle: { signals: ["kernel", "terminal", "gpu"], gpuUtilBelow: 5, cpuBelow: 10, after: 2_700_000 }, maxLifetime: null, preemptible: false }),
    });
  });

  it.each([
    [{ name: "Bad Name", idle: { after: "30m" } }, /name: lowercase letters/],
    [{ name: "p", idle: { after: "soon" } }, /idle.after: "soon" is not a duration/],
    [{ name: "p", idle: { after: "30s" } }, /idle.after: must be at least 1m/],
    [{ name: "p", idle: { after: "30m" }, warning: "45m" }, /warning \(45m 0s\) must be shorter than idle.after \(30m 0s\)/],
    [{ name: "p", idle: { after: "30m" }, action: "delete" }, /action: .*park/],
    [{ name: "p", idle: { after: "30m", signals: [] } }, /at least one of kernel, terminal, gpu, cpu/],
    [{ name: "p", idle: { after: "30m" }, scope: { kind: "project" } }, /scope.project/],
    [{ name: "p", idle: { after: "30m" }, idel: 1 }, /idel/],
    [{ name: "p" }, /idle/],
  ])("refuses %j", (doc, message) => {
    const r = parsePolicy(doc);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(message);
  });
});
