import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ObjectNotFoundError } from "../object-store.ts";
import { testBytes } from "./conformance.ts";
import { DirectoryStore } from "./dir-store.ts";
import { FaultyStore, InjectedFaultError, mulberry32, type FaultyStoreOptions } from "./faulty-store.ts";
import { withRetries } from "./retrying-store.ts";

const roots: string[] = [];
function dirStore(): DirectoryStore {
  const root = mkdtempSync(join(tmpdir(), "daybox-faulty-"));
  roots.push(root);
  return new DirectoryStore(root);
}
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

const noSleep = async () => undefined;
const bytes = (s: string) => new TextEncoder().encode(s);

/** The fault kinds `n` head() calls meet under these options. */
async function faultSequence(opts: FaultyStoreOptions, n: number): Promise<string[]> {
  const store = new FaultyStore(dirStore(), { sleep: noSleep, ...opts });
  for (let i = 0; i < n; i++) await store.head("k").catch(() => undefined);
  return store.calls.map((c) => c.fault);
}

describe("mulberry32", () => {
  it("is deterministic per seed and uniform-ish in [0, 1)", () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const xs = Array.from({ length: 10_000 }, () => a());
    expect(Array.from({ length: 10_000 }, () => b())).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(mean).toBeGreaterThan(0.48);
    expect(mean).toBeLessThan(0.52);
    expect(mulberry32(43)()).not.toBe(mulberry32(42)());
  });
});

describe("FaultyStore", () => {
  it("passes everything through when given no faults", async () => {
    const store = new FaultyStore(dirStore());
    await store.put("a/b", bytes("hello"));
    expect(await store.get("a/b")).toEqual(bytes("hello"));
    expect(await store.getRange("a/b", 1, 3)).toEqual(bytes("ell"));
    expect(await store.head("a/b")).toEqual({ size: 5 });
    const listed = [];
    for await (const e of store.list("a/")) listed.push(e);
    expect(listed).toEqual([{ key: "a/b", size: 5, lastModified: expect.any(Date) }]);
    await store.delete("a/b");
    await expect(store.get("a/b")).rejects.toBeInstanceOf(ObjectNotFoundError);
    expect(store.calls.map((c) => `${c.op}:${c.fault}`)).toEqual([
      "put:ok",
      "get:ok",
      "getRange:ok",
      "head:ok",
      "list:ok",
      "delete:ok",
      "get:ok",
    ]);
  });

  it("follows an explicit schedule per operation, then works normally", async () => {
    const sleeps: number[] = [];
    const store = new FaultyStore(dirStore(), {
      sleep: async (ms) => void sleeps.push(ms),
      schedule: {
        put: [{ kind: "error", retryable: true }, { kind: "latency", ms: 250 }],
        head: [{ kind: "error", retryable: false }],
      },
    });
    const first = await store.put("k", bytes("v")).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(InjectedFaultError);
    expect(first).toMatchObject({ op: "put", key: "k", retryable: true });
    await expect(store.head("k")).rejects.toMatchObject({ op: "head", retryable: false });
    expect(await store.head("k")).toBeNull(); // head's schedule is used up
    await store.put("k", bytes("v"));
    expect(sleeps).toEqual([250]);
    await store.put("k", bytes("v2"));
    expect(store.calls.map((c) => `${c.op}:${c.fault}`)).toEqual(["put:error", "head:error", "head:ok", "put:latency", "put:ok"]);
  });

  it("a failed injected put writes nothing", async () => {
    const inner = dirStore();
    const store = new FaultyStore(inner, { schedule: { put: [{ kind: "error", retryable: true }] } });
    await expect(store.put("k", bytes("v"))).rejects.toBeInstanceOf(InjectedFaultError);
    expect(await inner.head("k")).toBeNull();
  });

  it("truncates reads: get and getRange return fewer bytes than stored", async () => {
    const store = new FaultyStore(dirStore(), { seed: 9 });
    const body = testBytes(1000, 1);
    await store.put("k", body);
    store.inject("get", { kind: "truncate", keep: 10 }, { kind: "truncate" });
    store.inject("getRange", { kind: "truncate", keep: 5000 });
    expect(await store.get("k")).toEqual(body.subarray(0, 10));
    const random = await store.get("k");
    expect(random.length).toBeLessThan(1000);
    expect(random).toEqual(body.subarray(0, random.length));
    expect((await store.getRange("k", 100, 50)).length).toBe(49); // keep beyond the end still drops a byte
    expect(await store.get("k")).toEqual(body);
  });

  it("failAfter(n): the next n operations work, every later one throws a permanent error and touches nothing", async () => {
    const inner = dirStore();
    const store = new FaultyStore(inner);
    store.failAfter(2);
    await store.put("packs/1", bytes("a"));
    await store.put("packs/2", bytes("b"));
    for (let i = 0; i < 3; i++) {
      const err = await store.put(`packs/${3 + i}`, bytes("c")).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InjectedFaultError);
      expect(err).toMatchObject({ retryable: false });
      expect((err as Error).message).toContain("crashed");
    }
    await expect(store.get("packs/1")).rejects.toBeInstanceOf(InjectedFaultError);
    expect(await inner.head("packs/3")).toBeNull();
    store.recover();
    expect(await store.get("packs/1")).toEqual(bytes("a"));
  });

  it("the same seed and rates give the same faults; another seed gives others", async () => {
    const rates = { head: { retryableError: 0.2, permanentError: 0.1, latency: 0.2 } };
    const a = await faultSequence({ seed: 7, rates }, 200);
    expect(await faultSequence({ seed: 7, rates }, 200)).toEqual(a);
    expect(await faultSequence({ seed: 8, rates }, 200)).not.toEqual(a);
  });

  it("rates are honoured roughly", async () => {
    const seq = await faultSequence({ seed: 3, rates: { head: { retryableError: 0.3, latency: 0.2 } } }, 2000);
    const share = (kind: string) => seq.filter((k) => k === kind).length / seq.length;
    expect(share("error")).toBeGreaterThan(0.25);
    expect(share("error")).toBeLessThan(0.35);
    expect(share("latency")).toBeGreaterThan(0.15);
    expect(share("latency")).toBeLessThan(0.25);
  });

  it("with withRetries on top, transient faults and truncated ranges are invisible to the caller", async () => {
    const faulty = new FaultyStore(dirStore(), {
      seed: 11,
      sleep: noSleep,
      rates: {
        put: { retryableError: 0.3 },
        get: { retryableError: 0.3 },
        getRange: { retryableError: 0.2, truncate: 0.2 },
        head: { retryableError: 0.3 },
        list: { retryableError: 0.3 },
        delete: { retryableError: 0.3 },
      },
    });
    const store = withRetries(faulty, { attempts: 20, baseDelayMs: 1, sleep: noSleep });
    const bodies = new Map(Array.from({ length: 30 }, (_, i) => [`packs/${i}`, testBytes(100 + i, i)]));
    for (const [k, b] of bodies) await store.put(k, b);
    for (const [k, b] of bodies) {
      expect(await store.get(k)).toEqual(b);
      expect(await store.getRange(k, 10, 50)).toEqual(b.subarray(10, 60));
      expect(await store.head(k)).toEqual({ size: b.length });
    }
    const listed: string[] = [];
    for await (const e of store.list("packs/")) listed.push(e.key);
    expect(listed.sort()).toEqual([...bodies.keys()].sort());
    for (const k of bodies.keys()) await store.delete(k);
    expect(faulty.calls.filter((c) => c.fault === "error").length).toBeGreaterThan(20);
    expect(faulty.calls.filter((c) => c.fault === "truncate").length).toBeGreaterThan(3);
  });
});
