import { randomBytes } from "node:crypto";
import type { TRPCRouterRecord } from "@trpc/server";
import { z } from "zod";
import { GPU_TYPE_PATTERN, NAME_PATTERN } from "@daybox/core";
import { BadInput, Conflict, NotFound } from "../errors.ts";
import { MIN_PASSWORD_LENGTH } from "../web-auth.ts";
import { adminProcedure, protectedProcedure, type ProtectedContext } from "../trpc.ts";

const email = z.email("not a valid email address").max(254).transform((e) => e.toLowerCase());

async function emailIsFree(ctx: ProtectedContext, address: string) {
  if (await ctx.repos.logins.byEmail(address)) throw new Conflict(`another user already signs in as ${address}`);
}

/** 20 characters from a 56-letter alphabet without look-alikes: ~116 bits. */
function generatePassword(): string {
  const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  return Array.from(randomBytes(20), (b) => alphabet[b % alphabet.length]).join("");
}

const name = (what: string) => z.string().regex(NAME_PATTERN, `not a valid ${what} name: use lowercase letters, digits and dashes`);

async function projectByName(ctx: ProtectedContext, projectName: string) {
  const project = await ctx.repos.projects.byName(projectName);
  if (!project) throw new NotFound("project", projectName, "; `daybox project ls` lists projects");
  return project;
}
async function userByName(ctx: ProtectedContext, userName: string) {
  const user = await ctx.repos.users.byName(userName);
  if (!user) throw new NotFound("user", userName, "; `daybox user ls` lists users");
  return user;
}
function audit(ctx: ProtectedContext, action: string, target: string, details: Record<string, unknown> = {}) {
  return ctx.repos.audit.record({ actorId: ctx.principal.id, action, target, details });
}

export const projectsRouter = {
  /** Admins see every project; researchers see their own. */
  list: protectedProcedure.query(async ({ ctx }) => {
    const rows = await ctx.repos.projects.list(ctx.principal.role === "admin" ? undefined : ctx.principal.id);
    return rows.map((p) => ({
      name: p.name,
      description: p.description,
      members: p._count.memberships,
      quotas: p.quotas.map((q) => ({ gpuType: q.gpuType, guaranteed: q.guaranteed })),
    }));
  }),
  byName: protectedProcedure.input(z.object({ name: name("project") })).query(async ({ ctx, input }) => {
    const p = await projectByName(ctx, input.name);
    if (ctx.principal.role !== "admin" && !p.memberships.some((m) => m.userId === ctx.principal.id)) {
      throw new NotFound("project", input.name, " (or you are not a member)");
    }
    return {
      name: p.name,
      description: p.description,
      quotas: p.quotas.map((q) => ({ gpuType: q.gpuType, guaranteed: q.guaranteed })),
      members: p.memberships.map((m) => ({ user: m.user.name, role: m.role })),
    };
  }),
  create: adminProcedure
    .input(z.object({ name: name("project"), description: z.string().max(500).optional() }))
    .mutation(async ({ ctx, input }) => {
      if (await ctx.repos.projects.byName(input.name)) throw new Conflict(`project ${input.name} already exists`);
      const p = await ctx.repos.projects.create(input);
      await audit(ctx, "project.create", `project:${p.name}`, input);
      return { name: p.name };
    }),
  addMember: adminProcedure
    .input(z.object({ project: name("project"), user: name("user"), role: z.enum(["member", "manager"]).default("member") }))
    .mutation(async ({ ctx, input }) => {
      const project = await projectByName(ctx, input.project);
      const user = await userByName(ctx, input.user);
      await ctx.repos.projects.setMember(project.id, user.id, input.role);
      await audit(ctx, "project.member.set", `project:${project.name}`, { user: user.name, role: input.role });
      return { project: project.name, user: user.name, role: input.role };
    }),
  removeMember: adminProcedure.input(z.object({ project: name("project"), user: name("user") })).mutation(async ({ ctx, input }) => {
    const project = await projectByName(ctx, input.project);
    const user = await userByName(ctx, input.user);
    if (!(await ctx.repos.projects.removeMember(project.id, user.id))) {
      throw new BadInput(`${user.name} is not a member of ${project.name}`);
    }
    await audit(ctx, "project.member.remove", `project:${project.name}`, { user: user.name });
    return { project: project.name, user: user.name };
  }),
  setQuota: adminProcedure
    .input(
      z.object({
        project: name("project"),
        gpuType: z.string().regex(GPU_TYPE_PATTERN, "not a valid GPU type (e.g. a100-80gb)"),
        guaranteed: z.number().int("must be a whole number").min(0, "must be 0 or more").max(100_000, "must be at most 100000"),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const project = await projectByName(ctx, input.project);
      const before = project.quotas.find((q) => q.gpuType === input.gpuType)?.guaranteed ?? 0;
      await ctx.repos.projects.setQuota(project.id, input.gpuType, input.guaranteed);
      await audit(ctx, "quota.set", `project:${project.name}`, { gpuType: input.gpuType, before, after: input.guaranteed });
      ctx.notifier.notify();
      return { project: project.name, gpuType: input.gpuType, guaranteed: input.guaranteed };
    }),

  /** Where reclaim warnings and parks of the project's sessions are POSTed (JSON); null clears it. */
  setWebhook: adminProcedure
    .input(
      z.object({
        project: name("project"),
        url: z
          .string()
          .url("not a URL")
          .max(2000)
          .refine((u) => /^https?:\/\//.test(u), "must be an http:// or https:// URL")
          .nullable(),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const project = await projectByName(ctx, input.project);
      await ctx.repos.projects.setWebhook(project.id, input.url);
      // The URL may carry a secret: the audit log records that it changed, not what it is.
      await audit(ctx, "project.webhook", `project:${project.name}`, { set: input.url !== null, host: input.url ? new URL(input.url).host : null });
      return { project: project.name, webhook: input.url };
    }),
} satisfies TRPCRouterRecord;

export const usersRouter = {
  list: adminProcedure.query(async ({ ctx }) => {
    const users = await ctx.repos.users.list();
    return users.map((u) => ({
      name: u.name,
      role: u.role,
      createdAt: u.createdAt.toISOString(),
      disabled: u.disabledAt !== null,
      email: u.login?.email ?? null,
    }));
  }),
  /**
   * Creates a user and their first API token (shown once); with an email, also
   * a portal sign-in with a generated password (shown once).
   */
  create: adminProcedure
    // "agent": a token for node agents (e.g. the Helm chart's agent DaemonSet), good for the agent API only
    .input(z.object({ name: name("user"), role: z.enum(["researcher", "admin", "agent"]).default("researcher"), email: email.optional() }))
    .mutation(async ({ ctx, input }) => {
      if (await ctx.repos.users.byName(input.name)) throw new Conflict(`user ${input.name} already exists`);
      if (input.email && input.role === "agent") throw new BadInput("agents sign in with their token only; drop --email for an agent");
      if (input.email) await emailIsFree(ctx, input.email);
      const user = await ctx.repos.users.create({ name: input.name, role: input.role });
      const { secret } = await ctx.repos.tokens.create({ userId: user.id, name: "initial" });
      const password = input.email ? generatePassword() : null;
      if (input.email && password) await ctx.webAuth.setPassword(user, input.email, password);
      await audit(ctx, "user.create", `user:${user.name}`, { role: user.role, ...(input.email ? { email: input.email } : {}) });
      return { name: user.name, role: user.role, token: secret, email: input.email ?? null, password };
    }),
  /**
   * Sets (or resets) a user's portal sign-in: email and password. Without a
   * password one is generated and returned once. Signs them out of every browser.
   */
  setPassword: adminProcedure
    .input(
      z.object({
        user: name("user"),
        email: email.optional(),
        password: z.string().min(MIN_PASSWORD_LENGTH, `must be at least ${MIN_PASSWORD_LENGTH} characters`).max(200).optional(),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const user = await userByName(ctx, input.user);
      if (user.role === "agent") throw new BadInput(`${user.name} is a node agent; agents cannot sign in to the portal`);
      const login = await ctx.repos.logins.ofUser(user.id);
      const address = input.email ?? login?.email;
      if (!address) throw new BadInput(`${user.name} has no sign-in yet: give their email (--email)`);
      if (address !== login?.email) await emailIsFree(ctx, address);
      const password = input.password ?? generatePassword();
      await ctx.webAuth.setPassword(user, address, password);
      await audit(ctx, "user.password.set", `user:${user.name}`, { email: address });
      return { name: user.name, email: address, password: input.password ? null : password };
    }),
} satisfies TRPCRouterRecord;

export const auditRouter = {
  list: adminProcedure
    .input(z.object({ limit: z.number().int().min(1).max(1000).default(100), action: z.string().max(100).optional() }).default({ limit: 100 }))
    .query(async ({ ctx, input }) => {
      const rows = await ctx.repos.audit.list(input);
      return rows.map((r) => ({
        id: r.id.toString(),
        actor: r.actor?.name ?? "system",
        action: r.action,
        target: r.target,
        details: r.details,
        at: r.at.toISOString(),
      }));
    }),
} satisfies TRPCRouterRecord;
