import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ObjectExistsError, ObjectNotFoundError, type ObjectStore } from "../object-store.ts";
import { mulberry32 } from "./faulty-store.ts";
import type { ListEntry } from "./keys.ts";
import { withRetries } from "./retrying-store.ts";

const MiB = 1024 * 1024;

export interface SuiteOptions {
  /**
   * Keys to put for the pagination test. Stores should be made with a list
   * page size well below this (the S3 factory uses listPageSize 7) so listing
   * crosses several pages. Default 25.
   */
  paginationKeys?: number;
  /** Timeout for the tests moving 12 MiB objects. Default 60 s. */
  bigObjectTimeoutMs?: number;
}

/** Deterministic pseudo-random bytes (the same for the same seed). */
export function testBytes(size: number, seed: number): Uint8Array {
  const random = mulberry32(seed);
  const words = new Uint32Array(Math.ceil(size / 4));
  for (let i = 0; i < words.length; i++) words[i] = random() * 0x1_0000_0000;
  return new Uint8Array(words.buffer, 0, size);
}

const text = (s: string) => new TextEncoder().encode(s);

/** list() entries without lastModified (checked on its own, it is not exact). */
async function collect(iterable: AsyncIterable<ListEntry>) {
  const out: { key: string; size: number }[] = [];
  for await (const { key, size } of iterable) out.push({ key, size });
  return out;
}

/** Asserts equality without vitest printing megabytes of diff on failure. */
function expectSameBytes(actual: Uint8Array, expected: Uint8Array) {
  expect(actual.length).toBe(expected.length);
  expect(Buffer.compare(actual, expected), "byte contents differ").toBe(0);
}

/**
 * The ObjectStore contract (see object-store.ts), run against one
 * implementation. `makeStore` returns an empty store for each test and a
 * cleanup that removes what the test wrote. Stores with a multipart threshold
 * should use the smallest one (5 MiB) so the 12 MiB object takes three parts.
 */
export function runObjectStoreSuite(
  name: string,
  makeStore: () => Promise<{ store: ObjectStore; cleanup: () => Promise<void> }>,
  opts: SuiteOptions = {},
): void {
  const paginationKeys = opts.paginationKeys ?? 25;
  const big = { timeout: opts.bigObjectTimeoutMs ?? 60_000 };

  describe(`ObjectStore conformance: ${name}`, () => {
    let store: ObjectStore;
    let cleanup: (() => Promise<void>) | undefined;

    beforeEach(async () => {
      ({ store, cleanup } = await makeStore());
    });
    afterEach(async () => {
      await cleanup?.();
      cleanup = undefined;
    });

    describe("round trips", () => {
      it.each([
        ["empty", new Uint8Array(0)],
        ["small text", text("hello, daybox\n")],
        ["every byte value", Uint8Array.from({ length: 512 }, (_, i) => i % 256)],
        ["1 MiB of random bytes", testBytes(MiB, 7)],
      ])("%s", async (_label, body) => {
        await store.put("objects/a", body);
        expectSameBytes(await store.get("objects/a"), body);
        expect(await store.head("objects/a")).toEqual({ size: body.length });
      });

      it("a 12 MiB object (several parts at a 5 MiB part size) comes back byte for byte", big, async () => {
        const body = testBytes(12 * MiB, 12);
        await store.put("packs/ab/big", body);
        expectSameBytes(await store.get("packs/ab/big"), body);
        expect(await store.head("packs/ab/big")).toEqual({ size: body.length });
        // across the first part boundary, and the tail of the last part
        expectSameBytes(await store.getRange("packs/ab/big", 5 * MiB - 10, 20), body.subarray(5 * MiB - 10, 5 * MiB + 10));
        expectSameBytes(await store.getRange("packs/ab/big", 12 * MiB - 100, 100), body.subarray(12 * MiB - 100));
      });

      it("keys with spaces, unicode and URL-special characters", async () => {
        const key = "snapshots/pröject 1/a+b%20c&d=e?f#g.bin";
        await store.put(key, text("x"));
        expectSameBytes(await store.get(key), text("x"));
        expect(await collect(store.list("snapshots/"))).toEqual([{ key, size: 1 }]);
      });
    });

    describe("getRange", () => {
      const body = testBytes(1000, 3);
      beforeEach(async () => {
        await store.put("r/obj", body);
      });

      it.each([
        ["start", 0, 10],
        ["middle", 400, 123],
        ["end", 990, 10],
        ["the whole object", 0, 1000],
        ["one byte at the end", 999, 1],
        ["nothing, at the end", 1000, 0],
        ["nothing, in the middle", 500, 0],
      ])("reads %s", async (_label, offset, length) => {
        expectSameBytes(await store.getRange("r/obj", offset, length), body.subarray(offset, offset + length));
      });

      it.each([
        ["running past the end", 990, 20],
        ["starting at the end", 1000, 1],
        ["starting past the end", 5000, 10],
        ["empty, past the end", 1001, 0],
      ])("refuses a range %s, naming the key and size", async (_label, offset, length) => {
        const err = await store.getRange("r/obj", offset, length).then(
          () => null,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(Error);
        expect(err).not.toBeInstanceOf(ObjectNotFoundError);
        expect((err as Error).message).toContain("r/obj");
        expect((err as Error).message).toContain("1000");
      });

      it("fails with ObjectNotFoundError for a missing key", async () => {
        await expect(store.getRange("r/missing", 0, 1)).rejects.toBeInstanceOf(ObjectNotFoundError);
        await expect(store.getRange("r/missing", 0, 0)).rejects.toBeInstanceOf(ObjectNotFoundError);
      });
    });

    describe("get and head of missing keys", () => {
      it("get fails with ObjectNotFoundError naming the key", async () => {
        const err = await store.get("nope/missing").catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ObjectNotFoundError);
        expect((err as ObjectNotFoundError).key).toBe("nope/missing");
      });

      it("head returns null, also for a 'directory' of other keys", async () => {
        await store.put("dir/child", text("c"));
        expect(await store.head("nope/missing")).toBeNull();
        expect(await store.head("dir")).toBeNull();
        await expect(store.get("dir")).rejects.toBeInstanceOf(ObjectNotFoundError);
      });
    });

    describe("list", () => {
      const keys = ["index/i1", "packs/aa/p1", "packs/aa/p2", "packs/ab/p3", "packsx", "snapshots/s1"];
      beforeEach(async () => {
        await Promise.all(keys.map((k, i) => store.put(k, new Uint8Array(i + 1))));
      });
      const sizeOf = (k: string) => keys.indexOf(k) + 1;
      const sorted = (entries: { key: string; size: number }[]) => [...entries].sort((a, b) => (a.key < b.key ? -1 : 1));

      it.each([
        ["", keys],
        ["packs/", ["packs/aa/p1", "packs/aa/p2", "packs/ab/p3"]],
        ["packs", ["packs/aa/p1", "packs/aa/p2", "packs/ab/p3", "packsx"]],
        ["packs/a", ["packs/aa/p1", "packs/aa/p2", "packs/ab/p3"]],
        ["packs/aa/", ["packs/aa/p1", "packs/aa/p2"]],
        ["packs/aa/p1", ["packs/aa/p1"]],
        ["nothing/", []],
        ["packs/zz/", []],
      ])("prefix %j yields exactly its keys with sizes", async (prefix, expected) => {
        const listed = await collect(store.list(prefix));
        expect(sorted(listed)).toEqual(expected.map((key) => ({ key, size: sizeOf(key) })));
      });

      it("pages through many keys, each exactly once", async () => {
        const many = Array.from({ length: paginationKeys }, (_, i) => `many/${String(i).padStart(4, "0")}`);
        await Promise.all(many.map((k) => store.put(k, text(k))));
        const listed = await collect(store.list("many/"));
        expect(listed.map((e) => e.key).sort()).toEqual(many);
        expect(listed.every((e) => e.size === e.key.length)).toBe(true);
      });

      it("reports each object's last-modified time", async () => {
        // S3 keeps whole seconds; allow for that and for a little clock skew.
        const before = Date.now();
        await store.put("aged/new", text("n"));
        const after = Date.now();
        const entries: ListEntry[] = [];
        for await (const e of store.list("aged/")) entries.push(e);
        expect(entries).toHaveLength(1);
        const modified = entries[0]!.lastModified;
        expect(modified).toBeInstanceOf(Date);
        expect(modified.getTime()).toBeGreaterThanOrEqual(before - 2_000);
        expect(modified.getTime()).toBeLessThanOrEqual(after + 2_000);
      });

      it("does not show deleted keys", async () => {
        await store.delete("packs/aa/p1");
        expect((await collect(store.list("packs/aa/"))).map((e) => e.key)).toEqual(["packs/aa/p2"]);
      });
    });

    describe("delete", () => {
      it("removes an object and is idempotent", async () => {
        await store.put("d/obj", text("x"));
        await store.delete("d/obj");
        expect(await store.head("d/obj")).toBeNull();
        await expect(store.get("d/obj")).rejects.toBeInstanceOf(ObjectNotFoundError);
        await store.delete("d/obj");
        await store.delete("d/never-existed");
        await store.delete("never/existed/at/all");
      });

      it("leaves siblings alone, and the key can be written again", async () => {
        await store.put("d/a", text("a"));
        await store.put("d/b", text("b"));
        await store.delete("d/a");
        expectSameBytes(await store.get("d/b"), text("b"));
        await store.put("d/a", text("again"));
        expectSameBytes(await store.get("d/a"), text("again"));
      });

      it("a key can become a prefix after its children are deleted and vice versa", async () => {
        await store.put("x/y/z", text("1"));
        await store.delete("x/y/z");
        await store.put("x/y", text("2"));
        expectSameBytes(await store.get("x/y"), text("2"));
        await store.delete("x/y");
        await store.put("x/y/z", text("3"));
        expectSameBytes(await store.get("x/y/z"), text("3"));
      });
    });

    describe("overwrite and ifNoneMatch", () => {
      it("put without ifNoneMatch replaces the object", async () => {
        await store.put("o/k", text("first version, longer"));
        await store.put("o/k", text("second"));
        expectSameBytes(await store.get("o/k"), text("second"));
        expect(await store.head("o/k")).toEqual({ size: 6 });
      });

      it("ifNoneMatch writes a new key and refuses an existing one, leaving it intact", async () => {
        await store.put("m/manifest", text("one"), { ifNoneMatch: true });
        const err = await store.put("m/manifest", text("two"), { ifNoneMatch: true }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ObjectExistsError);
        expect((err as ObjectExistsError).key).toBe("m/manifest");
        expectSameBytes(await store.get("m/manifest"), text("one"));
      });

      it("ifNoneMatch refuses a multi-part-sized object over an existing key", big, async () => {
        await store.put("m/big", text("small"));
        await expect(store.put("m/big", testBytes(12 * MiB, 5), { ifNoneMatch: true })).rejects.toBeInstanceOf(
          ObjectExistsError,
        );
        expectSameBytes(await store.get("m/big"), text("small"));
      });

      it("ifNoneMatch writes a multi-part-sized object to a new key", big, async () => {
        const body = testBytes(12 * MiB, 6);
        await store.put("m/big-new", body, { ifNoneMatch: true });
        expectSameBytes(await store.get("m/big-new"), body);
      });

      it("ifNoneMatch works again after the key is deleted", async () => {
        await store.put("m/again", text("1"), { ifNoneMatch: true });
        await store.delete("m/again");
        await store.put("m/again", text("2"), { ifNoneMatch: true });
        expectSameBytes(await store.get("m/again"), text("2"));
      });

      it("of concurrent ifNoneMatch puts exactly one wins, and its bytes are stored", async () => {
        // Several rounds: a server whose check-then-write is not atomic lets
        // two writers win only some of the time (versitygw v1.7.0: ~1 round in 5).
        for (let round = 0; round < 20; round++) {
          const key = `m/race-${round}`;
          const bodies = Array.from({ length: 8 }, (_, i) => text(`writer ${i} `.repeat(100 + i)));
          const results = await Promise.allSettled(bodies.map((b) => store.put(key, b, { ifNoneMatch: true })));
          const winners = results.flatMap((r, i) => (r.status === "fulfilled" ? [i] : []));
          expect(winners, `winners of round ${round}`).toHaveLength(1);
          for (const r of results) {
            if (r.status === "rejected") expect(r.reason).toBeInstanceOf(ObjectExistsError);
          }
          expectSameBytes(await store.get(key), bodies[winners[0]!]!);
        }
      });

      it("readers of a key being overwritten see one whole version, never a mix", async () => {
        // Reads go through withRetries: a store may fail a racing read with a
        // transient error (versitygw can pair one version's body with the
        // other's checksum header), but must never return a torn object.
        const reader = withRetries(store, { attempts: 10, baseDelayMs: 1 });
        const a = testBytes(256 * 1024, 1);
        const b = testBytes(256 * 1024, 2);
        await store.put("o/atomic", a);
        const ops: Promise<Uint8Array | void>[] = [];
        for (let i = 0; i < 6; i++) {
          ops.push(store.put("o/atomic", i % 2 ? a : b));
          ops.push(reader.get("o/atomic"));
        }
        for (const got of await Promise.all(ops)) {
          if (!got) continue;
          expect(Buffer.compare(got, a) === 0 || Buffer.compare(got, b) === 0, "read a torn object").toBe(true);
        }
      });
    });

    describe("key validation", () => {
      it.each(["", "/abs", "a//b", "a/../b", "..", "a/./b", "trailing/", "nul\0byte"])(
        "rejects %j in every operation, naming it",
        async (key) => {
          const named = expect.objectContaining({ message: expect.stringContaining(JSON.stringify(key)) });
          await expect(store.put(key, text("x"))).rejects.toEqual(named);
          await expect(store.get(key)).rejects.toEqual(named);
          await expect(store.getRange(key, 0, 1)).rejects.toEqual(named);
          await expect(store.head(key)).rejects.toEqual(named);
          await expect(store.delete(key)).rejects.toEqual(named);
        },
      );

      it("rejects an invalid list prefix", async () => {
        await expect(collect(store.list("/abs"))).rejects.toThrow(/invalid list prefix/);
        await expect(collect(store.list("a/../"))).rejects.toThrow(/invalid list prefix/);
      });
    });
  });
}
