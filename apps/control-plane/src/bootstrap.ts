import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type { WebAuth } from "@daybox/api";
import type { Repos } from "@daybox/db";

/** The first admin signs in to the portal with this address (and the password printed once). */
export const BOOTSTRAP_ADMIN_EMAIL = "admin@daybox.local";

export interface BootstrapResult {
  /** Set on the very first start only: the admin's token, to show once. */
  adminToken: string | null;
  /** Set on the very first start only: the admin's portal password (email BOOTSTRAP_ADMIN_EMAIL), to show once. */
  adminPassword: string | null;
  agentTokenFile: string;
}

/**
 * First start of an installation: an admin, a default project with the
 * configured quota, and the local agent's identity. Idempotent: later starts
 * change nothing but a missing agent token file.
 */
export async function bootstrap(
  repos: Repos,
  webAuth: WebAuth,
  dataDir: string,
  quota: { gpuType: string; guaranteed: number }[],
): Promise<BootstrapResult> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  let adminToken: string | null = null;
  let adminPassword: string | null = null;

  if ((await repos.users.count()) === 0) {
    const admin = await repos.users.create({ name: "admin", role: "admin" });
    adminToken = (await repos.tokens.create({ userId: admin.id, name: "bootstrap" })).secret;
    const project = await repos.projects.create({ name: "default", description: "Created on first start" });
    await repos.projects.setMember(project.id, admin.id, "manager");
    for (const q of quota) await repos.projects.setQuota(project.id, q.gpuType, q.guaranteed);
    await repos.audit.record({ actorId: null, action: "install.bootstrap", target: "install", details: { quota } });
    await writeSecret(path.join(dataDir, "admin-token"), adminToken);
    adminPassword = randomBytes(15).toString("base64url");
    await webAuth.setPassword(admin, BOOTSTRAP_ADMIN_EMAIL, adminPassword);
    await writeSecret(path.join(dataDir, "admin-password"), adminPassword);
  }

  const agentTokenFile = path.join(dataDir, "agent-token");
  const existing = await readFile(agentTokenFile, "utf8").catch(() => "");
  const valid = existing && (await repos.tokens.authenticate(existing.trim(), new Date())).ok;
  if (!valid) {
    const agent = (await repos.users.byName("local-agent")) ?? (await repos.users.create({ name: "local-agent", role: "agent" }));
    const { secret } = await repos.tokens.create({ userId: agent.id, name: "local agent" });
    await writeSecret(agentTokenFile, secret);
  }
  return { adminToken, adminPassword, agentTokenFile };
}

/** The key that signs portal session cookies: generated on first start, kept in the data directory. */
export async function authSecret(dataDir: string): Promise<string> {
  const file = path.join(dataDir, "auth-secret");
  const existing = (await readFile(file, "utf8").catch(() => "")).trim();
  if (existing.length >= 32) return existing;
  const secret = randomBytes(32).toString("base64url");
  await writeSecret(file, secret);
  return secret;
}

async function writeSecret(file: string, secret: string) {
  await writeFile(file, `${secret}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
}
