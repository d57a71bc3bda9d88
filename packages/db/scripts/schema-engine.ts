// Drives the Prisma schema engine compiled to WebAssembly
// (@prisma/schema-engine-wasm) through a driver adapter, so that migration SQL
// can be produced without the native schema-engine binary the Prisma CLI would
// download. Only used by new-migration.ts.
import { readdirSync, readFileSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { bindMigrationAwareSqlAdapterFactory } from "@prisma/driver-adapter-utils";
import type { SqlMigrationAwareDriverAdapterFactory } from "@prisma/driver-adapter-utils";
import type * as Engine from "@prisma/schema-engine-wasm";

const require = createRequire(import.meta.url);

interface WasmApi {
  instantiate(
    bytes: Uint8Array,
    imports: Record<string, unknown>,
  ): Promise<{ instance: { exports: Record<string, unknown> } }>;
}

let loaded: Promise<typeof import("@prisma/schema-engine-wasm/schema_engine_bg")> | undefined;

/** Instantiates the WASM module once (Node cannot `import` .wasm files directly). */
export function loadSchemaEngineWasm() {
  loaded ??= (async () => {
    const gluePath = require.resolve("@prisma/schema-engine-wasm/schema_engine_bg");
    const glue = (await import(pathToFileURL(gluePath).href)) as typeof import("@prisma/schema-engine-wasm/schema_engine_bg") & {
      __wbg_set_wasm(exports: Record<string, unknown>): void;
    };
    const bytes = readFileSync(join(dirname(gluePath), "schema_engine_bg.wasm"));
    // (typed loosely: the repo's tsconfig has no DOM lib, which declares WebAssembly)
    const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
    const { instance } = await wasmApi.instantiate(bytes, { "./schema_engine_bg.js": glue });
    glue.__wbg_set_wasm(instance.exports);
    (instance.exports.__wbindgen_start as () => void)();
    return glue;
  })();
  return loaded;
}

export async function createSchemaEngine(
  adapterFactory: SqlMigrationAwareDriverAdapterFactory,
  schema: Engine.SchemaContainer,
): Promise<Engine.SchemaEngine> {
  const glue = await loadSchemaEngineWasm();
  const debug = process.env.DAYBOX_SCHEMA_ENGINE_DEBUG === "1";
  const log = (message: string) => {
    if (debug) console.error(`[schema-engine] ${message}`);
  };
  return glue.SchemaEngine.new(
    { datamodels: [[schema.path, schema.content]] },
    log,
    bindMigrationAwareSqlAdapterFactory(adapterFactory),
  );
}

/** Reads prisma/migrations the way the Prisma CLI does (sorted directory names). */
export function readMigrationsList(baseDir: string): Engine.MigrationList {
  const lockPath = join(baseDir, "migration_lock.toml");
  const dirs = existsSync(baseDir)
    ? readdirSync(baseDir, { withFileTypes: true })
        .filter((d) => d.isDirectory() && existsSync(join(baseDir, d.name, "migration.sql")))
        .map((d) => d.name)
        .sort()
    : [];
  return {
    baseDir,
    lockfile: {
      path: "migration_lock.toml",
      content: existsSync(lockPath) ? readFileSync(lockPath, "utf8") : null,
    },
    shadowDbInitScript: "",
    migrationDirectories: dirs.map((name) => ({
      path: name,
      migrationFile: {
        path: "migration.sql",
        content: { tag: "ok", value: readFileSync(join(baseDir, name, "migration.sql"), "utf8") },
      },
    })),
  };
}

export const noFilters: Engine.SchemaFilter = { externalTables: [], externalEnums: [] };
