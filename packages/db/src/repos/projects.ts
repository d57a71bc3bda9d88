import { newId } from "@daybox/core";
import type { PrismaClient } from "../generated/prisma/client.ts";
import type { MembershipRole } from "../generated/prisma/enums.ts";

export function projectsRepo(db: PrismaClient) {
  return {
    create(input: { name: string; description?: string }) {
      return db.project.create({ data: { id: newId("prj"), name: input.name, description: input.description ?? "" } });
    },
    byName(name: string) {
      return db.project.findUnique({ where: { name }, include: { quotas: true, memberships: { include: { user: true } } } });
    },
    /** All projects, or those `userId` belongs to. */
    list(userId?: string) {
      return db.project.findMany({
        where: userId ? { memberships: { some: { userId } } } : {},
        include: { quotas: { orderBy: { gpuType: "asc" } }, _count: { select: { memberships: true } } },
        orderBy: { name: "asc" },
      });
    },
    membershipsOf(userId: string) {
      return db.membership.findMany({ where: { userId }, include: { project: true } });
    },
    membership(projectId: string, userId: string) {
      return db.membership.findUnique({ where: { projectId_userId: { projectId, userId } } });
    },
    setMember(projectId: string, userId: string, role: MembershipRole) {
      return db.membership.upsert({
        where: { projectId_userId: { projectId, userId } },
        create: { projectId, userId, role },
        update: { role },
      });
    },
    async removeMember(projectId: string, userId: string) {
      const { count } = await db.membership.deleteMany({ where: { projectId, userId } });
      return count > 0;
    },
    /** Sets the guarantee; 0 removes the row (no quota for that type). */
    setWebhook(projectId: string, url: string | null) {
      return db.project.update({ where: { id: projectId }, data: { webhookUrl: url } });
    },
    async setQuota(projectId: string, gpuType: string, guaranteed: number) {
      if (guaranteed === 0) {
        await db.gpuQuota.deleteMany({ where: { projectId, gpuType } });
        return null;
      }
      return db.gpuQuota.upsert({
        where: { projectId_gpuType: { projectId, gpuType } },
        create: { projectId, gpuType, guaranteed },
        update: { guaranteed },
      });
    },
    quota(projectId: string, gpuType: string) {
      return db.gpuQuota.findUnique({ where: { projectId_gpuType: { projectId, gpuType } } });
    },
    quotas(projectId: string) {
      return db.gpuQuota.findMany({ where: { projectId }, orderBy: { gpuType: "asc" } });
    },
  };
}
