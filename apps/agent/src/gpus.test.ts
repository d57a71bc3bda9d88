import { describe, expect, it } from "vitest";
import { gpuTypeFromName, parseNvidiaSmi } from "./gpus.ts";

describe("nvidia-smi parsing", () => {
  it("reads index and name per line", () => {
    const out = "0, NVIDIA A100-SXM4-80GB\n1, NVIDIA A100-SXM4-80GB\n\n";
    expect(parseNvidiaSmi(out)).toEqual([
      { index: 0, name: "NVIDIA A100-SXM4-80GB" },
      { index: 1, name: "NVIDIA A100-SXM4-80GB" },
    ]);
  });
  it("ignores garbage lines", () => {
    expect(parseNvidiaSmi("No devices were found\n")).toEqual([]);
  });
  it.each([
    ["NVIDIA A100-SXM4-80GB", "a100-sxm4-80gb"],
    ["NVIDIA H100 80GB HBM3", "h100-80gb-hbm3"],
    ["Tesla V100-PCIE-16GB", "tesla-v100-pcie-16gb"],
  ])("%s is GPU type %s", (name, type) => {
    expect(gpuTypeFromName(name)).toBe(type);
  });
});
