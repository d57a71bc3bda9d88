import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { lineDiff as diff } from "@daybox/policy/diff";
import { connect } from "../client.ts";
import { UsageError } from "../errors.ts";
import { fields, json, note, print, printTable, relativeTime } from "../output.ts";

/** Reads a policy document (YAML or JSON; `-` is stdin) into an object, with errors that name the file and line. */
function readDocument(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file === "-" ? 0 : file, "utf8");
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new UsageError(`${file} is not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) throw new UsageError(`${file} must hold one policy (a YAML mapping with name, idle, …)`);
  return doc as Record<string, unknown>;
}

export function registerPolicyCommands(program: Command): void {
  const policy = program.command("policy").description("Reclaim policies: when idle sessions are warned and parked (admins change them)");

  policy
    .command("ls")
    .alias("list")
    .description("List active policies")
    .option("--json", "print the API result as JSON")
    .action(async (opts: { json?: boolean }) => {
      const { api } = await connect();
      const rows = await api.policies.list.query();
      if (opts.json) return print(json(rows));
      printTable(
        ["NAME", "VERSION", "SCOPE", "RULE"],
        rows.map((p) => [p.name, `v${p.version}`, p.scope, p.summary]),
        "no reclaim policies: sessions are never reclaimed. An admin adds one with `daybox policy apply -f policy.yaml`",
      );
    });

  policy
    .command("show")
    .description("Show a policy as YAML (the active or latest version, or --version N)")
    .argument("<name>", "policy name")
    .option("--version <n>", "a specific version", (v) => Number(v))
    .option("--json", "print the API result as JSON")
    .action(async (name: string, opts: { version?: number; json?: boolean }) => {
      const { api } = await connect();
      const p = await api.policies.show.query({ name, ...(opts.version ? { version: opts.version } : {}) });
      if (opts.json) return print(json(p));
      note(`# ${p.name} v${p.version}${p.active ? "" : " (inactive)"}, by ${p.createdBy} ${relativeTime(p.createdAt, new Date())}: ${p.reason}`);
      print(toYaml(p.document).trimEnd());
    });

  policy
    .command("apply")
    .description("Create or change a policy from a YAML file (admins); writes a new version")
    .requiredOption("-f, --file <file>", "policy YAML or JSON (`-` reads stdin)")
    .requiredOption("--reason <text>", "why (recorded in the policy history and the audit log)")
    .option("--json", "print the API result as JSON")
    .action(async (opts: { file: string; reason: string; json?: boolean }) => {
      const { api } = await connect();
      const r = await api.policies.apply.mutate({ document: readDocument(opts.file), reason: opts.reason });
      if (opts.json) return print(json(r));
      print(r.changed ? `applied ${r.name} v${r.version}: ${r.summary}` : `${r.name} v${r.version} is already exactly this; nothing changed`);
    });

  policy
    .command("rm")
    .alias("remove")
    .description("Deactivate a policy (admins); its history stays")
    .argument("<name>", "policy name")
    .requiredOption("--reason <text>", "why (recorded in the audit log)")
    .action(async (name: string, opts: { reason: string }) => {
      const { api } = await connect();
      await api.policies.remove.mutate({ name, reason: opts.reason });
      print(`removed policy ${name}; sessions it governed fall back to the next most specific policy`);
    });

  policy
    .command("history")
    .description("Every version of a policy: who changed it, when, why, and what changed")
    .argument("<name>", "policy name")
    .option("--json", "print the API result as JSON")
    .action(async (name: string, opts: { json?: boolean }) => {
      const { api } = await connect();
      const rows = await api.policies.history.query({ name });
      if (opts.json) return print(json(rows));
      const now = new Date();
      rows.forEach((p, i) => {
        if (i > 0) print("");
        print(`v${p.version}${p.active ? " (active)" : ""} by ${p.createdBy}, ${relativeTime(p.createdAt, now)}: ${p.reason}`);
        const older = rows[i + 1];
        print(older ? diff(toYaml(older.document), toYaml(p.document)).replace(/^/gm, "  ") : toYaml(p.document).trimEnd().replace(/^/gm, "    "));
      });
    });

  policy
    .command("dry-run")
    .description("Which running sessions a policy would warn or reclaim right now, and why — before applying it (admins)")
    .requiredOption("-f, --file <file>", "policy YAML or JSON (`-` reads stdin)")
    .option("--json", "print the API result as JSON")
    .action(async (opts: { file: string; json?: boolean }) => {
      const { api } = await connect();
      const r = await api.policies.dryRun.mutate({ document: readDocument(opts.file) });
      if (opts.json) return print(json(r));
      print(fields([["Policy", `${r.policy.name} (would be v${r.policy.version})`], ["Rule", r.policy.summary], ["Governs", `${r.governed} of ${r.runningSessions} running sessions`]]));
      print(`Now: ${r.counts.reclaim} reclaim, ${r.counts.warn} warn, ${r.counts.idle} idle, ${r.counts.active} active, ${r.counts.exempt} exempt\n`);
      const order = { reclaim: 0, warn: 1, idle: 2, active: 3, exempt: 4 } as const;
      printTable(
        ["VERDICT", "SESSION", "OWNER", "PROJECT", "WHY"],
        r.verdicts.toSorted((a, b) => order[a.kind] - order[b.kind]).map((v) => [v.kind.toUpperCase(), v.session, v.owner, v.project, v.reason]),
        "no running session falls under this policy's scope",
      );
    });
}
