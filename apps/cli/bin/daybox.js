#!/usr/bin/env node
// The CLI is TypeScript, run through tsx. `npm run build` (part of `npm run up`
// and `npm test`) also bundles it into dist/, which starts in a third of the
// time; the bundle runs only while every file it was built from has the size
// and modification time it had then (a checkout, an edit, a copy of older
// files all fall back to the sources). DAYBOX_CLI_FROM_SOURCE=1 always runs
// the sources.
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** Whether dist/ was built from the sources as they are; their files are looked at side by side (on a cold cache, one at a time took ~30 ms). */
async function bundleIsFresh() {
  if (process.env.DAYBOX_CLI_FROM_SOURCE === "1") return false;
  try {
    const { inputs } = JSON.parse(await readFile(new URL("../dist/inputs.json", import.meta.url), "utf8"));
    const root = fileURLToPath(new URL("../../../", import.meta.url));
    const same = await Promise.all(
      Object.entries(inputs).map(async ([file, [mtimeMs, size]]) => {
        const st = await stat(path.join(root, file));
        return st.mtimeMs === mtimeMs && st.size === size;
      }),
    );
    return same.every(Boolean);
  } catch {
    return false; // not built, or a source is gone
  }
}

if (await bundleIsFresh()) {
  // `daybox snapshot create <dir>`: the walk of <dir> starts now, on threads of its own, while the CLI loads (~0.1 s
  // of a small incremental snapshot); the command takes it over (commands/snapshot.ts), or closes it.
  const [command, sub, dir] = process.argv.slice(2);
  if (command === "snapshot" && sub === "create" && dir && !dir.startsWith("-")) {
    try {
      const { TreeScan } = await import("../dist/early-walk.mjs");
      globalThis[Symbol.for("daybox.earlyWalk")] = new TreeScan(dir);
    } catch {
      // the command starts its own
    }
  }
  await import("../dist/daybox.mjs");
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import("../src/main.ts");
}
