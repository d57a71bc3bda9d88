import type { Command } from "commander";
import { integer } from "../args.ts";
import type { UpOptions } from "../up.ts";

export function registerUpCommand(program: Command): void {
  program
    .command("up")
    .description("Run Daybox on this machine: API, scheduler, a local node agent and the portal")
    .option("--data-dir <dir>", "where to keep the database and session state (default: ~/.daybox)")
    .option("--port <n>", "API port", integer(0, 65535), 7878)
    .option("--portal-port <n>", "portal port", integer(0, 65535), 3000)
    .option("--gpus <n>", "GPUs the local node offers when nvidia-smi finds none (default: 4)", integer(0, 1024))
    .option("--gpu-type <type>", "GPU type the local node reports when nvidia-smi finds none (default: sim-a100)")
    .option("--no-portal", "do not start the web portal")
    .option("--verbose", "also print the platform's logs here (they are always in <data-dir>/logs)")
    .action(async (opts: UpOptions) => {
      // Loaded only here: starting the platform pulls in far more than the other commands need.
      const { up } = await import("../up.ts");
      await up(opts);
    });
}
