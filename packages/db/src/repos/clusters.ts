import { GPU_HOLDING_STATES, newId } from "@daybox/core";
import type { PrismaClient } from "../generated/prisma/client.ts";

/**
 * Clusters Daybox places work in. `local` clusters appear when their first
 * agent registers; Kubernetes clusters are registered by an admin with a
 * reference to their kubeconfig (a file the control plane can read, e.g. a
 * mounted Secret; never the credentials themselves), so the control plane can
 * watch their nodes.
 */
export function clustersRepo(db: PrismaClient) {
  return {
    list() {
      return db.cluster.findMany({
        orderBy: { name: "asc" },
        include: { nodes: { select: { gpuCount: true, state: true, lostAt: true } } },
      });
    },
    byName(name: string) {
      return db.cluster.findUnique({ where: { name } });
    },
    /** Kubernetes clusters the control plane should watch. */
    watched() {
      return db.cluster.findMany({ where: { runtime: "kubernetes", kubeconfigRef: { not: null } } });
    },
    /** Registers a Kubernetes cluster, or updates its kubeconfig reference and namespace. */
    register(input: { name: string; kubeconfigRef: string; namespace: string }) {
      return db.cluster.upsert({
        where: { name: input.name },
        create: { id: newId("cls"), name: input.name, runtime: "kubernetes", kubeconfigRef: input.kubeconfigRef, namespace: input.namespace },
        update: { kubeconfigRef: input.kubeconfigRef, namespace: input.namespace },
      });
    },
    setStatus(id: string, status: string) {
      return db.cluster.updateMany({ where: { id, NOT: { status } }, data: { status } });
    },
    /** Removes a cluster and its nodes; refused (null) while anything holds GPUs there. */
    async remove(name: string) {
      return db.$transaction(async (tx) => {
        const cluster = await tx.cluster.findUnique({ where: { name }, include: { nodes: { select: { id: true } } } });
        if (!cluster) return { removed: false as const, busy: 0 };
        const ids = cluster.nodes.map((n) => n.id);
        const busy =
          (await tx.session.count({ where: { nodeId: { in: ids }, state: { in: [...GPU_HOLDING_STATES] } } })) +
          (await tx.batchJob.count({ where: { nodeId: { in: ids }, state: { in: ["Scheduled", "Running", "Preempting", "Cancelling"] } } }));
        if (busy) return { removed: false as const, busy };
        await tx.session.updateMany({ where: { cacheNodeId: { in: ids } }, data: { cacheNodeId: null } });
        await tx.session.updateMany({ where: { nodeId: { in: ids } }, data: { nodeId: null } });
        await tx.batchJob.updateMany({ where: { nodeId: { in: ids } }, data: { nodeId: null } });
        await tx.agentAction.deleteMany({ where: { nodeId: { in: ids } } });
        await tx.node.deleteMany({ where: { clusterId: cluster.id } });
        await tx.cluster.delete({ where: { id: cluster.id } });
        return { removed: true as const, busy: 0 };
      });
    },
  };
}
