import { randomBytes } from "node:crypto";
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ObjectExistsError } from "../object-store.ts";
import { runObjectStoreSuite, testBytes } from "./conformance.ts";
import { MIN_PART_SIZE, S3Store, type S3StoreOptions } from "./s3-store.ts";

// Against the real S3 server of the test-bed (versitygw), started by
//   bash infra/testbed/versitygw.sh
// whose last stdout line is the endpoint to put in DAYBOX_TEST_S3_ENDPOINT.
const endpoint = process.env.DAYBOX_TEST_S3_ENDPOINT;
if (!endpoint) {
  throw new Error(
    "DAYBOX_TEST_S3_ENDPOINT is not set. Start the test S3 server and run with its endpoint: " +
      "DAYBOX_TEST_S3_ENDPOINT=$(bash infra/testbed/versitygw.sh | tail -1) npx vitest run --project integration",
  );
}

const connection = {
  endpoint,
  region: "us-east-1",
  credentials: { accessKeyId: "daybox", secretAccessKey: "daybox-secret" },
  forcePathStyle: true,
};
const admin = new S3Client({ ...connection, maxAttempts: 1 });
const bucket = `daybox-test-${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
let storeCount = 0;

beforeAll(async () => {
  await admin.send(new CreateBucketCommand({ Bucket: bucket }));
});

afterAll(async () => {
  await deleteUnder("");
  await admin.send(new DeleteBucketCommand({ Bucket: bucket }));
  admin.destroy();
});

async function deleteUnder(prefix: string): Promise<void> {
  let ContinuationToken: string | undefined;
  do {
    const page = await admin.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken }));
    await Promise.all((page.Contents ?? []).map((o) => admin.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key }))));
    ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (ContinuationToken);
}

/** A store under its own prefix of the run's bucket, with S3's smallest part size and a tiny list page. */
function makeS3Store(overrides: Partial<S3StoreOptions> = {}): { store: S3Store; prefix: string } {
  const prefix = `run/${++storeCount}`;
  const store = new S3Store({ ...connection, bucket, prefix, partSize: MIN_PART_SIZE, multipartThreshold: MIN_PART_SIZE, listPageSize: 7, ...overrides });
  return { store, prefix };
}

runObjectStoreSuite("S3Store on versitygw", async () => {
  const { store, prefix } = makeS3Store();
  return {
    store,
    cleanup: async () => {
      await deleteUnder(`${prefix}/`);
      store.client.destroy();
    },
  };
});

describe("S3Store specifics (versitygw)", () => {
  it("keeps objects under its prefix and strips it when listing", async () => {
    const { store, prefix } = makeS3Store();
    await store.put("packs/aa/p1", new Uint8Array(4));
    const raw = await admin.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/` }));
    expect(raw.Contents?.map((o) => o.Key)).toEqual([`${prefix}/packs/aa/p1`]);
    const listed = [];
    for await (const e of store.list("")) listed.push(e);
    expect(listed).toEqual([{ key: "packs/aa/p1", size: 4, lastModified: expect.any(Date) }]);
  });

  it("sends If-None-Match on PutObject and CompleteMultipartUpload (the server enforces it)", async () => {
    const { store } = makeS3Store();
    const seen: { command: string; ifNoneMatch: unknown }[] = [];
    store.client.middlewareStack.add(
      (next, context) => async (args) => {
        seen.push({ command: String(context.commandName), ifNoneMatch: (args.input as { IfNoneMatch?: unknown }).IfNoneMatch });
        return next(args);
      },
      { step: "initialize", name: "recordIfNoneMatch" },
    );
    await store.put("k", new Uint8Array(1), { ifNoneMatch: true });
    await store.put("big", testBytes(MIN_PART_SIZE + 1, 1), { ifNoneMatch: true });
    await expect(store.put("big", new Uint8Array(1), { ifNoneMatch: true })).rejects.toBeInstanceOf(ObjectExistsError);
    expect(seen.filter((s) => s.ifNoneMatch === "*").map((s) => s.command)).toEqual([
      "PutObjectCommand",
      "CompleteMultipartUploadCommand",
      "PutObjectCommand",
    ]);
  });

  it("sends a single put with a CRC32 the server checks, unsigned to this host: a body damaged on the way is refused, retryable", async () => {
    const { store } = makeS3Store();
    const sent: Record<string, string>[] = [];
    let damage = false;
    store.client.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { method: string; headers: Record<string, string>; body: Uint8Array };
        if (request.method !== "PUT") return next(args);
        sent.push({ ...request.headers });
        // After signing: what a flipped bit on the wire looks like to the server.
        if (damage) request.body = Uint8Array.from(request.body, (b, i) => (i === 100 ? b ^ 1 : b));
        return next(args);
      },
      { step: "finalizeRequest", name: "damageBody", priority: "low" },
    );
    const body = testBytes(MIN_PART_SIZE - 1, 9); // one PutObject (this store goes multipart above 5 MiB)
    await store.put("packs/ok", body);
    expect(sent[0]!["x-amz-content-sha256"]).toBe("UNSIGNED-PAYLOAD");
    expect(sent[0]!["x-amz-checksum-crc32"]).toMatch(/^[A-Za-z0-9+/]{6}==$/);
    expect(Buffer.from(await store.get("packs/ok")).equals(Buffer.from(body))).toBe(true);

    // Over plain HTTP to another host the payload stays signed (a CRC can be forged to match an altered body).
    const remote = makeS3Store({ endpoint: "http://s3.example.internal:7070", client: store.client }).store;
    await remote.put("packs/remote", body);
    expect(sent.at(-1)!["x-amz-content-sha256"]).toMatch(/^[0-9a-f]{64}$/);
    expect(sent.at(-1)!["x-amz-checksum-crc32"]).toBe(sent[0]!["x-amz-checksum-crc32"]);

    damage = true;
    const err = await store.put("packs/damaged", body).then(
      () => null,
      (e: unknown) => e as Error & { retryable?: boolean },
    );
    expect(err?.message).toBe("put packs/damaged");
    expect(err?.retryable).toBe(true);
    expect(await store.head("packs/damaged")).toBeNull();
  });

  it("aborts the multipart upload when a part fails, leaving nothing behind", async () => {
    const { store, prefix } = makeS3Store({ maxConcurrency: 2 });
    let parts = 0;
    store.client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === "UploadPartCommand" && ++parts === 2) throw new Error("injected part failure");
        return next(args);
      },
      { step: "initialize", name: "failSecondPart" },
    );
    await expect(store.put("packs/broken", testBytes(3 * MIN_PART_SIZE, 2))).rejects.toThrow("put packs/broken");
    expect(await store.head("packs/broken")).toBeNull();
    const uploads = await admin.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: `${prefix}/` }));
    expect(uploads.Uploads ?? []).toEqual([]);
  });

  it("uploads parts with bounded concurrency", async () => {
    const { store } = makeS3Store({ maxConcurrency: 2 });
    let inFlight = 0;
    let peak = 0;
    store.client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName !== "UploadPartCommand") return next(args);
        peak = Math.max(peak, ++inFlight);
        try {
          return await next(args);
        } finally {
          inFlight--;
        }
      },
      { step: "initialize", name: "countParts" },
    );
    const body = testBytes(4 * MIN_PART_SIZE + 3, 4);
    await store.put("packs/bounded", body);
    expect(peak).toBe(2);
    expect(await store.head("packs/bounded")).toEqual({ size: body.length });
  });

  it("a missing bucket is an error, not ObjectNotFoundError", async () => {
    const store = new S3Store({ ...connection, bucket: `${bucket}-missing`, prefix: "" });
    const err = await store.get("k").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe("get k");
    expect(((err as Error).cause as Error).name).toBe("NoSuchBucket");
    store.client.destroy();
  });
});
