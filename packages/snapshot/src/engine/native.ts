import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

/**
 * The native addon (native/walk.c, built by native/build.mjs): the tree walk
 * (see TreeScan; where it is not built, walkTree runs on the main thread), and
 * the chunk table's lookups (see ChunkTable; JavaScript does them without it).
 */
export interface NativeWalk {
  start(root: string, id: string, options: NativeOptions, onMessage: (err: NativeError | null, data: Buffer | true | null) => void): object;
  stop(handle: object): void;
  ack(handle: object): void;
  resume(handle: object): void;
  setParent(handle: object, records: Buffer | null, trusted?: Uint8Array): void;
  indexSlots(raw: Uint8Array, valid: Uint8Array | null, slots: Int32Array): number;
  trustRecords(records: Uint8Array, slots: Int32Array, raw: Uint8Array, limitNs: number, coarseLimitNs: number, trusted: Uint8Array): void;
}
export interface NativeOptions {
  threads: number;
  batch: number;
  unreadMax: number;
  range?: number;
  holdAt?: string;
  holdBefore?: number;
}
export interface NativeError {
  code: string;
  description: string;
  syscall: string;
  rel: Buffer;
}

let loaded: NativeWalk | null | undefined;

/** The native addon: next to this module in the CLI's bundle, in native/build/ from the sources; null where it is not built. */
export function nativeWalk(): NativeWalk | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  const require = createRequire(import.meta.url);
  for (const file of ["./native-walk.node", "../../native/build/native-walk.node"]) {
    try {
      loaded = require(fileURLToPath(new URL(file, import.meta.url))) as NativeWalk;
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "MODULE_NOT_FOUND") continue;
      throw new Error(`the snapshot engine's tree walk (${file}) does not load: ${(err as Error).message}; rebuild it: node packages/snapshot/native/build.mjs`, { cause: err });
    }
  }
  return loaded;
}
