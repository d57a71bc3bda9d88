import { systemClock, type Clock } from "@daybox/core";
import { createRepos, openDatabase } from "@daybox/db";
import { Notifier, createApiServer, createWebAuth } from "@daybox/api";
import { mkdir } from "node:fs/promises";
import { authSecret, bootstrap } from "./bootstrap.ts";
import { lockDataDir } from "./data-dir-lock.ts";
import type { ControlPlaneEnv } from "./env.ts";
import { createClusterWatcher } from "./cluster-watch.ts";
import { createFleetSampler } from "./fleet-sampler.ts";
import { createReclaimer } from "./reclaim.ts";
import { createReconciler } from "./reconcile.ts";

export const VERSION = "0.1.0";

/**
 * The soonest a tick follows the previous one when the API wakes the loop: a
 * burst of requests is one tick, not many. Under load the gap grows with the
 * tick's own duration (up to the tick interval), so the loop never takes more
 * than about half of the process's time away from the API.
 */
const MIN_TICK_GAP_MS = 20;

/**
 * The API's notifier, which also wakes the reconcile loop: a change the API
 * announces (a session created or resumed, an agent's report) is acted on at
 * once instead of at the next tick. The loop announces its own changes with
 * announce(), which wakes event streams but not the loop itself.
 */
class LoopNotifier extends Notifier {
  #wakeLoop: () => void = () => {};

  set onNotify(wake: () => void) {
    this.#wakeLoop = wake;
  }

  override notify(): void {
    super.notify();
    this.#wakeLoop();
  }

  announce(): void {
    super.notify();
  }
}

/** Starts the database, the API server and the reconcile loop in this process. */
export async function startControlPlane(
  env: ControlPlaneEnv,
  opts: { clock?: Clock; log?: (msg: string) => void; /** After each reconcile tick: how long it took and how many actions it decided (benchmarks). */ onTick?: (t: { ms: number; actions: number }) => void } = {},
) {
  const clock = opts.clock ?? systemClock;
  const log = opts.log ?? ((msg: string) => console.log(`[control-plane] ${msg}`));
  await mkdir(env.DAYBOX_DATA_DIR, { recursive: true, mode: 0o700 });
  const unlock = env.databaseUrl.startsWith("pglite:///") ? await lockDataDir(env.DAYBOX_DATA_DIR) : async () => {};
  const db = await openDatabase(env.databaseUrl).catch(async (err: unknown) => {
    await unlock();
    throw err;
  });
  const repos = createRepos(db.prisma, env.DAYBOX_SNAPSHOTS_KEPT === undefined ? {} : { snapshotsKept: env.DAYBOX_SNAPSHOTS_KEPT });
  const webAuth = createWebAuth(repos, {
    secret: env.DAYBOX_AUTH_SECRET ?? (await authSecret(env.DAYBOX_DATA_DIR)),
    publicUrl: env.DAYBOX_PUBLIC_URL,
    openSignUp: env.DAYBOX_OPEN_SIGNUP === "1",
    ...(env.DAYBOX_OIDC_DISCOVERY_URL && env.DAYBOX_OIDC_CLIENT_ID && env.DAYBOX_OIDC_CLIENT_SECRET
      ? {
          oidc: {
            discoveryUrl: env.DAYBOX_OIDC_DISCOVERY_URL,
            clientId: env.DAYBOX_OIDC_CLIENT_ID,
            clientSecret: env.DAYBOX_OIDC_CLIENT_SECRET,
            ...(env.DAYBOX_OIDC_NAME ? { name: env.DAYBOX_OIDC_NAME } : {}),
          },
        }
      : {}),
  });
  const boot = await bootstrap(repos, webAuth, env.DAYBOX_DATA_DIR, env.DAYBOX_BOOTSTRAP_QUOTA);
  if (env.DAYBOX_HOME_CLUSTER) await repos.clusters.register({ name: env.DAYBOX_HOME_CLUSTER, kubeconfigRef: "in-cluster", namespace: env.DAYBOX_HOME_NAMESPACE });
  const notifier = new LoopNotifier();
  const api = await createApiServer(
    { repos, clock, notifier, webAuth, version: VERSION, actionLeaseMs: env.DAYBOX_ACTION_LEASE_MS },
    { host: env.DAYBOX_API_HOST, port: env.DAYBOX_API_PORT },
  );
  const reconciler = createReconciler({
    repos,
    clock,
    log,
    onChange: () => notifier.announce(),
    options: { heartbeatTimeoutMs: env.DAYBOX_HEARTBEAT_TIMEOUT_MS },
  });

  const reclaimer = createReclaimer({ repos, clock, log });
  const sampler = createFleetSampler({ repos, clock });
  const clusters = createClusterWatcher({ repos, clock, log, onChange: () => notifier.notify(), lostAfterMs: env.DAYBOX_NODE_LOST_AFTER_MS });

  let stopped = false;
  let wake: (() => void) | null = null;
  let woken = false; // the API announced a change since the last tick began
  notifier.onNotify = () => {
    woken = true;
    wake?.();
  };
  const loop = (async () => {
    while (!stopped) {
      woken = false;
      const began = performance.now();
      await clusters.sync().catch((err: Error) => log(`cluster watch failed: ${err.message}`));
      const t0 = performance.now();
      const actions = await reconciler.tick().catch((err: Error) => {
        log(`tick failed: ${err.message}`);
        return [];
      });
      opts.onTick?.({ ms: performance.now() - t0, actions: actions.length });
      await reclaimer
        .tick()
        .then((r) => r.changed && notifier.announce())
        .catch((err: Error) => log(`reclaim tick failed: ${err.message}`));
      await sampler.tick().catch((err: Error) => log(`fleet sample failed: ${err.message}`));
      // Until the next tick, or until the API wakes the loop (a change during this tick counts too).
      const gap = stopped ? 0 : Math.min(env.DAYBOX_TICK_MS, Math.max(MIN_TICK_GAP_MS, performance.now() - began));
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, woken || stopped ? gap : env.DAYBOX_TICK_MS);
        wake = () => {
          clearTimeout(t);
          setTimeout(resolve, stopped ? 0 : gap);
          wake = null;
        };
      });
      wake = null;
    }
  })();

  return {
    url: api.url,
    adminToken: boot.adminToken,
    adminPassword: boot.adminPassword,
    agentTokenFile: boot.agentTokenFile,
    repos,
    async close() {
      stopped = true;
      (wake as (() => void) | null)?.();
      await loop;
      await clusters.close();
      await api.close();
      await db.close();
      await unlock();
    },
  };
}
