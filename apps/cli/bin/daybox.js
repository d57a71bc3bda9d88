#!/usr/bin/env node
// The CLI is TypeScript, run through tsx. `npm run build` (part of `npm run up`
// and `npm test`) also bundles it into dist/, which starts in a third of the
// time; the bundle runs only while every file it was built from has the size
// and modification time it had then (a checkout, an edit, a copy of older
// files all fall back to the sources). DAYBOX_CLI_FROM_SOURCE=1 always runs
// the sources.
import { readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

function bundleIsFresh() {
  if (process.env.DAYBOX_CLI_FROM_SOURCE === "1") return false;
  try {
    const { inputs } = JSON.parse(readFileSync(new URL("../dist/inputs.json", import.meta.url), "utf8"));
    const root = fileURLToPath(new URL("../../../", import.meta.url));
    return Object.entries(inputs).every(([file, [mtimeMs, size]]) => {
      const st = statSync(path.join(root, file));
      return st.mtimeMs === mtimeMs && st.size === size;
    });
  } catch {
    return false; // not built, or a source is gone
  }
}

if (bundleIsFresh()) {
  await import("../dist/daybox.mjs");
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import("../src/main.ts");
}
