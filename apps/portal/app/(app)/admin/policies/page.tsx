"use client";
import { useQuery } from "@tanstack/react-query";
import { lineDiff } from "@daybox/policy/diff";
import { useState } from "react";
import { stringify } from "yaml";
import { api, errorMessage, type Outputs } from "../../../../lib/api";
import { dateTime, duration } from "../../../../lib/format";
import { useAction, useNow } from "../../../../lib/hooks";
import { readPolicyYaml, withLines } from "../../../../lib/policy-yaml";
import { AdminOnly } from "../../../../components/admin";
import { Empty, ErrorNotice, LoadingRows, PageHead } from "../../../../components/ui";

type Policy = Outputs["policies"]["list"][number];
type DryRun = Outputs["policies"]["dryRun"];

const TEMPLATE = `name: research-default
description: Park sessions nobody has touched for half an hour
scope: { kind: global }          # or { kind: project, project: vision } / { kind: gpu, gpuType: a100 }
idle:
  signals: [kernel, terminal, gpu]
  gpuUtilBelow: 5
  after: 30m
warning: 5m
extensions: { max: 1, each: 1h }
action: park                     # park | notify | stop
snapshotInterval: 2h
`;

const toYaml = (doc: unknown) => stringify(doc, { lineWidth: 0 });

function Issues({ text, error }: { text: string; error: unknown }) {
  if (!error) return null;
  const lines = withLines(text, errorMessage(error));
  return (
    <div className="notice notice-err" role="alert">
      {lines.length > 1 ? (
        <ul style={{ margin: 0, paddingLeft: 18 }}>
          {lines.map((l) => (
            <li key={l}>{l}</li>
          ))}
        </ul>
      ) : (
        lines[0]
      )}
    </div>
  );
}

function DryRunResult({ result }: { result: DryRun }) {
  const now = useNow(5_000);
  const c = result.counts;
  return (
    <section className="card card-flush" aria-label="Dry run">
      <div className="card-head">
        <h2>
          Dry run of {result.policy.name} v{result.policy.version}
        </h2>
      </div>
      <p className="muted small" style={{ padding: "0 20px" }}>
        {result.policy.summary}. Governs {result.governed} of {result.runningSessions} running sessions: {c.reclaim} would be reclaimed now, {c.warn} warned,{" "}
        {c.idle} idle, {c.active} active, {c.exempt} exempt.
      </p>
      {result.verdicts.length === 0 ? (
        <Empty title="No running session falls under this policy" />
      ) : (
        <div className="table-wrap">
          <table aria-label="Dry run result">
            <thead>
              <tr>
                <th>Session</th>
                <th>Owner</th>
                <th>Project</th>
                <th>Verdict</th>
                <th>When</th>
                <th>Why</th>
              </tr>
            </thead>
            <tbody>
              {result.verdicts.map((v) => (
                <tr key={v.sessionId}>
                  <td>
                    <strong>{v.session}</strong>
                    <div className="muted small mono">{v.sessionId}</div>
                  </td>
                  <td>{v.owner}</td>
                  <td>{v.project}</td>
                  <td>
                    <span className={`badge ${v.kind === "reclaim" ? "badge-err" : v.kind === "warn" ? "badge-warn" : v.kind === "active" ? "badge-ok" : ""}`}>{v.kind}</span>
                  </td>
                  <td className="small">
                    {v.reclaimAt ? (new Date(v.reclaimAt).getTime() > now ? `reclaim in ${duration(new Date(v.reclaimAt).getTime() - now)}` : "reclaim now") : "—"}
                  </td>
                  <td className="reason">{v.reason}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function History({ name }: { name: string }) {
  const history = useQuery({ queryKey: ["policy-history", name], queryFn: () => api.policies.history.query({ name }) });
  if (history.isPending) return <LoadingRows />;
  if (history.error) return <ErrorNotice error={history.error} />;
  const versions = [...history.data].sort((a, b) => b.version - a.version);
  return (
    <ol className="timeline" aria-label={`History of ${name}`}>
      {versions.map((v, i) => {
        const previous = versions[i + 1];
        const diff = lineDiff(previous ? toYaml(previous.document) : "", toYaml(v.document));
        return (
          <li key={v.version}>
            <span className="dot" aria-hidden="true" />
            <div>
              <div className="row" style={{ gap: 8 }}>
                <strong>v{v.version}</strong>
                {v.active && i === 0 ? <span className="badge badge-ok">active</span> : null}
                <span className="when">
                  {dateTime(v.createdAt)} · {v.createdBy}
                </span>
              </div>
              <div className="reason">“{v.reason}”</div>
              <pre className="diff" aria-label={`Changes in v${v.version}`}>
                {diff.split("\n").map((line, n) => (
                  <span key={n} className={line.startsWith("+ ") ? "add" : line.startsWith("- ") ? "del" : ""}>
                    {line}
                  </span>
                ))}
              </pre>
            </div>
          </li>
        );
      })}
    </ol>
  );
}

function Editor({ initial, onDone }: { initial: string; onDone: () => void }) {
  const [text, setText] = useState(initial);
  const [reason, setReason] = useState("");
  const [localError, setLocalError] = useState<string | null>(null);
  const [result, setResult] = useState<DryRun | null>(null);
  const parse = () => {
    const r = readPolicyYaml(text);
    setLocalError(r.ok ? null : r.error);
    return r.ok ? r.doc : null;
  };
  const dryRun = useAction((doc: Record<string, unknown>) => api.policies.dryRun.mutate({ document: doc }), setResult);
  const apply = useAction((doc: Record<string, unknown>) => api.policies.apply.mutate({ document: doc, reason }), () => onDone());
  const serverError = dryRun.error ?? apply.error;
  return (
    <div className="stack">
      <section className="card form">
        <label className="field">
          <span>
            Policy YAML <span className="hint">— durations like 90s, 30m, 2h; unknown fields are rejected</span>
          </span>
          <textarea
            aria-label="Policy YAML"
            rows={Math.max(14, text.split("\n").length + 2)}
            spellCheck={false}
            value={text}
            onChange={(e) => {
              setText(e.target.value);
              setResult(null);
            }}
          />
        </label>
        {localError ? (
          <div className="notice notice-err" role="alert">
            {localError}
          </div>
        ) : (
          <Issues text={text} error={serverError} />
        )}
        <label className="field">
          <span>
            Why <span className="hint">(recorded in the audit log and the policy&apos;s history)</span>
          </span>
          <input value={reason} onChange={(e) => setReason(e.target.value)} placeholder="e.g. A100s are oversubscribed this week" />
        </label>
        <div className="row">
          <button
            type="button"
            className="btn"
            disabled={dryRun.isPending}
            onClick={() => {
              apply.reset();
              const doc = parse();
              if (doc) dryRun.mutate(doc);
            }}
          >
            {dryRun.isPending ? "Evaluating…" : "Dry run"}
          </button>
          <button
            type="button"
            className="btn btn-primary"
            disabled={apply.isPending || !reason.trim()}
            title={reason.trim() ? undefined : "Say why first"}
            onClick={() => {
              dryRun.reset();
              const doc = parse();
              if (doc) apply.mutate(doc);
            }}
          >
            Apply
          </button>
          <button type="button" className="btn btn-ghost" onClick={onDone}>
            Cancel
          </button>
        </div>
      </section>
      {result ? <DryRunResult result={result} /> : null}
    </div>
  );
}

function Policies() {
  const policies = useQuery({ queryKey: ["policies"], queryFn: () => api.policies.list.query() });
  const [editing, setEditing] = useState<{ key: string; text: string } | null>(null);
  const [history, setHistory] = useState<string | null>(null);
  const [removing, setRemoving] = useState<{ name: string; reason: string } | null>(null);
  const remove = useAction((r: { name: string; reason: string }) => api.policies.remove.mutate(r), () => setRemoving(null));
  const rows: Policy[] = policies.data ?? [];
  return (
    <>
      <PageHead title="Reclaim policies" crumbs="When idle sessions are warned, and parked, stopped or flagged">
        <button type="button" className="btn btn-primary" onClick={() => setEditing({ key: `new-${Date.now()}`, text: TEMPLATE })}>
          New policy
        </button>
      </PageHead>
      <div className="stack">
        {editing ? <Editor key={editing.key} initial={editing.text} onDone={() => setEditing(null)} /> : null}
        <ErrorNotice error={policies.error ?? remove.error} />
        <section className="card card-flush">
          {policies.isPending ? (
            <LoadingRows />
          ) : rows.length === 0 ? (
            <Empty title="No reclaim policies">
              <p>Sessions are never reclaimed. Add one to give idle GPUs back to batch work.</p>
            </Empty>
          ) : (
            <div className="table-wrap">
              <table aria-label="Policies">
                <thead>
                  <tr>
                    <th>Name</th>
                    <th>Scope</th>
                    <th>Rule</th>
                    <th>Version</th>
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {rows.map((p) => (
                    <tr key={p.name}>
                      <td>
                        <strong>{p.name}</strong>
                        <div className="muted small">{String((p.document as { description?: string }).description ?? "")}</div>
                      </td>
                      <td className="mono">{p.scope}</td>
                      <td className="reason">{p.summary}</td>
                      <td>
                        v{p.version}
                        <div className="muted small">
                          {p.createdBy}, {dateTime(p.createdAt)}
                        </div>
                      </td>
                      <td className="num">
                        <div className="row" style={{ justifyContent: "flex-end", gap: 6 }}>
                          <button type="button" className="btn btn-sm" onClick={() => setEditing({ key: `${p.name}-${p.version}-${Date.now()}`, text: toYaml(p.document) })}>
                            Edit
                          </button>
                          <button type="button" className="btn btn-sm" aria-expanded={history === p.name} onClick={() => setHistory(history === p.name ? null : p.name)}>
                            History
                          </button>
                          <button type="button" className="btn btn-sm btn-danger" onClick={() => setRemoving({ name: p.name, reason: "" })}>
                            Remove
                          </button>
                        </div>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </section>
        {removing ? (
          <section className="card form" aria-label={`Remove ${removing.name}`}>
            <h2>Remove {removing.name}?</h2>
            <p className="muted">Sessions it governs fall back to the next most specific policy, or are never reclaimed.</p>
            <label className="field">
              <span>Why</span>
              <input autoFocus value={removing.reason} onChange={(e) => setRemoving({ ...removing, reason: e.target.value })} />
            </label>
            <div className="row">
              <button type="button" className="btn btn-danger" disabled={!removing.reason.trim() || remove.isPending} onClick={() => remove.mutate(removing)}>
                Remove policy
              </button>
              <button type="button" className="btn btn-ghost" onClick={() => setRemoving(null)}>
                Cancel
              </button>
            </div>
          </section>
        ) : null}
        {history ? (
          <section className="card">
            <h2>History of {history}</h2>
            <History name={history} />
          </section>
        ) : null}
      </div>
    </>
  );
}

export default function PoliciesPage() {
  return (
    <AdminOnly>
      <Policies />
    </AdminOnly>
  );
}
