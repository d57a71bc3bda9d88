"use client";
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useMemo, useState, type FormEvent } from "react";
import { api, errorMessage } from "../../../../lib/api";
import { useAction } from "../../../../lib/hooks";
import { PageHead } from "../../../../components/ui";

const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export default function LaunchPage() {
  const router = useRouter();
  const projects = useQuery({ queryKey: ["projects"], queryFn: () => api.projects.list.query() });
  const nodes = useQuery({ queryKey: ["nodes"], queryFn: () => api.nodes.list.query(), refetchInterval: 10_000 });
  const [project, setProject] = useState<string>("");
  const [gpuType, setGpuType] = useState<string>("");
  const [gpus, setGpus] = useState(1);
  const [name, setName] = useState("");
  const [touched, setTouched] = useState(false);

  const chosen = projects.data?.find((p) => p.name === (project || projects.data?.[0]?.name));
  const type = gpuType || chosen?.quotas[0]?.gpuType || "";
  const quota = chosen?.quotas.find((q) => q.gpuType === type)?.guaranteed ?? 0;
  const free = useMemo(() => {
    const out = new Map<string, number>();
    for (const n of nodes.data ?? []) {
      if (n.state !== "Ready" || !n.schedulable || n.draining) continue;
      out.set(n.gpuType, (out.get(n.gpuType) ?? 0) + n.gpuCount - n.gpusAllocated);
    }
    return out;
  }, [nodes.data]);
  const freeNow = free.get(type) ?? 0;

  const errors: Record<string, string> = {};
  if (name && !NAME.test(name)) errors.name = "Use lowercase letters, digits and dashes (start and end with a letter or digit).";
  if (!Number.isInteger(gpus) || gpus < 1) errors.gpus = "Ask for at least one GPU.";
  else if (quota && gpus > quota) errors.gpus = `Project ${chosen?.name} may use at most ${quota} ${type} GPUs at once.`;
  const valid = Object.keys(errors).length === 0 && chosen && type;

  const launch = useAction(
    () => api.sessions.create.mutate({ project: chosen!.name, gpuType: type, gpus, ...(name ? { name } : {}) }),
    (s) => router.push(`/sessions/${s.id}`),
  );

  function submit(e: FormEvent) {
    e.preventDefault();
    setTouched(true);
    if (valid) launch.mutate(undefined);
  }

  return (
    <>
      <PageHead title="Launch a session" crumbs={<Link href="/">Sessions</Link>} />
      <div className="grid-2">
        <form className="card form" onSubmit={submit} noValidate aria-label="Launch a session">
          {projects.data && projects.data.length === 0 ? (
            <div className="notice notice-warn" role="alert">
              You are not a member of any project yet. Ask an admin: <code>daybox project add-member &lt;project&gt; &lt;you&gt;</code>
            </div>
          ) : null}
          <div className="form-row">
            <label className="field">
              <span>Project</span>
              <select name="project" value={chosen?.name ?? ""} onChange={(e) => { setProject(e.target.value); setGpuType(""); }} disabled={!projects.data?.length}>
                {(projects.data ?? []).map((p) => (
                  <option key={p.name} value={p.name}>
                    {p.name}
                  </option>
                ))}
              </select>
            </label>
            <label className="field">
              <span>GPU type</span>
              <select name="gpuType" value={type} onChange={(e) => setGpuType(e.target.value)} disabled={!chosen?.quotas.length}>
                {(chosen?.quotas ?? []).map((q) => (
                  <option key={q.gpuType} value={q.gpuType}>
                    {q.gpuType} — {free.get(q.gpuType) ?? 0} free now
                  </option>
                ))}
              </select>
            </label>
          </div>
          <div className="form-row">
            <label className="field">
              <span>
                GPUs <span className="hint">(quota {quota || "—"}, {freeNow} free now)</span>
              </span>
              <input
                name="gpus"
                type="number"
                min={1}
                max={quota || undefined}
                value={Number.isNaN(gpus) ? "" : gpus}
                onChange={(e) => setGpus(e.target.valueAsNumber)}
                aria-invalid={touched && !!errors.gpus}
                aria-describedby="gpus-error"
              />
              {touched && errors.gpus ? <span id="gpus-error" className="field-error">{errors.gpus}</span> : null}
            </label>
            <label className="field">
              <span>
                Name <span className="hint">(optional)</span>
              </span>
              <input name="name" value={name} placeholder="e.g. llama-finetune" onChange={(e) => setName(e.target.value.trim())} aria-invalid={!!errors.name} aria-describedby="name-error" />
              {errors.name ? <span id="name-error" className="field-error">{errors.name}</span> : null}
            </label>
          </div>
          <label className="field">
            <span>Environment</span>
            <select name="image" defaultValue="default">
              <option value="default">Default — JupyterLab and a terminal, your home directory kept across parks</option>
            </select>
          </label>
          {launch.error ? (
            <div className="notice notice-err" role="alert">
              {errorMessage(launch.error)}
            </div>
          ) : null}
          {freeNow < gpus && !errors.gpus && type ? (
            <div className="notice notice-warn">
              Only {freeNow} {type} GPU{freeNow === 1 ? " is" : "s are"} free right now: the session will wait for capacity (batch jobs borrowing your project&apos;s
              quota are preempted for it).
            </div>
          ) : null}
          <div className="row">
            <button type="submit" className="btn btn-primary" disabled={launch.isPending || !chosen}>
              {launch.isPending ? "Launching…" : "Launch"}
            </button>
            <Link href="/" className="btn btn-ghost">
              Cancel
            </Link>
          </div>
        </form>
        <aside className="card">
          <h2>What you get</h2>
          <ul className="muted" style={{ paddingLeft: 18, margin: 0 }}>
            <li>JupyterLab and a browser terminal, on {gpus || 1} dedicated GPU{gpus > 1 ? "s" : ""}.</li>
            <li>When the session sits idle, its reclaim policy warns you, then parks it: your home, packages and notebooks are snapshotted and the GPUs go to batch work.</li>
            <li>Resume brings everything back, usually within seconds on the same node.</li>
          </ul>
        </aside>
      </div>
    </>
  );
}
