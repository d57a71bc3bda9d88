import { fileURLToPath } from "node:url";
import type { ObjectStore } from "../object-store.ts";
import { DirectoryStore } from "./dir-store.ts";
import { S3Store } from "./s3-store.ts";

/** The environment variables parseStoreUrl reads (passed in; nothing here reads process.env). */
export interface StoreEnv {
  DAYBOX_S3_ENDPOINT?: string;
  AWS_REGION?: string;
  AWS_ACCESS_KEY_ID?: string;
  AWS_SECRET_ACCESS_KEY?: string;
  AWS_SESSION_TOKEN?: string;
}

const ACCEPTED = "expected file:///absolute/dir or s3://bucket[/prefix]";

/**
 * Opens the store a URL names:
 * - `file:///abs/dir` → DirectoryStore rooted at /abs/dir;
 * - `s3://bucket/prefix` → S3Store, with the endpoint from DAYBOX_S3_ENDPOINT
 *   (path-style addressing when set, as S3-compatible servers want), the region
 *   from AWS_REGION (default us-east-1) and credentials from
 *   AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY[/AWS_SESSION_TOKEN]. Without those
 *   keys the AWS SDK's default credential chain applies (instance roles, ...).
 * Anything else is an Error naming the accepted forms.
 */
export function parseStoreUrl(url: string, env: StoreEnv): ObjectStore {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`invalid store URL ${JSON.stringify(url)}: ${ACCEPTED}`);
  }
  const bad = (why: string) => new Error(`invalid store URL ${JSON.stringify(url)}: ${why}; ${ACCEPTED}`);
  if (parsed.search || parsed.hash) throw bad("query and fragment are not allowed");

  if (parsed.protocol === "file:") {
    if (parsed.host !== "") throw bad("a file URL must not name a host");
    const dir = fileURLToPath(parsed);
    if (dir === "/") throw bad("refusing to use / as a store");
    return new DirectoryStore(dir.replace(/\/+$/, ""));
  }

  if (parsed.protocol === "s3:") {
    const bucket = parsed.hostname;
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw bad(`${JSON.stringify(bucket)} is not a valid bucket name`);
    if (parsed.username || parsed.password || parsed.port) throw bad("credentials and ports go in the environment, not the URL");
    const prefix = decodeURIComponent(parsed.pathname).replace(/^\/+|\/+$/g, "");
    const endpoint = env.DAYBOX_S3_ENDPOINT || undefined;
    const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_SESSION_TOKEN: sessionToken } = env;
    if (Boolean(accessKeyId) !== Boolean(secretAccessKey)) {
      throw new Error("set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither");
    }
    try {
      return new S3Store({
        bucket,
        prefix,
        endpoint,
        region: env.AWS_REGION || "us-east-1",
        credentials:
          accessKeyId && secretAccessKey
            ? { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) }
            : undefined,
        forcePathStyle: endpoint !== undefined,
      });
    } catch (err) {
      throw bad(err instanceof Error ? err.message : String(err));
    }
  }

  throw bad(`unsupported scheme ${JSON.stringify(parsed.protocol)}`);
}
