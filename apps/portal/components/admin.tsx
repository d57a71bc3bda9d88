"use client";
import type { ReactNode } from "react";
import { useMe } from "./providers";
import { PageHead } from "./ui";

/** Admin pages render for admins only; anyone else reaching the URL is told why (the API refuses them anyway). */
export function AdminOnly({ children }: { children: ReactNode }) {
  const me = useMe();
  if (me.role === "admin") return <>{children}</>;
  return (
    <>
      <PageHead title="Admins only" />
      <div className="notice notice-warn" role="alert">
        This page is for Daybox admins; you are signed in as {me.name} ({me.role}). Ask an admin if you need something changed.
      </div>
    </>
  );
}

/** A horizontal bar split into parts (e.g. a node's GPUs: sessions, jobs, free). */
export function SplitBar({ parts, total, label }: { parts: { value: number; color: string; label: string }[]; total: number; label: string }) {
  return (
    <div className="splitbar" role="img" aria-label={`${label}: ${parts.map((p) => `${p.value} ${p.label}`).join(", ")} of ${total}`}>
      {parts.map((p) =>
        p.value > 0 ? <div key={p.label} style={{ width: `${(p.value / Math.max(total, 1)) * 100}%`, background: p.color }} title={`${p.value} ${p.label}`} /> : null,
      )}
    </div>
  );
}
