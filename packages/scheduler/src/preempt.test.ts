import { describe, expect, it } from "vitest";
import type { Action } from "./actions.ts";
import { NOW, job, node, quota, session, world } from "./fixtures.ts";
import { plan } from "./plan.ts";
import { borrowingJobs, chooseVictims } from "./preempt.ts";

const MIN = 60_000;
type Case = { name: string; view: ReturnType<typeof world>; expect: Partial<Action>[] };

const only = (kinds: Action["kind"][]) => (actions: Action[]) => actions.filter((a) => kinds.includes(a.kind));

describe("preemption: victim choice when a session needs GPUs held by batch jobs", () => {
  // Project p1 ("vision") owns the sessions; p2 ("batch") owns most jobs and has no guarantee, so its jobs borrow.
  const quotas = [quota("a100", 4, "p1"), quota("a100", 0, "p2")];
  const cases: Case[] = [
    {
      name: "lowest priority first",
      view: world({
        nodes: [node("n1").gpus(2)],
        jobs: [job("hi").project("p2", "batch").priority(5).on("n1", [0]), job("lo").project("p2", "batch").priority(1).on("n1", [1])],
        sessions: [session("s1").gpus(1)],
        quotas,
      }),
      expect: [
        {
          kind: "preempt-job",
          jobId: "lo",
          nodeId: "n1",
          forSessionId: "s1",
          reason: "preempted for session s1 (project vision), which needs 1 a100 GPU on node n1: the job borrows beyond project batch's guarantee",
        },
        { kind: "wait", sessionId: "s1", reason: "waiting for capacity: preempting batch job lo on node n1 (grace period up to 30s)" },
      ],
    },
    {
      name: "same priority: the job that has run least (least progress lost)",
      view: world({
        nodes: [node("n1").gpus(2)],
        jobs: [job("old").project("p2").on("n1", [0], { ranForMs: 90 * MIN }), job("new").project("p2").on("n1", [1], { ranForMs: 2 * MIN })],
        sessions: [session("s1").gpus(1)],
        quotas,
      }),
      expect: [{ kind: "preempt-job", jobId: "new" }, { kind: "wait" }],
    },
    {
      name: "never a job inside its own project's guarantee",
      view: world({
        nodes: [node("n1").gpus(2)],
        jobs: [job("guaranteed").project("p3", "physics").on("n1", [0, 1], { ranForMs: MIN })],
        sessions: [session("s1").gpus(1)],
        quotas: [...quotas, quota("a100", 2, "p3")],
      }),
      expect: [{ kind: "wait", sessionId: "s1", reason: "waiting for capacity: needs 1 a100 GPU on one node; at most 0 free right now" }],
    },
    {
      name: "a project's own jobs give way to its sessions inside its guarantee",
      view: world({
        nodes: [node("n1").gpus(2)],
        jobs: [job("mine").on("n1", [0, 1])],
        sessions: [session("s1").gpus(1)],
        quotas,
      }),
      expect: [
        { kind: "preempt-job", jobId: "mine", reason: "preempted for session s1 (project vision), which needs 1 a100 GPU on node n1: sessions come before batch jobs within project vision's guarantee" },
        { kind: "wait" },
      ],
    },
    {
      name: "only as many victims as needed: a big low-priority job spares a small one",
      view: world({
        nodes: [node("n1").gpus(4)],
        jobs: [job("small").project("p2").priority(1).on("n1", [0], { ranForMs: MIN }), job("big").project("p2").priority(1).on("n1", [1, 2, 3], { ranForMs: 5 * MIN })],
        sessions: [session("s1").gpus(2)],
        quotas,
      }),
      expect: [{ kind: "preempt-job", jobId: "big" }, { kind: "wait" }],
    },
    {
      name: "the node whose victims cost least: lower priority beats less run time",
      view: world({
        nodes: [node("a").gpus(1), node("b").gpus(1)],
        jobs: [job("on-a").project("p2").priority(3).on("a", [0], { ranForMs: MIN }), job("on-b").project("p2").priority(1).on("b", [0], { ranForMs: 60 * MIN })],
        sessions: [session("s1").gpus(1)],
        quotas,
      }),
      expect: [{ kind: "preempt-job", jobId: "on-b", nodeId: "b" }, { kind: "wait" }],
    },
    {
      name: "waits for a job already being preempted instead of preempting another",
      view: world({
        nodes: [node("n1").gpus(2)],
        jobs: [job("going").project("p2").on("n1", [0], { state: "Preempting" }), job("other").project("p2").on("n1", [1])],
        sessions: [session("s1").gpus(1)],
        quotas,
      }),
      expect: [{ kind: "wait", sessionId: "s1", reason: "waiting for capacity: batch job going on node n1 is being stopped (grace period up to 30s)" }],
    },
    {
      name: "a session over its own quota preempts nothing",
      view: world({
        nodes: [node("n1").gpus(2)],
        jobs: [job("borrower").project("p2").on("n1", [0, 1])],
        sessions: [session("s1").gpus(1)],
        quotas: [quota("a100", 0, "p1"), quota("a100", 0, "p2")],
      }),
      expect: [{ kind: "wait", reason: "over quota: project vision uses 0 of its 0 a100 GPUs; this session needs 1 more — waiting for the project's other sessions to stop" }],
    },
    {
      name: "the GPUs a waiting session will get are not handed to a queued job",
      view: world({
        nodes: [node("n1").gpus(2)],
        jobs: [job("victim").project("p2").on("n1", [0]), job("queued").project("p2").priority(9)],
        sessions: [session("s1").gpus(2)],
        quotas,
      }),
      expect: [{ kind: "preempt-job", jobId: "victim" }, { kind: "wait", sessionId: "s1" }, { kind: "job-wait", jobId: "queued", reason: "queued: needs 1 a100 GPU on one node; at most 0 free right now" }],
    },
    {
      name: "two sessions in one tick do not pick the same victim",
      view: world({
        nodes: [node("n1").gpus(2)],
        jobs: [job("j0").project("p2").on("n1", [0]), job("j1").project("p2").on("n1", [1], { ranForMs: 10 * MIN })],
        sessions: [session("s1").gpus(1), session("s2").gpus(1)],
        quotas,
      }),
      expect: [
        { kind: "preempt-job", jobId: "j0", forSessionId: "s1" },
        { kind: "wait", sessionId: "s1" },
        { kind: "preempt-job", jobId: "j1", forSessionId: "s2" },
        { kind: "wait", sessionId: "s2" },
      ],
    },
  ];
  it.each(cases)("$name", ({ view, expect: want }) => {
    const got = only(["preempt-job", "wait", "place", "job-wait"])(plan(view, NOW));
    expect(got).toHaveLength(want.length);
    want.forEach((w, i) => expect(got[i]).toMatchObject(w));
  });
});

describe("batch jobs: queueing and placement", () => {
  const cases: Case[] = [
    {
      name: "priority first, then submit time",
      view: world({
        nodes: [node("n1").gpus(1)],
        jobs: [job("early-low").priority(1).submittedAgo(60 * MIN), job("late-high").priority(5).submittedAgo(MIN), job("early-high").priority(5).submittedAgo(30 * MIN)],
        quotas: [quota("a100", 1)],
      }),
      expect: [
        { kind: "place-job", jobId: "early-high", nodeId: "n1", gpuIndices: [0], reason: "placed on node n1 (GPU 0); within project vision's guarantee of 1" },
        { kind: "job-wait", jobId: "late-high", reason: "queued: needs 1 a100 GPU on one node; at most 0 free right now (1 ahead in the queue)" },
        { kind: "job-wait", jobId: "early-low", reason: "queued: needs 1 a100 GPU on one node; at most 0 free right now (2 ahead in the queue)" },
      ],
    },
    {
      name: "borrows GPUs beyond its project's guarantee, and says so",
      view: world({ nodes: [node("n1").gpus(4)], jobs: [job("j").gpus(3)], quotas: [quota("a100", 1)] }),
      expect: [{ kind: "place-job", jobId: "j", reason: "placed on node n1 (GPU 0, 1, 2); borrows 2 GPUs beyond project vision's guarantee of 1, so another project's session may preempt it" }],
    },
    {
      name: "sessions are placed before jobs",
      view: world({ nodes: [node("n1").gpus(1)], sessions: [session("s1")], jobs: [job("j").priority(100)] }),
      expect: [{ kind: "place", sessionId: "s1" }, { kind: "job-wait", jobId: "j" }],
    },
    {
      name: "a smaller job fills a gap a bigger one cannot",
      view: world({ nodes: [node("n1").gpus(2)], jobs: [job("big").gpus(2).on("n1", [0]), job("wide").gpus(2).priority(5), job("narrow")] }),
      expect: [{ kind: "job-wait", jobId: "wide" }, { kind: "place-job", jobId: "narrow", gpuIndices: [1] }],
    },
    {
      name: "no node of the type",
      view: world({ nodes: [node("n1").gpus(2)], jobs: [job("j").gpus(1, "h100")] }),
      expect: [{ kind: "job-wait", reason: "queued: no node has h100 GPUs" }],
    },
    {
      name: "an unchanged wait reason is not written again",
      view: world({ nodes: [node("n1").gpus(2, "h100")], jobs: [job("j").reason("queued: no node has a100 GPUs")] }),
      expect: [],
    },
  ];
  it.each(cases)("$name", ({ view, expect: want }) => {
    const got = only(["place-job", "job-wait", "place", "wait"])(plan(view, NOW));
    expect(got).toHaveLength(want.length);
    want.forEach((w, i) => expect(got[i]).toMatchObject(w));
  });

  it("preempts jobs on a draining node so they requeue elsewhere", () => {
    const view = world({ nodes: [node("n1").gpus(2).draining()], jobs: [job("j").on("n1", [0]), job("done").on("n1", [1], { state: "Preempting" })] });
    expect(only(["preempt-job"])(plan(view, NOW))).toEqual([{ kind: "preempt-job", jobId: "j", nodeId: "n1", forSessionId: null, reason: "node n1 is draining" }]);
  });
});

describe("borrowingJobs and chooseVictims", () => {
  it("fills a guarantee with sessions first, then jobs by priority", () => {
    const sessions = [session("s").on("n1", [0]).view];
    const jobs = [job("lo").priority(1).on("n1", [1]).view, job("hi").priority(9).on("n1", [2]).view, job("q").view];
    expect([...borrowingJobs(sessions, jobs, [quota("a100", 2)])]).toEqual(["lo"]);
  });

  it("returns null when all candidates together are not enough", () => {
    expect(chooseVictims(3, 0, [job("a").on("n1", [0]).view, job("b").on("n1", [1]).view], NOW)).toBeNull();
  });

  it("counts the run time each victim loses", () => {
    const c = chooseVictims(2, 0, [job("a").on("n1", [0], { ranForMs: 5 * MIN }).view, job("b").on("n1", [1], { ranForMs: 7 * MIN }).view], NOW);
    expect(c).toMatchObject({ lostMs: 12 * MIN, worstPriority: 0 });
    expect(c!.victims.map((v) => v.id).toSorted()).toEqual(["a", "b"]);
  });
});
