import { execFile } from "node:child_process";

export interface GpuInventory {
  gpuType: string;
  gpuCount: number;
  source: "nvidia-smi" | "config";
}

/** "NVIDIA A100-SXM4-80GB" → "a100-sxm4-80gb": GPU types as quota keys. */
export function gpuTypeFromName(name: string): string {
  return name
    .toLowerCase()
    .replace(/^nvidia\s+/, "")
    .replace(/[^a-z0-9.]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63);
}

/** Parses `nvidia-smi --query-gpu=index,name --format=csv,noheader` output. */
export function parseNvidiaSmi(output: string): { index: number; name: string }[] {
  return output
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [index, ...name] = line.split(",");
      return { index: Number(index), name: name.join(",").trim() };
    })
    .filter((g) => Number.isInteger(g.index) && g.name);
}

/** GPUs from nvidia-smi when it is present and sees any, else the configured simulated GPUs. */
export async function detectGpus(fallback: { gpuType: string; gpuCount: number }): Promise<GpuInventory> {
  const output = await new Promise<string | null>((resolve) => {
    execFile("nvidia-smi", ["--query-gpu=index,name", "--format=csv,noheader"], { timeout: 10_000 }, (err, stdout) =>
      resolve(err ? null : stdout),
    );
  });
  const gpus = output ? parseNvidiaSmi(output) : [];
  if (gpus.length === 0) return { ...fallback, source: "config" };
  // One node, one GPU type: mixed nodes are rare; the most common type wins.
  const counts = new Map<string, number>();
  for (const g of gpus) counts.set(gpuTypeFromName(g.name), (counts.get(gpuTypeFromName(g.name)) ?? 0) + 1);
  const [gpuType, gpuCount] = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]!;
  return { gpuType, gpuCount, source: "nvidia-smi" };
}
