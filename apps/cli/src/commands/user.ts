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
    .description("Create a user and their first API token (printed once); with --email, also a portal sign-in with a generated password")
    .argument("<name>", "lowercase letters, digits and dashes")
    .addOption(new Option("--role <role>", "admins manage users, projects, quota and nodes; agent: a token for node agents (Kubernetes DaemonSet)").choices(["researcher", "admin", "agent"]).default("researcher"))
    .option("--email <address>", "their portal sign-in; a password is generated and printed once")
    .option("--json", "print the API result (including the token) as JSON")
    .action(async (name: string, opts: { role: "researcher" | "admin" | "agent"; email?: string; json?: boolean }) => {
      const { api, config } = await connect();
      const u = await api.users.create.mutate({ name, role: opts.role, ...(opts.email ? { email: opts.email } : {}) });
      if (opts.json) return print(json(u));
      note(`created ${u.role} ${u.name}. Their API token is below; it is shown only once, so pass it on now:`);
      print(u.token);
      note(`they log in with: daybox login --url ${config.url}   (and paste the token)`);
      if (u.email && u.password) note(`portal sign-in (shown once): ${u.email}  ${u.password}`);
      note(`add them to a project: daybox project add-member <project> ${u.name}`);
    });

  user
    .command("password")
    .description("Set or reset a user's portal sign-in (signs them out of every browser)")
    .argument("<name>", "the user")
    .option("--email <address>", "their sign-in email (required the first time)")
    .option("--password-stdin", "read the new password from stdin (default: generate one and print it once)")
    .option("--json", "print the API result as JSON")
    .action(async (name: string, opts: { email?: string; passwordStdin?: boolean; json?: boolean }) => {
      const { api } = await connect();
      const password = opts.passwordStdin ? (await readAll(process.stdin)).replace(/\r?\n$/, "") : undefined;
      const r = await api.users.setPassword.mutate({ user: name, ...(opts.email ? { email: opts.email } : {}), ...(password ? { password } : {}) });
      if (opts.json) return print(json(r));
      note(`${r.name} signs in to the portal as ${r.email}${r.password ? " with this password (shown once):" : " with the password you gave"}`);
      if (r.password) print(r.password);
    });
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let text = "";
  for await (const chunk of stream) text += chunk.toString();
  return text;
}
