// `prisma generate` without network access.
//
// The Prisma 7 CLI wants to download a schema-engine binary before running
// `generate`, even though the `prisma-client` generator never uses it. We point
// PRISMA_SCHEMA_ENGINE_BINARY at an executable placeholder so the download is
// skipped. On a machine with internet access the plain CLI works too:
//   npx prisma generate --schema prisma/schema.prisma
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, "../../..");
const schema = join(repoRoot, "prisma/schema.prisma");

const require = createRequire(import.meta.url);
const prismaCli = join(dirname(require.resolve("prisma/package.json")), "build/index.js");

const env: NodeJS.ProcessEnv = {
  ...process.env,
  CHECKPOINT_DISABLE: "1",
  PRISMA_HIDE_UPDATE_MESSAGE: "1",
  PRISMA_GENERATE_SKIP_AUTOINSTALL: "1",
};

let placeholderDir: string | undefined;
if (!env.PRISMA_SCHEMA_ENGINE_BINARY) {
  placeholderDir = mkdtempSync(join(tmpdir(), "daybox-prisma-"));
  const placeholder = join(placeholderDir, "schema-engine");
  writeFileSync(placeholder, "#!/bin/sh\necho 'schema-engine placeholder (see packages/db/scripts/generate.ts)' >&2\nexit 1\n");
  chmodSync(placeholder, 0o755);
  env.PRISMA_SCHEMA_ENGINE_BINARY = placeholder;
}

const started = Date.now();
const result = spawnSync(
  process.execPath,
  [prismaCli, "generate", "--schema", schema, ...process.argv.slice(2)],
  { cwd: repoRoot, env, stdio: "inherit" },
);
if (placeholderDir) rmSync(placeholderDir, { recursive: true, force: true });
if (result.error) throw result.error;
if (result.status === 0) console.log(`db:generate done in ${Date.now() - started} ms`);
process.exit(result.status ?? 1);
