import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { repoRoot } from "../e2e/support.ts";

/** Where page screenshots go: kept by CI as test artifacts (test-results/ is gitignored). */
export const SCREENSHOT_DIR = path.join(repoRoot, "test-results/screenshots");

export const LAPTOP = { width: 1280, height: 800 };
export const LARGE_MONITOR = { width: 2560, height: 1440 };

export interface BrowserHandle {
  /** A fresh context: its own cookies, as a separate person's browser. */
  newContext(viewport?: { width: number; height: number }): Promise<BrowserContext>;
  close(): Promise<void>;
}

/**
 * Headless Chromium from Debian (infra/testbed/chromium.sh installs it;
 * `npx playwright install` cannot work offline), driven by playwright-core.
 * Page errors fail loudly: each new page records them in `pageErrors`.
 */
export async function launchBrowser(): Promise<BrowserHandle> {
  const executablePath = process.env.DAYBOX_TEST_CHROMIUM;
  if (!executablePath || !existsSync(executablePath)) {
    throw new Error(
      `DAYBOX_TEST_CHROMIUM is ${executablePath ? `${executablePath}, which does not exist` : "not set"}: ` +
        "run `export DAYBOX_TEST_CHROMIUM=$(bash infra/testbed/chromium.sh | tail -1)` (npm test does this)",
    );
  }
  const browser: Browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  return {
    async newContext(viewport = LAPTOP) {
      const context = await browser.newContext({ viewport });
      context.setDefaultTimeout(30_000);
      context.on("page", (page) => {
        page.on("pageerror", (err) => pageErrors.push(`${page.url()}: ${err.message}`));
      });
      return context;
    },
    close: () => browser.close(),
  };
}

/** Uncaught errors in any page opened through launchBrowser's contexts. */
export const pageErrors: string[] = [];

/** A full-page PNG at test-results/screenshots/<name>.png; returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
