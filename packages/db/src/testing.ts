import { randomBytes } from "node:crypto";
import pg from "pg";
import { openDatabase, type Database } from "./client.ts";

export type { Database };

/**
 * A fresh, migrated database for one test (file):
 * - "pglite": in memory;
 * - "postgres": a new uniquely named database on the server at
 *   DAYBOX_TEST_POSTGRES_URL (a superuser URL; `bash infra/testbed/postgres.sh`
 *   starts one and prints it); close() drops the database.
 */
export async function openTestDatabase(kind: "pglite" | "postgres"): Promise<Database> {
  if (kind === "pglite") return openDatabase("pglite://memory");
  if (kind !== "postgres") throw new Error(`unknown test database kind: ${String(kind)}`);

  const created = await createTestPostgresDatabase();
  let db: Database;
  try {
    db = await openDatabase(created.url);
  } catch (err) {
    await created.drop().catch(() => {});
    throw err;
  }
  let closed = false;
  return {
    prisma: db.prisma,
    kind: "postgres",
    async close() {
      if (closed) return;
      closed = true;
      try {
        await db.close();
      } finally {
        await created.drop();
      }
    },
  };
}

/**
 * Creates an empty, unmigrated, uniquely named database on the server at
 * DAYBOX_TEST_POSTGRES_URL; drop() removes it (disconnecting any sessions).
 */
export async function createTestPostgresDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const adminUrl = process.env.DAYBOX_TEST_POSTGRES_URL;
  if (!adminUrl) {
    throw new Error(
      "DAYBOX_TEST_POSTGRES_URL is not set. Start the test PostgreSQL server and export its URL, e.g.\n" +
        "  export DAYBOX_TEST_POSTGRES_URL=$(bash infra/testbed/postgres.sh | tail -1)",
    );
  }
  const name = `daybox_test_${Date.now().toString(36)}_${randomBytes(4).toString("hex")}`;
  await withAdmin(adminUrl, (c) => c.query(`CREATE DATABASE "${name}"`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      await dropDatabase(adminUrl, name);
    },
  };
}

async function withAdmin<T>(adminUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * Drops the database once its connections have closed: a pool's clients may
 * still be saying goodbye when its end() resolves, and a forced drop would
 * hit them with "terminating connection" errors nobody listens for.
 */
function dropDatabase(adminUrl: string, name: string) {
  return withAdmin(adminUrl, async (c) => {
    for (let i = 0; i < 50; i++) {
      const { rows } = await c.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1", [name]);
      if (rows[0]!.n === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  });
}
