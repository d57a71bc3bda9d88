import type { AppRouter } from "@daybox/api";
import type { TRPCClient } from "@trpc/client";
import { loadConfig, type Config } from "./config.ts";

export type Api = TRPCClient<AppRouter>;

let target: string | undefined;

/** The API URL the last client was made for; error messages name it. */
export function apiUrl(): string | undefined {
  return target;
}

/**
 * A typed client for `${url}/trpc`. Subscriptions go over SSE (the `eventsource`
 * ponyfill, because Node's fetch-based EventSource cannot send headers);
 * everything else over batched HTTP. Both send the bearer token.
 * @trpc/client is loaded here, lazily, so `daybox --help` does not pay for it.
 */
export async function createApi(opts: { url: string; token: string | undefined }): Promise<Api> {
  const [{ createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink }, { EventSource }] = await Promise.all([
    import("@trpc/client"),
    import("eventsource"),
  ]);
  target = opts.url;
  const auth: Record<string, string> = opts.token ? { authorization: `Bearer ${opts.token}` } : {};
  const url = `${opts.url}/trpc`;
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === "subscription",
        true: httpSubscriptionLink({
          url,
          EventSource,
          eventSourceOptions: () => ({
            fetch: (input, init) => fetch(input, { ...init, headers: { ...init.headers, ...auth } }),
          }),
        }),
        false: httpBatchLink({ url, headers: () => auth }),
      }),
    ],
  });
}

/** Config from env and file, and a client for it: what every API command starts with. */
export async function connect(): Promise<{ api: Api; config: Config }> {
  const config = await loadConfig();
  target = config.url;
  return { api: await createApi(config), config };
}
