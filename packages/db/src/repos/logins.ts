import { prismaAdapter } from "better-auth/adapters/prisma";
import type { PrismaClient } from "../generated/prisma/client.ts";

/**
 * Web sign-in storage. better-auth (hosted by the API) reads and writes the
 * Login, WebSession, LoginAccount and LoginVerification tables through
 * `adapter`; the queries here are the few Daybox itself needs.
 */
export function loginsRepo(db: PrismaClient) {
  return {
    /** The better-auth database adapter over this Prisma client. */
    adapter: prismaAdapter(db, { provider: "postgresql" }),
    ofUser(userId: string) {
      return db.login.findUnique({ where: { userId }, include: { accounts: { select: { providerId: true } } } });
    },
    byId(id: string) {
      return db.login.findUnique({ where: { id } });
    },
    byEmail(email: string) {
      return db.login.findUnique({ where: { email } });
    },
    count() {
      return db.login.count();
    },
    /** Signs a user out of every browser (disable, role change, password reset). */
    async endSessions(userId: string) {
      const { count } = await db.webSession.deleteMany({ where: { login: { userId } } });
      return count;
    },
  };
}
