import { mkdirSync } from "node:fs";
import { PGlite } from "@electric-sql/pglite";
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaPGlite } from "pglite-prisma-adapter";
import pg from "pg";
import { PrismaClient } from "./generated/prisma/client.ts";
import { migrate } from "./migrate.ts";

export interface Database {
  prisma: PrismaClient;
  kind: "pglite" | "postgres";
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** Apply pending migrations before returning (default true). */
  migrate?: boolean;
  /** Override the migrations directory (default: <repo>/prisma/migrations). */
  migrationsDir?: string;
}

/**
 * Opens a database by URL:
 * - `postgres://…` / `postgresql://…` — PostgreSQL via @prisma/adapter-pg;
 * - `pglite:///abs/data/dir` — PGlite persisted in that directory (created if missing);
 * - `pglite://memory` — PGlite in memory.
 */
/**
 * Prisma's defaults (wait 2 s for a connection, 5 s per transaction) fail
 * requests spuriously under load — 500 agents reporting while 1,000 sessions
 * launch — where waiting a little longer succeeds.
 */
const TRANSACTION_OPTIONS = { maxWait: 15_000, timeout: 30_000 };

export async function openDatabase(url: string, options: OpenDatabaseOptions = {}): Promise<Database> {
  const shouldMigrate = options.migrate ?? true;
  const migrateOptions = options.migrationsDir ? { migrationsDir: options.migrationsDir } : {};

  if (url.startsWith("postgres://") || url.startsWith("postgresql://")) {
    const pool = new pg.Pool({ connectionString: url, max: 20 });
    try {
      if (shouldMigrate) await migrate(pool, migrateOptions);
    } catch (err) {
      await pool.end();
      throw err;
    }
    const prisma = new PrismaClient({ adapter: new PrismaPg(pool), transactionOptions: TRANSACTION_OPTIONS });
    let closed = false;
    return {
      prisma,
      kind: "postgres",
      async close() {
        if (closed) return;
        closed = true;
        await prisma.$disconnect();
        await pool.end();
      },
    };
  }

  if (url.startsWith("pglite:")) {
    let dataDir: string | undefined;
    if (url === "pglite://memory" || url === "pglite://memory/") {
      dataDir = undefined;
    } else if (url.startsWith("pglite:///")) {
      dataDir = decodeURIComponent(new URL(url).pathname);
      mkdirSync(dataDir, { recursive: true });
    } else {
      throw new Error(`unsupported PGlite URL ${JSON.stringify(url)}: use pglite:///absolute/dir or pglite://memory`);
    }
    const pglite = new PGlite(dataDir);
    try {
      await pglite.waitReady;
      if (shouldMigrate) await migrate(pglite, migrateOptions);
    } catch (err) {
      await pglite.close();
      throw err;
    }
    const prisma = new PrismaClient({ adapter: new PrismaPGlite(pglite), transactionOptions: TRANSACTION_OPTIONS });
    let closed = false;
    return {
      prisma,
      kind: "pglite",
      async close() {
        if (closed) return;
        closed = true;
        await prisma.$disconnect();
        await pglite.close();
      },
    };
  }

  throw new Error(
    `unsupported database URL ${JSON.stringify(url.replace(/\/\/[^@/]*@/, "//***@"))}: ` +
      `expected postgres://, postgresql://, pglite:///abs/dir or pglite://memory`,
  );
}
