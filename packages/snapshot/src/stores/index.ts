// Object store adapters and wrappers. The conformance suite (conformance.ts)
// imports vitest, so it is not re-exported here: tests import it directly.
export { DirectoryStore } from "./dir-store.ts";
export { S3Store, MIN_PART_SIZE, type S3StoreOptions } from "./s3-store.ts";
export { parseStoreUrl, type StoreEnv } from "./url.ts";
export { withRetries, isRetryableError, TruncatedReadError, type RetryOptions } from "./retrying-store.ts";
export { FaultyStore, InjectedFaultError, mulberry32, type Fault, type FaultRates, type FaultyStoreOptions, type StoreOp } from "./faulty-store.ts";
export { assertValidKey, keyProblem, type ListEntry } from "./keys.ts";
