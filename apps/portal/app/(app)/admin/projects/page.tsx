"use client";
import { useQuery } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { api, errorMessage } from "../../../../lib/api";
import { useAction } from "../../../../lib/hooks";
import { AdminOnly } from "../../../../components/admin";
import { Empty, ErrorNotice, LoadingRows, PageHead } from "../../../../components/ui";

function ProjectDetail({ name }: { name: string }) {
  const project = useQuery({ queryKey: ["project", name], queryFn: () => api.projects.byName.query({ name }) });
  const setQuota = useAction((q: { gpuType: string; guaranteed: number }) => api.projects.setQuota.mutate({ project: name, ...q }));
  const addMember = useAction((m: { user: string; role: "member" | "manager" }) => api.projects.addMember.mutate({ project: name, ...m }));
  const removeMember = useAction((user: string) => api.projects.removeMember.mutate({ project: name, user }));
  const failed = setQuota.error ?? addMember.error ?? removeMember.error;
  if (project.isPending) return <LoadingRows />;
  if (project.error) return <ErrorNotice error={project.error} />;
  const p = project.data;
  return (
    <div className="grid-2" style={{ padding: "0 20px 20px" }}>
      <div className="stack" style={{ gap: 10 }}>
        <h3>Quotas (guaranteed GPUs)</h3>
        <table aria-label={`Quotas of ${name}`}>
          <tbody>
            {p.quotas.map((q) => (
              <tr key={q.gpuType}>
                <td className="mono">{q.gpuType}</td>
                <td className="num">
                  <input
                    type="number"
                    min={0}
                    aria-label={`${q.gpuType} quota`}
                    defaultValue={q.guaranteed}
                    style={{ width: 90 }}
                    onBlur={(e) => e.target.valueAsNumber !== q.guaranteed && setQuota.mutate({ gpuType: q.gpuType, guaranteed: e.target.valueAsNumber })}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <form
          className="row"
          onSubmit={(e: FormEvent<HTMLFormElement>) => {
            e.preventDefault();
            const f = new FormData(e.currentTarget);
            setQuota.mutate({ gpuType: String(f.get("gpuType")).trim(), guaranteed: Number(f.get("guaranteed")) });
          }}
        >
          <input name="gpuType" placeholder="GPU type, e.g. a100" aria-label="New quota GPU type" required style={{ width: 180 }} />
          <input name="guaranteed" type="number" min={0} defaultValue={1} aria-label="New quota GPUs" style={{ width: 90 }} />
          <button className="btn btn-sm" type="submit">
            Set quota
          </button>
        </form>
      </div>
      <div className="stack" style={{ gap: 10 }}>
        <h3>Members</h3>
        <table aria-label={`Members of ${name}`}>
          <tbody>
            {p.members.map((m) => (
              <tr key={m.user}>
                <td>{m.user}</td>
                <td className="muted">{m.role}</td>
                <td className="num">
                  <button type="button" className="btn btn-sm btn-ghost" onClick={() => removeMember.mutate(m.user)}>
                    Remove
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <form
          className="row"
          onSubmit={(e: FormEvent<HTMLFormElement>) => {
            e.preventDefault();
            const f = new FormData(e.currentTarget);
            addMember.mutate({ user: String(f.get("user")).trim(), role: f.get("role") === "manager" ? "manager" : "member" });
          }}
        >
          <input name="user" placeholder="user name" aria-label="User to add" required style={{ width: 160 }} />
          <select name="role" aria-label="Role" style={{ width: 120 }}>
            <option value="member">member</option>
            <option value="manager">manager</option>
          </select>
          <button className="btn btn-sm" type="submit">
            Add member
          </button>
        </form>
      </div>
      {failed ? (
        <div className="notice notice-err" role="alert" style={{ gridColumn: "1 / -1" }}>
          {errorMessage(failed)}
        </div>
      ) : null}
    </div>
  );
}

function Projects() {
  const projects = useQuery({ queryKey: ["projects"], queryFn: () => api.projects.list.query() });
  const [open, setOpen] = useState<string | null>(null);
  const create = useAction((p: { name: string; description?: string }) => api.projects.create.mutate(p), (p) => setOpen(p.name));
  const rows = projects.data ?? [];
  return (
    <>
      <PageHead title="Projects and quotas" crumbs="Who may use how many GPUs of each type, guaranteed" />
      <div className="stack">
        <form
          className="card row"
          aria-label="Create a project"
          onSubmit={(e: FormEvent<HTMLFormElement>) => {
            e.preventDefault();
            const f = new FormData(e.currentTarget);
            const description = String(f.get("description") ?? "").trim();
            create.mutate({ name: String(f.get("name")).trim(), ...(description ? { description } : {}) });
            e.currentTarget.reset();
          }}
        >
          <input name="name" placeholder="new project name" aria-label="Project name" required style={{ width: 220 }} />
          <input name="description" placeholder="description (optional)" aria-label="Description" style={{ flex: 1, minWidth: 200 }} />
          <button className="btn btn-primary" type="submit" disabled={create.isPending}>
            Create project
          </button>
        </form>
        <ErrorNotice error={projects.error ?? create.error} />
        <section className="card card-flush">
          {projects.isPending ? (
            <LoadingRows />
          ) : rows.length === 0 ? (
            <Empty title="No projects" />
          ) : (
            <div className="table-wrap">
              <table aria-label="Projects">
                <thead>
                  <tr>
                    <th>Project</th>
                    <th>Quotas</th>
                    <th className="num">Members</th>
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {rows.flatMap((p) => [
                    <tr key={p.name}>
                      <td>
                        <strong>{p.name}</strong>
                        <div className="muted small">{p.description}</div>
                      </td>
                      <td className="mono small">{p.quotas.map((q) => `${q.guaranteed} × ${q.gpuType}`).join(", ") || "—"}</td>
                      <td className="num">{p.members}</td>
                      <td className="num">
                        <button type="button" className="btn btn-sm" aria-expanded={open === p.name} onClick={() => setOpen(open === p.name ? null : p.name)}>
                          {open === p.name ? "Close" : "Manage"}
                        </button>
                      </td>
                    </tr>,
                    open === p.name ? (
                      <tr key={`${p.name}-detail`}>
                        <td colSpan={4} style={{ padding: 0, background: "var(--surface)" }}>
                          <ProjectDetail name={p.name} />
                        </td>
                      </tr>
                    ) : null,
                  ])}
                </tbody>
              </table>
            </div>
          )}
        </section>
      </div>
    </>
  );
}

export default function ProjectsPage() {
  return (
    <AdminOnly>
      <Projects />
    </AdminOnly>
  );
}
