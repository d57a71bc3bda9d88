import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { apiUrl } from "./client.ts";
import { DEFAULT_URL, debugEnabled } from "./config.ts";
import { registerAuditCommands } from "./commands/audit.ts";
import { registerAuthCommands } from "./commands/auth.ts";
import { registerEventCommands } from "./commands/events.ts";
import { registerJobCommands } from "./commands/job.ts";
import { registerClusterCommands } from "./commands/cluster.ts";
import { registerNodeCommands } from "./commands/node.ts";
import { registerPolicyCommands } from "./commands/policy.ts";
import { registerProjectCommands } from "./commands/project.ts";
import { registerQuotaCommands } from "./commands/quota.ts";
import { registerSessionCommands } from "./commands/session.ts";
import { registerSnapshotCommands } from "./commands/snapshot.ts";
import { registerTokenCommands } from "./commands/token.ts";
import { registerUpCommand } from "./commands/up.ts";
import { registerUsageCommand } from "./commands/usage.ts";
import { registerUserCommands } from "./commands/user.ts";
import { describeError } from "./errors.ts";

const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };

function buildProgram(): Command {
  const program = new Command("daybox")
    .description("Interactive GPU sessions on shared clusters.\nConfig: DAYBOX_URL / DAYBOX_TOKEN, else `daybox login`'s ~/.config/daybox/config.json (DAYBOX_CONFIG).")
    .version(version, "-v, --version")
    .showSuggestionAfterError()
    // Throw instead of exiting so usage errors get exit code 2 (commander says 1); set before
    // adding commands, which inherit it.
    .exitOverride();
  registerAuthCommands(program);
  registerSessionCommands(program);
  registerEventCommands(program);
  registerJobCommands(program);
  registerSnapshotCommands(program);
  registerClusterCommands(program);
  registerNodeCommands(program);
  registerProjectCommands(program);
  registerQuotaCommands(program);
  registerPolicyCommands(program);
  registerUserCommands(program);
  registerTokenCommands(program);
  registerAuditCommands(program);
  registerUsageCommand(program);
  registerUpCommand(program);
  return program;
}

/** Exits once stdout and stderr are flushed, so piped output is never cut short. */
async function exit(code: number): Promise<never> {
  await Promise.all([process.stdout, process.stderr].map((s) => new Promise<void>((resolve) => s.write("", () => resolve()))));
  // Exiting explicitly rather than waiting: keep-alive sockets would hold the process open.
  process.exit(code);
}

async function main(): Promise<never> {
  try {
    await buildProgram().parseAsync(process.argv);
    return await exit(typeof process.exitCode === "number" ? process.exitCode : 0);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has printed the message or help already.
      return await exit(err.exitCode === 0 ? 0 : 2);
    }
    const { message, exitCode } = describeError(err, apiUrl() ?? DEFAULT_URL);
    process.stderr.write(`error: ${message}\n`);
    if (debugEnabled() && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    return await exit(exitCode);
  }
}

// `daybox session ls | head` closes the pipe early: that is the reader being done, not an error.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});

await main();
