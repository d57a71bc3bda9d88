import { createTRPCClient, httpLink } from "@trpc/client";
import type { AppRouter } from "@daybox/api";

export type ApiClient = ReturnType<typeof createApiClient>;

/** The agent's typed client for the API (agent procedures only, by token role). */
export function createApiClient(apiUrl: string, token: string) {
  return createTRPCClient<AppRouter>({
    links: [httpLink({ url: `${apiUrl.replace(/\/$/, "")}/trpc`, headers: () => ({ authorization: `Bearer ${token}` }) })],
  });
}
