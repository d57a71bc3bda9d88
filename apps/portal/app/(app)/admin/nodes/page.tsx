"use client";
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useState } from "react";
import { api } from "../../../../lib/api";
import { relative } from "../../../../lib/format";
import { useAction, useNow } from "../../../../lib/hooks";
import { AdminOnly, SplitBar } from "../../../../components/admin";
import { Empty, ErrorNotice, LoadingRows, PageHead, StateBadge } from "../../../../components/ui";

function Nodes() {
  const now = useNow(5_000);
  const nodes = useQuery({ queryKey: ["nodes"], queryFn: () => api.nodes.list.query(), refetchInterval: 10_000 });
  const [draining, setDraining] = useState<string | null>(null);
  const cordon = useAction((name: string) => api.nodes.cordon.mutate({ name }));
  const uncordon = useAction((name: string) => api.nodes.uncordon.mutate({ name }));
  const drain = useAction((name: string) => api.nodes.drain.mutate({ name }), () => setDraining(null));
  const rows = nodes.data ?? [];
  const total = rows.reduce((n, x) => n + x.gpuCount, 0);
  const allocated = rows.reduce((n, x) => n + x.gpusAllocated, 0);
  return (
    <>
      <PageHead title="Nodes" crumbs="GPU nodes, their allocation and health" />
      <dl className="stats" style={{ marginBottom: 16 }}>
        <div className="stat">
          <dt>Nodes ready</dt>
          <dd>
            {rows.filter((n) => n.state === "Ready").length} / {rows.length}
          </dd>
        </div>
        <div className="stat">
          <dt>GPUs allocated</dt>
          <dd>
            {allocated} / {total}
          </dd>
        </div>
        <div className="stat">
          <dt>To batch jobs</dt>
          <dd>{rows.reduce((n, x) => n + x.gpusForJobs, 0)}</dd>
        </div>
      </dl>
      <ErrorNotice error={nodes.error ?? cordon.error ?? uncordon.error ?? drain.error} />
      {draining ? (
        <div className="notice notice-warn banner" role="alert" style={{ marginBottom: 16 }}>
          <span>
            Drain <strong>{draining}</strong>? It gets no new work; its running sessions are <strong>parked</strong> (snapshotted, then stopped — their owners resume them
            elsewhere) and its batch jobs are requeued.
          </span>
          <span className="spacer" />
          <button type="button" className="btn btn-sm btn-danger" onClick={() => drain.mutate(draining)} disabled={drain.isPending}>
            Drain {draining}
          </button>
          <button type="button" className="btn btn-sm btn-ghost" onClick={() => setDraining(null)}>
            Cancel
          </button>
        </div>
      ) : null}
      <section className="card card-flush">
        {nodes.isPending ? (
          <LoadingRows />
        ) : rows.length === 0 ? (
          <Empty title="No nodes have registered">
            <p>Start a node agent (`npm run up` starts one for this machine).</p>
          </Empty>
        ) : (
          <div className="table-wrap">
            <table aria-label="Nodes">
              <thead>
                <tr>
                  <th>Node</th>
                  <th>State</th>
                  <th>GPUs</th>
                  <th>Allocation</th>
                  <th>Running here</th>
                  <th>Heartbeat</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {rows.map((n) => (
                  <tr key={n.id}>
                    <td>
                      <strong>{n.name}</strong>
                      <div className="muted small">
                        {n.cluster} · agent {n.agentVersion ?? "?"}
                      </div>
                    </td>
                    <td>
                      <StateBadge state={n.lostAt ? "Lost" : n.state} />
                      {n.draining ? <div className="small muted">draining</div> : !n.schedulable ? <div className="small muted">cordoned</div> : null}
                      {n.clusterStatus ? <div className="small muted">{n.cluster}: {n.clusterStatus}</div> : null}
                    </td>
                    <td className="mono">
                      {n.gpuCount} × {n.gpuType}
                    </td>
                    <td>
                      <SplitBar
                        label={`GPUs of ${n.name}`}
                        total={n.gpuCount}
                        parts={[
                          { value: n.gpusAllocated - n.gpusForJobs, color: "#4f46e5", label: "sessions" },
                          { value: n.gpusForJobs, color: "#0891b2", label: "batch jobs" },
                        ]}
                      />
                      <div className="muted small">
                        {n.gpusAllocated - n.gpusForJobs} to sessions · {n.gpusForJobs} to jobs · {n.gpuCount - n.gpusAllocated} free
                      </div>
                    </td>
                    <td className="small">
                      {n.sessions.map((s) => (
                        <div key={s.id}>
                          <Link href={`/sessions/${s.id}`}>{s.name}</Link> <span className="muted">({s.owner}, GPU {s.gpuIndices.join(",")})</span>
                        </div>
                      ))}
                      {n.jobs.map((j) => (
                        <div key={j.id}>
                          job {j.name} <span className="muted">({j.owner}, GPU {j.gpuIndices.join(",")})</span>
                        </div>
                      ))}
                      {n.sessions.length + n.jobs.length === 0 ? <span className="muted">—</span> : null}
                    </td>
                    <td className="small">{relative(n.lastHeartbeat, now)}</td>
                    <td className="num">
                      <div className="row" style={{ justifyContent: "flex-end", gap: 6 }}>
                        {n.schedulable ? (
                          <button type="button" className="btn btn-sm" onClick={() => cordon.mutate(n.name)}>
                            Cordon
                          </button>
                        ) : (
                          <button type="button" className="btn btn-sm" onClick={() => uncordon.mutate(n.name)}>
                            Uncordon
                          </button>
                        )}
                        {!n.draining ? (
                          <button type="button" className="btn btn-sm btn-danger" onClick={() => setDraining(n.name)}>
                            Drain
                          </button>
                        ) : null}
                      </div>
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

export default function NodesPage() {
  return (
    <AdminOnly>
      <Nodes />
    </AdminOnly>
  );
}
