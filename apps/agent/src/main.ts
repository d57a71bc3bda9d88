import { readFile } from "node:fs/promises";
import { startAgent } from "./agent.ts";
import { loadEnv } from "./env.ts";

/** `daybox-agent`: one per node. */
async function main() {
  const env = loadEnv();
  const token =
    env.DAYBOX_AGENT_TOKEN ??
    (env.DAYBOX_AGENT_TOKEN_FILE ? (await readFile(env.DAYBOX_AGENT_TOKEN_FILE, "utf8")).trim() : undefined);
  if (!token) throw new Error("no agent token: set DAYBOX_AGENT_TOKEN or DAYBOX_AGENT_TOKEN_FILE");
  const agent = await startAgent(env, token);
  console.log(JSON.stringify({ event: "ready", node: agent.nodeName }));
  let closing = false;
  const shutdown = async () => {
    if (closing) return;
    closing = true;
    await agent.close();
    process.exit(0);
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
}

main().catch((err: Error) => {
  console.error(`agent failed: ${err.message}${err.cause instanceof Error ? `: ${err.cause.message}` : ""}`);
  process.exit(1);
});
