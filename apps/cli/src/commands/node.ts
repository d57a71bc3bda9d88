import type { Command } from "commander";
import type { NodeDto } from "@daybox/api";
import { connect } from "../client.ts";
import { json, print, printTable, relativeTime } from "../output.ts";

function nodeState(n: NodeDto): string {
  if (n.lostAt) return "Lost";
  if (n.draining) return `${n.state},draining`;
  if (n.clusterStatus) return `${n.state},blocked`;
  if (!n.schedulable) return `${n.state},cordoned`;
  return n.state;
}

export function registerNodeCommands(program: Command): void {
  const node = program.command("node").description("See GPU nodes and take them out of service (admins)");

  node
    .command("ls")
    .alias("list")
    .description("List nodes with their GPU allocation and health")
    .option("--json", "print the API result as JSON")
    .action(async (opts: { json?: boolean }) => {
      const { api } = await connect();
      const nodes = await api.nodes.list.query();
      if (opts.json) return print(json(nodes));
      const now = new Date();
      printTable(
        ["NAME", "CLUSTER", "GPU TYPE", "GPUS USED", "STATE", "SESSIONS", "HEARTBEAT", "AGENT"],
        nodes.map((n) => [n.name, n.cluster, n.gpuType, `${n.gpusAllocated}/${n.gpuCount}`, nodeState(n), n.sessions.length, relativeTime(n.lastHeartbeat, now), n.agentVersion]),
        "no nodes have registered yet; start a node agent (`daybox up` runs one locally)",
      );
    });

  const actions = [
    { name: "cordon", description: "Stop scheduling new sessions on a node (running ones stay)", done: "cordoned: no new sessions will be scheduled on it" },
    { name: "uncordon", description: "Let a cordoned or drained node take sessions again", done: "uncordoned: it takes new sessions again" },
    { name: "drain", description: "Cordon a node and stop its sessions (they keep their home directories)", done: "draining: it is cordoned and its sessions are being stopped" },
  ] as const;
  for (const action of actions) {
    node
      .command(action.name)
      .description(action.description)
      .argument("<name>", "node name (`daybox node ls`)")
      .option("--json", "print the node as JSON")
      .action(async (name: string, opts: { json?: boolean }) => {
        const { api } = await connect();
        const n = await api.nodes[action.name].mutate({ name });
        print(opts.json ? json(n) : `node ${n.name} ${action.done}`);
      });
  }
}
