import type { TRPCRouterRecord } from "@trpc/server";
import { z } from "zod";
import { formatDuration, parseDuration } from "@daybox/core";
import { BadInput } from "../errors.ts";
import { adminProcedure, protectedProcedure } from "../trpc.ts";
import { computeUsage, FRESH_SAMPLE_MS, IDLE_UTIL_BELOW } from "../usage.ts";

export const usageRouter = {
  /**
   * Capacity accounting: per project and GPU type, guaranteed vs held by
   * sessions and batch, borrowed, idle-but-allocated, and GPU-hours
   * reclaimed within the window; fleet totals per GPU type. Researchers see
   * their projects' rows; everyone sees the fleet totals.
   */
  summary: protectedProcedure.input(z.object({ since: z.string().default("7d") }).default({ since: "7d" })).query(async ({ ctx, input }) => {
    const windowMs = parseDuration(input.since);
    if (windowMs === null || windowMs <= 0) throw new BadInput(`since: expected a duration like 24h or 7d, got ${JSON.stringify(input.since)}`);
    const now = ctx.clock.now();
    const since = new Date(now.getTime() - windowMs);
    const [holdings, history] = await Promise.all([ctx.repos.usage.holdings(), ctx.repos.usage.parkHistory()]);
    const { projects, fleet } = computeUsage(holdings, history, since, now);
    let visible = projects;
    if (ctx.principal.role !== "admin") {
      const mine = new Set((await ctx.repos.projects.membershipsOf(ctx.principal.id)).map((m) => m.project.name));
      visible = projects.filter((p) => mine.has(p.project));
    }
    return {
      since: since.toISOString(),
      now: now.toISOString(),
      window: formatDuration(windowMs),
      idleDefinition: `latest GPU utilization sample below ${IDLE_UTIL_BELOW}% (samples older than ${formatDuration(FRESH_SAMPLE_MS)} count as unknown)`,
      projects: visible,
      fleet,
    };
  }),

  /**
   * The fleet's GPUs over time (one sample a minute, all types together):
   * allocated, busy, idle-but-allocated, to batch jobs, and GPU-hours
   * reclaimed so far. At most 360 points; longer ranges are thinned evenly.
   */
  fleetHistory: adminProcedure.input(z.object({ hours: z.number().min(1 / 60, "hours: at least 1 minute").max(720, "hours: at most 720 (30 days)") })).query(async ({ ctx, input }) => {
    const now = ctx.clock.now();
    const rows = await ctx.repos.fleet.since(new Date(now.getTime() - input.hours * 3_600_000));
    const step = Math.max(1, Math.ceil(rows.length / 360));
    const kept = rows.filter((_, i) => i % step === 0 || i === rows.length - 1);
    return {
      now: now.toISOString(),
      points: kept.map((r) => ({
        at: r.at.getTime(),
        total: r.gpusTotal,
        allocated: r.gpusAllocated,
        busy: r.gpusBusy,
        idleAllocated: r.gpusIdleAllocated,
        forJobs: r.gpusForJobs,
        gpuHoursReclaimed: r.gpuHoursReclaimed,
      })),
    };
  }),
} satisfies TRPCRouterRecord;
