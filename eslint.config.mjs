import js from "@eslint/js";
import tseslint from "typescript-eslint";

/** One lint config for the whole monorepo. Layer rules enforce the design's dependency directions. */
export default tseslint.config(
  { ignores: ["**/node_modules/**", "**/.next/**", "**/generated/**", "**/dist/**", "**/next-env.d.ts"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": ["error", { disallowTypeAnnotations: false }],
    },
  },
  {
    // Plain JavaScript run by Node (worker threads, the CLI's launcher and build script).
    files: ["**/*.{js,mjs}"],
    languageOptions: { globals: { process: "readonly", console: "readonly", URL: "readonly", Buffer: "readonly" } },
  },
  {
    // Pure decision code: no I/O, no environment, no wall clock.
    files: ["packages/{core,scheduler,policy}/src/**/*.ts"],
    ignores: ["**/*.test.ts", "packages/core/src/ids.ts", "packages/core/src/time.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: ["node:*", "@prisma/*", "@daybox/db", "@kubernetes/*", "@aws-sdk/*"] }],
      "no-restricted-properties": [
        "error",
        { object: "Date", property: "now", message: "take time as an argument (a Clock)" },
        { object: "process", property: "env", message: "configuration comes in through arguments" },
      ],
    },
  },
  {
    // Only packages/db imports Prisma; only packages/cluster imports Kubernetes.
    files: ["{apps,packages}/*/src/**/*.ts"],
    ignores: ["packages/db/**", "packages/cluster/**"],
    rules: {
      "no-restricted-imports": [
        "error",
        { patterns: [{ group: ["@prisma/*", "pg", "@electric-sql/*"], message: "only packages/db talks to the database" }, { group: ["@kubernetes/*"], message: "only packages/cluster talks to Kubernetes" }] },
      ],
    },
  },
);
