import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isRetryableError } from "./retrying-store.ts";
import { S3Store } from "./s3-store.ts";

// Response bodies that go wrong in transit, which a real S3 server does not produce on demand: a plain HTTP
// server stands in for it. (The S3 store's behaviour against a real server: s3-store.integration.test.ts.)
const BODY = Buffer.from(Array.from({ length: 256 * 1024 }, (_, i) => (i * 31) & 0xff));

let server: Server;
let store: S3Store;

beforeAll(async () => {
  server = createServer((req, res) => {
    const key = new URL(req.url!, "http://s3").pathname.split("/").pop();
    res.writeHead(200, { "content-length": BODY.length, "content-type": "application/octet-stream" });
    if (key === "whole") return void res.end(BODY);
    // "cut": a third of the body, then the connection drops.
    res.write(BODY.subarray(0, BODY.length / 3), () => setTimeout(() => res.socket?.destroy(), 20));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  store = new S3Store({ bucket: "b", prefix: "", endpoint: `http://127.0.0.1:${port}`, region: "us-east-1", credentials: { accessKeyId: "a", secretAccessKey: "s" }, forcePathStyle: true });
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe("S3 store response bodies", () => {
  it("reads a body whole, into one buffer of its length", async () => {
    const got = await store.get("whole");
    expect(Buffer.from(got).equals(BODY)).toBe(true);
  });

  it("fails, retryably, a body whose connection drops before its end (never waits forever)", async () => {
    const err = await store.get("cut").then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe("get cut");
    expect(isRetryableError(err)).toBe(true);
  });
});

describe("S3 store warnings", () => {
  it("keeps the SDK's notice about future Node versions off a user's terminal", async () => {
    // In a process of its own: the SDK warns once per process. (Under Node 22 or later there is nothing to keep off.)
    const { port } = server.address() as AddressInfo;
    const script = `
      import { S3Store } from ${JSON.stringify(new URL("./s3-store.ts", import.meta.url).href)};
      const store = new S3Store({ bucket: "b", prefix: "", endpoint: "http://127.0.0.1:${port}", region: "us-east-1", credentials: { accessKeyId: "a", secretAccessKey: "s" }, forcePathStyle: true });
      await store.get("whole");`;
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_NO_WARNINGS: "" };
    delete env["AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED"];
    const { stderr } = await promisify(execFile)(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8", env });
    expect(stderr).not.toMatch(/NodeVersionSupportWarning/);
  });
});
