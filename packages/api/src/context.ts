import type { IncomingHttpHeaders } from "node:http";
import type { Clock } from "@daybox/core";
import type { Repos } from "@daybox/db";
import type { ClaimWaiters } from "./claim-waiters.ts";
import type { Notifier } from "./notifier.ts";
import type { WebAuth } from "./web-auth.ts";

/** Everything the API needs from the process that hosts it. */
export interface ApiServices {
  repos: Repos;
  clock: Clock;
  notifier: Notifier;
  webAuth: WebAuth;
  version: string;
  /** How long an agent's claim on an action lasts without renewal. */
  actionLeaseMs: number;
  /** Long-poll claims (set by the HTTP server); without it a claim answers at once. */
  claims?: ClaimWaiters;
}

export interface Context extends ApiServices {
  /** The request's headers; authenticated lazily by protected procedures (bearer token or portal cookie). */
  headers: IncomingHttpHeaders;
}

export function createContextFactory(services: ApiServices) {
  return ({ req }: { req: { headers: IncomingHttpHeaders } }): Context => ({ ...services, headers: req.headers });
}
