"use client";
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { api } from "../../../../lib/api";
import { dateTime } from "../../../../lib/format";
import { AdminOnly } from "../../../../components/admin";
import { Empty, ErrorNotice, LoadingRows, PageHead } from "../../../../components/ui";

/** The audit API filters by action prefix. */
const ACTIONS: [string, string][] = [
  ["", "all actions"],
  ["policy.", "policies"],
  ["project.", "projects"],
  ["quota.", "quotas"],
  ["user.", "users and sign-ins"],
  ["token.", "API tokens"],
  ["node.", "nodes"],
  ["install.", "installation"],
];

function Audit() {
  const [action, setAction] = useState("");
  const [limit, setLimit] = useState(100);
  const [who, setWho] = useState("");
  const audit = useQuery({ queryKey: ["audit", action, limit], queryFn: () => api.audit.list.query({ limit, ...(action ? { action } : {}) }) });
  const rows = (audit.data ?? []).filter((r) => !who || r.actor.includes(who.trim()));
  return (
    <>
      <PageHead title="Audit log" crumbs="Every admin action: who, what, when, and why" />
      <div className="filters" role="search">
        <label className="field">
          <span>Action</span>
          <select value={action} onChange={(e) => setAction(e.target.value)}>
            {ACTIONS.map(([prefix, label]) => (
              <option key={prefix} value={prefix}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>Actor</span>
          <input value={who} onChange={(e) => setWho(e.target.value)} placeholder="e.g. admin" />
        </label>
        <label className="field" style={{ minWidth: 120 }}>
          <span>Show</span>
          <select value={limit} onChange={(e) => setLimit(Number(e.target.value))}>
            {[50, 100, 500, 1000].map((n) => (
              <option key={n} value={n}>
                last {n}
              </option>
            ))}
          </select>
        </label>
      </div>
      <ErrorNotice error={audit.error} />
      <section className="card card-flush">
        {audit.isPending ? (
          <LoadingRows rows={5} />
        ) : rows.length === 0 ? (
          <Empty title="Nothing recorded for this filter" />
        ) : (
          <div className="table-wrap">
            <table aria-label="Audit log">
              <thead>
                <tr>
                  <th>When</th>
                  <th>Who</th>
                  <th>Action</th>
                  <th>Target</th>
                  <th>Details</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((r) => (
                  <tr key={r.id}>
                    <td className="small" style={{ whiteSpace: "nowrap" }}>
                      {dateTime(r.at)}
                    </td>
                    <td>{r.actor}</td>
                    <td className="mono small">{r.action}</td>
                    <td className="mono small">{r.target}</td>
                    <td className="small">
                      {r.details && Object.keys(r.details as object).length ? (
                        <details>
                          <summary>{String((r.details as { reason?: unknown }).reason ?? "details")}</summary>
                          <pre className="diff">{JSON.stringify(r.details, null, 2)}</pre>
                        </details>
                      ) : (
                        <span className="muted">—</span>
                      )}
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

export default function AuditPage() {
  return (
    <AdminOnly>
      <Audit />
    </AdminOnly>
  );
}
