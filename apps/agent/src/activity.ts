import { execFile } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import type { RunningSession } from "@daybox/cluster";

/** What the agent reports for one session (see the API's agent.activity). */
export interface ActivityReport {
  sessionId: string;
  kernel: { busy: boolean; lastActivityAt: string | null } | null;
  terminalLastActivityAt: string | null;
  gpu: [number, number][];
  cpu: [number, number][];
}

/** Where GPU utilisation comes from: nvidia-smi on GPU nodes, files written by tests or demos elsewhere. */
export interface GpuSource {
  /** Utilisation (%) of the busiest of the session's GPUs, or null when unknown. */
  utilisation(session: RunningSession): Promise<number | null>;
}

/** Reads `<dir>/<session-id>` (a number, percent): a simulated GPU a test or demo drives. */
export function fileGpuSource(dir: string): GpuSource {
  return {
    async utilisation(s) {
      const text = await readFile(path.join(dir, s.sessionId), "utf8").catch(() => null);
      const n = text === null ? NaN : Number(text.trim());
      return Number.isFinite(n) ? Math.min(100, Math.max(0, n)) : 0; // no file: a simulated GPU nobody uses
    },
  };
}

/** nvidia-smi utilisation of the GPUs in the session's CUDA_VISIBLE_DEVICES. */
export function nvidiaGpuSource(): GpuSource {
  return {
    async utilisation(s) {
      const visible = s.gpuIndices ? s.gpuIndices.map(String) : await visibleDevices(s.pid);
      if (!visible.length) return null;
      const out = await new Promise<string>((resolve) =>
        execFile("nvidia-smi", ["--query-gpu=index,utilization.gpu", "--format=csv,noheader,nounits"], { timeout: 5_000 }, (err, stdout) => resolve(err ? "" : stdout)),
      );
      const util = new Map(out.split("\n").map((l) => l.split(",").map((x) => x.trim()) as [string, string]));
      const values = visible.map((i) => Number(util.get(i))).filter((v) => Number.isFinite(v));
      return values.length ? Math.max(...values) : null;
    },
  };
}

/** CUDA_VISIBLE_DEVICES of a process started with it in its environment. */
async function visibleDevices(pid: number): Promise<string[]> {
  const env = await readFile(`/proc/${pid}/environ`, "utf8").catch(() => "");
  return /(?:^|\0)CUDA_VISIBLE_DEVICES=([^\0]*)/.exec(env)?.[1]?.split(",").filter(Boolean) ?? [];
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** CPU ticks (user + system) of every process in a process group, from /proc. */
async function groupCpuTicks(pgid: number): Promise<number> {
  let total = 0;
  for (const entry of await readdir("/proc").catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => null);
    if (!stat) continue;
    // Fields after the command (which may contain spaces) start at ") ".
    const f = stat.slice(stat.lastIndexOf(") ") + 2).split(" ");
    if (Number(f[2]) !== pgid) continue; // field 5: pgrp
    total += Number(f[11]) + Number(f[12]); // fields 14, 15: utime, stime
  }
  return total;
}

interface JupyterKernel {
  execution_state?: string;
  last_activity?: string;
}

/** Kernel state from Jupyter's REST API; null when the session has no Jupyter or it does not answer. */
async function kernels(s: RunningSession): Promise<ActivityReport["kernel"]> {
  if (!s.jupyterUrl || !s.jupyterToken) return null;
  try {
    const res = await fetch(new URL("api/kernels", s.jupyterUrl.endsWith("/") ? s.jupyterUrl : `${s.jupyterUrl}/`), {
      headers: { authorization: `token ${s.jupyterToken}` },
      signal: AbortSignal.timeout(3_000),
    });
    if (!res.ok) return null;
    const list = (await res.json()) as JupyterKernel[];
    const busy = list.some((k) => k.execution_state === "busy");
    const last = list.map((k) => (k.last_activity ? Date.parse(k.last_activity) : NaN)).filter((t) => Number.isFinite(t));
    return { busy, lastActivityAt: last.length ? new Date(Math.max(...last)).toISOString() : null };
  } catch {
    return null;
  }
}

/**
 * Samples every running session's activity: Jupyter kernels, terminal I/O,
 * GPU utilisation and CPU use of its processes. Each collect() returns one
 * new sample per signal; the API keeps the history.
 */
export function createActivityCollector(opts: { list: () => Promise<RunningSession[]>; gpu: GpuSource; terminalActivity: (sessionId: string) => Date | null; now?: () => number }) {
  const now = opts.now ?? Date.now;
  const lastCpu = new Map<string, { at: number; ticks: number }>();
  return {
    async collect(): Promise<ActivityReport[]> {
      const sessions = await opts.list();
      const live = new Set(sessions.map((s) => s.sessionId));
      for (const id of lastCpu.keys()) if (!live.has(id)) lastCpu.delete(id);
      return Promise.all(
        sessions.map(async (s): Promise<ActivityReport> => {
          const at = now();
          // pid 0: the session runs elsewhere (a pod); its CPU is not in this machine's /proc.
          const [kernel, gpu, ticks] = await Promise.all([kernels(s), opts.gpu.utilisation(s), s.pid > 0 ? groupCpuTicks(s.pid) : null]);
          const prev = lastCpu.get(s.sessionId);
          if (ticks !== null) lastCpu.set(s.sessionId, { at, ticks });
          const cpu: [number, number][] = ticks !== null && prev && at > prev.at ? [[at, Math.max(0, ((ticks - prev.ticks) / TICKS_PER_SECOND / ((at - prev.at) / 1000)) * 100)]] : [];
          return {
            sessionId: s.sessionId,
            kernel,
            terminalLastActivityAt: opts.terminalActivity(s.sessionId)?.toISOString() ?? null,
            gpu: gpu === null ? [] : [[at, gpu]],
            cpu,
          };
        }),
      );
    },
  };
}
