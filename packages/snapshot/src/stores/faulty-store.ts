import type { Allocate, ObjectStore } from "../object-store.ts";
import type { ListEntry } from "./keys.ts";

export type StoreOp = "put" | "get" | "getRange" | "head" | "list" | "delete";

/** What happens to one call. Faults apply before the call (errors, latency) or to its result (truncate). */
export type Fault =
  | { kind: "ok" }
  | { kind: "error"; retryable: boolean }
  | { kind: "latency"; ms: number }
  /** get/getRange return only the first `keep` bytes (default: a random shorter length). */
  | { kind: "truncate"; keep?: number };

/** Per-operation probabilities for random faults, each in [0, 1]; checked in this order. */
export interface FaultRates {
  retryableError?: number;
  permanentError?: number;
  truncate?: number;
  latency?: number;
  /** Latency added when `latency` fires. Default 10 ms. */
  latencyMs?: number;
}

export interface FaultyStoreOptions {
  /** Seed for the deterministic PRNG behind `rates`. Default 1. */
  seed?: number;
  rates?: Partial<Record<StoreOp, FaultRates>>;
  /** Explicit faults per operation, used in order before `rates` apply (a script for one test). */
  schedule?: Partial<Record<StoreOp, Fault[]>>;
  /** Injected for tests; latency faults call it. Default: setTimeout. */
  sleep?: (ms: number) => Promise<void>;
}

/** An error a FaultyStore made up. `retryable` is what isRetryableError reads. */
export class InjectedFaultError extends Error {
  constructor(
    readonly op: StoreOp,
    readonly key: string,
    readonly retryable: boolean,
    why = retryable ? "injected transient fault" : "injected permanent fault",
  ) {
    super(`${why}: ${op} ${key}`);
  }
}

/**
 * A test wrapper that breaks a real store on purpose, deterministically: by a
 * seeded PRNG (`rates`), by an explicit per-operation `schedule`, and by
 * `failAfter(n)` (after n more operations every call throws a permanent
 * error and touches nothing — a process that crashed mid-upload).
 * `calls` records every operation in order, for assertions.
 */
export class FaultyStore implements ObjectStore {
  readonly calls: { op: StoreOp; key: string; fault: Fault["kind"] }[] = [];
  private readonly random: () => number;
  private readonly schedule: Partial<Record<StoreOp, Fault[]>>;
  private readonly sleep: (ms: number) => Promise<void>;
  private remainingBeforeCrash: number | null = null;

  constructor(
    readonly inner: ObjectStore,
    private readonly opts: FaultyStoreOptions = {},
  ) {
    this.random = mulberry32(opts.seed ?? 1);
    this.schedule = Object.fromEntries(Object.entries(opts.schedule ?? {}).map(([op, faults]) => [op, [...faults]]));
    this.sleep = opts.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** The next `n` operations run (subject to other faults); every one after that throws. */
  failAfter(n: number): void {
    this.remainingBeforeCrash = n;
  }

  /** Undoes failAfter(): the store works again (a restarted process). */
  recover(): void {
    this.remainingBeforeCrash = null;
  }

  /** Queues faults for an operation's next calls. */
  inject(op: StoreOp, ...faults: Fault[]): void {
    (this.schedule[op] ??= []).push(...faults);
  }

  async put(key: string, body: Uint8Array, opts?: { ifNoneMatch?: boolean }): Promise<void> {
    await this.before("put", key);
    return this.inner.put(key, body, opts);
  }

  async get(key: string, alloc?: Allocate): Promise<Uint8Array> {
    const fault = await this.before("get", key);
    return this.truncated(fault, await this.inner.get(key, alloc));
  }

  async getRange(key: string, offset: number, length: number): Promise<Uint8Array> {
    const fault = await this.before("getRange", key);
    return this.truncated(fault, await this.inner.getRange(key, offset, length));
  }

  async head(key: string): Promise<{ size: number } | null> {
    await this.before("head", key);
    return this.inner.head(key);
  }

  async *list(prefix: string): AsyncIterable<ListEntry> {
    await this.before("list", prefix);
    yield* this.inner.list(prefix);
  }

  async delete(key: string): Promise<void> {
    await this.before("delete", key);
    return this.inner.delete(key);
  }

  /** Decides this call's fault, records it, and applies errors and latency. */
  private async before(op: StoreOp, key: string): Promise<Fault> {
    if (this.remainingBeforeCrash !== null) {
      if (this.remainingBeforeCrash <= 0) {
        this.calls.push({ op, key, fault: "error" });
        throw new InjectedFaultError(op, key, false, "store crashed (failAfter)");
      }
      this.remainingBeforeCrash--;
    }
    const fault = this.nextFault(op);
    this.calls.push({ op, key, fault: fault.kind });
    if (fault.kind === "error") throw new InjectedFaultError(op, key, fault.retryable);
    if (fault.kind === "latency") await this.sleep(fault.ms);
    return fault;
  }

  private nextFault(op: StoreOp): Fault {
    const scheduled = this.schedule[op]?.shift();
    if (scheduled) return scheduled;
    const rates = this.opts.rates?.[op];
    if (!rates) return { kind: "ok" };
    // Always draw once per call so one op's outcome does not shift the others' sequence.
    const r = this.random();
    let edge = 0;
    if (r < (edge += rates.retryableError ?? 0)) return { kind: "error", retryable: true };
    if (r < (edge += rates.permanentError ?? 0)) return { kind: "error", retryable: false };
    if ((op === "get" || op === "getRange") && r < (edge += rates.truncate ?? 0)) return { kind: "truncate" };
    if (r < (edge += rates.latency ?? 0)) return { kind: "latency", ms: rates.latencyMs ?? 10 };
    return { kind: "ok" };
  }

  private truncated(fault: Fault, bytes: Uint8Array): Uint8Array {
    if (fault.kind !== "truncate" || bytes.length === 0) return bytes;
    const keep = Math.min(fault.keep ?? Math.floor(this.random() * bytes.length), bytes.length - 1);
    return bytes.subarray(0, Math.max(0, keep));
  }
}

/** A small seeded PRNG (mulberry32): uniform [0, 1), the same sequence for the same seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
