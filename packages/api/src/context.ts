import type { Clock } from "@daybox/core";
import type { Repos } from "@daybox/db";
import type { Notifier } from "./notifier.ts";

/** Everything the API needs from the process that hosts it. */
export interface ApiServices {
  repos: Repos;
  clock: Clock;
  notifier: Notifier;
  version: string;
  /** How long an agent's claim on an action lasts without renewal. */
  actionLeaseMs: number;
}

export interface Context extends ApiServices {
  /** The raw Authorization header; authenticated lazily by protected procedures. */
  authorization: string | undefined;
}

export function createContextFactory(services: ApiServices) {
  return ({ req }: { req: { headers: Record<string, string | string[] | undefined> } }): Context => {
    const h = req.headers["authorization"];
    return { ...services, authorization: Array.isArray(h) ? h[0] : h };
  };
}
