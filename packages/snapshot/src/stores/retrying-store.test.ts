import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ObjectExistsError, ObjectNotFoundError, type ObjectStore } from "../object-store.ts";
import { DirectoryStore } from "./dir-store.ts";
import { FaultyStore, InjectedFaultError } from "./faulty-store.ts";
import { isRetryableError, TruncatedReadError, withRetries } from "./retrying-store.ts";

const roots: string[] = [];
function dirStore(): DirectoryStore {
  const root = mkdtempSync(join(tmpdir(), "daybox-retry-"));
  roots.push(root);
  return new DirectoryStore(root);
}
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

/** A fake clock's sleep: records delays, never waits. */
function recordingSleep() {
  const delays: number[] = [];
  return { delays, sleep: async (ms: number) => void delays.push(ms) };
}

const s3Error = (status: number, name = "S3Error") => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
const netError = (code: string) => Object.assign(new Error(`connect ${code}`), { code });
const bytes = (s: string) => new TextEncoder().encode(s);

describe("isRetryableError", () => {
  it.each([
    ["503 SlowDown", s3Error(503, "SlowDown"), true],
    ["500 InternalError", s3Error(500, "InternalError"), true],
    ["429 throttling", s3Error(429, "TooManyRequests"), true],
    ["408 request timeout", s3Error(408, "RequestTimeout"), true],
    ["SlowDown without a status", Object.assign(new Error("x"), { name: "SlowDown" }), true],
    ["ECONNRESET", netError("ECONNRESET"), true],
    ["ETIMEDOUT", netError("ETIMEDOUT"), true],
    ["a store-wrapped 503", new Error("put k", { cause: s3Error(503) }), true],
    ["a doubly wrapped reset", new Error("a", { cause: new Error("b", { cause: netError("ECONNRESET") }) }), true],
    ["an injected transient fault", new InjectedFaultError("get", "k", true), true],
    ["a truncated read", new TruncatedReadError("k", 10, 3), true],
    ["an error marked retryable", Object.assign(new Error("get k: checksum mismatch"), { retryable: true }), true],
    ["ObjectNotFoundError", new ObjectNotFoundError("k"), false],
    ["ObjectExistsError", new ObjectExistsError("k"), false],
    ["409 ConditionalRequestConflict", s3Error(409, "ConditionalRequestConflict"), true],
    ["409 BucketAlreadyExists", s3Error(409, "BucketAlreadyExists"), false],
    ["403 AccessDenied", s3Error(403, "AccessDenied"), false],
    ["404 NoSuchBucket", s3Error(404, "NoSuchBucket"), false],
    ["412 PreconditionFailed", s3Error(412, "PreconditionFailed"), false],
    ["a store-wrapped 400", new Error("put k", { cause: s3Error(400) }), false],
    ["an injected permanent fault", new InjectedFaultError("put", "k", false), false],
    ["ENOSPC", netError("ENOSPC"), false],
    ["a plain Error", new Error("boom"), false],
    ["a string", "boom", false],
    ["undefined", undefined, false],
  ])("%s → %s", (_label, err, expected) => {
    expect(isRetryableError(err)).toBe(expected);
  });
});

describe("withRetries", () => {
  it("retries transient errors with exponential backoff and full jitter until success", async () => {
    const inner = new FaultyStore(dirStore());
    inner.inject("put", ...Array.from({ length: 4 }, () => ({ kind: "error" as const, retryable: true })));
    const { delays, sleep } = recordingSleep();
    const store = withRetries(inner, { attempts: 5, baseDelayMs: 100, sleep, random: () => 0.5 });
    await store.put("k", bytes("v"));
    expect(delays).toEqual([50, 100, 200, 400]);
    expect(inner.calls.map((c) => c.fault)).toEqual(["error", "error", "error", "error", "ok"]);
    expect(await store.get("k")).toEqual(bytes("v"));
  });

  it("caps each delay at maxDelayMs and draws jitter from [0, cap)", async () => {
    const inner = new FaultyStore(dirStore());
    inner.inject("head", ...Array.from({ length: 6 }, () => ({ kind: "error" as const, retryable: true })));
    const { delays, sleep } = recordingSleep();
    const draws = [0, 0.999, 0.25, 0.999, 0.999, 0.999];
    const store = withRetries(inner, { attempts: 7, baseDelayMs: 100, maxDelayMs: 1000, sleep, random: () => draws.shift()! });
    expect(await store.head("k")).toBeNull();
    expect(delays).toEqual([0, 199, 100, 799, 999, 999]);
  });

  it("gives up after `attempts` tries and throws the last error", async () => {
    const inner = new FaultyStore(dirStore(), { rates: { get: { retryableError: 1 } } });
    const { delays, sleep } = recordingSleep();
    const store = withRetries(inner, { attempts: 3, baseDelayMs: 10, sleep });
    await expect(store.get("k")).rejects.toMatchObject({ retryable: true, op: "get" });
    expect(inner.calls).toHaveLength(3);
    expect(delays).toHaveLength(2);
  });

  it.each([
    ["a permanent fault", (s: FaultyStore) => s.inject("get", { kind: "error", retryable: false }), InjectedFaultError],
    ["ObjectNotFoundError", () => undefined, ObjectNotFoundError],
  ])("does not retry %s", async (_label, arrange, errorClass) => {
    const inner = new FaultyStore(dirStore());
    arrange(inner);
    const { delays, sleep } = recordingSleep();
    const store = withRetries(inner, { attempts: 5, baseDelayMs: 10, sleep });
    await expect(store.get("missing")).rejects.toBeInstanceOf(errorClass);
    expect(inner.calls).toHaveLength(1);
    expect(delays).toEqual([]);
  });

  it("does not retry ObjectExistsError from a first ifNoneMatch attempt", async () => {
    const inner = new FaultyStore(dirStore());
    const store = withRetries(inner, { attempts: 5, baseDelayMs: 10, sleep: recordingSleep().sleep });
    await store.put("m", bytes("one"), { ifNoneMatch: true });
    await expect(store.put("m", bytes("one"), { ifNoneMatch: true })).rejects.toBeInstanceOf(ObjectExistsError);
  });

  it("uses a custom isRetryable", async () => {
    const inner = new FaultyStore(dirStore());
    inner.inject("head", { kind: "error", retryable: false });
    const store = withRetries(inner, { attempts: 2, baseDelayMs: 1, sleep: recordingSleep().sleep, isRetryable: () => true });
    expect(await store.head("k")).toBeNull();
    expect(inner.calls).toHaveLength(2);
  });

  it("treats a short getRange as a transient TruncatedReadError", async () => {
    const inner = new FaultyStore(dirStore());
    await inner.put("k", bytes("0123456789"));
    inner.inject("getRange", { kind: "truncate", keep: 3 });
    const store = withRetries(inner, { attempts: 2, baseDelayMs: 1, sleep: recordingSleep().sleep });
    expect(await store.getRange("k", 2, 5)).toEqual(bytes("23456"));

    inner.inject("getRange", { kind: "truncate", keep: 1 }, { kind: "truncate", keep: 2 });
    const err = await store.getRange("k", 2, 5).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TruncatedReadError);
    expect(err).toMatchObject({ key: "k", expected: 5, got: 2 });
  });

  it("an ifNoneMatch put whose reply was lost succeeds on retry when the stored bytes are ours", async () => {
    const inner = dirStore();
    let lose = true;
    // The write lands, then the connection drops before the answer arrives.
    const lossy: ObjectStore = Object.assign(Object.create(inner) as DirectoryStore, {
      put: async (key: string, body: Uint8Array, opts?: { ifNoneMatch?: boolean }) => {
        await inner.put(key, body, opts);
        if (lose) {
          lose = false;
          throw new Error(`put ${key}`, { cause: netError("ECONNRESET") });
        }
      },
    });
    const store = withRetries(lossy, { attempts: 3, baseDelayMs: 1, sleep: recordingSleep().sleep });
    await store.put("snapshots/s1", bytes("manifest"), { ifNoneMatch: true });
    expect(await inner.get("snapshots/s1")).toEqual(bytes("manifest"));

    // Someone else's bytes under the key: still ObjectExistsError.
    await inner.put("snapshots/s2", bytes("theirs"));
    lose = true;
    const lossyOther: ObjectStore = Object.assign(Object.create(inner) as DirectoryStore, {
      put: async (key: string, _body: Uint8Array, _opts?: { ifNoneMatch?: boolean }) => {
        if (lose) {
          lose = false;
          throw new Error(`put ${key}`, { cause: netError("ECONNRESET") });
        }
        throw new ObjectExistsError(key);
      },
    });
    const store2 = withRetries(lossyOther, { attempts: 3, baseDelayMs: 1, sleep: recordingSleep().sleep });
    await expect(store2.put("snapshots/s2", bytes("ours"), { ifNoneMatch: true })).rejects.toBeInstanceOf(ObjectExistsError);
  });

  it("a list that fails midway restarts and yields every key exactly once", async () => {
    const inner = dirStore();
    for (const k of ["p/1", "p/2", "p/3", "p/4"]) await inner.put(k, bytes(k));
    let failuresLeft = 2;
    const flaky: ObjectStore = Object.assign(Object.create(inner) as DirectoryStore, {
      list: async function* (prefix: string) {
        let n = 0;
        for await (const e of inner.list(prefix)) {
          if (++n === 3 && failuresLeft-- > 0) throw new InjectedFaultError("list", prefix, true);
          yield e;
        }
      },
    });
    const store = withRetries(flaky, { attempts: 3, baseDelayMs: 1, sleep: recordingSleep().sleep });
    const keys: string[] = [];
    for await (const e of store.list("p/")) keys.push(e.key);
    expect(keys).toEqual(["p/1", "p/2", "p/3", "p/4"]);
  });

  it("a list that keeps failing throws after `attempts` tries", async () => {
    const inner = new FaultyStore(dirStore(), { rates: { list: { retryableError: 1 } } });
    const store = withRetries(inner, { attempts: 2, baseDelayMs: 1, sleep: recordingSleep().sleep });
    const drain = async () => {
      for await (const _ of store.list("")) void _;
    };
    await expect(drain()).rejects.toBeInstanceOf(InjectedFaultError);
    expect(inner.calls).toHaveLength(2);
  });

  it("refuses attempts < 1", () => {
    expect(() => withRetries(dirStore(), { attempts: 0, baseDelayMs: 1 })).toThrow(/attempts/);
  });
});
