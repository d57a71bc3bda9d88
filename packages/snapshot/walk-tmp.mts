import { scan } from "./src/engine/scan.ts";
import { lstat, readdir } from "node:fs/promises";
import path from "node:path";
const root = "/tmp/daybox-bench/src";
const mode = process.argv[2];
const t = performance.now();
if (mode === "sync") { console.log(scan(root).length); }
else {
  let n = 0;
  async function dir(abs: string): Promise<void> {
    const names = (await readdir(abs)).sort();
    const sts = await Promise.all(names.map((nm) => lstat(path.join(abs, nm), { bigint: true })));
    n += names.length;
    await Promise.all(names.map((nm, i) => sts[i]!.isDirectory() ? dir(path.join(abs, nm)) : null));
  }
  await dir(root); console.log(n);
}
console.log(mode, (performance.now() - t).toFixed(0), "ms");
