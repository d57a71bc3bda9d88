import { lstatSync } from "node:fs";
import path from "node:path";
import type { Entry, Manifest } from "../core/manifest.ts";
import type { Repository } from "./repository.ts";
import { entryMeta, unchanged, walk, type Scanned } from "./scan.ts";

export interface LocalCopyCheck {
  matches: boolean;
  /** Why: "matches snapshot …", or the first difference found ("lib/x.py: mtime differs", "no local copy"). */
  reason: string;
  /** Files (hardlinks included) and bytes of the snapshot. */
  files: number;
  bytes: number;
  durationMs: number;
}

/**
 * Whether `dir` still holds exactly snapshot `snapshotId`, so that restoring
 * it would change nothing. It is the test an incremental snapshot trusts for
 * unchanged files, applied to the whole tree: the same set of paths (nothing
 * extra, nothing missing), the same type, mode, owner and mtime for every
 * entry, the same symlink targets and hardlinks, and for files the same
 * size, mtime, ctime and inode. No file content is read. Read-only; a
 * missing `dir` is a mismatch, not an error.
 */
export async function localCopyMatches(opts: { repo: Repository; snapshotId: string; dir: string }): Promise<LocalCopyCheck> {
  const started = Date.now();
  const manifest = await opts.repo.readManifest(opts.snapshotId);
  return { ...compareWithManifest(manifest, opts.dir), durationMs: Date.now() - started };
}

/** The comparison itself, for a manifest already in hand (restoreSnapshot's reuseTarget). */
export function compareWithManifest(manifest: Manifest, dir: string): Omit<LocalCopyCheck, "durationMs"> {
  let files = 0;
  let bytes = 0;
  for (const e of manifest.entries) {
    if (e.type === "file") bytes += e.size;
    if (e.type === "file" || e.type === "hardlink") files++;
  }
  const result = (reason: string | null) => ({ matches: reason === null, reason: reason ?? `matches snapshot ${manifest.id}`, files, bytes });

  const root = path.resolve(dir);
  if (!lstatSync(root, { throwIfNoEntry: false })?.isDirectory()) return result("no local copy");
  const expected = new Map<string, Entry>(manifest.entries.map((e) => [e.path, e]));
  const inodes = new Map<string, string>(); // path of a file with hardlinks → "dev:ino"
  const found: { difference?: string } = {};
  // Walked, not scanned into a list: 50k stats alive at once cost more in GC than the syscalls.
  walk(root, (s) => {
    const e = expected.get(s.rel);
    const why = e ? difference(e, s, inodes) : "is not in the snapshot";
    if (why) {
      found.difference = e ? `${s.rel}: ${why}` : `${s.rel} ${why}`;
      return false;
    }
    if (s.st.kind === "file" && s.st.nlink > 1) inodes.set(s.rel, s.st.devIno);
    expected.delete(s.rel);
  });
  const [missing] = expected.keys();
  return result(found.difference ?? (missing === undefined ? null : `${missing} is missing`));
}

/** What differs between a manifest entry and what is on disk, or null. */
function difference(e: Entry, s: Scanned, inodes: ReadonlyMap<string, string>): string | null {
  const st = s.st;
  const type = st.kind === "dir" || st.kind === "symlink" || st.kind === "file" ? st.kind : "special file";
  if (e.type === "hardlink") {
    if (type !== "file") return `a ${type}, the snapshot has a hardlink`;
    return inodes.get(e.link) === st.devIno ? null : `no longer a hardlink of ${e.link}`;
  }
  if (e.type !== type) return `a ${type}, the snapshot has a ${e.type}`;
  const now = entryMeta(s);
  if (now.mode !== e.mode) return "mode differs";
  if (now.uid !== e.uid || now.gid !== e.gid) return "owner differs";
  if (now.mtimeNs !== e.mtimeNs) return "mtime differs";
  if (e.type === "symlink" && s.target !== e.target) return "symlink target differs";
  if (e.type === "file" && !unchanged(e, st)) return "size, ctime or inode differs";
  return null;
}
