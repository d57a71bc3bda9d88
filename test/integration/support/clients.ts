import { createTRPCClient, httpLink, httpSubscriptionLink, splitLink, TRPCClientError, type TRPCClient } from "@trpc/client";
import type { TRPC_ERROR_CODE_KEY } from "@trpc/server/rpc";
import { EventSource } from "eventsource";
import { expect } from "vitest";
import type { AppRouter } from "@daybox/api";

export type ApiClient = TRPCClient<AppRouter>;

/**
 * A client that sends `authorization` verbatim (or nothing), to probe how the
 * API treats bad headers. Subscriptions go over SSE; EventSource cannot set
 * headers, so a custom fetch adds the Authorization header, as the CLI does.
 */
export function clientWithHeader(baseUrl: string, authorization: string | undefined): ApiClient {
  return clientWithHeaders(baseUrl, authorization === undefined ? {} : { authorization });
}

/** A client that sends these headers with every call (e.g. a portal session's cookie and Origin). */
export function clientWithHeaders(baseUrl: string, headers: Record<string, string>): ApiClient {
  const url = `${baseUrl}/trpc`;
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === "subscription",
        true: httpSubscriptionLink({
          url,
          EventSource,
          eventSourceOptions: {
            fetch: (input, init) => fetch(input, { ...init, headers: { ...init.headers, ...headers } }),
          },
        }),
        false: httpLink({ url, headers }),
      }),
    ],
  });
}

/** A client authenticated as the holder of `token`. */
export function clientFor(baseUrl: string, token: string): ApiClient {
  return clientWithHeader(baseUrl, `Bearer ${token}`);
}

/**
 * Awaits a call that must fail with tRPC error `code`, and checks the message
 * is written for a person: it mentions each of `mentions` and carries no stack
 * trace or database internals.
 */
export async function expectTRPCError(
  call: Promise<unknown>,
  code: TRPC_ERROR_CODE_KEY,
  ...mentions: (string | RegExp)[]
): Promise<TRPCClientError<AppRouter>> {
  const err = await call.then(
    (value) => {
      throw new Error(`expected a ${code} error, but the call succeeded with ${JSON.stringify(value)}`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TRPCClientError);
  const e = err as TRPCClientError<AppRouter>;
  expect({ code: e.data?.code, message: e.message }).toMatchObject({ code });
  for (const m of mentions) {
    if (typeof m === "string") expect(e.message).toContain(m);
    else expect(e.message).toMatch(m);
  }
  expectReadable(e);
  return e;
}

/** No stack, no Prisma or SQL internals in what a user sees. */
export function expectReadable(e: TRPCClientError<AppRouter>): void {
  expect(e.data?.stack).toBeUndefined();
  expect(e.message).not.toMatch(/\n\s+at\s|prisma|invalid `|\bSQL\b|P20\d\d/i);
  expect(e.message.length).toBeGreaterThan(10);
}
