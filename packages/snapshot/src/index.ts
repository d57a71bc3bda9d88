export * from "./object-store.ts";
export { Chunker, DEFAULT_CHUNKER, type ChunkerParams } from "./core/chunker.ts";
export { validateManifest, ManifestError, type Manifest, type Entry, type SnapshotStats } from "./core/manifest.ts";
export { Repository, type Lock } from "./engine/repository.ts";
export { createSnapshot, type CreateOptions } from "./engine/create.ts";
export { restoreSnapshot, type RestoreOptions, type RestoreResult } from "./engine/restore.ts";
export { PackCache } from "./engine/pack-cache.ts";
export { rates, type Progress, type ProgressListener } from "./engine/progress.ts";
export { checkRepository, pruneRepository, applyRetention, RepositoryBusyError, type CheckResult, type PruneResult, type RetentionPolicy } from "./engine/maintenance.ts";
