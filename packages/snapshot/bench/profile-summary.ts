/**
 * Summarises a V8 .cpuprofile (from `run.ts --profile`): self time by
 * function and by file, and total (inclusive) time of the engine's functions.
 *   node --import tsx packages/snapshot/bench/profile-summary.ts FILE.cpuprofile [--top 25]
 */
import { readFileSync } from "node:fs";
import path from "node:path";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const file = process.argv[2];
if (!file) {
  console.error("usage: profile-summary.ts FILE.cpuprofile [--top 25]");
  process.exit(2);
}
const top = Number(process.argv[process.argv.indexOf("--top") + 1]) || 25;
const prof = JSON.parse(readFileSync(file, "utf8")) as Profile;
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const selfUs = new Map<number, number>();
prof.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)));
const totalMs = (prof.endTime - prof.startTime) / 1000;

const short = (url: string) => (url ? url.replace(/^file:\/\//, "").replace(/.*\/node_modules\//, "~/").replace(/.*\/packages\//, "packages/") : "(native)");
const label = (n: Node) => `${n.callFrame.functionName || "(anonymous)"} ${short(n.callFrame.url)}${n.callFrame.url ? `:${n.callFrame.lineNumber + 1}` : ""}`;

const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
const selfByFn = new Map<string, number>();
const selfByFile = new Map<string, number>();
const inclusive = new Map<string, number>();
for (const [id, us] of selfUs) {
  const n = byId.get(id)!;
  add(selfByFn, label(n), us);
  add(selfByFile, n.callFrame.url ? path.basename(short(n.callFrame.url)) : `(${n.callFrame.functionName || "native"})`, us);
  // Inclusive: charge every distinct engine frame on the stack once.
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const f = byId.get(cur)!;
    if (!f.callFrame.url.includes("/packages/snapshot/src/")) continue;
    const l = label(f);
    if (!seen.has(l)) {
      seen.add(l);
      add(inclusive, l, us);
    }
  }
}
const print = (title: string, m: Map<string, number>) => {
  console.log(`\n${title}`);
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${(us / 1000).toFixed(0).padStart(8)} ms ${((us / 1000 / totalMs) * 100).toFixed(1).padStart(5)}%  ${k}`);
};
console.log(`${file}: ${totalMs.toFixed(0)} ms profiled`);
print("self time by function", selfByFn);
print("self time by file", selfByFile);
print("inclusive time of engine functions", inclusive);
