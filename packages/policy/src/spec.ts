import { formatDuration, parseDuration } from "@daybox/core";
import { z } from "zod";
import type { PolicyScope } from "./scope.ts";

/**
 * A reclaim policy as admins write it (YAML or JSON), and its normalised
 * form (durations in milliseconds). Example:
 *
 *   name: research-default
 *   scope: { kind: project, project: vision }   # global | cluster | project | gpu
 *   idle:
 *     signals: [kernel, terminal, gpu]          # which activity counts
 *     gpuUtilBelow: 5                           # % — below this a GPU is idle
 *     cpuBelow: 10                              # % of one core
 *     after: 30m                                # idle this long → reclaim
 *   warning: 5m                                 # warned this long before
 *   extensions: { max: 1, each: 1h }
 *   action: park                                # park | notify | stop
 *   maxLifetime: 7d
 *   exempt: { users: [alice], labels: [demo] }
 *   preemptible: true
 *   snapshotInterval: 1h
 */

export const SIGNALS = ["kernel", "terminal", "gpu", "cpu"] as const;
export type Signal = (typeof SIGNALS)[number];
export const ACTIONS = ["park", "notify", "stop"] as const;
export type ReclaimAction = (typeof ACTIONS)[number];

const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

const duration = (what: string, min = 1000) =>
  z
    .string({ error: `${what}: a duration like 90s, 30m, 2h or 7d` })
    .transform((text, ctx) => {
      const ms = parseDuration(text);
      if (ms === null) {
        ctx.addIssue({ code: "custom", message: `${what}: "${text}" is not a duration (use e.g. 90s, 30m, 2h, 7d)` });
        return z.NEVER;
      }
      if (ms < min) {
        ctx.addIssue({ code: "custom", message: `${what}: must be at least ${formatDuration(min)}` });
        return z.NEVER;
      }
      return ms;
    });

const scope = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("global") }).strict(),
  z.object({ kind: z.literal("cluster"), cluster: z.string().regex(NAME) }).strict(),
  z.object({ kind: z.literal("project"), project: z.string().regex(NAME) }).strict(),
  z.object({ kind: z.literal("gpu"), gpuType: z.string().min(1).max(63) }).strict(),
]);

export const policyDocument = z
  .object({
    name: z.string().regex(NAME, "name: lowercase letters, digits and dashes"),
    description: z.string().max(500).default(""),
    scope: scope.default({ kind: "global" }),
    idle: z
      .object({
        signals: z.array(z.enum(SIGNALS)).min(1, "idle.signals: name at least one of kernel, terminal, gpu, cpu").default(["kernel", "terminal", "gpu"]),
        gpuUtilBelow: z.number().min(0).max(100).default(5),
        cpuBelow: z.number().min(0).max(10_000).default(10),
        after: duration("idle.after", 60_000),
      })
      .strict(),
    warning: duration("warning").default(5 * 60_000),
    extensions: z
      .object({ max: z.number().int().min(0).max(100).default(0), each: duration("extensions.each", 60_000).default(3_600_000) })
      .strict()
      .default({ max: 0, each: 3_600_000 }),
    action: z.enum(ACTIONS).default("park"),
    maxLifetime: duration("maxLifetime", 60_000).nullable().default(null),
    exempt: z
      .object({ users: z.array(z.string().min(1)).default([]), labels: z.array(z.string().min(1)).default([]) })
      .strict()
      .default({ users: [], labels: [] }),
    preemptible: z.boolean().default(false),
    snapshotInterval: duration("snapshotInterval", 60_000).nullable().default(null),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.warning >= p.idle.after) ctx.addIssue({ code: "custom", path: ["warning"], message: `warning (${formatDuration(p.warning)}) must be shorter than idle.after (${formatDuration(p.idle.after)})` });
  });

/** A validated policy: durations in ms. */
export type PolicySpec = z.output<typeof policyDocument> & { scope: PolicyScope };

/** A stored policy: a spec with its version. */
export interface Policy extends PolicySpec {
  version: number;
}

/** Validates a parsed document; errors name each problem ("idle.after: …; warning: …"). */
export function parsePolicy(doc: unknown): { ok: true; policy: PolicySpec } | { ok: false; error: string } {
  const r = policyDocument.safeParse(doc);
  if (r.success) return { ok: true, policy: r.data };
  const error = r.error.issues
    .map((i) => {
      const where = i.path.join(".");
      return where && !i.message.startsWith(where) ? `${where}: ${i.message}` : i.message;
    })
    .join("; ");
  return { ok: false, error };
}

/** The document form again (durations as text), for `policy show` and history diffs. */
export function toDocument(p: PolicySpec): Record<string, unknown> {
  const d = (ms: number | null) => (ms === null ? null : compactDuration(ms));
  return {
    name: p.name,
    description: p.description,
    scope: p.scope,
    idle: { signals: p.idle.signals, gpuUtilBelow: p.idle.gpuUtilBelow, cpuBelow: p.idle.cpuBelow, after: d(p.idle.after) },
    warning: d(p.warning),
    extensions: { max: p.extensions.max, each: d(p.extensions.each) },
    action: p.action,
    maxLifetime: d(p.maxLifetime),
    exempt: p.exempt,
    preemptible: p.preemptible,
    snapshotInterval: d(p.snapshotInterval),
  };
}

/** 1800000 → "30m": the largest unit that divides evenly. */
export function compactDuration(ms: number): string {
  for (const [unit, size] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]] as const) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}
