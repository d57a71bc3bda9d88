import type { TRPCRouterRecord } from "@trpc/server";
import { isDeepStrictEqual } from "node:util";
import { z } from "zod";
import { NAME_PATTERN, formatDuration } from "@daybox/core";
import { evaluate, idleDescription, parsePolicy, toDocument, type Policy, type PolicySpec, type Verdict } from "@daybox/policy";
import { verdictDto } from "../dto.ts";
import { BadInput, NotFound } from "../errors.ts";
import { loadReclaimInputs, storedPolicy } from "../reclaim.ts";
import { adminProcedure, protectedProcedure, type ProtectedContext } from "../trpc.ts";

const policyName = z.string().regex(NAME_PATTERN, "not a valid policy name: use lowercase letters, digits and dashes");
/** The document as YAML/JSON parsed by the client; validated here, where the rules live. */
const documentInput = z.record(z.string(), z.unknown());

function parseOrThrow(doc: unknown): PolicySpec {
  const r = parsePolicy(doc);
  if (!r.ok) throw new BadInput(`invalid policy — ${r.error}`);
  return r.policy;
}

const scopeText = (p: PolicySpec) => (p.scope.kind === "global" ? "global" : p.scope.kind === "gpu" ? `gpu:${p.scope.gpuType}` : p.scope.kind === "cluster" ? `cluster:${p.scope.cluster}` : `project:${p.scope.project}`);

/** One line an admin reads in `policy ls`. */
function summary(p: PolicySpec): string {
  const parts = [`${p.action} after ${formatDuration(p.idle.after)} of ${idleDescription(p)}`, `warn ${formatDuration(p.warning)} before`];
  if (p.extensions.max) parts.push(`${p.extensions.max} × ${formatDuration(p.extensions.each)} extensions`);
  if (p.maxLifetime) parts.push(`max lifetime ${formatDuration(p.maxLifetime)}`);
  if (p.snapshotInterval) parts.push(`snapshot every ${formatDuration(p.snapshotInterval)}`);
  if (p.preemptible) parts.push("preemptible");
  return parts.join("; ");
}

function view(row: { name: string; version: number; active: boolean; createdBy: string; reason: string; createdAt: Date }, p: PolicySpec) {
  return {
    name: row.name,
    version: row.version,
    active: row.active,
    scope: scopeText(p),
    action: p.action,
    summary: summary(p),
    document: toDocument(p),
    createdBy: row.createdBy,
    reason: row.reason,
    createdAt: row.createdAt.toISOString(),
  };
}

/** A dry-run verdict: the API's verdict with whose session it is (extension details belong to the owner's view). */
function verdictView(v: Verdict, names: Map<string, { name: string; owner: string; project: string }>) {
  const { sessionId, kind, reason, policy, action, idleSince, reclaimAt } = verdictDto(v);
  const who = names.get(sessionId);
  return { sessionId, session: who?.name ?? sessionId, owner: who?.owner ?? "", project: who?.project ?? "", kind, reason, policy, action, idleSince, reclaimAt };
}

function audit(ctx: ProtectedContext, action: string, target: string, details: Record<string, unknown>) {
  return ctx.repos.audit.record({ actorId: ctx.principal.id, action, target, details });
}

export const policiesRouter = {
  /** Active policies. Everyone may read them: researchers should know the rules their sessions live by. */
  list: protectedProcedure.query(async ({ ctx }) => {
    const rows = await ctx.repos.policies.active();
    return rows.map((r) => view(r, storedPolicy(r)));
  }),

  show: protectedProcedure.input(z.object({ name: policyName, version: z.number().int().min(1).optional() })).query(async ({ ctx, input }) => {
    const row = input.version ? await ctx.repos.policies.version(input.name, input.version) : await ctx.repos.policies.latest(input.name);
    if (!row) throw new NotFound("policy", input.version ? `${input.name} v${input.version}` : input.name, "; `daybox policy ls` lists policies");
    return view(row, storedPolicy(row));
  }),

  history: protectedProcedure.input(z.object({ name: policyName })).query(async ({ ctx, input }) => {
    const rows = await ctx.repos.policies.history(input.name);
    if (!rows.length) throw new NotFound("policy", input.name, "; `daybox policy ls` lists policies");
    return rows.map((r) => view(r, storedPolicy(r)));
  }),

  /** Creates or changes a policy: a new version, audited with who and why. Unchanged documents write nothing. */
  apply: adminProcedure
    .input(z.object({ document: documentInput, reason: z.string().trim().min(1, "reason: say why the policy changes (it goes into the audit log)").max(500) }))
    .mutation(async ({ ctx, input }) => {
      const spec = parseOrThrow(input.document);
      const latest = await ctx.repos.policies.latest(spec.name);
      if (latest?.active && isDeepStrictEqual(storedPolicy(latest), { ...spec, version: latest.version })) {
        return { ...view(latest, spec), changed: false };
      }
      const row = await ctx.repos.policies.apply({ name: spec.name, scope: scopeText(spec), spec: toDocument(spec), createdBy: ctx.principal.name, reason: input.reason });
      await audit(ctx, "policy.apply", `policy:${spec.name}`, { version: row.version, reason: input.reason, previous: latest?.version ?? null });
      ctx.notifier.notify();
      return { ...view(row, spec), changed: true };
    }),

  remove: adminProcedure
    .input(z.object({ name: policyName, reason: z.string().trim().min(1, "reason: say why the policy is removed (it goes into the audit log)").max(500) }))
    .mutation(async ({ ctx, input }) => {
      if (!(await ctx.repos.policies.deactivate(input.name))) throw new NotFound("active policy", input.name, "; `daybox policy ls` lists policies");
      await audit(ctx, "policy.remove", `policy:${input.name}`, { reason: input.reason });
      ctx.notifier.notify();
      return { name: input.name, removed: true };
    }),

  /**
   * What a policy would do right now, before it is applied: the verdict for
   * every running session it would govern (with the other active policies in
   * place, so scope precedence is as it will be).
   */
  dryRun: adminProcedure.input(z.object({ document: documentInput })).mutation(async ({ ctx, input }) => {
    const spec = parseOrThrow(input.document);
    const { rows, sessions, signals, policies } = await loadReclaimInputs(ctx.repos);
    const latest = await ctx.repos.policies.latest(spec.name);
    const candidate: Policy = { ...spec, version: (latest?.version ?? 0) + 1 };
    const verdicts = evaluate(sessions, signals, [...policies.filter((p) => p.name !== spec.name), candidate], ctx.clock.now());
    const names = new Map(rows.map((r) => [r.id, { name: r.name, owner: r.owner.name, project: r.project.name }]));
    const governed = verdicts.filter((v) => v.policy?.name === spec.name);
    const count = (k: Verdict["kind"]) => governed.filter((v) => v.kind === k).length;
    return {
      policy: { name: spec.name, version: candidate.version, summary: summary(spec) },
      runningSessions: sessions.length,
      governed: governed.length,
      counts: { active: count("active"), idle: count("idle"), warn: count("warn"), reclaim: count("reclaim"), exempt: count("exempt") },
      verdicts: governed.map((v) => verdictView(v, names)),
    };
  }),
} satisfies TRPCRouterRecord;
