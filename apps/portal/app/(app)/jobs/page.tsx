"use client";
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { api, type Outputs } from "../../../lib/api";
import { dateTime, relative } from "../../../lib/format";
import { useAction, useNow } from "../../../lib/hooks";
import { Empty, ErrorNotice, LoadingRows, PageHead, StateBadge } from "../../../components/ui";

type Job = Outputs["jobs"]["list"][number];

function JobDetail({ job }: { job: Job }) {
  const events = useQuery({ queryKey: ["job-events", job.id], queryFn: () => api.jobs.events.query({ id: job.id }) });
  const logs = useQuery({ queryKey: ["job-logs", job.id], queryFn: () => api.jobs.logs.query({ id: job.id }), refetchInterval: job.state === "Running" ? 3_000 : false });
  const text = (logs.data?.chunks ?? []).map((c) => c.data).join("");
  const tail = text.split("\n").slice(-40).join("\n");
  return (
    <div className="grid-2" style={{ padding: "0 20px 20px" }}>
      <div>
        <h3>Output (last 40 lines)</h3>
        {logs.isPending ? <LoadingRows /> : <pre className="diff" style={{ maxHeight: 360, overflow: "auto" }}>{tail || "(no output yet)"}</pre>}
        <p className="muted small">
          Full log: <code>daybox job logs {job.id}</code>
        </p>
      </div>
      <div>
        <h3>Events</h3>
        <ol className="timeline">
          {[...(events.data ?? [])].reverse().map((e) => (
            <li key={e.id}>
              <span className="dot" aria-hidden="true" />
              <div>
                <div className="row" style={{ gap: 8 }}>
                  <StateBadge state={e.toState} />
                  <span className="when">{dateTime(e.at)}</span>
                </div>
                <div className="reason">{e.reason}</div>
              </div>
            </li>
          ))}
        </ol>
      </div>
    </div>
  );
}

/** The batch queue: what runs, what waits and why, what was preempted — with reasons, attempts and logs. */
export default function JobsPage() {
  const now = useNow();
  const [all, setAll] = useState(false);
  const [open, setOpen] = useState<string | null>(null);
  const jobs = useQuery({ queryKey: ["jobs", all], queryFn: () => api.jobs.list.query({ all }), refetchInterval: 5_000 });
  const cancel = useAction((id: string) => api.jobs.cancel.mutate({ id }));
  const rows = jobs.data ?? [];
  const count = (...states: string[]) => rows.filter((j) => states.includes(j.state)).length;
  return (
    <>
      <PageHead title="Batch jobs" crumbs="Queued by priority, then submit time; they run on free and idle-reclaimed GPUs">
        <label className="row small muted">
          <input type="checkbox" style={{ width: "auto", minHeight: 0 }} checked={all} onChange={(e) => setAll(e.target.checked)} />
          Include finished
        </label>
      </PageHead>
      <dl className="stats" style={{ marginBottom: 16 }}>
        <div className="stat">
          <dt>Running</dt>
          <dd>{count("Running", "Scheduled")}</dd>
        </div>
        <div className="stat">
          <dt>Queued</dt>
          <dd>{count("Queued")}</dd>
        </div>
        <div className="stat">
          <dt>Being preempted</dt>
          <dd>{count("Preempting")}</dd>
        </div>
        <div className="stat">
          <dt>Preempted so far</dt>
          <dd>{rows.reduce((n, j) => n + j.preemptions, 0)}</dd>
        </div>
      </dl>
      <ErrorNotice error={jobs.error ?? cancel.error} />
      <section className="card card-flush">
        {jobs.isPending ? (
          <LoadingRows />
        ) : rows.length === 0 ? (
          <Empty title="No batch jobs">
            <p>
              Submit one with <code>daybox job submit --gpus 1 -- python train.py</code>
            </p>
          </Empty>
        ) : (
          <div className="table-wrap">
            <table aria-label="Batch jobs">
              <thead>
                <tr>
                  <th>Job</th>
                  <th>State</th>
                  <th>GPUs</th>
                  <th>Project</th>
                  <th className="num">Priority</th>
                  <th className="num">Attempts</th>
                  <th>Submitted</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {rows.flatMap((j) => [
                  <tr key={j.id}>
                    <td>
                      <strong>{j.name}</strong>
                      <div className="muted small mono" title={j.command.join(" ")}>
                        {j.id} · {j.command.join(" ").slice(0, 60)}
                      </div>
                    </td>
                    <td>
                      <StateBadge state={j.state} />
                      <div className="reason">{j.reason}</div>
                    </td>
                    <td className="mono">
                      {j.gpuCount} × {j.gpuType}
                      {j.node ? <div className="muted small">{j.node}</div> : null}
                    </td>
                    <td>
                      {j.project}
                      <div className="muted small">{j.owner}</div>
                    </td>
                    <td className="num">{j.priority}</td>
                    <td className="num">
                      {j.attempts}
                      {j.preemptions ? <div className="muted small">{j.preemptions} preempted</div> : null}
                    </td>
                    <td className="small" title={dateTime(j.submittedAt)}>
                      {relative(j.submittedAt, now)}
                    </td>
                    <td className="num">
                      <div className="row" style={{ justifyContent: "flex-end", gap: 6 }}>
                        <button type="button" className="btn btn-sm" aria-expanded={open === j.id} onClick={() => setOpen(open === j.id ? null : j.id)}>
                          {open === j.id ? "Hide" : "Logs"}
                        </button>
                        {["Queued", "Scheduled", "Running", "Preempting"].includes(j.state) ? (
                          <button type="button" className="btn btn-sm btn-danger" onClick={() => cancel.mutate(j.id)}>
                            Cancel
                          </button>
                        ) : null}
                      </div>
                    </td>
                  </tr>,
                  open === j.id ? (
                    <tr key={`${j.id}-detail`}>
                      <td colSpan={8} style={{ padding: 0, background: "var(--surface)" }}>
                        <JobDetail job={j} />
                      </td>
                    </tr>
                  ) : null,
                ])}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}
