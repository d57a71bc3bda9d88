import { Option, type Command } from "commander";
import { connect } from "../client.ts";
import { CliError } from "../errors.ts";
import { fields, json, note, print, printTable, table } from "../output.ts";

const quotaText = (quotas: { gpuType: string; guaranteed: number }[]) => quotas.map((q) => `${q.gpuType}=${q.guaranteed}`).join(", ");

export function registerProjectCommands(program: Command): void {
  const project = program.command("project").description("Projects group users and hold GPU quota");

  project
    .command("ls")
    .alias("list")
    .description("List projects (admins: all; others: yours)")
    .option("--json", "print the API result as JSON")
    .action(async (opts: { json?: boolean }) => {
      const { api } = await connect();
      const rows = await api.projects.list.query();
      if (opts.json) return print(json(rows));
      printTable(
        ["NAME", "MEMBERS", "QUOTA", "DESCRIPTION"],
        rows.map((p) => [p.name, p.members, quotaText(p.quotas), p.description]),
        "no projects; an admin creates them with `daybox project create`",
      );
    });

  project
    .command("show")
    .description("Show a project's quota and members")
    .argument("<name>", "project name")
    .option("--json", "print the API result as JSON")
    .action(async (name: string, opts: { json?: boolean }) => {
      const { api } = await connect();
      const p = await api.projects.byName.query({ name });
      if (opts.json) return print(json(p));
      print(fields([["Name", p.name], ["Description", p.description], ["Quota", quotaText(p.quotas) || "none — `daybox quota set`"]]));
      print("\nMembers:");
      print(p.members.length === 0 ? "  none — `daybox project add-member`" : table(["USER", "ROLE"], p.members.map((m) => [m.user, m.role])).replace(/^/gm, "  "));
    });

  project
    .command("create")
    .description("Create a project (admins); then give it quota and members")
    .argument("<name>", "lowercase letters, digits and dashes")
    .option("--description <text>", "what the project is for")
    .action(async (name: string, opts: { description?: string }) => {
      const { api } = await connect();
      const p = await api.projects.create.mutate({ name, ...(opts.description ? { description: opts.description } : {}) });
      print(`created project ${p.name}`);
      note(`next: \`daybox quota set ${p.name} <gpu-type> <count>\` and \`daybox project add-member ${p.name} <user>\``);
    });

  project
    .command("add-member")
    .description("Add a user to a project, or change their role in it (admins)")
    .argument("<project>", "project name")
    .argument("<user>", "user name")
    .addOption(new Option("--role <role>", "managers can see and stop the project's sessions").choices(["member", "manager"]).default("member"))
    .action(async (projectName: string, user: string, opts: { role: "member" | "manager" }) => {
      const { api } = await connect();
      const r = await api.projects.addMember.mutate({ project: projectName, user, role: opts.role });
      print(`${r.user} is now a ${r.role} of ${r.project}`);
    });

  project
    .command("remove-member")
    .description("Remove a user from a project (admins); their sessions keep running")
    .argument("<project>", "project name")
    .argument("<user>", "user name")
    .action(async (projectName: string, user: string) => {
      const { api } = await connect();
      const r = await api.projects.removeMember.mutate({ project: projectName, user });
      print(`removed ${r.user} from ${r.project}`);
    });

  project
    .command("webhook")
    .description("POST reclaim warnings and parks of the project's sessions to a URL as JSON (admins), e.g. a chat integration")
    .argument("<project>", "project name")
    .argument("[url]", "http(s) URL to POST to")
    .option("--clear", "remove the project's webhook")
    .action(async (projectName: string, url: string | undefined, opts: { clear?: boolean }) => {
      if (!url && !opts.clear) throw new CliError("give the URL to POST to, or --clear to remove the webhook");
      if (url && opts.clear) throw new CliError("give either a URL or --clear, not both");
      const { api } = await connect();
      const r = await api.projects.setWebhook.mutate({ project: projectName, url: url ?? null });
      print(r.webhook ? `${r.project}: reclaim warnings and parks are POSTed to ${r.webhook}` : `${r.project}: webhook removed`);
    });
}
