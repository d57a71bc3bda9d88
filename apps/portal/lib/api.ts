"use client";
import { createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink, TRPCClientError } from "@trpc/client";
import type { inferRouterOutputs } from "@trpc/server";
import type { AppRouter } from "@daybox/api";

/**
 * The browser's API client: same origin (the portal's server forwards /trpc to
 * the API), authenticated by the session cookie. Subscriptions use SSE.
 */
export const api = createTRPCClient<AppRouter>({
  links: [
    splitLink({
      condition: (op) => op.type === "subscription",
      true: httpSubscriptionLink({ url: "/trpc" }),
      false: httpBatchLink({ url: "/trpc" }),
    }),
  ],
});

export type Outputs = inferRouterOutputs<AppRouter>;
export type Session = Outputs["sessions"]["list"][number];
export type SessionDetail = Outputs["sessions"]["byId"];
export type Verdict = Outputs["sessions"]["reclaimStatus"][number];

/** The message to show for a failed call: the API's own words (they say what to do). */
export function errorMessage(err: unknown): string {
  if (err instanceof TRPCClientError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}

export function isUnauthorized(err: unknown): boolean {
  return err instanceof TRPCClientError && (err.data as { code?: string } | undefined)?.code === "UNAUTHORIZED";
}
