import { rm } from "node:fs/promises";
import path from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliBin, daybox, eventually, freePort, spawnNode, stopProc, tempDir, type Proc } from "../e2e/support.ts";
import { LARGE_MONITOR, launchBrowser, pageErrors, screenshot, type BrowserHandle } from "./support.ts";

/**
 * The portal in a real browser (headless Chromium) against the real platform
 * (`daybox up`: API, control plane, local agent with real Jupyter, portal):
 * a researcher signs in, launches a session and watches it reach Running
 * without reloading, types into its terminal, opens JupyterLab through the
 * proxy, parks and resumes it with state intact; an admin edits a policy and
 * sees the dry run; a second researcher can reach none of it, by UI or URL.
 * Every page is saved as a screenshot under test-results/screenshots.
 */
describe("portal in Chromium", () => {
  let dataDir: string;
  let env: NodeJS.ProcessEnv;
  let up: Proc;
  let portal: string;
  let browser: BrowserHandle;
  const creds: Record<string, { email: string; password: string }> = {};
  let sessionId = "";

  /** `daybox user create <name> --email` as the admin, then membership of the default project. */
  async function makeUser(name: string) {
    const made = await daybox(["user", "create", name, "--email", `${name}@example.org`, "--json"], env);
    expect(made.code, made.stderr).toBe(0);
    const u = JSON.parse(made.stdout) as { email: string; password: string };
    creds[name] = { email: u.email, password: u.password };
    const member = await daybox(["project", "add-member", "default", name], env);
    expect(member.code, member.stderr).toBe(0);
  }

  async function signIn(context: BrowserContext, name: string): Promise<Page> {
    const page = await context.newPage();
    await page.goto(`${portal}/`);
    await page.waitForURL(/\/sign-in$/);
    await page.getByLabel("Email").fill(creds[name]!.email);
    await page.getByLabel("Password").fill(creds[name]!.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Sessions", exact: true }).waitFor();
    return page;
  }

  /** Types a command into the xterm terminal and waits for `expected` on screen. */
  async function runInTerminal(page: Page, command: string, expected: string) {
    await page.locator(".xterm").click();
    await page.keyboard.type(`${command}\n`, { delay: 5 });
    await page.locator(".xterm-rows", { hasText: expected }).waitFor({ timeout: 30_000 });
  }

  beforeAll(async () => {
    dataDir = await tempDir("browser");
    const [apiPort, portalPort] = [await freePort(), await freePort()];
    portal = `http://127.0.0.1:${portalPort}`;
    env = { DAYBOX_CONFIG: path.join(dataDir, "cli.json"), DAYBOX_URL: "", DAYBOX_TOKEN: "" };
    up = spawnNode([cliBin, "up", "--data-dir", dataDir, "--port", String(apiPort), "--portal-port", String(portalPort), "--gpus", "2"], env);
    await eventually("daybox up to report it is up", async () => (up.output().includes("Daybox is up") ? true : undefined), 150_000, 250);
    const m = /Portal sign-in .*\n\s+(\S+@\S+)\s+(\S+)/.exec(up.output());
    creds.admin = { email: m![1]!, password: m![2]! };
    await makeUser("alice");
    await makeUser("bob");
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    // Sessions outlive `daybox up` (the next start adopts them): end them first.
    if (sessionId) await daybox(["session", "stop", sessionId, "--wait"], env);
    await stopProc(up);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it("refuses a wrong password in place and signs in with the right one", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${portal}/sign-in`);
    await screenshot(page, "01-sign-in");
    await page.getByLabel("Email").fill(creds.alice!.email);
    await page.getByLabel("Password").fill("definitely-not-it");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator(".notice-err", { hasText: /invalid email or password/i }).waitFor();
    await context.close();
  });

  it("alice launches a session and sees it reach Running without reloading", async () => {
    const context = await browser.newContext();
    const page = await signIn(context, "alice");
    await page.getByText("No sessions yet").waitFor();
    await screenshot(page, "02-sessions-empty");
    await page.getByRole("link", { name: "Launch session" }).first().click();
    await page.getByRole("heading", { name: "Launch a session" }).waitFor();
    await page.getByLabel("Name").fill("Bad Name");
    await page.getByText("Use lowercase letters").waitFor();
    await page.getByLabel("Name").fill("notebook-one");
    await screenshot(page, "03-launch");
    let reloads = 0;
    page.on("framenavigated", (f) => f === page.mainFrame() && reloads++);
    await page.getByRole("button", { name: "Launch" }).click();
    await page.waitForURL(/\/sessions\/ses-[a-z0-9]{12}$/);
    sessionId = /ses-[a-z0-9]{12}/.exec(page.url())![0];
    const navigationsAfterLaunch = reloads;
    await page.locator(".page-head .badge", { hasText: "Running" }).waitFor({ timeout: 90_000 });
    expect(reloads, "the page reached Running by live updates, not reloads").toBe(navigationsAfterLaunch);
    await expect(page.getByRole("list", { name: "Timeline" }).textContent()).resolves.toMatch(/Running.*Starting|Starting/s);
    await screenshot(page, "04-session-running");
    await page.goto(`${portal}/`);
    await page.locator(`tr[data-session-id="${sessionId}"][data-state="Running"]`).waitFor();
    await screenshot(page, "05-sessions-list");
    await page.setViewportSize(LARGE_MONITOR);
    await screenshot(page, "05b-sessions-list-large-monitor");
    await page.setViewportSize({ width: 800, height: 900 });
    await page.locator(`tr[data-session-id="${sessionId}"]`).waitFor();
    await screenshot(page, "05c-sessions-list-narrow");
    await context.close();
  });

  it("alice's terminal runs what she types", async () => {
    const context = await browser.newContext();
    const page = await signIn(context, "alice");
    await page.goto(`${portal}/sessions/${sessionId}/terminal`);
    await page.getByTestId("terminal-status").filter({ hasText: "Connected" }).waitFor({ timeout: 30_000 });
    await runInTerminal(page, "echo portal-$((6*7)) && echo kept-across-park > ~/marker.txt", "portal-42");
    await screenshot(page, "06-terminal");
    await context.close();
  });

  it("alice opens JupyterLab through the portal's proxy, and its token never reaches the page", async () => {
    const context = await browser.newContext();
    const page = await signIn(context, "alice");
    await page.goto(`${portal}/sessions/${sessionId}`);
    const popup = context.waitForEvent("page");
    await page.getByRole("link", { name: "Open Jupyter" }).click();
    const lab = await popup;
    await lab.waitForURL(new RegExp(`/v1/sessions/${sessionId}/jupyter/lab`));
    await lab.locator("#jp-main-dock-panel").waitFor({ timeout: 90_000 });
    await lab.getByText("marker.txt").first().waitFor({ timeout: 30_000 });
    await screenshot(lab, "07-jupyterlab");
    const html = await lab.content();
    const token = await eventually("the session's Jupyter token", async () => {
      const r = await fetch(`${portal}/v1/sessions/${sessionId}/jupyter/api/status`);
      return r.status === 401 ? "unauthenticated is refused" : undefined;
    });
    expect(token).toBe("unauthenticated is refused");
    expect(html).not.toMatch(/"token":\s*"[0-9a-f]{16,}"/);
    await context.close();
  });

  it("alice parks and resumes from the UI; her file is still there", async () => {
    const context = await browser.newContext();
    const page = await signIn(context, "alice");
    await page.goto(`${portal}/sessions/${sessionId}`);
    await page.getByRole("button", { name: "Park" }).click();
    await page.locator(".page-head .badge", { hasText: "Parked" }).waitFor({ timeout: 120_000 });
    await page.getByRole("table", { name: "Snapshots" }).waitFor();
    await screenshot(page, "08-session-parked");
    await page.getByRole("button", { name: "Resume" }).click();
    await page.locator(".page-head .badge", { hasText: "Running" }).waitFor({ timeout: 120_000 });
    await page.getByText("Last resume").waitFor();
    await screenshot(page, "09-session-resumed");
    await page.goto(`${portal}/sessions/${sessionId}/terminal`);
    await page.getByTestId("terminal-status").filter({ hasText: "Connected" }).waitFor({ timeout: 30_000 });
    await runInTerminal(page, "cat ~/marker.txt", "kept-across-park");
    await context.close();
  });

  it("alice creates an API token, sees it once, and can revoke it", async () => {
    const context = await browser.newContext();
    const page = await signIn(context, "alice");
    await page.goto(`${portal}/tokens`);
    await page.getByLabel("Name").fill("laptop");
    await page.getByRole("button", { name: "Create token" }).click();
    const secret = await page.getByTestId("new-token").textContent();
    expect(secret).toMatch(/^dbx_[A-Za-z0-9_-]{43}$/);
    const who = await daybox(["whoami", "--json"], { ...env, DAYBOX_CONFIG: path.join(dataDir, "none.json"), DAYBOX_URL: up.output().match(/API\s+(\S+)/)![1], DAYBOX_TOKEN: secret! });
    expect(JSON.parse(who.stdout)).toMatchObject({ name: "alice" });
    await screenshot(page, "10-tokens");
    await page.getByRole("row", { name: /laptop/ }).getByRole("button", { name: "Revoke" }).click();
    await page.getByRole("row", { name: /laptop/ }).getByText("revoked").waitFor();
    await context.close();
  });

  it("the admin edits a policy and sees which sessions its dry run would reclaim", async () => {
    const context = await browser.newContext();
    const page = await signIn(context, "admin");
    await page.goto(`${portal}/admin/policies`);
    await page.getByRole("heading", { name: "Reclaim policies", exact: true }).waitFor();
    await screenshot(page, "11-admin-policies");
    await page.getByRole("button", { name: /New policy/ }).click();
    const editor = page.getByRole("textbox", { name: /YAML/i });
    await editor.fill(
      ["name: browser-test", "scope: { kind: global }", "idle:", "  after: 2m", "  signals: [kernel, terminal, gpu]", "warning: 1m", "action: park", ""].join("\n"),
    );
    await page.getByRole("button", { name: /Dry run/ }).click();
    await page.getByRole("table", { name: /Dry run/i }).getByText("notebook-one").waitFor({ timeout: 30_000 });
    await screenshot(page, "12-admin-policy-dry-run");
    // Apply it (a reason is required), see it listed, and its history.
    await page.getByLabel(/^Why/).fill("browser test");
    await page.getByRole("button", { name: "Apply" }).click();
    const row = page.getByRole("table", { name: "Policies" }).getByRole("row", { name: /browser-test/ });
    await row.getByText("v1").waitFor();
    await row.getByRole("button", { name: "History" }).click();
    await page.getByRole("list", { name: "History of browser-test" }).getByText("+ name: browser-test").waitFor();
    await screenshot(page, "12b-admin-policy-history");
    // Bad input is named by line and field, before anything is applied.
    await page.getByRole("button", { name: /New policy/ }).click();
    await editor.fill("name: browser-test\nscope: { kind: global }\nidle: { after: -5m }\n");
    await page.getByRole("button", { name: /Dry run/ }).click();
    await page.locator(".notice-err", { hasText: /line 3 · idle\.after/ }).waitFor();
    await editor.fill("name: browser-test\nidle: { after: 30m }\nsurprise: true\n");
    await page.getByRole("button", { name: /Dry run/ }).click();
    await page.locator(".notice-err", { hasText: /line 3 · Unrecognized key: "surprise"/ }).waitFor();
    await screenshot(page, "12c-admin-policy-invalid");
    // Remove it again, with a reason, so it reclaims nothing during the rest of the suite.
    await row.getByRole("button", { name: "Remove" }).click();
    await page.getByRole("region", { name: "Remove browser-test" }).getByLabel("Why").fill("browser test done");
    await page.getByRole("button", { name: "Remove policy" }).click();
    await row.waitFor({ state: "detached" });
    for (const [route, heading, shot] of [
      ["/admin/usage", /Fleet/, "13-admin-fleet"],
      ["/admin/nodes", /Nodes/, "14-admin-nodes"],
      ["/admin/projects", /Projects/, "15-admin-projects"],
      ["/admin/audit", /Audit/, "16-admin-audit"],
      ["/admin/users", /Users/, "16b-admin-users"],
      ["/jobs", /Jobs|Batch/, "17-jobs"],
    ] as const) {
      await page.goto(`${portal}${route}`);
      await page.getByRole("heading", { name: heading }).first().waitFor();
      await expect.poll(() => page.locator('[aria-busy="true"]').count(), { timeout: 15_000 }).toBe(0);
      await screenshot(page, shot);
    }
    await context.close();
  });

  it("bob can neither see nor open nor act on alice's session, by UI or by direct URL and WebSocket", async () => {
    const context = await browser.newContext();
    const page = await signIn(context, "bob");
    // Once his (empty) list has loaded, alice's session is not in it.
    await page.getByText("No sessions yet").waitFor();
    await expect(page.locator(`tr[data-session-id="${sessionId}"]`).count()).resolves.toBe(0);
    await page.goto(`${portal}/sessions/${sessionId}`);
    await page.locator(".notice-err", { hasText: /not found/i }).waitFor();
    await screenshot(page, "18-other-users-session");
    await expect(page.locator("text=Open Jupyter").count()).resolves.toBe(0);

    const probe = await page.evaluate(async (id) => {
      const status = async (url: string, init?: RequestInit) => (await fetch(url, init)).status;
      const ws = (url: string) =>
        new Promise<string>((resolve) => {
          const s = new WebSocket(url);
          s.onopen = () => resolve("open");
          s.onerror = () => resolve("refused");
        });
      const base = location.origin.replace(/^http/, "ws");
      return {
        lab: await status(`/v1/sessions/${id}/jupyter/lab`),
        api: await status(`/v1/sessions/${id}/jupyter/api/kernels`, { method: "POST" }),
        park: await status(`/trpc/sessions.park`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ id }) }),
        terminal: await ws(`${base}/v1/sessions/${id}/terminal`),
        kernels: await ws(`${base}/v1/sessions/${id}/jupyter/api/kernels/x/channels`),
      };
    }, sessionId);
    expect(probe).toEqual({ lab: 404, api: 404, park: 404, terminal: "refused", kernels: "refused" });
    // Bob's browser cannot see alice's session through the API either.
    const list = await page.evaluate(async () => (await (await fetch("/trpc/sessions.list?input=%7B%7D")).json()) as { result: { data: { id: string }[] } });
    expect(list.result.data.map((s) => s.id)).not.toContain(sessionId);
    await context.close();
  });

  it("raised no uncaught errors in any page", () => {
    expect(pageErrors).toEqual([]);
  });
});
