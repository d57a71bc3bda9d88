import type { Command } from "commander";
import { createApi, connect } from "../client.ts";
import { DEFAULT_URL, envOverrides, loadConfig, normalizeUrl, saveConfig } from "../config.ts";
import { CliError } from "../errors.ts";
import { json, note, print } from "../output.ts";

export function registerAuthCommands(program: Command): void {
  program
    .command("login")
    .description("Check an API address and token, then save them for later commands")
    .option("--url <url>", `the Daybox API (default: DAYBOX_URL, the saved address, or ${DEFAULT_URL})`)
    .option("--token <token>", "your API token (default: read one line from stdin, so it stays out of shell history)")
    .action(async (opts: { url?: string; token?: string }) => {
      const current = await loadConfig(process.env, { forLogin: true });
      const url = opts.url ? normalizeUrl(opts.url, "--url") : current.url;
      const token = (opts.token ?? (await readToken())).trim();
      if (!token) throw new CliError("no token given; pass --token or type it when asked (an admin creates one with `daybox user create`)");

      const me = await (await createApi({ url, token })).auth.whoami.query().catch((err: unknown) => {
        // The generic hint ("log in with a valid token") would point back at this very command.
        const code = (err as { data?: { code?: string } }).data?.code;
        throw code === "UNAUTHORIZED" ? new CliError(`${(err as Error).message}; check the token and try again`) : err;
      });
      await saveConfig(current.file, { url, token });
      print(`logged in as ${me.name} (${me.role}) at ${url}`);
      const overridden = envOverrides();
      if (overridden.length > 0) {
        note(`note: ${overridden.join(" and ")} ${overridden.length > 1 ? "are" : "is"} set and will override what was saved to ${current.file}`);
      }
    });

  program
    .command("whoami")
    .description("Show who the saved token belongs to, and your projects")
    .option("--json", "print the API result as JSON")
    .action(async (opts: { json?: boolean }) => {
      const { api, config } = await connect();
      const me = await api.auth.whoami.query();
      if (opts.json) return print(json(me));
      print(`${me.name} (${me.role}) at ${config.url}`);
      const projects = me.projects.map((p) => (p.role === "member" ? p.name : `${p.name} (${p.role})`));
      print(`projects: ${projects.length > 0 ? projects.join(", ") : "none — ask an admin to add you to one"}`);
    });
}

/** One line from stdin: typed without echo on a terminal, or piped (`echo $TOKEN | daybox login`). */
async function readToken(): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    const { createInterface } = await import("node:readline");
    const rl = createInterface({ input: stdin });
    for await (const line of rl) {
      rl.close();
      return line;
    }
    return "";
  }
  process.stderr.write("API token: ");
  stdin.setRawMode(true);
  stdin.resume();
  try {
    return await new Promise<string>((resolve, reject) => {
      let text = "";
      const onData = (chunk: Buffer) => {
        for (const ch of chunk.toString("utf8")) {
          if (ch === "\r" || ch === "\n") {
            stdin.off("data", onData);
            return resolve(text);
          }
          if (ch === "\u0003" || ch === "\u0004") {
            stdin.off("data", onData);
            return reject(new CliError("login cancelled", 130));
          }
          if (ch === "\u007f" || ch === "\b") text = text.slice(0, -1);
          else if (ch >= " ") text += ch;
        }
      };
      stdin.on("data", onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write("\n");
  }
}
