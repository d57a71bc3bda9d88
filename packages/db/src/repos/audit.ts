import type { PrismaClient } from "../generated/prisma/client.ts";
import type { InputJsonValue } from "../generated/prisma/internal/prismaNamespace.ts";

export function auditRepo(db: PrismaClient) {
  return {
    record(input: { actorId: string | null; action: string; target: string; details?: Record<string, unknown> }) {
      return db.auditLog.create({
        data: {
          actorId: input.actorId,
          action: input.action,
          target: input.target,
          details: (input.details ?? {}) as InputJsonValue,
        },
      });
    },
    list(input: { limit: number; action?: string }) {
      return db.auditLog.findMany({
        where: input.action ? { action: { startsWith: input.action } } : {},
        include: { actor: { select: { name: true } } },
        orderBy: { id: "desc" },
        take: input.limit,
      });
    },
  };
}
