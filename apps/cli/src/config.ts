import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import path from "node:path";

/**
 * Where the CLI finds the API and its token. The only module that reads
 * `process.env`. Validated by hand rather than with zod: zod costs ~150 ms of
 * startup on every command, for three strings.
 */

export const DEFAULT_URL = "http://127.0.0.1:7878";

export interface Config {
  url: string;
  token: string | undefined;
  /** The file the saved values come from (and `daybox login` writes). */
  file: string;
  /** Print stack traces (DAYBOX_DEBUG=1). */
  debug: boolean;
}

export interface SavedConfig {
  url?: string;
  token?: string;
}

type Env = Record<string, string | undefined>;

export function configFile(env: Env = process.env): string {
  return env["DAYBOX_CONFIG"] || path.join(env["HOME"] || homedir(), ".config", "daybox", "config.json");
}

/** Precedence: environment, then the config file, then the default URL. Pure, for tests. */
export function resolveConfig(env: Env, saved: SavedConfig, file: string): Config {
  const url = env["DAYBOX_URL"] || saved.url || DEFAULT_URL;
  return {
    url: normalizeUrl(url, env["DAYBOX_URL"] ? "DAYBOX_URL" : saved.url ? file : "the default"),
    token: env["DAYBOX_TOKEN"] || saved.token || undefined,
    file,
    debug: debugEnabled(env),
  };
}

/** "http://host:7878/" → "http://host:7878"; refuses what is not an http(s) URL, naming where it came from. */
export function normalizeUrl(raw: string, source: string): string {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new Error(`${JSON.stringify(raw)} (from ${source}) is not a URL; use the API's address, e.g. ${DEFAULT_URL}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`${raw} (from ${source}) must start with http:// or https://, e.g. ${DEFAULT_URL}`);
  }
  return url.toString().replace(/\/+$/, "");
}

/** Parses the config file's text; a broken file is an error that says how to fix it. */
export function parseSaved(text: string, file: string): SavedConfig {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new Error(`${file} is not valid JSON; fix it or delete it and run \`daybox login\` again`);
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new Error(`${file} should hold an object like {"url": "...", "token": "..."}; delete it and run \`daybox login\` again`);
  }
  const out: SavedConfig = {};
  for (const key of ["url", "token"] as const) {
    const v = (data as Record<string, unknown>)[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== "string") throw new Error(`${file}: "${key}" should be a string; run \`daybox login\` again`);
    out[key] = v;
  }
  return out;
}

export async function readSaved(file: string): Promise<SavedConfig> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw new Error(`read config ${file}`, { cause: err });
  }
  return parseSaved(text, file);
}

/** Env over file over defaults. `forLogin` ignores a broken file, since login is how to replace it. */
export async function loadConfig(env: Env = process.env, { forLogin = false } = {}): Promise<Config> {
  const file = configFile(env);
  const saved = await readSaved(file).catch((err: unknown) => {
    if (forLogin) return {};
    throw err;
  });
  return resolveConfig(env, saved, file);
}

/** Writes the file readable by its owner only (it holds a secret), atomically. */
export async function saveConfig(file: string, saved: SavedConfig): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(saved, null, 2) + "\n", { mode: 0o600 });
  // The mode above only applies when the file is new; make sure.
  await chmod(tmp, 0o600);
  await rename(tmp, file);
}

/** DAYBOX_DEBUG=1: print stack traces. Read on its own so it works when the config file is broken. */
export function debugEnabled(env: Env = process.env): boolean {
  return env["DAYBOX_DEBUG"] === "1";
}

/** Whether `daybox open` can hand a URL to a browser: macOS, or a Linux desktop session. */
export function hasDesktop(env: Env = process.env): boolean {
  return process.platform === "darwin" || !!(env["DISPLAY"] || env["WAYLAND_DISPLAY"]);
}

/** Which of the saved values the environment overrides, for a warning after `daybox login`. */
export function envOverrides(env: Env = process.env): string[] {
  return ["DAYBOX_URL", "DAYBOX_TOKEN"].filter((k) => env[k]);
}
