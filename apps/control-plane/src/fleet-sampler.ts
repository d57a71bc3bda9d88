import type { Clock } from "@daybox/core";
import { fleetSample } from "@daybox/api";
import type { Repos } from "@daybox/db";

export const FLEET_SAMPLE_INTERVAL_MS = 60_000;

/**
 * Records the fleet's GPU figures once a minute (by the injected clock), for
 * the admin's utilization chart. Called from the control loop every tick;
 * cheap when nothing is due.
 */
export function createFleetSampler(opts: { repos: Repos; clock: Clock; intervalMs?: number }) {
  const interval = opts.intervalMs ?? FLEET_SAMPLE_INTERVAL_MS;
  let last: number | null = null;
  return {
    async tick(): Promise<boolean> {
      const now = opts.clock.now();
      if (last === null) last = (await opts.repos.fleet.latestAt())?.getTime() ?? Number.NEGATIVE_INFINITY;
      if (now.getTime() - last < interval) return false;
      await opts.repos.fleet.record(await fleetSample(opts.repos, now));
      last = now.getTime();
      return true;
    },
  };
}
