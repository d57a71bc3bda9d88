import type { Repos } from "@daybox/db";
import { Unauthorized } from "./errors.ts";

export interface Principal {
  id: string;
  name: string;
  role: "researcher" | "admin" | "agent";
  tokenId: string;
}

const messages = {
  missing: "no API token: run `daybox login` (or set DAYBOX_TOKEN) and try again",
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
