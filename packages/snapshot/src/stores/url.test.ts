import { describe, expect, it } from "vitest";
import { DirectoryStore } from "./dir-store.ts";
import { S3Store } from "./s3-store.ts";
import { parseStoreUrl } from "./url.ts";

describe("parseStoreUrl", () => {
  it.each([
    ["file:///var/lib/daybox/objects", "/var/lib/daybox/objects"],
    ["file:///var/lib/daybox/objects/", "/var/lib/daybox/objects"],
    ["file:///tmp/with%20space", "/tmp/with space"],
  ])("%s is a DirectoryStore at %s", (url, root) => {
    const store = parseStoreUrl(url, {});
    expect(store).toBeInstanceOf(DirectoryStore);
    expect((store as DirectoryStore).root).toBe(root);
  });

  it("s3://bucket/prefix with an endpoint uses it, path-style, with the env's region and keys", async () => {
    const store = parseStoreUrl("s3://daybox-snapshots/prod/eu/", {
      DAYBOX_S3_ENDPOINT: "http://127.0.0.1:7070",
      AWS_REGION: "eu-west-1",
      AWS_ACCESS_KEY_ID: "AKID",
      AWS_SECRET_ACCESS_KEY: "secret",
    }) as S3Store;
    expect(store).toBeInstanceOf(S3Store);
    expect(store.bucket).toBe("daybox-snapshots");
    expect(store.prefix).toBe("prod/eu/");
    const config = store.client.config;
    expect(await config.region()).toBe("eu-west-1");
    expect(config.forcePathStyle).toBe(true);
    const endpoint = await config.endpoint?.();
    expect(`${endpoint?.protocol}//${endpoint?.hostname}:${endpoint?.port}`).toBe("http://127.0.0.1:7070");
    expect(await config.credentials()).toMatchObject({ accessKeyId: "AKID", secretAccessKey: "secret" });
    expect(await config.maxAttempts()).toBe(1);
  });

  it("s3://bucket without endpoint, region or prefix: AWS, us-east-1, virtual-hosted, no prefix", async () => {
    const store = parseStoreUrl("s3://daybox-snapshots", {}) as S3Store;
    expect(store.prefix).toBe("");
    expect(await store.client.config.region()).toBe("us-east-1");
    expect(store.client.config.forcePathStyle).toBe(false);
    expect(store.client.config.endpoint).toBeUndefined();
  });

  it("decodes percent-escapes in the prefix", () => {
    expect((parseStoreUrl("s3://bucket/my%20prefix/x", {}) as S3Store).prefix).toBe("my prefix/x/");
  });

  it.each([
    ["relative/dir", /file:\/\/\/absolute\/dir or s3:\/\/bucket/],
    ["", /file:\/\/\/absolute\/dir or s3:\/\/bucket/],
    ["http://example.com/x", /unsupported scheme "http:"/],
    ["file://host/dir", /must not name a host/],
    ["file:///", /refusing to use \//],
    ["s3://", /not a valid bucket name/],
    ["s3://Bad_Bucket/x", /not a valid bucket name/],
    ["s3://user:pw@bucket/x", /credentials and ports go in the environment/],
    ["s3://bucket/a//b", /empty segment/],
    ["s3://bucket/x?versionId=1", /query and fragment/],
  ])("rejects %j saying which forms are accepted", (url, message) => {
    expect(() => parseStoreUrl(url, {})).toThrow(message);
    expect(() => parseStoreUrl(url, {})).toThrow(/expected file:\/\/\/absolute\/dir or s3:\/\/bucket\[\/prefix\]/);
  });

  it("wants both AWS keys or neither", () => {
    expect(() => parseStoreUrl("s3://bucket", { AWS_ACCESS_KEY_ID: "only-id" })).toThrow(/both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/);
  });
});
