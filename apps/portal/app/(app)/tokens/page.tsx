"use client";
import { useQuery } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { api, errorMessage, type Outputs } from "../../../lib/api";
import { dateTime, relative } from "../../../lib/format";
import { useAction, useNow } from "../../../lib/hooks";
import { Empty, ErrorNotice, LoadingRows, PageHead, ShownOnce } from "../../../components/ui";

type Created = Outputs["tokens"]["create"];

/** API tokens for the CLI and scripts: create (the secret is shown once), see when each was last used, revoke. */
export default function TokensPage() {
  const now = useNow();
  const tokens = useQuery({ queryKey: ["tokens"], queryFn: () => api.tokens.list.query({ all: false }) });
  const [created, setCreated] = useState<Created | null>(null);
  const create = useAction((input: { name: string; expiresInDays?: number }) => api.tokens.create.mutate(input), setCreated);
  const revoke = useAction((id: string) => api.tokens.revoke.mutate({ id }));

  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const days = Number(form.get("expires"));
    create.mutate({ name: String(form.get("name") ?? "").trim(), ...(days ? { expiresInDays: days } : {}) });
    e.currentTarget.reset();
  }

  const rows = tokens.data ?? [];
  return (
    <>
      <PageHead title="API tokens" crumbs="For the daybox CLI, the Python SDK and scripts" />
      <div className="stack">
        <form className="card form" onSubmit={submit} aria-label="Create a token">
          <h2>New token</h2>
          <div className="form-row">
            <label className="field">
              <span>Name</span>
              <input name="name" required maxLength={100} placeholder="e.g. laptop" />
            </label>
            <label className="field">
              <span>Expires</span>
              <select name="expires" defaultValue="90">
                <option value="30">in 30 days</option>
                <option value="90">in 90 days</option>
                <option value="365">in a year</option>
                <option value="">never</option>
              </select>
            </label>
          </div>
          {create.error ? <div className="notice notice-err" role="alert">{errorMessage(create.error)}</div> : null}
          <div>
            <button className="btn btn-primary" type="submit" disabled={create.isPending}>
              Create token
            </button>
          </div>
          {created ? (
            <div className="notice notice-ok stack" style={{ gap: 8 }} role="status">
              <strong>Token “{created.name}” created. Copy it now: it is shown only once.</strong>
              <ShownOnce key={created.id} value={created.token} testId="new-token" />
              <span className="small">
                Use it with: <code>daybox login --url {typeof window === "undefined" ? "" : window.location.origin}</code> (paste the token when asked).
              </span>
            </div>
          ) : null}
        </form>
        <ErrorNotice error={tokens.error ?? revoke.error} />
        <section className="card card-flush">
          {tokens.isPending ? (
            <LoadingRows />
          ) : rows.length === 0 ? (
            <Empty title="No tokens yet" />
          ) : (
            <div className="table-wrap">
              <table aria-label="API tokens">
                <thead>
                  <tr>
                    <th>Name</th>
                    <th>Prefix</th>
                    <th>Created</th>
                    <th>Last used</th>
                    <th>Expires</th>
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {rows.map((t) => {
                    const dead = t.revokedAt ?? (t.expiresAt && new Date(t.expiresAt).getTime() < now ? t.expiresAt : null);
                    return (
                      <tr key={t.id}>
                        <td>
                          <strong>{t.name}</strong>
                        </td>
                        <td className="mono">{t.prefix}…</td>
                        <td title={dateTime(t.createdAt)}>{relative(t.createdAt, now)}</td>
                        <td>{t.lastUsedAt ? relative(t.lastUsedAt, now) : <span className="muted">never</span>}</td>
                        <td>{t.expiresAt ? dateTime(t.expiresAt) : <span className="muted">never</span>}</td>
                        <td className="num">
                          {t.revokedAt ? (
                            <span className="badge">revoked</span>
                          ) : dead ? (
                            <span className="badge">expired</span>
                          ) : (
                            <button type="button" className="btn btn-sm btn-danger" onClick={() => revoke.mutate(t.id)} disabled={revoke.isPending}>
                              Revoke
                            </button>
                          )}
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          )}
        </section>
      </div>
    </>
  );
}
