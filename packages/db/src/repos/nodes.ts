import { GPU_HOLDING_STATES, newId } from "@daybox/core";
import type { PrismaClient } from "../generated/prisma/client.ts";
import { purgeElsewhere } from "./snapshots.ts";

export interface NodeRegistration {
  clusterName: string;
  runtime: "local" | "kubernetes";
  name: string;
  gpuType: string;
  gpuCount: number;
  agentUrl: string;
  agentSecret: string;
  agentVersion: string;
}

export function nodesRepo(db: PrismaClient) {
  return {
    /**
     * Registers a node, or updates it when an agent restarts: the node keeps
     * its id, cordon and drain flags, so a restart never loses admin intent.
     */
    async register(r: NodeRegistration, now: Date) {
      const cluster = await db.cluster.upsert({
        where: { name: r.clusterName },
        create: { id: newId("cls"), name: r.clusterName, runtime: r.runtime },
        update: {},
      });
      const fields = {
        gpuType: r.gpuType,
        gpuCount: r.gpuCount,
        agentUrl: r.agentUrl,
        agentSecret: r.agentSecret,
        agentVersion: r.agentVersion,
        lastHeartbeat: now,
        state: "Ready" as const,
      };
      return db.node.upsert({
        where: { clusterId_name: { clusterId: cluster.id, name: r.name } },
        create: { id: newId("nod"), clusterId: cluster.id, name: r.name, ...fields },
        update: fields,
      });
    },
    async heartbeat(id: string, now: Date) {
      const { count } = await db.node.updateMany({ where: { id }, data: { lastHeartbeat: now } });
      return count > 0;
    },
    byId(id: string) {
      return db.node.findUnique({ where: { id } });
    },
    byName(name: string) {
      return db.node.findFirst({ where: { name } });
    },
    list() {
      return db.node.findMany({
        include: {
          cluster: { select: { name: true } },
          sessions: {
            where: { state: { in: [...GPU_HOLDING_STATES] } },
            select: { id: true, name: true, gpuIndices: true, state: true, owner: { select: { name: true } } },
          },
          jobs: {
            where: { state: { in: ["Scheduled", "Running", "Preempting", "Cancelling"] } },
            select: { id: true, name: true, gpuIndices: true, state: true, owner: { select: { name: true } } },
          },
        },
        orderBy: { name: "asc" },
      });
    },
    setSchedulable(id: string, schedulable: boolean) {
      return db.node.update({ where: { id }, data: { schedulable } });
    },
    setDraining(id: string, drainingAt: Date | null) {
      return db.node.update({
        where: { id },
        data: drainingAt ? { drainingAt, schedulable: false } : { drainingAt: null },
      });
    },
    setState(id: string, ready: boolean) {
      return db.node.update({ where: { id }, data: { state: ready ? "Ready" : "NotReady" } });
    },

    /**
     * What a node's cluster says about it (Kubernetes: Ready condition, cordon,
     * taints, the Node object being deleted). `status` null: the cluster is
     * fine with work there; `lost`: the node is gone and its work must be
     * recovered elsewhere. Returns the node, or null when no agent registered it.
     */
    async setClusterStatus(input: { clusterName: string; name: string; status: string | null; lost: boolean; cordoned?: boolean; gpuCount?: number; at: Date }) {
      const node = await db.node.findFirst({ where: { name: input.name, cluster: { name: input.clusterName } } });
      if (!node) return null;
      const lostAt = input.lost ? (node.lostAt ?? input.at) : null;
      const gpuCount = input.gpuCount ?? node.gpuCount;
      const clusterCordoned = input.cordoned ?? false;
      if (node.clusterStatus === input.status && (node.lostAt === null) === (lostAt === null) && node.gpuCount === gpuCount && node.clusterCordoned === clusterCordoned) return node;
      return db.$transaction(async (tx) => {
        const updated = await tx.node.update({ where: { id: node.id }, data: { clusterStatus: input.status, lostAt, gpuCount, clusterCordoned } });
        if (lostAt && !node.lostAt) {
          // The purges of deleted sessions it had not done go to a node of the same repository, for their
          // snapshots (sessions still holding GPUs there are recovered, their purge with them: see recover).
          const open = await tx.agentAction.findMany({
            where: { nodeId: node.id, kind: "stop", status: { in: ["pending", "claimed"] }, payload: { path: ["purge"], equals: true }, session: { state: { notIn: [...GPU_HOLDING_STATES] } } },
            select: { id: true, sessionId: true },
          });
          for (const a of open) {
            const reason = `node ${node.name} was lost before it deleted the session's directory and snapshots`;
            await tx.agentAction.update({ where: { id: a.id }, data: { status: "cancelled", reason } });
            if (a.sessionId) await purgeElsewhere(tx, a.sessionId, reason);
          }
        }
        return updated;
      });
    },
  };
}
