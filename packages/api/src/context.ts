import type { IncomingHttpHeaders } from "node:http";
import type { Clock } from "@daybox/core";
import type { Repos } from "@daybox/db";
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
}

export interface Context extends ApiServices {
  /** The request's headers; authenticated lazily by protected procedures (bearer token or portal cookie). */
  headers: IncomingHttpHeaders;
}

export function createContextFactory(services: ApiServices) {
  return ({ req }: { req: { headers: IncomingHttpHeaders } }): Context => ({ ...services, headers: req.headers });
}
