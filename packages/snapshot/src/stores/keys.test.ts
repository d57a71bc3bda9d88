import { describe, expect, it } from "vitest";
import { assertValidKey, assertValidPrefix, keyProblem } from "./keys.ts";

describe("object keys", () => {
  it.each([
    "a",
    "packs/ab/0123456789abcdef",
    "snapshots/s-1",
    "index/x.y",
    ".hidden/file",
    "a..b/c..",
    "spaces are fine/ü",
    "a/b/c/d/e/f",
  ])("accepts %j", (key) => {
    expect(keyProblem(key)).toBeNull();
    expect(() => assertValidKey(key)).not.toThrow();
  });

  it.each([
    ["", "is empty"],
    ["/abs", "starts with '/'"],
    ["a//b", "has an empty segment"],
    ["trailing/", "has an empty segment"],
    ["..", "has a '..' segment"],
    ["a/../b", "has a '..' segment"],
    ["a/..", "has a '..' segment"],
    [".", "has a '.' segment"],
    ["a/./b", "has a '.' segment"],
    ["nul\0byte", "contains NUL"],
    ["packs/.daybox-tmp-1234", "reserved"],
  ])("rejects %j (%s) with an Error naming the key", (key, why) => {
    expect(keyProblem(key)).toContain(why);
    expect(() => assertValidKey(key)).toThrow(`invalid object key ${JSON.stringify(key)}`);
  });

  it.each(["", "packs", "packs/", "packs/a", "packs/ab/"])("accepts list prefix %j", (prefix) => {
    expect(() => assertValidPrefix(prefix)).not.toThrow();
  });

  it.each(["/", "/packs", "packs//", "a/../", "../", "a\0"])("rejects list prefix %j", (prefix) => {
    expect(() => assertValidPrefix(prefix)).toThrow(`invalid list prefix ${JSON.stringify(prefix)}`);
  });
});
