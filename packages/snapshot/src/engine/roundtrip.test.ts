import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { DirectoryStore } from "../stores/dir-store.ts";
import { runRoundTripSuite } from "../testing/roundtrip-suite.ts";

runRoundTripSuite("a directory store", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "daybox-store-"));
  return { store: new DirectoryStore(dir), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});
