/** Small S3 helpers for the benchmark: buckets, streaming upload/download of one object, sizes, cleanup. */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  S3Client,
  UploadPartCommand,
  type CompletedPart,
} from "@aws-sdk/client-s3";
import type { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";

export interface S3Env {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
}

export function s3Client(env: S3Env): S3Client {
  return new S3Client({
    endpoint: env.endpoint,
    region: env.region,
    forcePathStyle: true,
    credentials: { accessKeyId: env.accessKeyId, secretAccessKey: env.secretAccessKey },
  });
}

export async function ensureBucket(client: S3Client, bucket: string): Promise<void> {
  try {
    await client.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch {
    await client.send(new CreateBucketCommand({ Bucket: bucket })).catch((err: { name?: string }) => {
      if (err.name !== "BucketAlreadyOwnedByYou" && err.name !== "BucketAlreadyExists") throw err;
    });
  }
}

export async function* listObjects(client: S3Client, bucket: string, prefix: string): AsyncIterable<{ key: string; size: number }> {
  let ContinuationToken: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken }));
    for (const o of page.Contents ?? []) if (o.Key !== undefined) yield { key: o.Key, size: o.Size ?? 0 };
    ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (ContinuationToken);
}

/** Sum of the sizes of the objects under `prefix`, and their count. */
export async function prefixUsage(client: S3Client, bucket: string, prefix: string): Promise<{ bytes: number; objects: number }> {
  let bytes = 0;
  let objects = 0;
  for await (const o of listObjects(client, bucket, prefix)) {
    bytes += o.size;
    objects++;
  }
  return { bytes, objects };
}

export async function deletePrefix(client: S3Client, bucket: string, prefix: string): Promise<void> {
  const keys: string[] = [];
  for await (const o of listObjects(client, bucket, prefix)) keys.push(o.key);
  for (let i = 0; i < keys.length; i += 1000) {
    const batch = keys.slice(i, i + 1000);
    try {
      await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }));
    } catch {
      for (const Key of batch) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key }));
    }
  }
}

/**
 * Streams `source` into one object with a multipart upload (parts of
 * `partSize`, `concurrency` in flight): the upload overlaps the producer, as
 * `aws s3 cp - s3://…` would. Returns the object's size.
 */
export async function uploadStream(client: S3Client, bucket: string, key: string, source: Readable, partSize = 16 * 1024 * 1024, concurrency = 4): Promise<number> {
  const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  if (!UploadId) throw new Error("no UploadId");
  const parts: CompletedPart[] = [];
  const inflight = new Set<Promise<void>>();
  let failed: unknown = null;
  let total = 0;
  const send = (PartNumber: number, Body: Buffer) => {
    const p = client
      .send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber, Body, ContentLength: Body.length }))
      .then((out) => {
        parts.push({ PartNumber, ETag: out.ETag });
      })
      .catch((err: unknown) => {
        failed ??= err;
      })
      .finally(() => inflight.delete(p));
    inflight.add(p);
  };
  try {
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let partNumber = 0;
    const flush = async () => {
      while (inflight.size >= concurrency) await Promise.race(inflight);
      if (failed) throw failed;
      send(++partNumber, Buffer.concat(pending, pendingBytes));
      pending = [];
      pendingBytes = 0;
    };
    for await (const chunk of source as AsyncIterable<Buffer>) {
      pending.push(chunk);
      pendingBytes += chunk.length;
      total += chunk.length;
      if (pendingBytes >= partSize) await flush();
    }
    if (pendingBytes > 0 || partNumber === 0) await flush();
    await Promise.all(inflight);
    if (failed) throw failed;
    parts.sort((a, b) => a.PartNumber! - b.PartNumber!);
    await client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } }));
    return total;
  } catch (err) {
    await Promise.allSettled(inflight);
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId })).catch(() => {});
    throw err;
  }
}

/** Streams one object into `sink` (a single GET, consumed as it arrives). */
export async function downloadStream(client: S3Client, bucket: string, key: string, sink: Writable): Promise<void> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  if (!out.Body) throw new Error(`empty body for ${key}`);
  await pipeline(out.Body as Readable, sink);
}
