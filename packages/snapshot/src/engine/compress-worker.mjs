// Compresses chunks off the main thread (see compressor.ts). Plain JavaScript,
// so it runs under any loader the parent process uses.
import { Buffer } from "node:buffer";
import { parentPort } from "node:worker_threads";
import { compress } from "zstd-napi";

parentPort.on("message", ({ seq, data, level }) => {
  try {
    const c = compress(Buffer.from(data.buffer, data.byteOffset, data.byteLength), { compressionLevel: level });
    // Compression that does not pay (already-compressed data) is not worth decompressing later.
    if (c.length < data.length * 0.97) parentPort.postMessage({ seq, data: new Uint8Array(c.buffer, c.byteOffset, c.length), compressed: true });
    else parentPort.postMessage({ seq, data: null, compressed: false });
  } catch (err) {
    parentPort.postMessage({ seq, error: String(err && err.message ? err.message : err) });
  }
});
