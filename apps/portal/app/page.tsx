export const dynamic = "force-dynamic";

const API_URL = (process.env.DAYBOX_API_URL ?? "http://127.0.0.1:7878").replace(/\/+$/, "");
const TIMEOUT_MS = 2000;

interface Health {
  status: string;
  version?: string;
  nodes?: number;
  gpus?: { total?: number; allocated?: number };
  sessions?: { running?: number };
}

type HealthResult = { ok: true; health: Health } | { ok: false; reason: string };

function num(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

function parseHealth(raw: unknown): Health | null {
  if (typeof raw !== "object" || raw === null) return null;
  const r = raw as Record<string, unknown>;
  if (typeof r.status !== "string") return null;
  const gpus = typeof r.gpus === "object" && r.gpus !== null ? (r.gpus as Record<string, unknown>) : undefined;
  const sessions =
    typeof r.sessions === "object" && r.sessions !== null ? (r.sessions as Record<string, unknown>) : undefined;
  return {
    status: r.status,
    ...(typeof r.version === "string" ? { version: r.version } : {}),
    ...(num(r.nodes) !== undefined ? { nodes: num(r.nodes) } : {}),
    ...(gpus ? { gpus: { total: num(gpus.total), allocated: num(gpus.allocated) } } : {}),
    ...(sessions ? { sessions: { running: num(sessions.running) } } : {}),
  };
}

async function fetchHealth(): Promise<HealthResult> {
  try {
    const res = await fetch(`${API_URL}/healthz`, {
      cache: "no-store",
      signal: AbortSignal.timeout(TIMEOUT_MS),
      headers: { accept: "application/json" },
    });
    if (!res.ok) return { ok: false, reason: `HTTP ${res.status}` };
    const health = parseHealth(await res.json());
    return health ? { ok: true, health } : { ok: false, reason: "unexpected response" };
  } catch (err) {
    const name = err instanceof Error ? err.name : "";
    return { ok: false, reason: name === "TimeoutError" ? "timed out after 2 s" : "connection failed" };
  }
}

const CLI_STEPS: ReadonlyArray<{ cmd: string; note: string }> = [
  { cmd: "daybox login", note: "authenticate with your cluster" },
  { cmd: "daybox session create --gpus 1", note: "start a Jupyter session with one GPU" },
  { cmd: "daybox attach <id>", note: "open a shell in the session" },
  { cmd: "daybox open <id>", note: "open Jupyter in your browser" },
];

export default async function HomePage() {
  const result = await fetchHealth();
  const h = result.ok ? result.health : null;
  const failure = result.ok ? null : result.reason;
  const stats: Array<{ label: string; value: string }> = [];
  if (h?.nodes !== undefined) stats.push({ label: "Nodes", value: String(h.nodes) });
  if (h?.gpus?.total !== undefined) {
    stats.push({
      label: "GPUs allocated",
      value: h.gpus.allocated !== undefined ? `${h.gpus.allocated} / ${h.gpus.total}` : `– / ${h.gpus.total}`,
    });
  }
  if (h?.sessions?.running !== undefined) stats.push({ label: "Running sessions", value: String(h.sessions.running) });

  return (
    <>
      <section className="hero">
        <h1>Daybox</h1>
        <p className="lead">
          Interactive GPU sessions on shared clusters — snapshot idle sessions, reclaim their GPUs, resume in seconds.
        </p>
      </section>

      <section className="card" aria-labelledby="api-status">
        <div className="card-head">
          <h2 id="api-status">API status</h2>
          {h ? (
            <span className={`pill ${h.status === "ok" ? "pill-ok" : "pill-warn"}`}>
              <span className="dot" aria-hidden="true" />
              {h.status === "ok" ? "Reachable" : `Status: ${h.status}`}
            </span>
          ) : (
            <span className="pill pill-err">
              <span className="dot" aria-hidden="true" />
              Unreachable
            </span>
          )}
        </div>

        {h ? (
          <p className="muted">
            Connected to <code>{API_URL}</code>
            {h.version ? (
              <>
                {" "}
                · version <code>{h.version}</code>
              </>
            ) : null}
          </p>
        ) : (
          <div className="notice" role="alert">
            API not reachable at <code>{API_URL}</code> ({failure}) — start it with{" "}
            <code>npm run up</code>.
          </div>
        )}

        {stats.length > 0 ? (
          <dl className="stats">
            {stats.map((s) => (
              <div key={s.label} className="stat">
                <dt>{s.label}</dt>
                <dd>{s.value}</dd>
              </div>
            ))}
          </dl>
        ) : null}
      </section>

      <section className="card" aria-labelledby="get-started">
        <h2 id="get-started">Get started with the CLI</h2>
        <ol className="steps">
          {CLI_STEPS.map((s) => (
            <li key={s.cmd}>
              <code className="cmd">{s.cmd}</code>
              <span className="muted small">{s.note}</span>
            </li>
          ))}
        </ol>
        <p className="muted small">
          The full web portal (sessions, snapshots, quotas) is coming soon — for now, the CLI is the way in.
        </p>
      </section>
    </>
  );
}
