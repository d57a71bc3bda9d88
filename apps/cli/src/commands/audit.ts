import type { Command } from "commander";
import { integer } from "../args.ts";
import { connect } from "../client.ts";
import { json, print, printTable, relativeTime } from "../output.ts";

export function registerAuditCommands(program: Command): void {
  program
    .command("audit")
    .description("Show who changed what: users, projects, quota, nodes, tokens (admins)")
    .option("--limit <n>", "how many entries, newest first", integer(1, 1000), 100)
    .option("--action <action>", "only this action, e.g. quota.set")
    .option("--json", "print the API result as JSON")
    .action(async (opts: { limit: number; action?: string; json?: boolean }) => {
      const { api } = await connect();
      const rows = await api.audit.list.query({ limit: opts.limit, ...(opts.action ? { action: opts.action } : {}) });
      if (opts.json) return print(json(rows));
      const now = new Date();
      printTable(
        ["TIME", "ACTOR", "ACTION", "TARGET", "DETAILS"],
        rows.map((r) => [relativeTime(r.at, now), r.actor, r.action, r.target, details(r.details)]),
        opts.action ? `no ${opts.action} entries` : "no audit entries yet",
      );
    });
}

/** {"before":0,"after":4} → "before=0 after=4" */
function details(d: unknown): string {
  if (d === null || typeof d !== "object") return d === undefined || d === null ? "" : String(d);
  return Object.entries(d as Record<string, unknown>)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
}
