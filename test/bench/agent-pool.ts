/**
 * Many Kubernetes-mode agents in one process, for the scale benchmark: one per
 * node named on the command line. Each is the real agent (its own API client,
 * long-poll claims, heartbeats, pod watch), exactly as the DaemonSet runs one
 * per node; only the process is shared. Prints {"event":"ready"} when all
 * have registered.
 *   node --import tsx test/bench/agent-pool.ts <node>...   (env: DAYBOX_API_URL, DAYBOX_AGENT_TOKEN_FILE, DAYBOX_KUBECONFIG, ...)
 */
import { mkdirSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { startAgent } from "../../apps/agent/src/agent.ts";
import { loadEnv } from "../../apps/agent/src/env.ts";

async function main() {
  const nodes = process.argv.slice(2);
  const base = loadEnv();
  const token = (await readFile(process.env["DAYBOX_AGENT_TOKEN_FILE"]!, "utf8")).trim();
  const quiet = () => {};
  const agents: Awaited<ReturnType<typeof startAgent>>[] = [];
  // Register in small batches: 500 agents at once would only queue at the API.
  for (let i = 0; i < nodes.length; i += 25) {
    agents.push(
      ...(await Promise.all(
        nodes.slice(i, i + 25).map((node) => {
          const dataDir = path.join(base.DAYBOX_DATA_DIR, node);
          mkdirSync(dataDir, { recursive: true });
          return startAgent(loadEnv({ ...process.env, DAYBOX_NODE_NAME: node, DAYBOX_DATA_DIR: dataDir }), token, quiet);
        }),
      )),
    );
  }
  console.log(JSON.stringify({ event: "ready", agents: agents.length }));
  const stop = () => void Promise.all(agents.map((a) => a.close())).then(() => process.exit(0));
  process.on("SIGTERM", stop);
  // The benchmark died: don't outlive it.
  process.stdin.on("end", stop).resume();
}

main().catch((err: Error) => {
  console.error(`agent pool failed: ${err.message}`);
  process.exit(1);
});
