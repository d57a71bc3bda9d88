import { initTRPC } from "@trpc/server";
import { ZodError } from "zod";
import { authenticate, authenticateRequest, type Principal } from "./auth.ts";
import type { Context } from "./context.ts";
import { DomainError, Forbidden, toTRPCError } from "./errors.ts";

/** "gpus: must be at most 64; name: ..." — zod issues as one readable line. */
function describeZodError(err: ZodError): string {
  return err.issues
    .map((i) => {
      const path = i.path.join(".");
      return path ? `${path}: ${i.message}` : i.message;
    })
    .join("; ");
}

const t = initTRPC.context<Context>().create({
  sse: {
    ping: { enabled: true, intervalMs: 10_000 },
    client: { reconnectAfterInactivityMs: 25_000 },
  },
  errorFormatter({ shape, error }) {
    const zod = error.cause instanceof ZodError ? error.cause : null;
    return {
      ...shape,
      message: zod ? `invalid input — ${describeZodError(zod)}` : shape.message,
      data: { ...shape.data, stack: undefined },
    };
  },
});

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;

/** Domain errors become TRPCErrors here, once. */
const domainErrors = t.middleware(async ({ next }) => {
  const result = await next();
  if (!result.ok && result.error.cause instanceof DomainError) throw toTRPCError(result.error.cause);
  return result;
});

export const publicProcedure = t.procedure.use(domainErrors);

export const protectedProcedure = publicProcedure.use(async ({ ctx, next }) => {
  const principal: Principal = await authenticateRequest(ctx, ctx.headers, ctx.clock.now()).catch((e) => {
    throw toTRPCError(e);
  });
  if (principal.role === "agent") {
    throw toTRPCError(new Forbidden("agent tokens may only call the agent API"));
  }
  return next({ ctx: { ...ctx, principal } });
});

export const adminProcedure = protectedProcedure.use(({ ctx, next }) => {
  if (ctx.principal.role !== "admin") {
    throw toTRPCError(new Forbidden(`only admins can do this; ${ctx.principal.name} is a ${ctx.principal.role}`));
  }
  return next();
});

export const agentProcedure = publicProcedure.use(async ({ ctx, next }) => {
  const authorization = ctx.headers.authorization;
  const principal = await authenticate(ctx.repos, authorization, ctx.clock.now()).catch((e) => {
    throw toTRPCError(e);
  });
  if (principal.role !== "agent") throw toTRPCError(new Forbidden("only node agents may call the agent API"));
  return next({ ctx: { ...ctx, principal } });
});

export type ProtectedContext = Context & { principal: Principal };
