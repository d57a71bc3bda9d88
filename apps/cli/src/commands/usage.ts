import type { Command } from "commander";
import { connect } from "../client.ts";
import { json, note, print, printTable } from "../output.ts";

export function registerUsageCommand(program: Command): void {
  program
    .command("usage")
    .description("Capacity accounting: per project and GPU type, guaranteed vs in use by sessions and batch, borrowed, idle-but-allocated, and GPU-hours reclaimed from idle sessions; fleet totals per GPU type")
    .option("--since <duration>", "window for GPU-hours reclaimed (e.g. 24h, 7d, 30d)", "7d")
    .option("--json", "print the API result as JSON")
    .action(async (opts: { since: string; json?: boolean }) => {
      const { api } = await connect();
      const u = await api.usage.summary.query({ since: opts.since });
      if (opts.json) return print(json(u));
      printTable(
        ["PROJECT", "GPU TYPE", "GUARANTEED", "SESSIONS", "BATCH", "BORROWED", "IDLE-ALLOCATED", `RECLAIMED (GPU-h, ${u.window})`],
        u.projects.map((p) => [p.project, p.gpuType, p.guaranteed, p.sessions, p.batch, p.borrowed, p.idleAllocated, p.gpuHoursReclaimed.toFixed(2)]),
        "no project usage to show (you are in no project with GPU quota or activity)",
      );
      print("");
      printTable(
        ["GPU TYPE", "TOTAL", "ALLOCATED", "SESSIONS", "BATCH", "BUSY", "IDLE-ALLOCATED", "UNKNOWN", "FREE", `RECLAIMED (GPU-h, ${u.window})`],
        u.fleet.map((f) => [f.gpuType, f.total, f.allocated, f.sessions, f.batch, f.busy, f.idleAllocated, f.unknown, f.free, f.gpuHoursReclaimed.toFixed(2)]),
        "no GPUs registered yet",
      );
      note(`idle-allocated: ${u.idleDefinition}; batch GPUs count as busy`);
    });
}
