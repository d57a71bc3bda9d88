import { ObjectExistsError, ObjectNotFoundError, type ObjectStore } from "../object-store.ts";

export interface RetryOptions {
  /** Total tries per operation, including the first (>= 1). */
  attempts: number;
  /** Delay before the first retry; doubles per retry, with full jitter. */
  baseDelayMs: number;
  /** Cap on one delay. Default 30 s. */
  maxDelayMs?: number;
  /** Which errors are worth another try. Default: isRetryableError. */
  isRetryable?: (err: unknown) => boolean;
  /** Injected for tests (no real sleeps). Default: setTimeout. */
  sleep?: (ms: number) => Promise<void>;
  /** Uniform [0, 1) for jitter. Default: Math.random. */
  random?: () => number;
}

/** A getRange that came back shorter than asked: a transport fault, worth retrying. */
export class TruncatedReadError extends Error {
  readonly retryable = true;
  constructor(
    readonly key: string,
    readonly expected: number,
    readonly got: number,
  ) {
    super(`read of ${key} returned ${got} of ${expected} bytes`);
  }
}

const NETWORK_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
]);
// ConditionalRequestConflict (409): AWS's answer while another conditional write to the key is in flight.
const RETRYABLE_NAMES = new Set(["ConditionalRequestConflict", "SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed", "TimeoutError", "InternalError", "ServiceUnavailable"]);

/**
 * Whether an error from a store is transient. Walks the `cause` chain (stores
 * wrap SDK/file-system errors as `new Error("put k", { cause })`):
 * - ObjectNotFoundError / ObjectExistsError: never (they are answers);
 * - an explicit boolean `retryable` property decides (injected faults, TruncatedReadError);
 * - S3 throttling/timeout names and 409 ConditionalRequestConflict: yes;
 * - HTTP status: 5xx (incl. 503 SlowDown), 408 and 429 yes, other 4xx no;
 * - network error codes (ECONNRESET, ...): yes.
 */
export function isRetryableError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 10; depth++) {
    if (e instanceof ObjectNotFoundError || e instanceof ObjectExistsError) return false;
    if (typeof e !== "object") return false;
    const o = e as { retryable?: unknown; $metadata?: { httpStatusCode?: unknown }; code?: unknown; name?: unknown; cause?: unknown };
    if (typeof o.retryable === "boolean") return o.retryable;
    if (typeof o.name === "string" && RETRYABLE_NAMES.has(o.name)) return true;
    const status = o.$metadata?.httpStatusCode;
    if (typeof status === "number") return status >= 500 || status === 408 || status === 429;
    if (typeof o.code === "string" && NETWORK_CODES.has(o.code)) return true;
    e = o.cause;
  }
  return false;
}

/**
 * Wraps a store so each operation is retried on transient errors, with
 * exponential backoff and full jitter. Permanent errors and the store's answers
 * (ObjectNotFoundError, ObjectExistsError) pass straight through; after the
 * last attempt the last error is thrown.
 *
 * - getRange() results shorter than asked count as a transient TruncatedReadError.
 * - put(…, { ifNoneMatch }) that fails transiently may still have written the
 *   object (the reply was lost); if the retry then meets ObjectExistsError and
 *   the stored bytes equal ours, the put counts as done. (Two writers with
 *   byte-identical bodies can therefore both succeed; they wrote the same thing.)
 * - list() that fails midway restarts and skips keys already yielded.
 */
export function withRetries(store: ObjectStore, opts: RetryOptions): ObjectStore {
  if (!(Number.isInteger(opts.attempts) && opts.attempts >= 1)) throw new Error(`retry attempts must be >= 1, got ${opts.attempts}`);
  const isRetryable = opts.isRetryable ?? isRetryableError;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const random = opts.random ?? Math.random;
  const maxDelayMs = opts.maxDelayMs ?? 30_000;
  const delayFor = (retry: number) => Math.floor(random() * Math.min(maxDelayMs, opts.baseDelayMs * 2 ** retry));

  async function retry<T>(op: (attempt: number) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await op(attempt);
      } catch (err) {
        if (attempt + 1 >= opts.attempts || !isRetryable(err)) throw err;
        await sleep(delayFor(attempt));
      }
    }
  }

  return {
    put: (key, body, putOpts) =>
      retry(async (attempt) => {
        try {
          await store.put(key, body, putOpts);
        } catch (err) {
          if (attempt > 0 && putOpts?.ifNoneMatch && err instanceof ObjectExistsError) {
            // Did our own earlier attempt get through?
            const existing = await store.get(key).catch(() => null);
            if (existing !== null && bytesEqual(existing, body)) return;
          }
          throw err;
        }
      }),
    get: (key, alloc) => retry(() => store.get(key, alloc)),
    getRange: (key, offset, length) =>
      retry(async () => {
        const bytes = await store.getRange(key, offset, length);
        if (bytes.length !== length) throw new TruncatedReadError(key, length, bytes.length);
        return bytes;
      }),
    head: (key) => retry(() => store.head(key)),
    delete: (key) => retry(() => store.delete(key)),
    list: (prefix) => ({
      async *[Symbol.asyncIterator]() {
        const seen = new Set<string>();
        for (let attempt = 0; ; attempt++) {
          try {
            for await (const entry of store.list(prefix)) {
              if (seen.has(entry.key)) continue;
              seen.add(entry.key);
              yield entry;
            }
            return;
          } catch (err) {
            if (attempt + 1 >= opts.attempts || !isRetryable(err)) throw err;
            await sleep(delayFor(attempt));
          }
        }
      },
    }),
  };
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}
