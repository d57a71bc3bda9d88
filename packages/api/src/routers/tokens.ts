import type { TRPCRouterRecord } from "@trpc/server";
import { z } from "zod";
import { NAME_PATTERN } from "@daybox/core";
import { NotFound } from "../errors.ts";
import { protectedProcedure, publicProcedure } from "../trpc.ts";

export const tokensRouter = {
  /** A new token for yourself; admins may create one for another user. The secret is shown once. */
  create: protectedProcedure
    .input(
      z.object({
        name: z.string().min(1, "give the token a name").max(100),
        expiresInDays: z.number().int().min(1).max(3650).optional(),
        user: z.string().regex(NAME_PATTERN).optional(),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      let userId = ctx.principal.id;
      if (input.user && input.user !== ctx.principal.name) {
        if (ctx.principal.role !== "admin") throw new NotFound("user", input.user, " (only admins create tokens for others)");
        const user = await ctx.repos.users.byName(input.user);
        if (!user) throw new NotFound("user", input.user);
        userId = user.id;
      }
      const now = ctx.clock.now();
      const expiresAt = input.expiresInDays ? new Date(now.getTime() + input.expiresInDays * 86_400_000) : null;
      const { secret, token } = await ctx.repos.tokens.create({ userId, name: input.name, expiresAt });
      if (userId !== ctx.principal.id) {
        await ctx.repos.audit.record({ actorId: ctx.principal.id, action: "token.create", target: `user:${input.user}`, details: { tokenId: token.id } });
      }
      return { id: token.id, name: token.name, token: secret, expiresAt: token.expiresAt?.toISOString() ?? null };
    }),

  list: protectedProcedure.input(z.object({ all: z.boolean().default(false) }).default({ all: false })).query(async ({ ctx, input }) => {
    const all = input.all && ctx.principal.role === "admin";
    const rows = await ctx.repos.tokens.list(all ? undefined : ctx.principal.id);
    return rows.map((t) => ({
      id: t.id,
      name: t.name,
      user: t.user.name,
      prefix: t.prefix,
      current: t.id === ctx.principal.tokenId,
      createdAt: t.createdAt.toISOString(),
      lastUsedAt: t.lastUsedAt?.toISOString() ?? null,
      expiresAt: t.expiresAt?.toISOString() ?? null,
      revokedAt: t.revokedAt?.toISOString() ?? null,
    }));
  }),

  revoke: protectedProcedure.input(z.object({ id: z.string().regex(/^tok-[a-z0-9]{12}$/, "expected a token id like tok-0a1b2c3d4e5f") })).mutation(async ({ ctx, input }) => {
    const token = await ctx.repos.tokens.byId(input.id);
    if (!token || (token.userId !== ctx.principal.id && ctx.principal.role !== "admin")) {
      throw new NotFound("token", input.id, "; `daybox token ls` lists yours");
    }
    const revoked = await ctx.repos.tokens.revoke(token.id, ctx.clock.now());
    if (token.userId !== ctx.principal.id) {
      await ctx.repos.audit.record({ actorId: ctx.principal.id, action: "token.revoke", target: `token:${token.id}`, details: {} });
    }
    return { id: revoked.id, revokedAt: revoked.revokedAt!.toISOString() };
  }),
} satisfies TRPCRouterRecord;

export const authRouter = {
  /** What the portal's sign-in page offers (no credentials needed). */
  methods: publicProcedure.query(({ ctx }) => ctx.webAuth.methods),
  whoami: protectedProcedure.query(async ({ ctx }) => {
    const memberships = await ctx.repos.projects.membershipsOf(ctx.principal.id);
    const login = await ctx.repos.logins.ofUser(ctx.principal.id);
    return {
      name: ctx.principal.name,
      role: ctx.principal.role,
      email: login?.email ?? null,
      via: ctx.principal.tokenId.startsWith("web:") ? ("portal" as const) : ("token" as const),
      projects: memberships.map((m) => ({ name: m.project.name, role: m.role })),
    };
  }),
} satisfies TRPCRouterRecord;
