// A snapshot in its own process, for crash tests: `node --import tsx snapshot-child.ts <store-dir> <source> [parent-id]`.
import { createSnapshot } from "../engine/create.ts";
import { Repository } from "../engine/repository.ts";
import { DirectoryStore } from "../stores/dir-store.ts";

const [storeDir, source, parentId] = process.argv.slice(2);
const repo = await Repository.open(new DirectoryStore(storeDir!));
console.log("go"); // the test times its kill from here, not from process start
const m = await createSnapshot({ repo, source: source!, parentId: parentId ?? null, packSize: 1024 * 1024, lockTtlMs: 1000 });
console.log(JSON.stringify({ id: m.id }));
