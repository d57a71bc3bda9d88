import { BOOTSTRAP_ADMIN_EMAIL } from "./bootstrap.ts";
import { startControlPlane } from "./control-plane.ts";
import { loadEnv } from "./env.ts";

/** `daybox-control-plane`: API server + reconcile loop. Prints one JSON line when ready. */
async function main() {
  const env = loadEnv();
  const cp = await startControlPlane(env);
  console.log(JSON.stringify({ event: "ready", url: cp.url, adminToken: cp.adminToken, adminPassword: cp.adminPassword, adminEmail: BOOTSTRAP_ADMIN_EMAIL, agentTokenFile: cp.agentTokenFile }));
  let closing = false;
  const shutdown = async () => {
    if (closing) return;
    closing = true;
    await cp.close();
    process.exit(0);
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
}

main().catch((err: Error) => {
  console.error(`control plane failed to start: ${err.message}`);
  process.exit(1);
});
