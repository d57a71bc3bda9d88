import { newId } from "@daybox/core";
import type { PrismaClient } from "../generated/prisma/client.ts";
import type { InputJsonValue } from "../generated/prisma/internal/prismaNamespace.ts";

/** Stored policy versions: `spec` is the validated, normalised policy (see @daybox/policy). */
export interface PolicyVersion {
  id: string;
  name: string;
  version: number;
  scope: string;
  spec: Record<string, unknown>;
  active: boolean;
  createdBy: string;
  reason: string;
  createdAt: Date;
}

const asVersion = (r: { spec: unknown } & Omit<PolicyVersion, "spec">): PolicyVersion => ({ ...r, spec: r.spec as Record<string, unknown> });

/**
 * Reclaim policies are versioned: a change writes version + 1 and
 * deactivates the older ones; removal deactivates every version. Nothing is
 * deleted, so history (who, when, why, what) stays readable.
 */
export function policiesRepo(db: PrismaClient) {
  return {
    /** The active version of every policy. */
    async active(): Promise<PolicyVersion[]> {
      return (await db.reclaimPolicy.findMany({ where: { active: true }, orderBy: { name: "asc" } })).map(asVersion);
    },
    async latest(name: string): Promise<PolicyVersion | null> {
      const r = await db.reclaimPolicy.findFirst({ where: { name }, orderBy: { version: "desc" } });
      return r && asVersion(r);
    },
    async version(name: string, version: number): Promise<PolicyVersion | null> {
      const r = await db.reclaimPolicy.findUnique({ where: { name_version: { name, version } } });
      return r && asVersion(r);
    },
    async history(name: string): Promise<PolicyVersion[]> {
      return (await db.reclaimPolicy.findMany({ where: { name }, orderBy: { version: "desc" } })).map(asVersion);
    },
    /** Writes a new active version; the previous ones become inactive. */
    apply(input: { name: string; scope: string; spec: Record<string, unknown>; createdBy: string; reason: string }): Promise<PolicyVersion> {
      return db.$transaction(async (tx) => {
        const last = await tx.reclaimPolicy.findFirst({ where: { name: input.name }, orderBy: { version: "desc" } });
        await tx.reclaimPolicy.updateMany({ where: { name: input.name, active: true }, data: { active: false } });
        const row = await tx.reclaimPolicy.create({
          data: { id: newId("pol"), name: input.name, version: (last?.version ?? 0) + 1, scope: input.scope, spec: input.spec as InputJsonValue, active: true, createdBy: input.createdBy, reason: input.reason },
        });
        return asVersion(row);
      });
    },
    /** Deactivates every version; returns whether one was active. */
    async deactivate(name: string): Promise<boolean> {
      const { count } = await db.reclaimPolicy.updateMany({ where: { name, active: true }, data: { active: false } });
      return count > 0;
    },
  };
}
