"use client";
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useState } from "react";
import { api, type Session, type Verdict } from "../../lib/api";
import { duration, relative } from "../../lib/format";
import { useNow } from "../../lib/hooks";
import { Empty, ErrorNotice, LoadingRows, PageHead, StateBadge } from "../../components/ui";
import { useMe } from "../../components/providers";

/** "parked in 12 min" / "idle 35 min" / "active": what the reclaim policy thinks, in a few words. */
function ReclaimHint({ v, now }: { v: Verdict | undefined; now: number }) {
  if (!v) return <span className="muted">—</span>;
  if (v.kind === "warn" || v.kind === "reclaim") {
    const verb = v.action === "stop" ? "stopped" : v.action === "notify" ? "flagged" : "parked";
    const at = v.reclaimAt ? new Date(v.reclaimAt).getTime() : now;
    return (
      <span className="badge badge-warn" title={v.reason}>
        {at > now ? `will be ${verb} in ${duration(at - now)}` : `being ${verb}`}
      </span>
    );
  }
  if (v.kind === "idle" && v.idleSince) {
    return (
      <span className="muted" title={v.reason}>
        idle {duration(now - new Date(v.idleSince).getTime())}
      </span>
    );
  }
  if (v.kind === "exempt") return <span className="muted" title={v.reason}>exempt</span>;
  return <span title={v.reason}>active</span>;
}

export default function SessionsPage() {
  const me = useMe();
  const now = useNow();
  const [showEnded, setShowEnded] = useState(false);
  const sessions = useQuery({ queryKey: ["sessions", showEnded], queryFn: () => api.sessions.list.query({ includeTerminated: showEnded }) });
  const verdicts = useQuery({ queryKey: ["reclaimStatus"], queryFn: () => api.sessions.reclaimStatus.query(), refetchInterval: 30_000 });
  const verdictOf = new Map((verdicts.data ?? []).map((v) => [v.sessionId, v]));
  const rows: Session[] = sessions.data ?? [];
  const gpusHeld = rows.filter((s) => ["Scheduled", "Starting", "Running", "Snapshotting", "Stopping"].includes(s.state)).reduce((n, s) => n + s.gpuCount, 0);

  return (
    <>
      <PageHead title="Sessions" crumbs={me.role === "admin" ? "All sessions you can see" : "Your sessions and your projects'"}>
        <label className="row small muted">
          <input type="checkbox" style={{ width: "auto", minHeight: 0 }} checked={showEnded} onChange={(e) => setShowEnded(e.target.checked)} />
          Show deleted
        </label>
        <Link href="/sessions/new" className="btn btn-primary">
          Launch session
        </Link>
      </PageHead>
      <dl className="stats" style={{ marginBottom: 16 }}>
        <div className="stat">
          <dt>Running</dt>
          <dd>{rows.filter((s) => s.state === "Running").length}</dd>
        </div>
        <div className="stat">
          <dt>Parked</dt>
          <dd>{rows.filter((s) => s.state === "Parked").length}</dd>
        </div>
        <div className="stat">
          <dt>GPUs held</dt>
          <dd>{gpusHeld}</dd>
        </div>
        <div className="stat">
          <dt>Warned</dt>
          <dd>{(verdicts.data ?? []).filter((v) => v.kind === "warn" || v.kind === "reclaim").length}</dd>
        </div>
      </dl>
      <ErrorNotice error={sessions.error} what="Could not load sessions" />
      <section className="card card-flush">
        {sessions.isPending ? (
          <LoadingRows rows={4} />
        ) : rows.length === 0 ? (
          <Empty title="No sessions yet">
            <p>Launch one to get a Jupyter server and a terminal on a GPU node.</p>
            <Link href="/sessions/new" className="btn btn-primary">
              Launch session
            </Link>
          </Empty>
        ) : (
          <div className="table-wrap">
            <table aria-label="Sessions">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>State</th>
                  <th>GPUs</th>
                  <th>Project</th>
                  {me.role === "admin" ? <th>Owner</th> : null}
                  <th>Node</th>
                  <th>Reclaim</th>
                  <th>Created</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((s) => (
                  <tr key={s.id} data-session-id={s.id} data-state={s.state}>
                    <td>
                      <Link href={`/sessions/${s.id}`}>
                        <strong>{s.name}</strong>
                      </Link>
                      <div className="muted small mono">{s.id}</div>
                      {s.state === "Running" && s.owner === me.name ? (
                        <div className="row small" style={{ gap: 10, marginTop: 2 }}>
                          {s.hasJupyter ? (
                            <a href={`/v1/sessions/${s.id}/jupyter/lab`} target="_blank" rel="noopener">
                              Jupyter ↗
                            </a>
                          ) : null}
                          <Link href={`/sessions/${s.id}/terminal`}>Terminal</Link>
                        </div>
                      ) : null}
                    </td>
                    <td>
                      <StateBadge state={s.state} />
                      <div className="reason" title={s.reason}>
                        {s.reason.length > 90 ? `${s.reason.slice(0, 90)}…` : s.reason}
                      </div>
                    </td>
                    <td className="mono">
                      {s.gpuCount} × {s.gpuType}
                    </td>
                    <td>{s.project}</td>
                    {me.role === "admin" ? <td>{s.owner}</td> : null}
                    <td>{s.node ?? <span className="muted">—</span>}</td>
                    <td>{s.state === "Running" ? <ReclaimHint v={verdictOf.get(s.id)} now={now} /> : <span className="muted">—</span>}</td>
                    <td className="muted" title={s.createdAt}>
                      {relative(s.createdAt, now)}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}
