// One of the threads that walk a tree for createSnapshot (see TreeScan in
// scan.ts), so the walk's system calls overlap the main thread's work and,
// on a cold cache, each other's waits for the disk. Plain JavaScript, so it
// runs under any loader the parent process uses.
//
// workerData: { index (this thread's number), batch (entries per message), splitMin, unreadMax,
//              shared (SharedArrayBuffer of Int32s: SCAN_SHARED in walk.mjs) }
// requests:   { task: { id, abs, rel, names? } }: walk that directory (all of it, or those of its names)
// replies:    { task, entries } (entries in walk order, flat: see packEntry in walk.mjs)
//             { spawn: [{ id, abs, rel, names }] }  parts of a listing handed to other threads (while some are idle)
//             { task, after: [id…] }                  where those parts belong in this task's order
//             { task, end: true }                     the task is walked
//             { error, code?, syscall?, path? }
import { performance } from "node:perf_hooks";
import { parentPort, workerData } from "node:worker_threads";
import { ENTRY_FIELDS, packEntry, SCAN_SHARED, walkPart } from "./walk.mjs";

const { index, batch, splitMin, unreadMax } = workerData;
const shared = new Int32Array(workerData.shared);
const { UNREAD, READING, HOLD, IDLE } = SCAN_SHARED;
/** A batch goes out when full, or when the walk has been slow for this long: the main thread starts on it meanwhile. */
const FLUSH_MS = 15;
let spawned = 0;

/** A big listing is shared with the threads that are idle: contiguous parts, so that each reads its own region of the disk. */
function split(abs, rel, names) {
  const free = Atomics.load(shared, IDLE);
  if (free <= 0 || names.length < splitMin) return null;
  const size = Math.ceil(names.length / (free + 1));
  const parts = [];
  for (let from = size; from < names.length; from += size) parts.push({ id: `${index}.${spawned++}`, abs, rel, names: names.slice(from, from + size) });
  parentPort.postMessage({ spawn: parts });
  return { keep: size, after: parts.map((p) => p.id) };
}

parentPort.on("message", ({ task }) => {
  let entries = [];
  let since = performance.now();
  const flush = () => {
    if (!entries.length) return;
    // Far ahead of the reader, a thread waits (the walk would only hold memory), unless the reader waits for
    // its task, or for one no thread has started (then nobody waits: see TreeScan).
    for (let unread = Atomics.load(shared, UNREAD); unread >= unreadMax && Atomics.load(shared, HOLD) === 1 && Atomics.load(shared, READING) !== index; unread = Atomics.load(shared, UNREAD)) {
      Atomics.wait(shared, UNREAD, unread, 50);
    }
    Atomics.add(shared, UNREAD, 1);
    parentPort.postMessage({ task: task.id, entries });
    entries = [];
    since = performance.now();
  };
  try {
    for (const item of walkPart(task.abs, task.rel, task.names, split)) {
      if (item.after) {
        flush();
        parentPort.postMessage({ task: task.id, after: item.after });
        continue;
      }
      packEntry(entries, item);
      if (entries.length >= batch * ENTRY_FIELDS || performance.now() - since > FLUSH_MS) flush();
    }
    flush();
    parentPort.postMessage({ task: task.id, end: true });
  } catch (err) {
    parentPort.postMessage({ error: String(err?.message ?? err), code: err?.code, syscall: err?.syscall, path: err?.path });
  }
});
