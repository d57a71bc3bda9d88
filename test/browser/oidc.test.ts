import type { Server } from "node:http";
import { rm } from "node:fs/promises";
import path from "node:path";
import Provider from "oidc-provider";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliBin, eventually, freePort, spawnNode, stopProc, tempDir, type Proc } from "../e2e/support.ts";
import { launchBrowser, screenshot, type BrowserHandle } from "./support.ts";

/**
 * Sign-in through an organisation's OpenID Connect provider: a real OIDC
 * server (panva's oidc-provider, with its development login and consent
 * pages) configured for Daybox by the three DAYBOX_OIDC_* variables. The
 * first sign-in creates a researcher named after the email; the second finds
 * the same user.
 */
describe("portal sign-in with OIDC", () => {
  let dataDir: string;
  let up: Proc;
  let portal: string;
  let idp: Server;
  let browser: BrowserHandle;

  beforeAll(async () => {
    dataDir = await tempDir("oidc");
    const [apiPort, portalPort, idpPort] = [await freePort(), await freePort(), await freePort()];
    portal = `http://127.0.0.1:${portalPort}`;
    const issuer = `http://127.0.0.1:${idpPort}`;
    const provider = new Provider(issuer, {
      clients: [
        {
          client_id: "daybox-portal",
          client_secret: "daybox-portal-secret",
          redirect_uris: [`${portal}/api/auth/callback/oidc`],
          token_endpoint_auth_method: "client_secret_post",
        },
      ],
      claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
      findAccount: (_ctx, sub) => ({
        accountId: sub,
        claims: () => ({ sub, email: `${sub}@example.org`, email_verified: true, name: "Grace Hopper" }),
      }),
      features: { devInteractions: { enabled: true } },
      cookies: { keys: ["oidc-test-cookie-key"] },
    });
    idp = provider.listen(idpPort, "127.0.0.1");
    const env = {
      DAYBOX_CONFIG: path.join(dataDir, "cli.json"),
      DAYBOX_URL: "",
      DAYBOX_TOKEN: "",
      DAYBOX_OIDC_DISCOVERY_URL: `${issuer}/.well-known/openid-configuration`,
      DAYBOX_OIDC_CLIENT_ID: "daybox-portal",
      DAYBOX_OIDC_CLIENT_SECRET: "daybox-portal-secret",
      DAYBOX_OIDC_NAME: "Example IdP",
    };
    up = spawnNode([cliBin, "up", "--data-dir", dataDir, "--port", String(apiPort), "--portal-port", String(portalPort), "--gpus", "1"], env);
    await eventually("daybox up to report it is up", async () => (up.output().includes("Daybox is up") ? true : undefined), 150_000, 250);
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await stopProc(up);
    await new Promise((resolve) => idp?.close(resolve));
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  async function signInWithIdp(login: string) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${portal}/sign-in`);
    await page.getByRole("button", { name: "Sign in with Example IdP" }).click();
    // oidc-provider's development login page, then its consent page.
    await page.locator('input[name="login"]').fill(login);
    await page.locator('input[name="password"]').fill("any");
    await screenshot(page, `oidc-${login}-idp-login`);
    await page.locator('button[type="submit"]').click();
    await page.locator('button[type="submit"]', { hasText: /continue/i }).click();
    await page.waitForURL(`${portal}/`);
    await page.getByRole("heading", { name: "Sessions", exact: true }).waitFor();
    const me = await page.evaluate(async () => ((await (await fetch("/trpc/auth.whoami")).json()) as { result: { data: unknown } }).result.data);
    await context.close();
    return me;
  }

  it("creates a researcher on first sign-in and finds the same one the next time", async () => {
    const first = await signInWithIdp("grace");
    expect(first).toMatchObject({ name: "grace", role: "researcher", email: "grace@example.org", via: "portal" });
    const again = await signInWithIdp("grace");
    expect(again).toMatchObject({ name: "grace", email: "grace@example.org" });
    const other = await signInWithIdp("grace.hopper");
    expect(other).toMatchObject({ name: "grace-hopper", role: "researcher", email: "grace.hopper@example.org" });
  });
});
