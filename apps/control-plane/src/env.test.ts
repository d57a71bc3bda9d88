import { describe, expect, it } from "vitest";
import { loadEnv } from "./env.ts";

describe("loadEnv", () => {
  it("takes DAYBOX_SNAPSHOTS_KEPT as a count, 0 keeping all, empty as unset", () => {
    expect(loadEnv({ DAYBOX_DATA_DIR: "/tmp/d" }).DAYBOX_SNAPSHOTS_KEPT).toBeUndefined();
    expect(loadEnv({ DAYBOX_DATA_DIR: "/tmp/d", DAYBOX_SNAPSHOTS_KEPT: "" }).DAYBOX_SNAPSHOTS_KEPT).toBeUndefined();
    expect(loadEnv({ DAYBOX_DATA_DIR: "/tmp/d", DAYBOX_SNAPSHOTS_KEPT: "0" }).DAYBOX_SNAPSHOTS_KEPT).toBe(0);
    expect(loadEnv({ DAYBOX_DATA_DIR: "/tmp/d", DAYBOX_SNAPSHOTS_KEPT: "12" }).DAYBOX_SNAPSHOTS_KEPT).toBe(12);
  });

  it("names what is wrong with a bad count", () => {
    expect(() => loadEnv({ DAYBOX_SNAPSHOTS_KEPT: "-1" })).toThrow("DAYBOX_SNAPSHOTS_KEPT: DAYBOX_SNAPSHOTS_KEPT must be 0 (keep all) or more");
    expect(() => loadEnv({ DAYBOX_SNAPSHOTS_KEPT: "five" })).toThrow(/DAYBOX_SNAPSHOTS_KEPT: /);
  });
});
