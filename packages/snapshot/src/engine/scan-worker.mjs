// One of the threads that walk a tree for createSnapshot (see TreeScan in
// scan.ts), so the walk's system calls overlap the main thread's work and,
// on a cold cache, each other's waits for the disk. Plain JavaScript, so it
// runs under any loader the parent process uses.
//
// workerData: { index (this thread's number), batch (entries per message), splitMin, unreadMax,
//              shared (SharedArrayBuffer of Int32s: SCAN_SHARED in walk.mjs, then one idle flag per thread),
//              peers ({ [thread]: MessagePort }: a channel to each other thread) }
// requests:   { task: { id, abs, rel, dirId, names? } }: walk that directory (identity dirId; all of it, or those of its names),
//             from the main thread (the root) or from a peer (a part of its listing)
// replies:    { task, entries } (entries in walk order, flat: see packEntry in walk.mjs)
//             { spawn: [{ id, runner }] }  parts of a listing handed to idle peers, and which thread runs each
//             { task, after: [id…] }       where those parts belong in this task's order
//             { task, end: true }          the task is walked
//             { error, code?, syscall?, path? }
import { performance } from "node:perf_hooks";
import { parentPort, workerData } from "node:worker_threads";
import { ENTRY_FIELDS, packEntry, SCAN_SHARED, walkPart } from "./walk.mjs";

const { index, batch, splitMin, unreadMax, peers } = workerData;
const shared = new Int32Array(workerData.shared);
const { UNREAD, READING, HOLD, IDLE } = SCAN_SHARED;
const idle = (thread) => IDLE + thread;
/** A batch goes out when full, or when the walk has been slow for this long: the main thread starts on it meanwhile. */
const FLUSH_MS = 15;
let spawned = 0;

/**
 * A big listing is shared with the threads that are idle: contiguous parts,
 * so that each reads its own region of the disk. A thread is claimed by
 * clearing its idle flag and handed its part directly, not through the main
 * thread (busy loading the index and the parent while the walk starts, it
 * had delayed the first hand-off by ~0.1 s); the main thread is told who runs
 * what.
 */
function split(abs, rel, names, dirId) {
  if (names.length < splitMin) return null;
  const claimed = [];
  for (const peer of Object.keys(peers)) if (Atomics.compareExchange(shared, idle(Number(peer)), 1, 0) === 1) claimed.push(Number(peer));
  if (!claimed.length) return null;
  const size = Math.ceil(names.length / (claimed.length + 1));
  const parts = [];
  for (let from = size; from < names.length; from += size) {
    const runner = claimed[parts.length];
    const task = { id: `${index}.${spawned++}`, abs, rel, dirId, names: names.slice(from, from + size) };
    peers[runner].postMessage({ task });
    parts.push({ id: task.id, runner });
  }
  for (const unused of claimed.slice(parts.length)) Atomics.store(shared, idle(unused), 1);
  parentPort.postMessage({ spawn: parts });
  return { keep: size, after: parts.map((p) => p.id) };
}

function run({ task }) {
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
    for (const item of walkPart(task.abs, task.rel, task.names, split, task.dirId)) {
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
    return; // the scan has failed: this thread takes no more parts
  }
  Atomics.store(shared, idle(index), 1);
}

parentPort.on("message", run);
for (const port of Object.values(peers)) port.on("message", run);
