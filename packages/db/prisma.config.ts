// Prisma CLI configuration, for machines where the plain Prisma CLI works
// (internet access to download its schema engine). Offline, use
// `npm run db:generate` and `npm run db:migration -- <name>` instead; see README.md.
//
//   npx prisma migrate dev --config packages/db/prisma.config.ts
//
// The URL is only needed by commands that talk to a database.
import { defineConfig } from "prisma/config";

export default defineConfig({
  schema: "../../prisma/schema.prisma",
  migrations: { path: "../../prisma/migrations" },
  datasource: { url: process.env.DATABASE_URL ?? "" },
});
