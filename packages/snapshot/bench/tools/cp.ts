import { run } from "./types.ts";

/** The warm-restore baseline: a local `cp -a` of the same tree. */
export async function cpA(source: string, target: string): Promise<void> {
  await run("cp", ["-a", source, target]);
}
