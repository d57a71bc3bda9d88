import { createHash } from "node:crypto";
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { openDatabase } from "./client.ts";
import { defaultMigrationsDir, migrate, MigrationError, readMigrationFiles, type MigrationTarget } from "./migrate.ts";
import { createTestPostgresDatabase, openTestDatabase } from "./testing.ts";

const T = { timeout: 120_000 };
const migrationNames = readMigrationFiles().map((m) => m.name);

type Kind = "pglite" | "postgres";

/** An empty database plus a way to read `_prisma_migrations` from it. */
async function blankDatabase(kind: Kind) {
  if (kind === "pglite") {
    const db = new PGlite();
    return {
      target: db as MigrationTarget,
      rows: async () => (await db.query<Record<string, unknown>>(`SELECT * FROM "_prisma_migrations" ORDER BY migration_name`)).rows,
      close: () => db.close(),
    };
  }
  const created = await createTestPostgresDatabase();
  return {
    target: created.url as MigrationTarget,
    rows: async () => {
      const c = new pg.Client({ connectionString: created.url });
      await c.connect();
      try {
        return (await c.query(`SELECT * FROM "_prisma_migrations" ORDER BY migration_name`)).rows as Record<string, unknown>[];
      } finally {
        await c.end();
      }
    },
    close: () => created.drop(),
  };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function tempMigrationsDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "daybox-migrations-"));
  cpSync(defaultMigrationsDir, dir, { recursive: true });
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe.each<Kind>(["pglite", "postgres"])("migrate (%s)", (kind) => {
  it("applies all migrations, recorded like the Prisma CLI", T, async () => {
    expect(migrationNames.length).toBeGreaterThan(0);
    const db = await blankDatabase(kind);
    cleanups.push(db.close);

    const result = await migrate(db.target);
    expect(result).toEqual({ applied: migrationNames, alreadyApplied: [] });

    const rows = await db.rows();
    expect(rows.map((r) => r.migration_name)).toEqual(migrationNames);
    for (const row of rows) {
      const sql = readFileSync(join(defaultMigrationsDir, String(row.migration_name), "migration.sql"));
      expect(row.checksum).toBe(createHash("sha256").update(sql).digest("hex"));
      expect(row.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(row.finished_at).toBeInstanceOf(Date);
      expect(row.started_at).toBeInstanceOf(Date);
      expect(row.rolled_back_at).toBeNull();
      expect(row.logs).toBeNull();
      expect(row.applied_steps_count).toBe(1);
    }
  });

  it("applies nothing the second time", T, async () => {
    const db = await blankDatabase(kind);
    cleanups.push(db.close);
    await migrate(db.target);
    const second = await migrate(db.target);
    expect(second).toEqual({ applied: [], alreadyApplied: migrationNames });
    expect(await db.rows()).toHaveLength(migrationNames.length);
  });

  it("refuses an applied migration whose file changed", T, async () => {
    const db = await blankDatabase(kind);
    cleanups.push(db.close);
    const dir = tempMigrationsDir();
    await migrate(db.target, { migrationsDir: dir });

    const first = migrationNames[0]!;
    appendFileSync(join(dir, first, "migration.sql"), "\n-- edited after being applied\n");
    const err = await migrate(db.target, { migrationsDir: dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect((err as Error).message).toMatch(new RegExp(`migration "${first}" was modified after it was applied`));
  });

  it("rolls back a failing migration and records nothing", T, async () => {
    const db = await blankDatabase(kind);
    cleanups.push(db.close);
    const dir = tempMigrationsDir();
    await migrate(db.target, { migrationsDir: dir });
    cpSync(join(dir, migrationNames[0]!), join(dir, "99990101000000_broken"), { recursive: true });
    const broken = join(dir, "99990101000000_broken", "migration.sql");
    rmSync(broken);
    appendFileSync(broken, `CREATE TABLE "broken_ok" (id int);\nSELECT no_such_function();\n`);
    await expect(migrate(db.target, { migrationsDir: dir })).rejects.toThrow(/migration "99990101000000_broken" failed/);
    expect((await db.rows()).map((r) => r.migration_name)).toEqual(migrationNames);
  });

  it("creates and reads a User via Prisma", T, async () => {
    const db = await openTestDatabase(kind);
    cleanups.push(() => db.close());
    expect(db.kind).toBe(kind);
    await db.prisma.user.create({ data: { id: "u1", name: "ada" } });
    const user = await db.prisma.user.findUnique({ where: { name: "ada" } });
    expect(user).toMatchObject({ id: "u1", name: "ada", role: "researcher", disabledAt: null });
    expect(user?.createdAt).toBeInstanceOf(Date);
  });
});

describe("migrate (postgres, concurrent)", () => {
  it("two concurrent migrators apply each migration once", T, async () => {
    const db = await blankDatabase("postgres");
    cleanups.push(db.close);
    const [a, b] = await Promise.all([migrate(db.target), migrate(db.target)]);
    expect([...a.applied, ...b.applied].sort()).toEqual(migrationNames);
    expect(await db.rows()).toHaveLength(migrationNames.length);
  });
});

describe("openDatabase", () => {
  it("persists a pglite:///dir database across reopen", T, async () => {
    const dir = mkdtempSync(join(tmpdir(), "daybox-pglite-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const url = `pglite://${join(dir, "data")}`;
    const first = await openDatabase(url);
    await first.prisma.project.create({ data: { id: "p1", name: "demo" } });
    await first.close();
    const second = await openDatabase(url);
    cleanups.push(() => second.close());
    expect(await second.prisma.project.count()).toBe(1);
  });

  it("rejects unknown URLs", async () => {
    await expect(openDatabase("mysql://x")).rejects.toThrow(/unsupported database URL/);
  });
});
