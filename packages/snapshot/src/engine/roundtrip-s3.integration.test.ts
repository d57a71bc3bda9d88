import { randomBytes } from "node:crypto";
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll } from "vitest";
import { S3Store } from "../stores/s3-store.ts";
import { withRetries } from "../stores/retrying-store.ts";
import { runRoundTripSuite } from "../testing/roundtrip-suite.ts";

// The engine against the real S3 server of the test-bed (versitygw): `bash infra/testbed/versitygw.sh`.
const endpoint = process.env.DAYBOX_TEST_S3_ENDPOINT;
if (!endpoint) throw new Error("DAYBOX_TEST_S3_ENDPOINT is not set: DAYBOX_TEST_S3_ENDPOINT=$(bash infra/testbed/versitygw.sh | tail -1) npx vitest run --project integration");

const connection = { endpoint, region: "us-east-1", credentials: { accessKeyId: "daybox", secretAccessKey: "daybox-secret" }, forcePathStyle: true };
const admin = new S3Client({ ...connection, maxAttempts: 3 });
const bucket = `daybox-engine-${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;

beforeAll(async () => {
  await admin.send(new CreateBucketCommand({ Bucket: bucket }));
});
afterAll(async () => {
  let token: string | undefined;
  do {
    const page = await admin.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    await Promise.all((page.Contents ?? []).map((o) => admin.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key }))));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  await admin.send(new DeleteBucketCommand({ Bucket: bucket }));
  admin.destroy();
});

runRoundTripSuite("a real S3 server", async () => ({
  store: withRetries(new S3Store({ ...connection, bucket, prefix: `project-${randomBytes(3).toString("hex")}` }), { attempts: 4, baseDelayMs: 100 }),
  cleanup: async () => {},
}));
