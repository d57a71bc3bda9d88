import type { IncomingHttpHeaders } from "node:http";
import type { Repos } from "@daybox/db";
import { Forbidden, Unauthorized } from "./errors.ts";
import type { WebAuth } from "./web-auth.ts";

export interface Principal {
  id: string;
  name: string;
  role: "researcher" | "admin" | "agent";
  /** The API token used, or `web:<session id>` for a signed-in browser. */
  tokenId: string;
}

const messages = {
  missing: "no API token: run `daybox login` (or set DAYBOX_TOKEN), or sign in to the portal, and try again",
  malformed: "malformed API token: Daybox tokens start with `dbx_` followed by 43 letters, digits, `-` or `_`",
  unknown: "unknown API token: it may belong to another Daybox installation; ask an admin for a token, then run `daybox login`",
  revoked: "this API token was revoked; log in with another token (`daybox login`) or ask an admin for a new one",
  expired: "this API token has expired; log in with another token (`daybox login`) or ask an admin for a new one",
  disabled: "this account is disabled; ask an admin",
} as const;

/** Resolves `Authorization: Bearer <token>` to a principal, or throws Unauthorized with what to do. */
export async function authenticate(repos: Repos, header: string | undefined, now: Date): Promise<Principal> {
  if (!header) throw new Unauthorized(messages.missing);
  const m = /^Bearer\s+(\S+)$/i.exec(header.trim());
  if (!m) throw new Unauthorized(`${messages.malformed} (send it as \`Authorization: Bearer <token>\`)`);
  const result = await repos.tokens.authenticate(m[1]!, now);
  if (!result.ok) throw new Unauthorized(messages[result.reason]);
  return { id: result.user.id, name: result.user.name, role: result.user.role, tokenId: result.token.id };
}

/**
 * Who sent a request: its bearer token (CLI, agents, scripts) or, failing
 * that, its portal session cookie. A cookie is only honoured from the portal's
 * own pages: a request another site's page sends carries a foreign Origin.
 */
export async function authenticateRequest(
  services: { repos: Repos; webAuth: WebAuth },
  headers: IncomingHttpHeaders,
  now: Date,
): Promise<Principal> {
  if (headers.authorization) return authenticate(services.repos, headers.authorization, now);
  const web = await services.webAuth.sessionOf(headers);
  if (!web) throw new Unauthorized(messages.missing);
  if (!fromPortal(services, headers)) {
    throw new Forbidden(`refused a signed-in request from ${headers.origin}: only the Daybox portal's own pages may act for you`);
  }
  const user = await services.repos.users.byId(web.userId);
  if (!user) throw new Unauthorized(messages.missing);
  if (user.disabledAt) throw new Unauthorized(messages.disabled);
  return { id: user.id, name: user.name, role: user.role, tokenId: `web:${web.sessionId}` };
}

/** A request without an Origin (not sent by a browser page), or one from the portal's own origin or host. */
export function fromPortal(services: { webAuth: WebAuth }, headers: IncomingHttpHeaders): boolean {
  const origin = headers.origin;
  if (!origin || origin === services.webAuth.origin) return true;
  try {
    return headers.host !== undefined && new URL(origin).host === headers.host;
  } catch {
    return false;
  }
}
