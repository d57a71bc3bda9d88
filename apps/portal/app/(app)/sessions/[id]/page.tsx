"use client";
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useParams, useRouter } from "next/navigation";
import { useState } from "react";
import { api, errorMessage, type Outputs, type SessionDetail } from "../../../../lib/api";
import { bytes, dateTime, duration, relative } from "../../../../lib/format";
import { useAction, useNow } from "../../../../lib/hooks";
import { TimeChart } from "../../../../components/chart";
import { Empty, ErrorNotice, LoadingRows, PageHead, StateBadge } from "../../../../components/ui";
import { useMe } from "../../../../components/providers";

type Action = Outputs["sessions"]["activity"][number];
type Signals = Outputs["sessions"]["signals"];

const TRANSITIONAL = new Set(["Pending", "Scheduled", "Starting", "Snapshotting", "Stopping"]);

/** Live progress of the agent's current snapshot or restore: bytes, throughput, ETA. */
function WorkInProgress({ actions }: { actions: Action[] }) {
  const current = actions.find((a) => (a.status === "claimed" || a.status === "pending") && a.progress);
  if (!current?.progress) return null;
  const p = current.progress as { phase?: string; bytes?: number; bytesTotal?: number; files?: number; filesTotal?: number; elapsedMs?: number };
  const done = Number(p.bytes ?? 0);
  const total = Number(p.bytesTotal ?? 0);
  const pct = total > 0 ? Math.min(100, (done / total) * 100) : 0;
  const rate = p.elapsedMs ? (done / Number(p.elapsedMs)) * 1000 : 0;
  const eta = p.phase !== "scan" && rate > 0 && total > done ? ((total - done) / rate) * 1000 : null; // while scanning, the totals still grow
  const label = current.kind === "start" ? "Restoring" : current.kind === "park" ? "Snapshotting for park" : current.kind === "snapshot" ? "Snapshotting" : "Working";
  return (
    <section className="card" aria-live="polite">
      <div className="card-head">
        <h2>
          {label} <span className="muted small">({p.phase ?? "…"})</span>
        </h2>
        <div className="spacer" />
        <span className="muted small">
          {bytes(done)} of {bytes(total)} · {p.files ?? 0} / {p.filesTotal ?? 0} files · {bytes(rate)}/s{eta !== null ? ` · ${duration(eta)} left` : ""}
        </span>
      </div>
      <div className="progress" role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(pct)} aria-label={label}>
        <div style={{ width: `${pct}%` }} />
      </div>
    </section>
  );
}

function WarningBanner({ s, signals, now }: { s: SessionDetail; signals: Signals | undefined; now: number }) {
  const v = signals?.verdict;
  const keepAlive = useAction((forMs: number) => api.sessions.keepAlive.mutate({ id: s.id, forMs }));
  const extend = useAction(() => api.sessions.extend.mutate({ id: s.id }));
  if (s.state !== "Running" || !v || (v.kind !== "warn" && v.kind !== "reclaim")) return null;
  const at = v.reclaimAt ? new Date(v.reclaimAt).getTime() : now;
  const verb = v.action === "stop" ? "stopped" : v.action === "notify" ? "flagged" : "parked";
  return (
    <div className="notice notice-warn banner" role="alert">
      <div>
        <strong>{at > now ? `This session will be ${verb} in ${duration(at - now)}.` : `This session is being ${verb}.`}</strong>{" "}
        <span>{v.reason}</span>
        {keepAlive.error || extend.error ? <div className="field-error">{errorMessage(keepAlive.error ?? extend.error)}</div> : null}
      </div>
      <div className="spacer" />
      {v.canExtend ? (
        <button type="button" className="btn btn-sm" onClick={() => extend.mutate(undefined)} disabled={extend.isPending}>
          Extend {v.extensionMs ? duration(v.extensionMs) : ""}
        </button>
      ) : null}
      <button type="button" className="btn btn-sm btn-primary" onClick={() => keepAlive.mutate(2 * 3_600_000)} disabled={keepAlive.isPending}>
        Keep alive 2 h
      </button>
    </div>
  );
}

function Actions({ s }: { s: SessionDetail }) {
  const me = useMe();
  const router = useRouter();
  const [confirmDelete, setConfirmDelete] = useState(false);
  const park = useAction(() => api.sessions.park.mutate({ id: s.id }));
  const resume = useAction(() => api.sessions.resume.mutate({ id: s.id }));
  const stop = useAction(() => api.sessions.stop.mutate({ id: s.id }));
  const remove = useAction(() => api.sessions.delete.mutate({ id: s.id }), () => router.push("/"));
  const keepAlive = useAction((forMs: number) => api.sessions.keepAlive.mutate({ id: s.id, forMs }));
  const failed = [park, resume, stop, remove, keepAlive].find((m) => m.error);
  const mine = s.owner === me.name;
  const running = s.state === "Running";
  return (
    <div className="stack" style={{ gap: 8 }}>
      <div className="row">
        {running && s.hasJupyter && mine ? (
          <a className="btn btn-primary" href={`/v1/sessions/${s.id}/jupyter/lab`} target="_blank" rel="noopener">
            Open Jupyter
          </a>
        ) : null}
        {running && mine ? (
          <Link className="btn" href={`/sessions/${s.id}/terminal`}>
            Terminal
          </Link>
        ) : null}
        {running ? (
          <button type="button" className="btn" onClick={() => park.mutate(undefined)} disabled={park.isPending}>
            {park.isPending ? "Parking…" : "Park"}
          </button>
        ) : null}
        {s.state === "Parked" || s.state === "Stopped" || s.state === "Failed" ? (
          <button type="button" className="btn btn-primary" onClick={() => resume.mutate(undefined)} disabled={resume.isPending}>
            {resume.isPending ? "Resuming…" : s.state === "Parked" ? "Resume" : "Start"}
          </button>
        ) : null}
        {running ? (
          <select
            aria-label="Keep alive"
            className="btn"
            style={{ width: "auto" }}
            value=""
            onChange={(e) => e.target.value && keepAlive.mutate(Number(e.target.value))}
          >
            <option value="">Keep alive…</option>
            <option value={3_600_000}>for 1 hour</option>
            <option value={2 * 3_600_000}>for 2 hours</option>
            <option value={8 * 3_600_000}>for 8 hours</option>
            <option value={24 * 3_600_000}>for 1 day</option>
          </select>
        ) : null}
        {["Pending", "Scheduled", "Starting", "Running"].includes(s.state) ? (
          <button type="button" className="btn" onClick={() => stop.mutate(undefined)} disabled={stop.isPending}>
            Stop
          </button>
        ) : null}
        {s.state !== "Terminated" ? (
          confirmDelete ? (
            <>
              <button type="button" className="btn btn-danger" onClick={() => remove.mutate(undefined)} disabled={remove.isPending} autoFocus>
                Delete for good
              </button>
              <button type="button" className="btn btn-ghost" onClick={() => setConfirmDelete(false)}>
                Cancel
              </button>
            </>
          ) : (
            <button type="button" className="btn btn-danger" onClick={() => setConfirmDelete(true)}>
              Delete
            </button>
          )
        ) : null}
      </div>
      {confirmDelete ? <div className="muted small">Deleting stops the session and removes its directory from the node. Its snapshots stay until pruned.</div> : null}
      {failed?.error ? (
        <div className="notice notice-err" role="alert">
          {errorMessage(failed.error)}
        </div>
      ) : null}
    </div>
  );
}

export default function SessionPage() {
  const { id } = useParams<{ id: string }>();
  const now = useNow(5_000);
  const session = useQuery({ queryKey: ["session", id], queryFn: () => api.sessions.byId.query({ id }) });
  const busy = session.data ? TRANSITIONAL.has(session.data.state) : false;
  const events = useQuery({ queryKey: ["session-events", id], queryFn: () => api.sessions.events.query({ id }) });
  const signals = useQuery({ queryKey: ["session-signals", id], queryFn: () => api.sessions.signals.query({ id }), refetchInterval: 15_000 });
  const snapshots = useQuery({ queryKey: ["session-snapshots", id], queryFn: () => api.sessions.snapshots.query({ id }) });
  const actions = useQuery({ queryKey: ["session-actions", id], queryFn: () => api.sessions.activity.query({ id }), refetchInterval: busy ? 1_000 : 15_000 });

  if (session.error) {
    return (
      <>
        <PageHead title="Session" crumbs={<Link href="/">Sessions</Link>} />
        <ErrorNotice error={session.error} />
      </>
    );
  }
  const s = session.data;
  const sig = signals.data;
  const r = s?.lastResume;
  return (
    <>
      <PageHead
        title={
          <span className="row">
            {s?.name ?? "…"} {s ? <StateBadge state={s.state} /> : null}
          </span>
        }
        crumbs={
          <>
            <Link href="/">Sessions</Link> / <span className="mono">{id}</span>
          </>
        }
      >
        {s ? <Actions s={s} /> : null}
      </PageHead>
      {s ? (
        <div className="stack">
          <WarningBanner s={s} signals={sig} now={now} />
          <div className="notice" aria-live="polite" data-testid="session-reason">
            {s.reason}
          </div>
          <WorkInProgress actions={actions.data ?? []} />
          <div className="grid-2">
            <div className="stack">
              <section className="card">
                <div className="card-head">
                  <h2>Activity</h2>
                  <div className="spacer" />
                  <span className="muted small">
                    {sig?.kernel
                      ? sig.kernel.busy
                        ? "kernel busy"
                        : sig.kernel.lastActivityAt
                          ? `kernel last active ${relative(sig.kernel.lastActivityAt, now)}`
                          : "no kernel activity yet"
                      : "no kernel"}
                    {sig?.terminalLastActivityAt ? ` · terminal ${relative(sig.terminalLastActivityAt, now)}` : ""}
                  </span>
                </div>
                <TimeChart
                  title="GPU and CPU utilization and kernel activity, last hours"
                  emptyText="No samples yet — the node agent reports them every few seconds while the session runs."
                  max={100}
                  unit="%"
                  series={[
                    { label: "GPU utilization", color: "#4f46e5", points: sig?.gpu ?? [], area: true },
                    { label: "CPU", color: "#0891b2", points: sig?.cpu ?? [] },
                    { label: "kernel busy", color: "#d97706", points: sig?.kernelBusy ?? [] },
                  ]}
                />
                {sig?.verdict ? <p className="muted small" style={{ marginBottom: 0 }}>Reclaim policy: {sig.verdict.reason}</p> : null}
              </section>
              <section className="card card-flush">
                <div className="card-head">
                  <h2>Snapshots</h2>
                </div>
                {snapshots.isPending ? (
                  <LoadingRows />
                ) : (snapshots.data ?? []).length === 0 ? (
                  <Empty title="No snapshots yet">
                    <p className="small">Parking takes one; so does the policy&apos;s periodic snapshot.</p>
                  </Empty>
                ) : (
                  <div className="table-wrap">
                    <table aria-label="Snapshots">
                      <thead>
                        <tr>
                          <th>Taken</th>
                          <th>Why</th>
                          <th className="num">Size</th>
                          <th className="num">New bytes</th>
                          <th className="num">Files</th>
                          <th className="num">Took</th>
                        </tr>
                      </thead>
                      <tbody>
                        {snapshots.data!.map((x) => (
                          <tr key={x.id}>
                            <td title={x.id}>{dateTime(x.createdAt)}</td>
                            <td className="reason">{x.reason}</td>
                            <td className="num">{bytes(x.sizeBytes)}</td>
                            <td className="num">{bytes(x.newBytes)}</td>
                            <td className="num">{x.files.toLocaleString()}</td>
                            <td className="num">{duration(x.durationMs)}</td>
                          </tr>
                        ))}
                      </tbody>
                    </table>
                  </div>
                )}
              </section>
            </div>
            <div className="stack">
              <section className="card">
                <h2>Details</h2>
                <dl className="kv">
                  <dt>Owner</dt>
                  <dd>{s.owner}</dd>
                  <dt>Project</dt>
                  <dd>{s.project}</dd>
                  <dt>GPUs</dt>
                  <dd className="mono">
                    {s.gpuCount} × {s.gpuType}
                    {s.gpuIndices.length ? ` (#${s.gpuIndices.join(", #")})` : ""}
                  </dd>
                  <dt>Node</dt>
                  <dd>{s.node ?? "—"}</dd>
                  <dt>Created</dt>
                  <dd>{dateTime(s.createdAt)}</dd>
                  <dt>Started</dt>
                  <dd>{dateTime(s.startedAt)}</dd>
                  {s.keepAliveUntil && new Date(s.keepAliveUntil).getTime() > now ? (
                    <>
                      <dt>Kept alive</dt>
                      <dd>until {dateTime(s.keepAliveUntil)}</dd>
                    </>
                  ) : null}
                  {r ? (
                    <>
                      <dt>Last resume</dt>
                      <dd>
                        {r.totalMs !== null ? <strong>{duration(r.totalMs)}</strong> : "in progress"}
                        <div className="muted small">
                          scheduling {duration(r.schedulingMs)}
                          {r.preemptionMs ? ` (preemption ${duration(r.preemptionMs)})` : ""} · restore {duration(r.restoreMs)}
                          {r.restoreSource ? ` from ${r.restoreSource}` : ""} · start {duration(r.startMs)}
                        </div>
                      </dd>
                    </>
                  ) : null}
                </dl>
              </section>
              <section className="card">
                <h2>Timeline</h2>
                {events.isPending ? (
                  <LoadingRows />
                ) : (
                  <ol className="timeline" aria-label="Timeline">
                    {[...(events.data ?? [])].reverse().map((e) => (
                      <li key={e.id}>
                        <span className="dot" aria-hidden="true" />
                        <div>
                          <div className="row" style={{ gap: 8 }}>
                            <StateBadge state={e.toState} />
                            <span className="when" title={dateTime(e.at)}>
                              {relative(e.at, now)} · {e.actor}
                            </span>
                          </div>
                          <div className="reason">{e.reason}</div>
                        </div>
                      </li>
                    ))}
                  </ol>
                )}
              </section>
            </div>
          </div>
        </div>
      ) : (
        <LoadingRows rows={6} />
      )}
    </>
  );
}
