import type { Command } from "commander";
import { connect } from "../client.ts";
import { json, print, printTable } from "../output.ts";

export function registerClusterCommands(program: Command): void {
  const cluster = program.command("cluster").description("Clusters Daybox places sessions in (admins)");

  cluster
    .command("ls")
    .alias("list")
    .description("List clusters with their nodes, GPUs and what the control plane sees of them")
    .option("--json", "print the API result as JSON")
    .action(async (opts: { json?: boolean }) => {
      const { api } = await connect();
      const clusters = await api.clusters.list.query();
      if (opts.json) return print(json(clusters));
      printTable(
        ["NAME", "RUNTIME", "NAMESPACE", "NODES READY", "GPUS", "STATUS"],
        clusters.map((c) => [c.name, c.runtime, c.namespace ?? "-", `${c.nodesReady}/${c.nodes}`, c.gpus, c.status || "-"]),
        "no clusters yet; `daybox cluster add <name> --kubeconfig <file>` registers a Kubernetes cluster",
      );
    });

  cluster
    .command("add")
    .description("Register a Kubernetes cluster (or change its kubeconfig or namespace); its agents then register its GPU nodes")
    .argument("<name>", "a name for the cluster, e.g. gpu-east")
    .requiredOption("--kubeconfig <file>", 'a kubeconfig file the control plane can read (e.g. a mounted Secret), or "in-cluster"')
    .option("--namespace <ns>", "the namespace Daybox's pods run in", "daybox")
    .option("--json", "print the cluster as JSON")
    .action(async (name: string, opts: { kubeconfig: string; namespace: string; json?: boolean }) => {
      const { api } = await connect();
      const c = await api.clusters.register.mutate({ name, kubeconfigRef: opts.kubeconfig, namespace: opts.namespace });
      print(opts.json ? json(c) : `cluster ${c.name} registered (namespace ${c.namespace}); the control plane starts watching its nodes within a tick`);
    });

  cluster
    .command("rm")
    .alias("remove")
    .description("Forget a cluster and its nodes (refused while sessions or jobs run there)")
    .argument("<name>", "cluster name (`daybox cluster ls`)")
    .option("--json", "print the result as JSON")
    .action(async (name: string, opts: { json?: boolean }) => {
      const { api } = await connect();
      const r = await api.clusters.remove.mutate({ name });
      print(opts.json ? json(r) : `cluster ${r.removed} removed`);
    });
}
