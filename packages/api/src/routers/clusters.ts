import { constants } from "node:fs";
import { access } from "node:fs/promises";
import path from "node:path";
import type { TRPCRouterRecord } from "@trpc/server";
import { z } from "zod";
import { NAME_PATTERN } from "@daybox/core";
import type { Repos } from "@daybox/db";
import { BadInput, Conflict, NotFound } from "../errors.ts";
import { adminProcedure } from "../trpc.ts";

const K8S_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

type ClusterRow = Awaited<ReturnType<Repos["clusters"]["list"]>>[number];

function clusterDto(c: ClusterRow) {
  return {
    name: c.name,
    runtime: c.runtime,
    kubeconfigRef: c.kubeconfigRef,
    namespace: c.runtime === "kubernetes" ? c.namespace : null,
    status: c.status,
    nodes: c.nodes.length,
    nodesReady: c.nodes.filter((n) => n.state === "Ready" && !n.lostAt).length,
    gpus: c.nodes.filter((n) => !n.lostAt).reduce((sum, n) => sum + n.gpuCount, 0),
    createdAt: c.createdAt.toISOString(),
  };
}
export type ClusterDto = ReturnType<typeof clusterDto>;

/**
 * Clusters (admins): local ones appear with their first agent; Kubernetes
 * clusters are registered with a reference to a kubeconfig file the control
 * plane can read (typically a mounted Secret), never the credentials
 * themselves. Their GPU nodes join when the agent DaemonSet registers them.
 */
export const clustersRouter = {
  list: adminProcedure.query(async ({ ctx }) => (await ctx.repos.clusters.list()).map(clusterDto)),

  register: adminProcedure
    .input(
      z.object({
        name: z.string().regex(NAME_PATTERN, "cluster names are lowercase letters, digits and dashes"),
        kubeconfigRef: z.string().min(1).max(4096),
        namespace: z.string().max(63).regex(K8S_NAME, "must be a Kubernetes namespace name (lowercase letters, digits, dashes)").default("daybox"),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const existing = await ctx.repos.clusters.byName(input.name);
      if (existing && existing.runtime !== "kubernetes") throw new BadInput(`cluster ${input.name} is a ${existing.runtime} cluster; pick another name for the Kubernetes cluster`);
      if (input.kubeconfigRef !== "in-cluster") {
        if (!path.isAbsolute(input.kubeconfigRef)) throw new BadInput(`kubeconfigRef must be an absolute path to a kubeconfig file the control plane can read, or "in-cluster"; got "${input.kubeconfigRef}"`);
        await access(input.kubeconfigRef, constants.R_OK).catch(() => {
          throw new BadInput(`the control plane cannot read the kubeconfig file ${input.kubeconfigRef} (mount the cluster's kubeconfig Secret there)`);
        });
      }
      await ctx.repos.clusters.register(input);
      await ctx.repos.audit.record({ actorId: ctx.principal.id, action: "cluster.register", target: `cluster:${input.name}`, details: { kubeconfigRef: input.kubeconfigRef, namespace: input.namespace } });
      ctx.notifier.notify();
      return clusterDto((await ctx.repos.clusters.list()).find((c) => c.name === input.name)!);
    }),

  remove: adminProcedure.input(z.object({ name: z.string().regex(NAME_PATTERN, "not a valid cluster name") })).mutation(async ({ ctx, input }) => {
    const r = await ctx.repos.clusters.remove(input.name);
    if (!r.removed && r.busy === 0) throw new NotFound("cluster", input.name, "; `daybox cluster ls` lists clusters");
    if (!r.removed) throw new Conflict(`cluster ${input.name} still runs ${r.busy} session(s) or job(s); drain its nodes first (\`daybox node drain <node>\`)`);
    await ctx.repos.audit.record({ actorId: ctx.principal.id, action: "cluster.remove", target: `cluster:${input.name}`, details: {} });
    ctx.notifier.notify();
    return { removed: input.name };
  }),
} satisfies TRPCRouterRecord;
