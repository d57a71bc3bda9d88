import { homedir } from "node:os";
import path from "node:path";
import { z } from "zod";

/** The control plane's configuration: read once, here. Defaults give the embedded mode. */
const schema = z.object({
  DAYBOX_DATA_DIR: z.string().default(path.join(homedir(), ".daybox")),
  DAYBOX_DATABASE_URL: z.string().optional(),
  DAYBOX_API_HOST: z.string().default("127.0.0.1"),
  DAYBOX_API_PORT: z.coerce.number().int().min(0).max(65535).default(7878),
  DAYBOX_TICK_MS: z.coerce.number().int().min(50).default(1000),
  DAYBOX_ACTION_LEASE_MS: z.coerce.number().int().min(500).default(30_000),
  DAYBOX_HEARTBEAT_TIMEOUT_MS: z.coerce.number().int().min(500).default(30_000),
  /** Running inside Kubernetes (the Helm chart): the cluster to register at start with in-cluster credentials, and Daybox's namespace there. */
  DAYBOX_HOME_CLUSTER: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "must be a cluster name (lowercase letters, digits, dashes)").optional(),
  DAYBOX_HOME_NAMESPACE: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "must be a Kubernetes namespace name").default("daybox"),
  /** Committed snapshots each session keeps (the newest; default 5; 0 keeps all): older ones are deleted once a newer one is committed and verified. */
  DAYBOX_SNAPSHOTS_KEPT: z.preprocess((v) => (v === "" ? undefined : v), z.coerce.number().int().min(0, "DAYBOX_SNAPSHOTS_KEPT must be 0 (keep all) or more").max(1000).optional()),
  /** A Kubernetes node NotReady this long is lost: its sessions resume elsewhere from their latest snapshot. */
  DAYBOX_NODE_LOST_AFTER_MS: z.coerce.number().int().min(1_000).default(300_000),
  /** Where browsers reach Daybox (the portal): sign-in cookies, OIDC redirects and CSRF checks use it. */
  DAYBOX_PUBLIC_URL: z.url("DAYBOX_PUBLIC_URL must be a URL like https://daybox.example.org").default("http://127.0.0.1:3000"),
  /** Signs portal session cookies; default: generated once into <data-dir>/auth-secret. */
  DAYBOX_AUTH_SECRET: z.string().min(32, "DAYBOX_AUTH_SECRET must be at least 32 characters").optional(),
  /** "1" lets anyone who reaches the portal create a researcher account. */
  DAYBOX_OPEN_SIGNUP: z.enum(["0", "1"]).default("0"),
  /** Portal sign-in through an OpenID Connect provider: all three, or none. */
  DAYBOX_OIDC_DISCOVERY_URL: z.url().optional(),
  DAYBOX_OIDC_CLIENT_ID: z.string().min(1).optional(),
  DAYBOX_OIDC_CLIENT_SECRET: z.string().min(1).optional(),
  DAYBOX_OIDC_NAME: z.string().min(1).max(60).optional(),
  /** Quota for the default project on first start, e.g. "sim-a100=4,h100=8". */
  DAYBOX_BOOTSTRAP_QUOTA: z
    .string()
    .default("sim-a100=4")
    .transform((s, ctx) => {
      const out: { gpuType: string; guaranteed: number }[] = [];
      for (const part of s.split(",").filter(Boolean)) {
        const m = /^([a-z0-9][a-z0-9.-]*)=(\d+)$/.exec(part.trim());
        if (!m) {
          ctx.addIssue({ code: "custom", message: `expected TYPE=COUNT pairs like sim-a100=4, got "${part}"` });
          return z.NEVER;
        }
        out.push({ gpuType: m[1]!, guaranteed: Number(m[2]) });
      }
      return out;
    }),
});

export type ControlPlaneEnv = z.infer<typeof schema> & { databaseUrl: string };

const OIDC_KEYS = ["DAYBOX_OIDC_DISCOVERY_URL", "DAYBOX_OIDC_CLIENT_ID", "DAYBOX_OIDC_CLIENT_SECRET"] as const;

export function loadEnv(env: NodeJS.ProcessEnv = process.env): ControlPlaneEnv {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("\n  ");
    throw new Error(`invalid control-plane configuration:\n  ${issues}`);
  }
  const oidcSet = OIDC_KEYS.filter((k) => parsed.data[k] !== undefined);
  if (oidcSet.length > 0 && oidcSet.length < OIDC_KEYS.length) {
    const missing = OIDC_KEYS.filter((k) => parsed.data[k] === undefined).join(", ");
    throw new Error(`invalid control-plane configuration:\n  OIDC sign-in needs all of ${OIDC_KEYS.join(", ")}; missing ${missing}`);
  }
  const dataDir = path.resolve(parsed.data.DAYBOX_DATA_DIR);
  return {
    ...parsed.data,
    DAYBOX_DATA_DIR: dataDir,
    databaseUrl: parsed.data.DAYBOX_DATABASE_URL ?? `pglite://${path.join(dataDir, "db")}`,
  };
}
