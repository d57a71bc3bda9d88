/** What a project's webhook receives: one JSON object per reclaim event. */
export interface WebhookEvent {
  event: "session.warning" | "session.reclaimed";
  at: string;
  session: { id: string; name: string; owner: string; project: string; gpuType: string; gpuCount: number };
  reason: string;
  policy: { name: string; version: number } | null;
  /** When the session will be reclaimed (warnings). */
  reclaimAt: string | null;
}

/**
 * Delivers webhook events without holding up the reclaim loop: each POST
 * runs in the background with a timeout and one retry; failures are logged,
 * never thrown (a dead chat integration must not stop reclaiming).
 */
export function createWebhooks(deps: { log: (msg: string) => void; timeoutMs?: number }) {
  const timeoutMs = deps.timeoutMs ?? 5_000;
  const inFlight = new Set<Promise<void>>();
  async function deliver(url: string, body: WebhookEvent) {
    for (let attempt = 1; attempt <= 2; attempt++) {
      try {
        const res = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json", "user-agent": "daybox-webhooks/1" },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(timeoutMs),
        });
        if (res.ok) return;
        deps.log(`webhook ${new URL(url).host} answered ${res.status} to ${body.event} for ${body.session.id}`);
        if (res.status < 500) return;
      } catch (err) {
        deps.log(`webhook ${new URL(url).host} failed (${body.event} for ${body.session.id}, attempt ${attempt}): ${(err as Error).message}`);
      }
    }
  }
  return {
    send(url: string | null | undefined, body: WebhookEvent) {
      if (!url) return;
      const p = deliver(url, body).finally(() => inFlight.delete(p));
      inFlight.add(p);
    },
    /** Waits for deliveries under way (shutdown). */
    async drain() {
      await Promise.all([...inFlight]);
    },
  };
}
