import { randomBytes } from "node:crypto";

const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz";

/**
 * Short, URL- and DNS-safe random ids with a readable prefix ("ses-3k9x…"),
 * so a pasted id says what it names. 12 base36 chars ≈ 62 bits.
 */
export function newId(prefix: string): string {
  const bytes = randomBytes(12);
  let out = "";
  for (const b of bytes) out += alphabet[b % 36];
  return `${prefix}-${out}`;
}
