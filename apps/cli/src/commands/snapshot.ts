import path from "node:path";
import type { Command } from "commander";
import type { TreeScan } from "@daybox/snapshot/scan";
import { duration, integer } from "../args.ts";
import { CliError, UsageError } from "../errors.ts";
import { fields, json, note, print, printTable, relativeTime } from "../output.ts";
import { size, stderrProgress } from "../progress-bar.ts";

/**
 * `daybox snapshot …`: the snapshot engine on its own, against a repository
 * URL (`file:///dir` or `s3://bucket/prefix`), so it can be used and
 * benchmarked without the platform. S3 settings come from DAYBOX_S3_ENDPOINT,
 * AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
 */
interface RepoOpts {
  repo?: string;
  cache?: string;
  json?: boolean;
}

async function openRepo(opts: RepoOpts) {
  const url = opts.repo ?? process.env["DAYBOX_SNAPSHOT_REPO"];
  if (!url) throw new UsageError("no repository: pass --repo file:///dir or --repo s3://bucket/prefix (or set DAYBOX_SNAPSHOT_REPO)");
  // Loaded side by side: their files are read from disk at once (on a cold cache most of their loading).
  const [engine, stores] = await Promise.all([import("@daybox/snapshot"), import("@daybox/snapshot/stores")]);
  const store = stores.withRetries(stores.parseStoreUrl(url, process.env), { attempts: 5, baseDelayMs: 200 });
  const repo = await engine.Repository.open(store);
  const cache = opts.cache ? new engine.PackCache(opts.cache, 20 * 1024 ** 3) : undefined;
  return { engine, repo, cache };
}

type CreateOpts = RepoOpts & { parent?: string; tag?: string[]; level?: number };

/** `snapshot create`, once its walk has started. */
async function createSnapshot(dir: string, scan: TreeScan, opts: CreateOpts) {
  const { engine, repo, cache } = await openRepo(opts);
  const tags = Object.fromEntries((opts.tag ?? []).map((t) => {
    const i = t.indexOf("=");
    if (i <= 0) throw new UsageError(`--tag ${t}: expected key=value`);
    return [t.slice(0, i), t.slice(i + 1)];
  }));
  let parentId = opts.parent ?? null;
  if (parentId === "latest") {
    const all = await repo.snapshots();
    const same = all.filter((m) => Object.entries(tags).every(([k, v]) => m.tags[k] === v));
    parentId = same.at(-1)?.id ?? null;
  }
  const m = await engine.createSnapshot({ repo, source: dir, scan, parentId, tags, ...(cache ? { cache } : {}), ...(opts.level ? { compressionLevel: opts.level } : {}), onProgress: stderrProgress(!opts.json) });
  if (opts.json) return print(json({ id: m.id, parent: m.parent, createdAt: m.createdAt, tags: m.tags, stats: m.stats }));
  print(m.id);
  note(
    `snapshot ${m.id}: ${m.stats.files} files, ${size(m.stats.bytes)}; ${size(m.stats.newBytes)} new, ${size(m.stats.uploadedBytes)} uploaded` +
      `${m.stats.unchangedFiles ? `, ${m.stats.unchangedFiles} files unchanged` : ""} in ${(m.stats.durationMs / 1000).toFixed(1)}s` +
      (m.stats.skipped.length ? `; skipped ${m.stats.skipped.length} special files (${m.stats.skipped.slice(0, 3).join(", ")})` : ""),
  );
}

const repoOption = (cmd: Command) =>
  cmd.option("--repo <url>", "repository: file:///dir or s3://bucket/prefix (default: $DAYBOX_SNAPSHOT_REPO)").option("--json", "print the result as JSON");

export function registerSnapshotCommands(program: Command): void {
  const snap = program.command("snapshot").description("Snapshot and restore directories with the Daybox engine (deduplicated, incremental, verified)");

  repoOption(snap.command("create").argument("<dir>", "directory to snapshot"))
    .description("Snapshot a directory; incremental against --parent (or the newest snapshot with the same --tag session=…)")
    .option("--parent <id>", "parent snapshot id, or `latest`")
    .option("--tag <key=value...>", "tags to record, e.g. session=ses-…")
    .option("--cache <dir>", "node-local pack cache to fill")
    .option("--level <n>", "zstd level, 1 fastest … 19 smallest (default 1: with the repository's dictionary it stores less than 3 without)", integer(1, 19))
    .action(async (dir: string, opts: CreateOpts) => {
      // The walk starts first, on threads of its own, while the engine loads and the repository opens (~0.15 s
      // of a small incremental snapshot); the snapshot takes it over.
      const { TreeScan } = await import("@daybox/snapshot/scan");
      // (bin/daybox.js may have started it already, before the CLI loaded.)
      const early = (globalThis as Record<symbol, unknown>)[Symbol.for("daybox.earlyWalk")];
      const scan = early instanceof TreeScan && early.root === path.resolve(dir) ? early : new TreeScan(dir);
      if (early instanceof TreeScan && early !== scan) await early.close();
      try {
        await createSnapshot(dir, scan, opts);
      } finally {
        await scan.close(); // (if the snapshot never got to it)
      }
    });

  repoOption(snap.command("restore").argument("<id>", "snapshot id").argument("<dir>", "directory to restore into (replaced as a whole)"))
    .description("Restore a snapshot byte-exact into a directory, verifying every chunk")
    .option("--cache <dir>", "node-local pack cache to read from and fill")
    .action(async (id: string, dir: string, opts: RepoOpts) => {
      const { engine, repo, cache } = await openRepo(opts);
      const r = await engine.restoreSnapshot({ repo, snapshotId: id, target: dir, ...(cache ? { cache } : {}), onProgress: stderrProgress(!opts.json) });
      if (opts.json) return print(json(r));
      note(`restored ${id} into ${dir}: ${r.files} files, ${size(r.bytes)}; fetched ${size(r.fetchedBytes)} in ${(r.durationMs / 1000).toFixed(1)}s`);
    });

  repoOption(snap.command("ls").alias("list"))
    .description("List snapshots, oldest first")
    .action(async (opts: RepoOpts) => {
      const { repo } = await openRepo(opts);
      const all = await repo.snapshots();
      const rows = all.map((m) => ({ id: m.id, parent: m.parent, createdAt: m.createdAt, tags: m.tags, files: m.stats.files, bytes: m.stats.bytes, newBytes: m.stats.newBytes, durationMs: m.stats.durationMs }));
      if (opts.json) return print(json(rows));
      const now = new Date();
      printTable(
        ["ID", "CREATED", "FILES", "SIZE", "NEW", "TOOK", "TAGS"],
        rows.map((r) => [r.id, relativeTime(r.createdAt, now), r.files, size(r.bytes), size(r.newBytes), `${(r.durationMs / 1000).toFixed(1)}s`, Object.entries(r.tags).map(([k, v]) => `${k}=${v}`).join(" ")]),
        "no snapshots yet: `daybox snapshot create <dir> --repo …`",
      );
    });

  repoOption(snap.command("rm").argument("<id...>", "snapshot ids"))
    .description("Delete snapshots (their data is freed by `prune`)")
    .action(async (ids: string[], opts: RepoOpts) => {
      const { repo } = await openRepo(opts);
      for (const id of ids) await repo.deleteSnapshot(id);
      if (opts.json) return print(json({ deleted: ids }));
      note(`deleted ${ids.length} snapshot(s); run \`daybox snapshot prune\` to free their data`);
    });

  repoOption(snap.command("prune"))
    .description("Apply retention, then delete data no snapshot needs")
    .option("--keep-last <n>", "keep the newest N snapshots per session (parked ones are always kept)", integer(1))
    .option("--grace <duration>", "keep unindexed packs younger than this (protects interrupted writers)", duration, 3600_000)
    .action(async (opts: RepoOpts & { keepLast?: number; grace: number }) => {
      const { engine, repo } = await openRepo(opts);
      const forgotten = opts.keepLast ? await engine.applyRetention(repo, { keepLast: opts.keepLast }) : [];
      const r = await engine.pruneRepository(repo, { graceMs: opts.grace });
      if (opts.json) return print(json({ forgotten, ...r }));
      note(`${forgotten.length} snapshot(s) past retention removed; ${r.deletedPacks} pack(s) deleted (${size(r.deletedBytes)}), ${r.keptPacks} kept, ${size(r.reclaimableBytes)} unused inside kept packs${r.deletedDictionaries ? `; ${r.deletedDictionaries} unused dictionary(ies) deleted` : ""}`);
    });

  repoOption(snap.command("check"))
    .description("Verify the repository: manifests, indexes, packs (and every chunk with --read-data)")
    .option("--read-data", "download every pack and verify every chunk's hash")
    .action(async (opts: RepoOpts & { readData?: boolean }) => {
      const { engine, repo } = await openRepo(opts);
      const r = await engine.checkRepository(repo, { readData: !!opts.readData });
      if (opts.json) print(json(r));
      else {
        print(fields([["Snapshots", r.snapshots], ["Packs", r.packs], ["Unindexed packs", `${r.unindexedPacks}${r.unindexedPacks ? " (from interrupted snapshots; prune removes them)" : ""}`], ["Problems", r.problems.length || "none"]]));
        for (const p of r.problems) print(`  - ${p}`);
      }
      if (r.problems.length) throw new CliError(`the repository has ${r.problems.length} problem(s)`);
    });
}
