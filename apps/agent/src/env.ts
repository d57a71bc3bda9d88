import { hostname, homedir } from "node:os";
import path from "node:path";
import { z } from "zod";

/** The agent's configuration, read once. Defaults give the embedded single-machine mode. */
const schema = z.object({
  DAYBOX_API_URL: z.string().url().default("http://127.0.0.1:7878"),
  DAYBOX_AGENT_TOKEN: z.string().optional(),
  DAYBOX_AGENT_TOKEN_FILE: z.string().optional(),
  DAYBOX_DATA_DIR: z.string().default(path.join(homedir(), ".daybox")),
  DAYBOX_NODE_NAME: z.string().optional(),
  DAYBOX_CLUSTER: z.string().default("local"),
  /** "kubernetes": this node is a Kubernetes GPU node; sessions and jobs run as pods pinned to it. */
  DAYBOX_RUNTIME: z.enum(["local", "kubernetes"]).default("local"),
  /** Kubernetes only: a kubeconfig file (default: the pod's service account, else ~/.kube/config). */
  DAYBOX_KUBECONFIG: z.string().optional(),
  /** Kubernetes only: the namespace Daybox's pods run in. */
  DAYBOX_NAMESPACE: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "must be a Kubernetes namespace name").default("daybox"),
  /** Used when nvidia-smi finds no GPUs: how many GPUs this node offers, and of which type. */
  DAYBOX_LOCAL_GPUS: z.coerce.number().int().min(0).max(1024).default(4),
  DAYBOX_LOCAL_GPU_TYPE: z.string().regex(/^[a-z0-9][a-z0-9.-]{0,62}$/).default("sim-a100"),
  DAYBOX_AGENT_HOST: z.string().default("127.0.0.1"),
  DAYBOX_AGENT_PORT: z.coerce.number().int().min(0).max(65535).default(0),
  DAYBOX_HEARTBEAT_MS: z.coerce.number().int().min(100).default(5_000),
  DAYBOX_POLL_MS: z.coerce.number().int().min(50).default(500),
  /**
   * "auto": sessions get a Jupyter server forked from a preloaded zygote (fast starts) where `jupyter` is
   * installed; "spawn": a fresh `jupyter server` process per session; "never": terminal-only sessions.
   */
  DAYBOX_JUPYTER: z.enum(["auto", "spawn", "never"]).default("auto"),
  /** Where session snapshots go: file:///dir or s3://bucket/prefix; one repository per project below it. */
  DAYBOX_SNAPSHOT_REPO: z.string().optional(),
  DAYBOX_PACK_CACHE_DIR: z.string().optional(),
  DAYBOX_PACK_CACHE_GB: z.coerce.number().min(0).default(20),
  /** How often session activity (kernels, terminal, GPU, CPU) is sampled and reported. */
  DAYBOX_ACTIVITY_MS: z.coerce.number().int().min(200).default(5_000),
  /** Without nvidia-smi: simulated GPU utilisation per session, read from <dir>/<session-id> (a percent). */
  DAYBOX_SIM_GPU_DIR: z.string().optional(),
  DAYBOX_S3_ENDPOINT: z.string().url().optional(),
  AWS_REGION: z.string().optional(),
  AWS_ACCESS_KEY_ID: z.string().optional(),
  AWS_SECRET_ACCESS_KEY: z.string().optional(),
  /** Test-only crash points: exit the process right after claiming, or after starting a session. */
  DAYBOX_AGENT_FAULT: z.enum(["", "exit-after-claim", "exit-after-start"]).default(""),
});

export type AgentEnv = z.infer<typeof schema> & { nodeName: string; snapshotRepo: string; packCacheDir: string; simGpuDir: string };

export function loadEnv(env: NodeJS.ProcessEnv = process.env): AgentEnv {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("\n  ");
    throw new Error(`invalid agent configuration:\n  ${issues}`);
  }
  const nodeName = (parsed.data.DAYBOX_NODE_NAME ?? hostname())
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63) || "local";
  const dataDir = path.resolve(parsed.data.DAYBOX_DATA_DIR);
  return {
    ...parsed.data,
    DAYBOX_DATA_DIR: dataDir,
    nodeName,
    snapshotRepo: (parsed.data.DAYBOX_SNAPSHOT_REPO ?? `file://${path.join(dataDir, "snapshots")}`).replace(/\/+$/, ""),
    packCacheDir: parsed.data.DAYBOX_PACK_CACHE_DIR ?? path.join(dataDir, "pack-cache"),
    simGpuDir: parsed.data.DAYBOX_SIM_GPU_DIR ?? path.join(dataDir, "sim-gpu"),
  };
}
