import type { Command } from "commander";
import { integer } from "../args.ts";
import { connect } from "../client.ts";
import { json, print, printTable } from "../output.ts";

export function registerQuotaCommands(program: Command): void {
  const quota = program.command("quota").description("GPUs each project is guaranteed, per GPU type");

  quota
    .command("set")
    .description("Set how many GPUs of a type a project may use at once (admins); 0 removes access")
    .argument("<project>", "project name")
    .argument("<gpu-type>", "GPU type, e.g. a100-80gb")
    .argument("<count>", "number of GPUs", integer(0, 100_000))
    .action(async (projectName: string, gpuType: string, count: number) => {
      const { api } = await connect();
      const r = await api.projects.setQuota.mutate({ project: projectName, gpuType, guaranteed: count });
      print(`${r.project}: ${r.guaranteed} ${r.gpuType} GPUs`);
    });

  quota
    .command("ls")
    .alias("list")
    .description("List every project's quota")
    .option("--json", "print the API result (projects with their quotas) as JSON")
    .action(async (opts: { json?: boolean }) => {
      const { api } = await connect();
      const rows = await api.projects.list.query();
      if (opts.json) return print(json(rows));
      printTable(
        ["PROJECT", "GPU TYPE", "GUARANTEED"],
        rows.flatMap((p) => p.quotas.map((q) => [p.name, q.gpuType, q.guaranteed])),
        "no quotas set; `daybox quota set <project> <gpu-type> <count>`",
      );
    });
}
