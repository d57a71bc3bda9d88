import { Option, type Command } from "commander";
import { connect } from "../client.ts";
import { json, note, print, printTable, relativeTime } from "../output.ts";

export function registerUserCommands(program: Command): void {
  const user = program.command("user").description("Manage users (admins)");

  user
    .command("ls")
    .alias("list")
    .description("List users")
    .option("--json", "print the API result as JSON")
    .action(async (opts: { json?: boolean }) => {
      const { api } = await connect();
      const rows = await api.users.list.query();
      if (opts.json) return print(json(rows));
      const now = new Date();
      printTable(["NAME", "ROLE", "CREATED", "STATUS"], rows.map((u) => [u.name, u.role, relativeTime(u.createdAt, now), u.disabled ? "disabled" : "active"]), "no users");
    });

  user
    .command("create")
    .description("Create a user and their first API token (printed once)")
    .argument("<name>", "lowercase letters, digits and dashes")
    .addOption(new Option("--role <role>", "admins manage users, projects, quota and nodes").choices(["researcher", "admin"]).default("researcher"))
    .option("--json", "print the API result (including the token) as JSON")
    .action(async (name: string, opts: { role: "researcher" | "admin"; json?: boolean }) => {
      const { api, config } = await connect();
      const u = await api.users.create.mutate({ name, role: opts.role });
      if (opts.json) return print(json(u));
      note(`created ${u.role} ${u.name}. Their API token is below; it is shown only once, so pass it on now:`);
      print(u.token);
      note(`they log in with: daybox login --url ${config.url}   (and paste the token)`);
      note(`add them to a project: daybox project add-member <project> ${u.name}`);
    });
}
