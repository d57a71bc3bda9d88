import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { configFile, DEFAULT_URL, loadConfig, parseSaved, resolveConfig, saveConfig } from "./config.ts";

describe("resolveConfig precedence", () => {
  const file = "/home/u/.config/daybox/config.json";
  it.each([
    { name: "defaults when nothing is set", env: {}, saved: {}, url: DEFAULT_URL, token: undefined },
    { name: "the saved file", env: {}, saved: { url: "http://saved:1", token: "dbx_saved" }, url: "http://saved:1", token: "dbx_saved" },
    {
      name: "env over the saved file",
      env: { DAYBOX_URL: "http://env:2", DAYBOX_TOKEN: "dbx_env" },
      saved: { url: "http://saved:1", token: "dbx_saved" },
      url: "http://env:2",
      token: "dbx_env",
    },
    { name: "each value separately", env: { DAYBOX_TOKEN: "dbx_env" }, saved: { url: "http://saved:1", token: "dbx_saved" }, url: "http://saved:1", token: "dbx_env" },
    { name: "empty env values as unset", env: { DAYBOX_URL: "", DAYBOX_TOKEN: "" }, saved: { url: "http://saved:1", token: "dbx_saved" }, url: "http://saved:1", token: "dbx_saved" },
    { name: "a trailing slash trimmed", env: { DAYBOX_URL: "https://daybox.example.com/" }, saved: {}, url: "https://daybox.example.com", token: undefined },
  ])("uses $name", ({ env, saved, url, token }) => {
    const config = resolveConfig(env, saved, file);
    expect(config.url).toBe(url);
    expect(config.token).toBe(token);
    expect(config.file).toBe(file);
  });

  it("names the source of a bad URL", () => {
    expect(() => resolveConfig({ DAYBOX_URL: "localhost:7878" }, {}, file)).toThrow(/DAYBOX_URL.*http:\/\//);
    expect(() => resolveConfig({}, { url: "nope" }, file)).toThrow(file);
  });

  it("turns on debug output only with DAYBOX_DEBUG=1", () => {
    expect(resolveConfig({ DAYBOX_DEBUG: "1" }, {}, file).debug).toBe(true);
    expect(resolveConfig({ DAYBOX_DEBUG: "0" }, {}, file).debug).toBe(false);
  });
});

describe("configFile", () => {
  it("is DAYBOX_CONFIG when set, else under ~/.config", () => {
    expect(configFile({ DAYBOX_CONFIG: "/tmp/x.json", HOME: "/home/u" })).toBe("/tmp/x.json");
    expect(configFile({ HOME: "/home/u" })).toBe("/home/u/.config/daybox/config.json");
  });
});

describe("parseSaved", () => {
  it("reads url and token and ignores other keys", () => {
    expect(parseSaved('{"url":"http://a:1","token":"dbx_t","extra":1}', "f")).toEqual({ url: "http://a:1", token: "dbx_t" });
  });
  it.each([
    ["{bad", /not valid JSON.*daybox login/],
    ["[]", /should hold an object/],
    ['{"token": 5}', /"token" should be a string/],
  ])("refuses %s with what to do", (text, message) => {
    expect(() => parseSaved(text, "f")).toThrow(message);
  });
});

describe("saveConfig and loadConfig", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "daybox-cli-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("writes a file only its owner can read, creating its directory, and reads it back", async () => {
    const file = path.join(dir, "nested", "config.json");
    await saveConfig(file, { url: "http://a:1", token: "dbx_secret" });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(file, "utf8"))).toEqual({ url: "http://a:1", token: "dbx_secret" });
    const config = await loadConfig({ DAYBOX_CONFIG: file });
    expect(config).toMatchObject({ url: "http://a:1", token: "dbx_secret", file });
  });

  it("tightens the mode of an existing, too-open file", async () => {
    const file = path.join(dir, "config.json");
    await writeFile(file, "{}", { mode: 0o644 });
    await saveConfig(file, { url: "http://a:1", token: "dbx_secret" });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it("treats a missing file as empty", async () => {
    const config = await loadConfig({ DAYBOX_CONFIG: path.join(dir, "absent.json") });
    expect(config.url).toBe(DEFAULT_URL);
    expect(config.token).toBeUndefined();
  });

  it("fails on a broken file, except for login, which replaces it", async () => {
    const file = path.join(dir, "config.json");
    await writeFile(file, "{bad");
    await expect(loadConfig({ DAYBOX_CONFIG: file })).rejects.toThrow(/not valid JSON/);
    await expect(loadConfig({ DAYBOX_CONFIG: file }, { forLogin: true })).resolves.toMatchObject({ url: DEFAULT_URL });
  });
});
