import { randomBytes } from "node:crypto";
import { type Dirent, promises as fs } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { bufferFor, ObjectExistsError, ObjectNotFoundError, type Allocate, type ObjectStore } from "../object-store.ts";
import { assertByteCount, assertValidKey, assertValidPrefix, rangePastEnd, TEMP_PREFIX, type ListEntry } from "./keys.ts";

/**
 * An ObjectStore in a local directory: key "a/b/c" is the file <root>/a/b/c.
 * The embedded default (`daybox up`) and the reference implementation the
 * conformance suite is checked against.
 *
 * - put() writes a temp file in the target's directory, fsyncs it, then
 *   rename()s it into place (atomic replace) or, with `ifNoneMatch`, link()s it
 *   (fails with EEXIST if the key exists, so of concurrent writers exactly one
 *   wins), then fsyncs the directory. Temp files start with ".daybox-tmp-" and
 *   list() skips them; a crash can leave one behind, never a partial object.
 * - Unlike S3, a key cannot also be a "directory" of other keys ("a" and "a/b"
 *   cannot both exist); putting such a key fails. The snapshot layout never
 *   does this.
 * - list() yields keys in UTF-8 byte order, like S3; lastModified is the
 *   file's mtime (set when put() wrote it).
 * - Errors other than ObjectNotFoundError/ObjectExistsError are the file
 *   system's (wrapped with the operation and key); none are worth retrying.
 */
export class DirectoryStore implements ObjectStore {
  readonly root: string;

  constructor(root: string) {
    if (!isAbsolute(root)) throw new Error(`directory store root must be an absolute path, got ${JSON.stringify(root)}`);
    this.root = resolve(root);
  }

  async put(key: string, body: Uint8Array, opts?: { ifNoneMatch?: boolean }): Promise<void> {
    const target = this.pathOf(key);
    const dir = dirname(target);
    const temp = join(dir, `${TEMP_PREFIX}${randomBytes(8).toString("hex")}`);
    try {
      await writeDurably(dir, temp, body);
      try {
        if (opts?.ifNoneMatch) {
          // link() never replaces an existing name: the atomic "create if absent".
          await fs.link(temp, target);
        } else {
          await fs.rename(temp, target);
        }
      } catch (err) {
        if (opts?.ifNoneMatch && errnoOf(err) === "EEXIST") throw new ObjectExistsError(key);
        throw err;
      }
      await syncDirectory(dir);
    } catch (err) {
      if (err instanceof ObjectExistsError) throw err;
      throw new Error(`put ${key}`, { cause: err });
    } finally {
      // After a rename the temp name is gone; after link() or a failure it is not.
      await fs.rm(temp, { force: true }).catch(() => undefined);
    }
  }

  async get(key: string, alloc?: Allocate): Promise<Uint8Array> {
    const path = this.pathOf(key);
    try {
      if (!alloc) return new Uint8Array(await fs.readFile(path));
      return await readInto(path, alloc);
    } catch (err) {
      if (isMissing(err)) throw new ObjectNotFoundError(key);
      throw new Error(`get ${key}`, { cause: err });
    }
  }

  async getRange(key: string, offset: number, length: number): Promise<Uint8Array> {
    const path = this.pathOf(key);
    assertByteCount("getRange offset", offset);
    assertByteCount("getRange length", length);
    let file: fs.FileHandle;
    try {
      file = await fs.open(path, "r");
    } catch (err) {
      if (isMissing(err)) throw new ObjectNotFoundError(key);
      throw new Error(`get range of ${key}`, { cause: err });
    }
    try {
      const st = await file.stat();
      if (!st.isFile()) throw new ObjectNotFoundError(key);
      const size = st.size;
      if (offset + length > size) throw rangePastEnd(key, offset, length, size);
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await file.read(out, done, length - done, offset + done);
        if (bytesRead === 0) throw rangePastEnd(key, offset, length, offset + done); // shrank under us
        done += bytesRead;
      }
      return out;
    } finally {
      await file.close();
    }
  }

  async head(key: string): Promise<{ size: number } | null> {
    const path = this.pathOf(key);
    try {
      const st = await fs.stat(path);
      return st.isFile() ? { size: st.size } : null;
    } catch (err) {
      if (isMissing(err)) return null;
      throw new Error(`head ${key}`, { cause: err });
    }
  }

  async *list(prefix: string): AsyncIterable<ListEntry> {
    assertValidPrefix(prefix);
    yield* this.walk("", prefix);
  }

  async delete(key: string): Promise<void> {
    const path = this.pathOf(key);
    try {
      await fs.unlink(path);
    } catch (err) {
      if (isMissing(err)) return;
      throw new Error(`delete ${key}`, { cause: err });
    }
    await this.pruneEmptyParents(dirname(path));
  }

  /** `rel` is "" or a directory relative to the root ending in '/'. */
  private async *walk(rel: string, prefix: string): AsyncGenerator<ListEntry> {
    let entries: Dirent[];
    try {
      entries = await fs.readdir(join(this.root, rel), { withFileTypes: true });
    } catch (err) {
      if (isMissing(err)) return;
      throw new Error(`list ${prefix}`, { cause: err });
    }
    // Sorting a directory's entries as "name" (file) or "name/" (directory)
    // makes the depth-first walk emit whole keys in byte order.
    const named = entries
      .filter((e) => (e.isFile() || e.isDirectory()) && !e.name.startsWith(TEMP_PREFIX))
      .map((e) => ({ e, sortKey: Buffer.from(e.isDirectory() ? `${e.name}/` : e.name) }))
      .sort((a, b) => Buffer.compare(a.sortKey, b.sortKey));
    for (const { e } of named) {
      const key = rel + e.name;
      if (e.isDirectory()) {
        const sub = `${key}/`;
        if (sub.startsWith(prefix) || prefix.startsWith(sub)) yield* this.walk(sub, prefix);
      } else if (key.startsWith(prefix)) {
        try {
          const st = await fs.stat(join(this.root, key));
          yield { key, size: st.size, lastModified: st.mtime };
        } catch (err) {
          if (!isMissing(err)) throw new Error(`list ${prefix}`, { cause: err });
          // deleted while we were listing: it is simply not there any more
        }
      }
    }
  }

  /** Removes directories emptied by delete() so the name can become a key again. */
  private async pruneEmptyParents(dir: string): Promise<void> {
    while (dir !== this.root && dir.startsWith(this.root)) {
      try {
        await fs.rmdir(dir);
      } catch {
        return; // not empty (or already gone): stop
      }
      dir = dirname(dir);
    }
  }

  private pathOf(key: string): string {
    assertValidKey(key);
    return join(this.root, ...key.split("/"));
  }
}

/** Writes body to a new file at `temp` (creating `dir`) and fsyncs it. */
async function writeDurably(dir: string, temp: string, body: Uint8Array): Promise<void> {
  // A concurrent delete() may prune the directory between mkdir and open: retry.
  for (let attempt = 0; ; attempt++) {
    await fs.mkdir(dir, { recursive: true });
    let file: fs.FileHandle;
    try {
      file = await fs.open(temp, "wx");
    } catch (err) {
      if (errnoOf(err) === "ENOENT" && attempt < 5) continue;
      throw err;
    }
    try {
      await file.writeFile(body);
      await file.sync();
    } finally {
      await file.close();
    }
    return;
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await fs.open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function errnoOf(err: unknown): string | undefined {
  return typeof err === "object" && err !== null && "code" in err && typeof err.code === "string" ? err.code : undefined;
}

/** ENOTDIR/EISDIR: a path component is a file, or the key names a "directory" of other keys. */
function isMissing(err: unknown): boolean {
  const code = errnoOf(err);
  return code === "ENOENT" || code === "ENOTDIR" || code === "EISDIR";
}

/** A whole file read into the buffer `alloc` gives for its size (objects are immutable: the size holds). */
export async function readInto(file: string, alloc: Allocate): Promise<Uint8Array> {
  const fh = await fs.open(file, "r");
  try {
    const size = (await fh.stat()).size;
    const buf = bufferFor(size, alloc);
    let at = 0;
    while (at < size) {
      const { bytesRead } = await fh.read(buf, at, size - at, at);
      if (bytesRead === 0) throw new Error(`${file} ended after ${at} of ${size} bytes`);
      at += bytesRead;
    }
    return buf;
  } finally {
    await fh.close();
  }
}
