import { mkdtempSync, promises as fs, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runObjectStoreSuite } from "./conformance.ts";
import { DirectoryStore } from "./dir-store.ts";
import { TEMP_PREFIX } from "./keys.ts";

const tempRoots: string[] = [];
function makeRoot(): string {
  const root = mkdtempSync(join(tmpdir(), "daybox-dir-store-"));
  tempRoots.push(root);
  return root;
}
afterEach(() => {
  for (const root of tempRoots.splice(0)) rmSync(root, { recursive: true, force: true });
});

runObjectStoreSuite("DirectoryStore", async () => {
  const root = mkdtempSync(join(tmpdir(), "daybox-dir-store-"));
  return { store: new DirectoryStore(root), cleanup: () => fs.rm(root, { recursive: true, force: true }) };
});

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1)).sort();
}

describe("DirectoryStore specifics", () => {
  it("stores key a/b/c as the file <root>/a/b/c and leaves no temp files", async () => {
    const root = makeRoot();
    const store = new DirectoryStore(root);
    await store.put("a/b/c", new Uint8Array([1, 2, 3]));
    await store.put("a/b/c", new Uint8Array([4]));
    await store.put("a/m", new Uint8Array([5]), { ifNoneMatch: true });
    await store.put("a/m", new Uint8Array([6]), { ifNoneMatch: true }).catch(() => undefined);
    expect(await filesUnder(root)).toEqual(["a/b/c", "a/m"]);
    expect([...(await fs.readFile(join(root, "a/b/c")))]).toEqual([4]);
  });

  it("list skips temp files left behind by a crashed writer", async () => {
    const root = makeRoot();
    const store = new DirectoryStore(root);
    await store.put("packs/aa/p1", new Uint8Array(3));
    await fs.writeFile(join(root, "packs/aa", `${TEMP_PREFIX}deadbeef`), "partial");
    const keys: string[] = [];
    for await (const e of store.list("")) keys.push(e.key);
    expect(keys).toEqual(["packs/aa/p1"]);
  });

  it("lists in UTF-8 byte order, like S3", async () => {
    const store = new DirectoryStore(makeRoot());
    const keys = ["a/b", "a-c", "a0", "a/a/z", "b", "\u00e9", "z"];
    for (const k of keys) await store.put(k, new Uint8Array(1));
    const listed: string[] = [];
    for await (const e of store.list("")) listed.push(e.key);
    expect(listed).toEqual([...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
  });

  it("a put that cannot be placed fails naming the key and cleans up its temp file", async () => {
    const root = makeRoot();
    const store = new DirectoryStore(root);
    await store.put("file", new Uint8Array(1));
    await expect(store.put("file/child", new Uint8Array(1))).rejects.toThrow("put file/child");
    await store.put("dir/child", new Uint8Array(1));
    await expect(store.put("dir", new Uint8Array(1))).rejects.toThrow("put dir");
    expect(await filesUnder(root)).toEqual(["dir/child", "file"]);
  });

  it("delete prunes directories it emptied, but not the root", async () => {
    const root = makeRoot();
    const store = new DirectoryStore(root);
    await store.put("p/q/r", new Uint8Array(1));
    await store.put("p/s", new Uint8Array(1));
    await store.delete("p/q/r");
    expect(await fs.readdir(join(root, "p"))).toEqual(["s"]);
    await store.delete("p/s");
    expect(await fs.readdir(root)).toEqual([]);
  });

  it("a root that does not exist yet lists nothing and is created on first put", async () => {
    const root = join(makeRoot(), "not", "yet");
    const store = new DirectoryStore(root);
    const keys: string[] = [];
    for await (const e of store.list("")) keys.push(e.key);
    expect(keys).toEqual([]);
    await store.put("k", new Uint8Array(2));
    expect(await store.head("k")).toEqual({ size: 2 });
  });

  it("refuses a relative root", () => {
    expect(() => new DirectoryStore("relative/dir")).toThrow(/absolute/);
  });
});
