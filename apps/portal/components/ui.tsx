"use client";
import { useState, type ReactNode } from "react";

const STATE_TONE: Record<string, string> = {
  Running: "ok",
  Ready: "ok",
  NotReady: "err",
  Down: "err",
  Pending: "info",
  Scheduled: "info",
  Starting: "info",
  Restoring: "info",
  Resuming: "info",
  Parking: "warn",
  Snapshotting: "warn",
  Stopping: "warn",
  Parked: "",
  Stopped: "",
  Terminated: "",
  Failed: "err",
  Lost: "err",
  Queued: "info",
  Cancelling: "warn",
  Succeeded: "ok",
  Cancelled: "",
  Preempting: "warn",
};
const BUSY = new Set(["Pending", "Scheduled", "Starting", "Restoring", "Resuming", "Parking", "Stopping", "Cancelling", "Preempting", "Snapshotting"]);

/** A session's or job's state as a coloured pill; transitional states pulse. */
export function StateBadge({ state }: { state: string }) {
  const tone = STATE_TONE[state] ?? "";
  return <span className={`badge${tone ? ` badge-${tone}` : ""}${BUSY.has(state) ? " badge-busy" : ""}`}>{state}</span>;
}

export function PageHead({ title, crumbs, children }: { title: ReactNode; crumbs?: ReactNode; children?: ReactNode }) {
  return (
    <div className="page-head">
      <div>
        {crumbs ? <div className="crumbs">{crumbs}</div> : null}
        <h1>{title}</h1>
      </div>
      <div className="spacer" />
      {children}
    </div>
  );
}

export function ErrorNotice({ error, what }: { error: unknown; what?: string }) {
  if (!error) return null;
  const message = error instanceof Error ? error.message : String(error);
  return (
    <div className="notice notice-err" role="alert">
      {what ? <strong>{what}: </strong> : null}
      {message}
    </div>
  );
}

/** Rows of grey bars the size of the content to come, so nothing jumps when it arrives. */
export function LoadingRows({ rows = 3 }: { rows?: number }) {
  return (
    <div className="stack" aria-busy="true" aria-label="Loading" style={{ padding: "16px 20px" }}>
      {Array.from({ length: rows }, (_, i) => (
        <div key={i} className="skeleton" style={{ width: `${90 - i * 12}%` }} />
      ))}
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <h3>{title}</h3>
      {children}
    </div>
  );
}

/** A secret to pass on (an API token, a generated password): shown once, with a copy button. */
export function ShownOnce({ value, label, testId }: { value: string; label?: string; testId?: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <div className="secret">
      {label ? (
        <span className="small" style={{ minWidth: 110 }}>
          {label}
        </span>
      ) : null}
      <code data-testid={testId}>{value}</code>
      <button
        type="button"
        className="btn btn-sm"
        onClick={async () => {
          await navigator.clipboard.writeText(value);
          setCopied(true);
        }}
      >
        {copied ? "Copied" : "Copy"}
      </button>
    </div>
  );
}
