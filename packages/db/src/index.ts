export * from "./client.ts";
export * from "./migrate.ts";
export * from "./generated/prisma/client.ts";
export * from "./repos/index.ts";
