import type { Command } from "commander";
import { integer } from "../args.ts";
import { connect } from "../client.ts";
import { json, note, print, printTable, relativeTime } from "../output.ts";

export function registerTokenCommands(program: Command): void {
  const token = program.command("token").description("Manage API tokens");

  token
    .command("create")
    .description("Create an API token (printed once); admins may create one for another user")
    .option("--name <name>", "what the token is for", "cli")
    .option("--expires-in-days <days>", "expire after this many days (default: never)", integer(1, 3650))
    .option("--user <user>", "create it for this user (admins)")
    .option("--json", "print the API result (including the token) as JSON")
    .action(async (opts: { name: string; expiresInDays?: number; user?: string; json?: boolean }) => {
      const { api } = await connect();
      const t = await api.tokens.create.mutate({
        name: opts.name,
        ...(opts.expiresInDays ? { expiresInDays: opts.expiresInDays } : {}),
        ...(opts.user ? { user: opts.user } : {}),
      });
      if (opts.json) return print(json(t));
      note(`created token ${t.id} (${t.name}${t.expiresAt ? `, expires ${t.expiresAt}` : ""}); it is shown only once:`);
      print(t.token);
    });

  token
    .command("ls")
    .alias("list")
    .description("List your API tokens (secrets are never shown again)")
    .option("--all", "every user's tokens (admins)")
    .option("--json", "print the API result as JSON")
    .action(async (opts: { all?: boolean; json?: boolean }) => {
      const { api } = await connect();
      const rows = await api.tokens.list.query({ all: opts.all ?? false });
      if (opts.json) return print(json(rows));
      const now = new Date();
      const status = (t: (typeof rows)[number]) =>
        t.revokedAt ? "revoked" : t.expiresAt && new Date(t.expiresAt) <= now ? "expired" : t.current ? "active (this one)" : "active";
      printTable(
        ["ID", "NAME", "USER", "PREFIX", "CREATED", "LAST USED", "EXPIRES", "STATUS"],
        rows.map((t) => [t.id, t.name, t.user, t.prefix, relativeTime(t.createdAt, now), relativeTime(t.lastUsedAt, now), t.expiresAt ? relativeTime(t.expiresAt, now) : "never", status(t)]),
        "no tokens",
      );
    });

  token
    .command("revoke")
    .description("Revoke an API token; anything using it stops working at once")
    .argument("<id>", "token id (tok-…, from `daybox token ls`)")
    .action(async (id: string) => {
      const { api } = await connect();
      const r = await api.tokens.revoke.mutate({ id });
      print(`revoked ${r.id}`);
    });
}
