"use client";
import { useQuery } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { api, errorMessage } from "../../../../lib/api";
import { relative } from "../../../../lib/format";
import { useAction, useNow } from "../../../../lib/hooks";
import { AdminOnly } from "../../../../components/admin";
import { Empty, ErrorNotice, LoadingRows, PageHead, ShownOnce } from "../../../../components/ui";

function Users() {
  const now = useNow();
  const users = useQuery({ queryKey: ["users"], queryFn: () => api.users.list.query() });
  const [secrets, setSecrets] = useState<{ who: string; token?: string; email?: string | null; password?: string | null } | null>(null);
  const create = useAction(
    (u: { name: string; role: "researcher" | "admin"; email?: string }) => api.users.create.mutate(u),
    (u) => setSecrets({ who: u.name, token: u.token, email: u.email, password: u.password }),
  );
  const reset = useAction(
    (u: { user: string; email?: string }) => api.users.setPassword.mutate(u),
    (r) => setSecrets({ who: r.name, email: r.email, password: r.password }),
  );
  const [resetFor, setResetFor] = useState<string | null>(null);
  const rows = (users.data ?? []).filter((u) => u.role !== "agent");

  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const email = String(f.get("email") ?? "").trim();
    create.mutate({ name: String(f.get("name")).trim(), role: f.get("role") === "admin" ? "admin" : "researcher", ...(email ? { email } : {}) });
    e.currentTarget.reset();
  }

  return (
    <>
      <PageHead title="Users" crumbs="Accounts, their portal sign-in, and their role" />
      <div className="stack">
        <form className="card form" onSubmit={submit} aria-label="Create a user">
          <h2>New user</h2>
          <div className="form-row">
            <label className="field">
              <span>Name</span>
              <input name="name" required placeholder="e.g. ada" pattern="[a-z0-9]([a-z0-9-]*[a-z0-9])?" title="lowercase letters, digits and dashes" />
            </label>
            <label className="field">
              <span>
                Email <span className="hint">(for portal sign-in; a password is generated)</span>
              </span>
              <input name="email" type="email" placeholder="ada@example.org" />
            </label>
            <label className="field">
              <span>Role</span>
              <select name="role" defaultValue="researcher">
                <option value="researcher">researcher</option>
                <option value="admin">admin</option>
              </select>
            </label>
          </div>
          {create.error ? <div className="notice notice-err" role="alert">{errorMessage(create.error)}</div> : null}
          <div>
            <button className="btn btn-primary" type="submit" disabled={create.isPending}>
              Create user
            </button>
          </div>
        </form>
        {secrets ? (
          <div className="notice notice-ok stack" style={{ gap: 8 }} role="status">
            <strong>Pass these on to {secrets.who} now: they are shown only once.</strong>
            {secrets.token ? <ShownOnce key={secrets.token} label="API token" value={secrets.token} /> : null}
            {secrets.email && secrets.password ? <ShownOnce key={secrets.password} label={`Sign-in ${secrets.email}`} value={secrets.password} /> : null}
            <button type="button" className="link small" style={{ justifySelf: "start" }} onClick={() => setSecrets(null)}>
              Done
            </button>
          </div>
        ) : null}
        <ErrorNotice error={users.error ?? reset.error} />
        <section className="card card-flush">
          {users.isPending ? (
            <LoadingRows />
          ) : rows.length === 0 ? (
            <Empty title="No users" />
          ) : (
            <div className="table-wrap">
              <table aria-label="Users">
                <thead>
                  <tr>
                    <th>Name</th>
                    <th>Role</th>
                    <th>Portal sign-in</th>
                    <th>Created</th>
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {rows.map((u) => (
                    <tr key={u.name}>
                      <td>
                        <strong>{u.name}</strong>
                        {u.disabled ? <span className="badge" style={{ marginLeft: 8 }}>disabled</span> : null}
                      </td>
                      <td>{u.role}</td>
                      <td>{u.email ?? <span className="muted">none (API token only)</span>}</td>
                      <td>{relative(u.createdAt, now)}</td>
                      <td className="num">
                        {resetFor === u.name ? (
                          <form
                            className="row"
                            style={{ justifyContent: "flex-end" }}
                            onSubmit={(e: FormEvent<HTMLFormElement>) => {
                              e.preventDefault();
                              const email = String(new FormData(e.currentTarget).get("email") ?? "").trim();
                              reset.mutate({ user: u.name, ...(email ? { email } : {}) });
                              setResetFor(null);
                            }}
                          >
                            <input name="email" type="email" defaultValue={u.email ?? ""} required={!u.email} placeholder="email" aria-label={`Email for ${u.name}`} style={{ width: 200 }} />
                            <button className="btn btn-sm btn-primary" type="submit">
                              New password
                            </button>
                            <button className="btn btn-sm btn-ghost" type="button" onClick={() => setResetFor(null)}>
                              Cancel
                            </button>
                          </form>
                        ) : (
                          <button type="button" className="btn btn-sm" onClick={() => setResetFor(u.name)}>
                            {u.email ? "Reset password" : "Give portal sign-in"}
                          </button>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </section>
      </div>
    </>
  );
}

export default function UsersPage() {
  return (
    <AdminOnly>
      <Users />
    </AdminOnly>
  );
}
