import type { TRPCRouterRecord } from "@trpc/server";
import { z } from "zod";
import { NAME_PATTERN } from "@daybox/core";
import { nodeDto } from "../dto.ts";
import { NotFound } from "../errors.ts";
import { adminProcedure, protectedProcedure, type ProtectedContext } from "../trpc.ts";

const nodeInput = z.object({ name: z.string().regex(NAME_PATTERN, "not a valid node name") });

async function nodeByName(ctx: ProtectedContext, name: string) {
  const node = await ctx.repos.nodes.byName(name);
  if (!node) throw new NotFound("node", name, "; `daybox node ls` lists nodes");
  return node;
}

async function change(ctx: ProtectedContext, name: string, action: string, apply: (id: string) => Promise<unknown>) {
  const node = await nodeByName(ctx, name);
  await apply(node.id);
  await ctx.repos.audit.record({ actorId: ctx.principal.id, action, target: `node:${node.name}`, details: {} });
  ctx.notifier.notify();
  const nodes = await ctx.repos.nodes.list();
  return nodeDto(nodes.find((n) => n.id === node.id)!);
}

export const nodesRouter = {
  /** Every node with its GPU allocation: researchers see capacity too. */
  list: protectedProcedure.query(async ({ ctx }) => (await ctx.repos.nodes.list()).map(nodeDto)),
  cordon: adminProcedure.input(nodeInput).mutation(({ ctx, input }) =>
    change(ctx, input.name, "node.cordon", (id) => ctx.repos.nodes.setSchedulable(id, false)),
  ),
  uncordon: adminProcedure.input(nodeInput).mutation(({ ctx, input }) =>
    change(ctx, input.name, "node.uncordon", async (id) => {
      await ctx.repos.nodes.setDraining(id, null);
      await ctx.repos.nodes.setSchedulable(id, true);
    }),
  ),
  /** Cordons the node and stops its sessions (they keep their home directories). */
  drain: adminProcedure.input(nodeInput).mutation(({ ctx, input }) =>
    change(ctx, input.name, "node.drain", (id) => ctx.repos.nodes.setDraining(id, ctx.clock.now())),
  ),
} satisfies TRPCRouterRecord;
