// Applies prisma/migrations/*/migration.sql in order, recording each one in
// `_prisma_migrations` exactly like the Prisma CLI (`prisma migrate deploy`), so
// either tool can take over a database migrated by the other.
//
// - one transaction per migration (so no `CREATE INDEX CONCURRENTLY` in migrations);
// - applied migrations are skipped; a changed checksum is refused;
// - every transaction first takes the advisory lock the Prisma CLI uses, so
//   concurrent migrators (processes, or the CLI) apply each migration once.
import { createHash, randomUUID } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { PGlite } from "@electric-sql/pglite";
import pg from "pg";

/** Where the committed migrations live: <repo>/prisma/migrations. */
export const defaultMigrationsDir = resolve(
  dirname(fileURLToPath(import.meta.url)),
  "../../../prisma/migrations",
);

/** A PGlite instance, a pg Pool or connected Client, or a postgres:// URL. */
export type MigrationTarget = PGlite | pg.Pool | pg.Client | string;

export interface MigrateOptions {
  /** Directory containing `<name>/migration.sql`; defaults to {@link defaultMigrationsDir}. */
  migrationsDir?: string;
}

export interface MigrateResult {
  /** Migrations applied by this call, in order. */
  applied: string[];
  /** Migrations that were already applied (checksum verified). */
  alreadyApplied: string[];
}

export interface MigrationFile {
  name: string;
  sql: string;
  /** sha256 hex of the file's bytes, as the Prisma CLI computes it. */
  checksum: string;
}

export class MigrationError extends Error {
  override name = "MigrationError";
}

/** Same key as the Prisma schema engine's migrate lock. */
const ADVISORY_LOCK_KEY = 72707369;

const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

const sha256 = (s: string) => createHash("sha256").update(s, "utf8").digest("hex");

/** Reads the migration files, sorted by directory name. */
export function readMigrationFiles(migrationsDir: string = defaultMigrationsDir): MigrationFile[] {
  if (!existsSync(migrationsDir)) {
    throw new MigrationError(`migrations directory not found: ${migrationsDir}`);
  }
  return readdirSync(migrationsDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(migrationsDir, d.name, "migration.sql")))
    .map((d) => d.name)
    .sort()
    .map((name) => {
      const sql = readFileSync(join(migrationsDir, name, "migration.sql"), "utf8");
      return { name, sql, checksum: sha256(sql) };
    });
}

// Prisma also accepts a file whose only change is its line endings.
function checksumMatches(file: MigrationFile, recorded: string): boolean {
  return (
    recorded === file.checksum ||
    recorded === sha256(file.sql.replace(/\r\n/g, "\n")) ||
    recorded === sha256(file.sql.replace(/\r?\n/g, "\r\n"))
  );
}

interface Tx {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  exec(script: string): Promise<void>;
}
interface Conn {
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  release(): Promise<void>;
}

function isPGlite(t: MigrationTarget): t is PGlite {
  return typeof t === "object" && "exec" in t && "transaction" in t && typeof t.transaction === "function";
}

async function connect(target: MigrationTarget): Promise<Conn> {
  if (isPGlite(target)) {
    return {
      transaction: (fn) =>
        target.transaction((t) =>
          fn({
            query: async (sql, params) => (await t.query(sql, params)).rows as never,
            exec: async (script) => void (await t.exec(script)),
          }),
        ),
      release: async () => {},
    };
  }
  let client: pg.Client | pg.PoolClient;
  let release: () => Promise<void>;
  if (typeof target === "string") {
    const c = new pg.Client({ connectionString: target });
    await c.connect();
    client = c;
    release = () => c.end();
  } else if (target instanceof pg.Pool || "totalCount" in target) {
    const c = await (target as pg.Pool).connect();
    client = c;
    release = async () => c.release();
  } else {
    client = target as pg.Client;
    release = async () => {};
  }
  const tx: Tx = {
    query: async (sql, params) => (await client.query(sql, params)).rows,
    // no parameters: simple query protocol, so multi-statement scripts work
    exec: async (script) => void (await client.query(script)),
  };
  return {
    async transaction(fn) {
      await client.query("BEGIN");
      try {
        const result = await fn(tx);
        await client.query("COMMIT");
        return result;
      } catch (err) {
        await client.query("ROLLBACK").catch(() => {});
        throw err;
      }
    },
    release,
  };
}

interface Row {
  migration_name: string;
  checksum: string;
  finished_at: Date | string | null;
}

const LOCK = `SELECT pg_advisory_xact_lock(${ADVISORY_LOCK_KEY})`;
const SELECT_ROWS = `SELECT "migration_name", "checksum", "finished_at" FROM "_prisma_migrations" WHERE "rolled_back_at" IS NULL`;

function check(file: MigrationFile, rows: Row[]): "applied" | "pending" {
  const mine = rows.filter((r) => r.migration_name === file.name);
  if (mine.length === 0) return "pending";
  if (mine.some((r) => r.finished_at === null)) {
    throw new MigrationError(
      `migration "${file.name}" is recorded as started but not finished (a failed Prisma CLI run?). ` +
        `Fix the database, then mark it rolled back (UPDATE "_prisma_migrations" SET rolled_back_at = now() ...) or applied.`,
    );
  }
  for (const r of mine) {
    if (!checksumMatches(file, r.checksum)) {
      throw new MigrationError(
        `migration "${file.name}" was modified after it was applied: ` +
          `checksum of migration.sql is ${file.checksum}, the database recorded ${r.checksum}. ` +
          `Applied migrations must not be edited; restore the file and add a new migration instead.`,
      );
    }
  }
  return "applied";
}

/**
 * Applies pending migrations to a PGlite or PostgreSQL database.
 * Throws {@link MigrationError} if an applied migration's file changed, or if a
 * migration fails (its transaction is rolled back and nothing is recorded).
 */
export async function migrate(target: MigrationTarget, options: MigrateOptions = {}): Promise<MigrateResult> {
  const files = readMigrationFiles(options.migrationsDir ?? defaultMigrationsDir);
  const conn = await connect(target);
  const result: MigrateResult = { applied: [], alreadyApplied: [] };
  try {
    const rows = await conn.transaction(async (tx) => {
      await tx.query(LOCK);
      await tx.exec(CREATE_TABLE);
      return tx.query<Row>(SELECT_ROWS);
    });
    // Verify every applied migration before applying anything new.
    const pending = files.filter((f) => check(f, rows) === "pending");
    for (const f of files) if (!pending.includes(f)) result.alreadyApplied.push(f.name);

    for (const file of pending) {
      const applied = await conn.transaction(async (tx) => {
        await tx.query(LOCK);
        // Another process may have applied it while we waited for the lock.
        if (check(file, await tx.query<Row>(SELECT_ROWS)) === "applied") return false;
        try {
          await tx.exec(file.sql);
        } catch (err) {
          const msg = err instanceof Error ? err.message : String(err);
          throw new MigrationError(`migration "${file.name}" failed and was rolled back: ${msg}`, { cause: err });
        }
        await tx.query(
          `INSERT INTO "_prisma_migrations"
             ("id", "checksum", "finished_at", "migration_name", "logs", "rolled_back_at", "started_at", "applied_steps_count")
           VALUES ($1, $2, clock_timestamp(), $3, NULL, NULL, now(), 1)`,
          [randomUUID(), file.checksum, file.name],
        );
        return true;
      });
      (applied ? result.applied : result.alreadyApplied).push(file.name);
    }
    return result;
  } finally {
    await conn.release();
  }
}
