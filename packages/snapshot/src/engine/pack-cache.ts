import { mkdir, readdir, readFile, rename, stat, unlink, utimes, writeFile, open } from "node:fs/promises";
import path from "node:path";
import type { Allocate } from "../object-store.ts";
import { readInto } from "../stores/dir-store.ts";

/**
 * Node-local cache of whole packs, bounded in size, least recently used
 * evicted first. Packs are immutable and named by their hash, so a cached
 * pack never goes stale; a corrupt one is caught by chunk verification and
 * dropped. Resuming a session on the node that parked it reads little or
 * nothing from object storage.
 */
export class PackCache {
  #bytes: number | null = null;

  constructor(
    readonly dir: string,
    readonly maxBytes: number,
  ) {}

  #file(id: string) {
    if (!/^[0-9a-f]{64}$/.test(id)) throw new Error(`bad pack id ${id}`);
    return path.join(this.dir, id.slice(0, 2), id);
  }

  async has(id: string): Promise<boolean> {
    return stat(this.#file(id)).then(() => true, () => false);
  }

  /** A cached pack (read into what `alloc` gives, if given), or null. */
  async get(id: string, alloc?: Allocate): Promise<Uint8Array | null> {
    const file = this.#file(id);
    try {
      const data = alloc ? await readInto(file, alloc) : await readFile(file);
      const now = new Date();
      await utimes(file, now, now).catch(() => {});
      return data;
    } catch {
      return null;
    }
  }

  /** Reads part of a cached pack; null when it is not cached. */
  async getRange(id: string, offset: number, length: number): Promise<Buffer | null> {
    let fh;
    try {
      fh = await open(this.#file(id), "r");
    } catch {
      return null;
    }
    try {
      const buf = Buffer.allocUnsafe(length);
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      return bytesRead === length ? buf : null;
    } finally {
      await fh.close();
    }
  }

  async put(id: string, data: Uint8Array): Promise<void> {
    if (this.maxBytes <= 0 || data.length > this.maxBytes) return;
    const file = this.#file(id);
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
    await writeFile(tmp, data);
    await rename(tmp, file);
    this.#bytes = (this.#bytes ?? (await this.#scan()).reduce((s, f) => s + f.size, 0) - data.length) + data.length;
    if (this.#bytes > this.maxBytes) await this.#evict();
  }

  async drop(id: string): Promise<void> {
    await unlink(this.#file(id)).catch(() => {});
    this.#bytes = null;
  }

  async #scan(): Promise<{ file: string; size: number; atime: number }[]> {
    const out: { file: string; size: number; atime: number }[] = [];
    for (const sub of await readdir(this.dir).catch(() => [] as string[])) {
      for (const name of await readdir(path.join(this.dir, sub)).catch(() => [] as string[])) {
        if (name.includes(".tmp-")) continue;
        const file = path.join(this.dir, sub, name);
        const s = await stat(file).catch(() => null);
        if (s) out.push({ file, size: s.size, atime: s.mtimeMs });
      }
    }
    return out;
  }

  async #evict() {
    const files = (await this.#scan()).sort((a, b) => a.atime - b.atime);
    let total = files.reduce((s, f) => s + f.size, 0);
    for (const f of files) {
      if (total <= this.maxBytes * 0.9) break;
      await unlink(f.file).catch(() => {});
      total -= f.size;
    }
    this.#bytes = total;
  }
}
