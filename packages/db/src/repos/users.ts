import { createHash, randomBytes } from "node:crypto";
import { newId } from "@daybox/core";
import type { PrismaClient, User, ApiToken } from "../generated/prisma/client.ts";
import type { UserRole } from "../generated/prisma/enums.ts";

/** Token secrets look like `dbx_<43 base64url chars>`; only their sha256 is stored. */
export const TOKEN_PATTERN = /^dbx_[A-Za-z0-9_-]{43}$/;

export function hashToken(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

export type AuthResult =
  | { ok: true; user: User; token: ApiToken }
  | { ok: false; reason: "malformed" | "unknown" | "revoked" | "expired" | "disabled" };

/** lastUsedAt is written at most this often, so every request is not a write. */
const LAST_USED_RESOLUTION_MS = 60_000;

export function usersRepo(db: PrismaClient) {
  return {
    create(input: { name: string; role: UserRole }) {
      return db.user.create({ data: { id: newId("usr"), name: input.name, role: input.role } });
    },
    byName(name: string) {
      return db.user.findUnique({ where: { name } });
    },
    byId(id: string) {
      return db.user.findUnique({ where: { id } });
    },
    list() {
      return db.user.findMany({ orderBy: { name: "asc" }, include: { login: { select: { email: true } } } });
    },
    count() {
      return db.user.count();
    },
  };
}

export function tokensRepo(db: PrismaClient) {
  return {
    /** Creates a token; the secret is returned once and never stored. */
    async create(input: { userId: string; name: string; expiresAt?: Date | null }) {
      const secret = `dbx_${randomBytes(32).toString("base64url")}`;
      const token = await db.apiToken.create({
        data: {
          id: newId("tok"),
          userId: input.userId,
          name: input.name,
          hash: hashToken(secret),
          prefix: secret.slice(0, 10),
          expiresAt: input.expiresAt ?? null,
        },
      });
      return { secret, token };
    },

    async authenticate(secret: string, now: Date): Promise<AuthResult> {
      if (!TOKEN_PATTERN.test(secret)) return { ok: false, reason: "malformed" };
      const token = await db.apiToken.findUnique({ where: { hash: hashToken(secret) }, include: { user: true } });
      if (!token) return { ok: false, reason: "unknown" };
      if (token.revokedAt) return { ok: false, reason: "revoked" };
      if (token.expiresAt && token.expiresAt <= now) return { ok: false, reason: "expired" };
      if (token.user.disabledAt) return { ok: false, reason: "disabled" };
      if (!token.lastUsedAt || now.getTime() - token.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) {
        await db.apiToken.update({ where: { id: token.id }, data: { lastUsedAt: now } });
      }
      const { user, ...rest } = token;
      return { ok: true, user, token: rest };
    },

    list(userId?: string) {
      return db.apiToken.findMany({
        where: userId ? { userId } : {},
        include: { user: { select: { name: true } } },
        orderBy: { createdAt: "asc" },
      });
    },

    byId(id: string) {
      return db.apiToken.findUnique({ where: { id } });
    },

    /** Idempotent: revoking a revoked token keeps its first revocation time. */
    async revoke(id: string, now: Date) {
      await db.apiToken.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: now } });
      return db.apiToken.findUniqueOrThrow({ where: { id } });
    },
  };
}
