// Builds the snapshot engine's native tree walk (walk.c) into
// build/native-walk.node, against the Node-API headers of the running Node
// (they come with Node: no download). Run by `npm install` (postinstall) and
// by the README's two commands; does nothing when the build is newer than its
// source. Needs a C compiler (cc, or $CC), as zstd-napi does.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, realpathSync, renameSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const source = path.join(here, "walk.c");
const out = path.join(here, "build", "native-walk.node");

const built = statSync(out, { throwIfNoEntry: false });
if (built && built.mtimeMs >= Math.max(statSync(source).mtimeMs, statSync(fileURLToPath(import.meta.url)).mtimeMs)) process.exit(0);

// Node's headers: next to its binary (official builds, nvm), in /usr (Debian's nodejs), or where npm was told.
const candidates = [
  path.join(path.dirname(path.dirname(realpathSync(process.execPath))), "include", "node"),
  "/usr/include/node",
  process.env.npm_config_nodedir && path.join(process.env.npm_config_nodedir, "include", "node"),
].filter(Boolean);
const headers = candidates.find((dir) => existsSync(path.join(dir, "node_api.h")));
if (!headers) {
  console.error(`daybox: cannot build the snapshot engine's tree walk: node_api.h not found in ${candidates.join(", ")} (install Node's headers, or set npm_config_nodedir)`);
  process.exit(1);
}

const cc = process.env.CC || "cc";
const flags = ["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fPIC", "-shared", "-pthread", `-I${headers}`];
if (process.platform === "darwin") flags.push("-undefined", "dynamic_lookup");
mkdirSync(path.dirname(out), { recursive: true });
const next = `${out}.${process.pid}`;
try {
  execFileSync(cc, [...flags, source, "-o", next], { stdio: ["ignore", "inherit", "inherit"] });
  renameSync(next, out); // whole or not at all: a process loading it meanwhile gets the old one
} catch (err) {
  rmSync(next, { force: true });
  console.error(`daybox: building the snapshot engine's tree walk failed (${cc} ${path.relative(process.cwd(), source)}): ${err.code === "ENOENT" ? `${cc} not found; install a C compiler (Debian: apt-get install gcc)` : err.message}`);
  process.exit(1);
}
console.error(`daybox: built ${path.relative(process.cwd(), out)}`);
