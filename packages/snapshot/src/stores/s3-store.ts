import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  type GetObjectCommandInput,
  type GetObjectCommandOutput,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type CompletedPart,
} from "@aws-sdk/client-s3";
import { finished, Readable } from "node:stream";
import { crc32 } from "node:zlib";
import { DirectGetHandler, type DirectBody, type DirectGetOptions } from "./direct-get.ts";
import { bufferFor, ObjectExistsError, ObjectNotFoundError, type Allocate, type ObjectStore } from "../object-store.ts";
import { assertByteCount, assertValidKey, assertValidPrefix, rangePastEnd, type ListEntry } from "./keys.ts";

const MiB = 1024 * 1024;
/** S3's smallest allowed part (all parts but the last). */
export const MIN_PART_SIZE = 5 * MiB;
/** S3's largest part count per multipart upload. */
const MAX_PARTS = 10_000;

export interface S3StoreOptions {
  bucket: string;
  /** Key prefix inside the bucket ("" for none); a trailing '/' is implied. */
  prefix: string;
  /** For S3-compatible servers (versitygw, ...). */
  endpoint?: string;
  region?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  forcePathStyle?: boolean;
  /** Objects bigger than `multipartThreshold` are uploaded in parts of this size. Default 16 MiB, at least 5 MiB. */
  partSize?: number;
  /** Objects up to this size go in one PutObject (packs are ~16-22 MiB). Default the larger of 64 MiB and `partSize`. */
  multipartThreshold?: number;
  /** Parts of one object uploaded at once. Default 4. */
  maxConcurrency?: number;
  /** Keys per ListObjectsV2 page (S3 caps it at 1000). Tests set it small to exercise pagination. */
  listPageSize?: number;
  /** Use this client instead of building one from the options above (tests inject failures through its middleware). */
  client?: S3Client;
}

/**
 * An ObjectStore in an S3 bucket under a key prefix.
 *
 * - put() is one PutObject up to `multipartThreshold`, a multipart upload
 *   above it (the object appears atomically at CompleteMultipartUpload; a
 *   failed upload is aborted so no parts are left billed).
 * - A PutObject carries a CRC32 of its body (x-amz-checksum-crc32, computed
 *   natively) that the server verifies, so corruption in transit is refused
 *   (BadDigest, retryable). Over TLS or to this host its payload goes
 *   unsigned: signing costs a SHA-256 of every byte on both ends (~10% of a
 *   snapshot's CPU), and the SDK leaves payloads unsigned over TLS anyway.
 *   Over plain HTTP to another host the payload stays signed (a CRC can be
 *   forged to match an altered body; a signature cannot).
 * - `ifNoneMatch` sends `If-None-Match: *` (on PutObject and on
 *   CompleteMultipartUpload); 412 PreconditionFailed becomes
 *   ObjectExistsError. A server that ignores the header silently overwrites:
 *   the conformance suite's ifNoneMatch tests catch such a server.
 *   AWS answers 409 ConditionalRequestConflict when a conflicting conditional
 *   write is in flight; that is left as a (retryable) error.
 * - GETs over plain HTTP read their bodies straight into the caller's buffer
 *   on connections of the store's own (DirectGetHandler, direct-get.ts): one
 *   copy from the kernel instead of three through Node's HTTP client, which
 *   made a cold restore 16% faster. The SDK still signs every request and
 *   parses every answer; TLS and all other requests use its NodeHttpHandler.
 * - The SDK's own retries are off (`maxAttempts: 1`): retries wrap a store
 *   (see withRetries), they do not live in it. Errors keep the SDK error as
 *   `cause`, whose `$metadata.httpStatusCode` tells retryable (5xx, 503
 *   SlowDown) from permanent (4xx).
 */
export class S3Store implements ObjectStore {
  readonly client: S3Client;
  readonly bucket: string;
  readonly prefix: string;
  readonly partSize: number;
  readonly multipartThreshold: number;
  /** Payloads go unsigned (CRC32-checked) only where nobody can alter them on the way: TLS, or this host. */
  private readonly unsignedPayloads: boolean;
  private readonly maxConcurrency: number;
  private readonly listPageSize: number | undefined;

  constructor(opts: S3StoreOptions) {
    if (!opts.bucket) throw new Error("S3 store needs a bucket");
    const prefix = opts.prefix.replace(/^\/+|\/+$/g, "");
    if (prefix !== "") assertValidPrefix(prefix);
    this.bucket = opts.bucket;
    this.prefix = prefix === "" ? "" : `${prefix}/`;
    this.partSize = opts.partSize ?? 16 * MiB;
    if (!Number.isSafeInteger(this.partSize) || this.partSize < MIN_PART_SIZE) {
      throw new Error(`S3 part size must be an integer of at least ${MIN_PART_SIZE} bytes, got ${this.partSize}`);
    }
    this.multipartThreshold = opts.multipartThreshold ?? Math.max(64 * MiB, this.partSize);
    this.unsignedPayloads = opts.endpoint === undefined ? !opts.client : privateTransport(opts.endpoint);
    this.maxConcurrency = Math.max(1, opts.maxConcurrency ?? 4);
    if (opts.listPageSize !== undefined && !(opts.listPageSize >= 1 && opts.listPageSize <= 1000)) {
      throw new Error(`S3 list page size must be 1..1000, got ${opts.listPageSize}`);
    }
    this.listPageSize = opts.listPageSize;
    // Under Node < 22 the SDK warns, once per process, that its releases after January 2027 will need Node 22: news
    // for whoever upgrades it (the lockfile pins it), not for a user of the CLI or the agent, whose first S3 command
    // it would preface with nine lines. Left as the environment sets it, if it does.
    if (!process.env["AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED"]) process.env["AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED"] = "true";
    this.client =
      opts.client ??
      new S3Client({
        ...(opts.endpoint !== undefined && { endpoint: opts.endpoint }),
        region: opts.region ?? "us-east-1",
        ...(opts.credentials !== undefined && { credentials: opts.credentials }),
        forcePathStyle: opts.forcePathStyle ?? false,
        maxAttempts: 1,
        requestHandler: new DirectGetHandler(),
        // The engine verifies every object itself (chunk hashes, manifest read-back), so the
        // SDK's default CRC32 of every body (computed in JS, ~35% of a cold restore) buys nothing.
        requestChecksumCalculation: "WHEN_REQUIRED",
        responseChecksumValidation: "WHEN_REQUIRED",
      });
  }

  async put(key: string, body: Uint8Array, opts?: { ifNoneMatch?: boolean }): Promise<void> {
    const Key = this.s3Key(key);
    const IfNoneMatch = opts?.ifNoneMatch ? "*" : undefined;
    try {
      if (body.length <= this.multipartThreshold) {
        const command = new PutObjectCommand({ Bucket: this.bucket, Key, Body: body, ContentLength: body.length, IfNoneMatch, ChecksumCRC32: crc32Base64(body) });
        if (this.unsignedPayloads) unsignedPayload(command);
        await this.client.send(command);
      } else {
        await this.putMultipart(Key, body, IfNoneMatch);
      }
    } catch (err) {
      if (isPreconditionFailed(err)) throw new ObjectExistsError(key);
      // The body arrived other than it was sent: corruption in transit, worth another try.
      throw Object.assign(new Error(`put ${key}`, { cause: err }), nameOf(err) === "BadDigest" ? { retryable: true } : {});
    }
  }

  async get(key: string, alloc?: Allocate): Promise<Uint8Array> {
    const Key = this.s3Key(key);
    try {
      return (await this.getObject({ Bucket: this.bucket, Key }, alloc)).bytes;
    } catch (err) {
      if (isNotFound(err)) throw new ObjectNotFoundError(key);
      throw readError(`get ${key}`, err);
    }
  }

  async getRange(key: string, offset: number, length: number): Promise<Uint8Array> {
    const Key = this.s3Key(key);
    assertByteCount("getRange offset", offset);
    assertByteCount("getRange length", length);
    if (length === 0) {
      // HTTP cannot express an empty range: check existence and bounds instead.
      const found = await this.head(key);
      if (found === null) throw new ObjectNotFoundError(key);
      if (offset > found.size) throw rangePastEnd(key, offset, length, found.size);
      return new Uint8Array(0);
    }
    let bytes: Uint8Array;
    let total: number | undefined;
    try {
      const { out, bytes: body } = await this.getObject({ Bucket: this.bucket, Key, Range: `bytes=${offset}-${offset + length - 1}` });
      bytes = body;
      total = totalFromContentRange(out.ContentRange);
      if (out.ContentRange === undefined && bytes.length === out.ContentLength && bytes.length > length) {
        // The server ignored Range and sent the whole object (200).
        total = bytes.length;
        bytes = bytes.subarray(offset, offset + length);
      }
    } catch (err) {
      if (isNotFound(err)) throw new ObjectNotFoundError(key);
      if (statusOf(err) === 416) {
        // The range starts at or past the end; ask for the size to say so.
        const found = await this.head(key);
        if (found === null) throw new ObjectNotFoundError(key);
        throw rangePastEnd(key, offset, length, found.size);
      }
      throw readError(`get range of ${key}`, err);
    }
    // S3 answers a range that runs past the end with the bytes that exist.
    if (bytes.length !== length) {
      throw rangePastEnd(key, offset, length, total ?? offset + bytes.length);
    }
    return bytes;
  }

  async head(key: string): Promise<{ size: number } | null> {
    const Key = this.s3Key(key);
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key }));
      return { size: out.ContentLength ?? 0 };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw new Error(`head ${key}`, { cause: err });
    }
  }

  async *list(prefix: string): AsyncIterable<ListEntry> {
    assertValidPrefix(prefix);
    let ContinuationToken: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.prefix + prefix,
            ContinuationToken,
            MaxKeys: this.listPageSize,
          }),
        );
      } catch (err) {
        throw new Error(`list ${prefix}`, { cause: err });
      }
      for (const obj of page.Contents ?? []) {
        if (obj.Key === undefined || !obj.Key.startsWith(this.prefix)) continue;
        // S3 always sends LastModified; without it GC could not age the object safely.
        if (!(obj.LastModified instanceof Date)) throw new Error(`list ${prefix}: ${obj.Key} has no LastModified`);
        yield { key: obj.Key.slice(this.prefix.length), size: obj.Size ?? 0, lastModified: obj.LastModified };
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken !== undefined);
  }

  async delete(key: string): Promise<void> {
    const Key = this.s3Key(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }));
    } catch (err) {
      if (isNotFound(err)) return; // S3 answers 204 anyway; some servers say 404
      throw new Error(`delete ${key}`, { cause: err });
    }
  }

  private async putMultipart(Key: string, body: Uint8Array, IfNoneMatch: string | undefined): Promise<void> {
    const partSize = Math.max(this.partSize, Math.ceil(body.length / MAX_PARTS));
    const created = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key }));
    const UploadId = created.UploadId;
    if (!UploadId) throw new Error("CreateMultipartUpload returned no UploadId");
    try {
      const count = Math.ceil(body.length / partSize);
      const parts: CompletedPart[] = new Array(count);
      let next = 0;
      let failed = false;
      // A fixed pool of workers, each taking the next part number: at most
      // maxConcurrency parts (and their bytes) in flight.
      const worker = async () => {
        while (!failed && next < count) {
          const index = next++;
          const PartNumber = index + 1;
          const chunk = body.subarray(index * partSize, Math.min(body.length, (index + 1) * partSize));
          try {
            const out = await this.client.send(
              new UploadPartCommand({ Bucket: this.bucket, Key, UploadId, PartNumber, Body: chunk, ContentLength: chunk.length }),
            );
            parts[index] = { PartNumber, ETag: out.ETag };
          } catch (err) {
            failed = true;
            throw err;
          }
        }
      };
      const results = await Promise.allSettled(Array.from({ length: Math.min(this.maxConcurrency, count) }, worker));
      const rejected = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (rejected) throw rejected.reason;
      await this.client.send(
        new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId, MultipartUpload: { Parts: parts }, IfNoneMatch }),
      );
    } catch (err) {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId })).catch(() => {
        // Best effort: the original error matters more; a bucket lifecycle rule reaps leftovers.
      });
      throw err;
    }
  }

  /** A GetObject and its body in one buffer: read there by DirectGetHandler where it can, else from the response's stream. */
  private async getObject(input: GetObjectCommandInput, alloc?: Allocate): Promise<{ out: GetObjectCommandOutput; bytes: Uint8Array }> {
    const directBody: DirectBody = { alloc };
    const out = await this.client.send(new GetObjectCommand(input), { directBody } as DirectGetOptions);
    return { out, bytes: directBody.filled ?? (await readBody(out.Body, out.ContentLength, alloc)) };
  }

  private s3Key(key: string): string {
    assertValidKey(key);
    return this.prefix + key;
  }
}

/** The HTTP status of an AWS SDK error, if it has one. */
export function statusOf(err: unknown): number | undefined {
  if (typeof err !== "object" || err === null || !("$metadata" in err)) return undefined;
  const meta = err.$metadata;
  if (typeof meta !== "object" || meta === null || !("httpStatusCode" in meta)) return undefined;
  return typeof meta.httpStatusCode === "number" ? meta.httpStatusCode : undefined;
}

function nameOf(err: unknown): string | undefined {
  return err instanceof Error ? err.name : undefined;
}

function isNotFound(err: unknown): boolean {
  const name = nameOf(err);
  if (name === "NoSuchBucket") return false; // a configuration error, not a missing object
  return name === "NoSuchKey" || name === "NotFound" || statusOf(err) === 404;
}

function isPreconditionFailed(err: unknown): boolean {
  return nameOf(err) === "PreconditionFailed" || statusOf(err) === 412;
}

/**
 * The SDK checks response bodies against the server's x-amz-checksum-* header
 * and throws a plain Error "Checksum mismatch: ..." when they differ. That is
 * corruption in transit or (versitygw's posix backend) a read racing an
 * overwrite, which pairs one version's body with the other's headers; both
 * clear up on a retry, so the error says it is retryable.
 */
function readError(action: string, err: unknown): Error {
  const wrapped = new Error(action, { cause: err });
  if (err instanceof Error && (/checksum mismatch/i.test(err.message) || (err as { retryable?: boolean }).retryable)) Object.assign(wrapped, { retryable: true });
  return wrapped;
}

/**
 * A response body in one buffer of its announced length, filled as it
 * arrives (the SDK's transformToByteArray keeps every piece, then
 * concatenates: twice the memory, and a copy of every pack). A body that
 * ends early or runs long is an error worth a retry.
 */
async function readBody(body: unknown, length: number | undefined, alloc?: Allocate): Promise<Uint8Array> {
  if (!body) return new Uint8Array(0);
  if (length === undefined || !(body instanceof Readable)) return (body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray();
  const out = bufferFor(length, alloc);
  // 'data' events, not `for await`: a pack arrives in ~64 KiB pieces, and a promise per piece cost a
  // cold restore ~0.3 s of the main thread's CPU.
  return new Promise<Uint8Array>((resolve, reject) => {
    let at = 0;
    const fail = (err: Error) => {
      body.destroy();
      reject(err);
    };
    body.on("data", (piece: Buffer) => {
      if (at + piece.length > length) return fail(Object.assign(new Error(`response body is longer than its Content-Length (${length})`), { retryable: true }));
      out.set(piece, at);
      at += piece.length;
    });
    // As `for await` did: a stream error, or a close before the end (ERR_STREAM_PREMATURE_CLOSE), rejects.
    finished(body, (err) => {
      if (err) reject(err);
      else if (at !== length) reject(Object.assign(new Error(`response body ended after ${at} of ${length} bytes`), { retryable: true }));
      else resolve(out);
    });
  });
}

/** An endpoint whose traffic nobody else can alter: HTTPS, or a loopback address. */
function privateTransport(endpoint: string): boolean {
  try {
    const u = new URL(endpoint);
    return u.protocol === "https:" || ["localhost", "[::1]"].includes(u.hostname) || u.hostname.startsWith("127.");
  } catch {
    return false;
  }
}

/** A body's CRC32 as S3 checksum headers carry it: big-endian, base64. */
function crc32Base64(body: Uint8Array): string {
  const sum = Buffer.alloc(4);
  sum.writeUInt32BE(crc32(body) >>> 0);
  return sum.toString("base64");
}

/** Marks the command's payload as unsigned before it is signed (the signer then skips hashing the body). */
function unsignedPayload(command: PutObjectCommand): void {
  command.middlewareStack.add(
    (next) => (args) => {
      const request = args.request as { headers?: Record<string, string> };
      if (request.headers) request.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD";
      return next(args);
    },
    { step: "build", name: "dayboxUnsignedPayload" },
  );
}

/** "bytes 0-9/1234" → 1234. */
function totalFromContentRange(contentRange: string | undefined): number | undefined {
  const m = contentRange?.match(/\/(\d+)\s*$/);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}
