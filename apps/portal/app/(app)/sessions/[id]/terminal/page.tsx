"use client";
import "@xterm/xterm/css/xterm.css";
import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useParams } from "next/navigation";
import { useEffect, useRef, useState } from "react";
import { api } from "../../../../../lib/api";
import { ErrorNotice, PageHead, StateBadge } from "../../../../../components/ui";
import { useMe } from "../../../../../components/providers";

type Status = { kind: "connecting" } | { kind: "open" } | { kind: "reconnecting"; inMs: number; why: string } | { kind: "closed"; why: string };

/**
 * The session's shell in the browser: xterm.js over the API's terminal
 * WebSocket (authenticated by the portal cookie; only the owner gets in).
 * Resizes follow the window; a dropped connection reconnects with backoff.
 */
function TerminalView({ id, onStatus }: { id: string; onStatus: (s: Status) => void }) {
  const host = useRef<HTMLDivElement>(null);
  const setStatus = onStatus;

  useEffect(() => {
    let disposed = false;
    let ws: WebSocket | null = null;
    let retry: ReturnType<typeof setTimeout> | null = null;
    let attempts = 0;
    let cleanup = () => {};

    void (async () => {
      const [{ Terminal }, { FitAddon }] = await Promise.all([import("@xterm/xterm"), import("@xterm/addon-fit")]);
      if (disposed || !host.current) return;
      const term = new Terminal({
        cursorBlink: true,
        fontFamily: 'ui-monospace, "JetBrains Mono", Menlo, Consolas, monospace',
        fontSize: 13,
        theme: { background: "#0b0f14" },
        scrollback: 5000,
      });
      const fit = new FitAddon();
      term.loadAddon(fit);
      term.open(host.current);
      fit.fit();
      term.focus();
      const encoder = new TextEncoder();

      const sendResize = () => {
        if (ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "resize", cols: term.cols, rows: term.rows }));
      };
      const onData = term.onData((d) => {
        if (ws?.readyState === WebSocket.OPEN) ws.send(encoder.encode(d));
      });
      const onResize = term.onResize(sendResize);
      const observer = new ResizeObserver(() => fit.fit());
      observer.observe(host.current);

      const connect = () => {
        const url = new URL(`/v1/sessions/${id}/terminal`, window.location.href);
        url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
        url.searchParams.set("cols", String(term.cols));
        url.searchParams.set("rows", String(term.rows));
        const socket = new WebSocket(url);
        ws = socket;
        socket.binaryType = "arraybuffer";
        let exited = false;
        setStatus({ kind: "connecting" });
        socket.onopen = () => {
          attempts = 0;
          setStatus({ kind: "open" });
          sendResize();
        };
        socket.onmessage = (ev: MessageEvent<ArrayBuffer | string>) => {
          if (typeof ev.data !== "string") {
            term.write(new Uint8Array(ev.data));
            return;
          }
          const msg = JSON.parse(ev.data) as { type: string; code?: number | null; message?: string };
          if (msg.type === "exit") {
            exited = true;
            term.write(`\r\n\x1b[2m[shell exited${msg.code !== null && msg.code !== undefined ? ` with code ${msg.code}` : ""}]\x1b[0m\r\n`);
            setStatus({ kind: "closed", why: "the shell exited" });
          } else if (msg.type === "error") {
            term.write(`\r\n\x1b[31m${msg.message ?? "terminal error"}\x1b[0m\r\n`);
          }
        };
        socket.onclose = (ev) => {
          if (disposed || exited || ws !== socket) return;
          // 1008/4xxx: refused (not yours, not running) — retrying will not help.
          if (ev.code === 1008 || (ev.code >= 4000 && ev.code < 5000)) {
            setStatus({ kind: "closed", why: ev.reason || "the server refused the terminal" });
            return;
          }
          attempts++;
          if (attempts > 8) {
            setStatus({ kind: "closed", why: "could not reconnect; reload the page to try again" });
            return;
          }
          const inMs = Math.min(10_000, 500 * 2 ** (attempts - 1));
          setStatus({ kind: "reconnecting", inMs, why: ev.reason || "connection lost" });
          retry = setTimeout(connect, inMs);
        };
      };
      connect();
      cleanup = () => {
        onData.dispose();
        onResize.dispose();
        observer.disconnect();
        ws?.close();
        term.dispose();
      };
    })();

    return () => {
      disposed = true;
      if (retry) clearTimeout(retry);
      cleanup();
    };
  }, [id, setStatus]);

  return (
    <div className="terminal-frame" aria-label="Terminal">
      <div ref={host} style={{ height: "100%" }} data-testid="terminal" />
    </div>
  );
}

export default function TerminalPage() {
  const { id } = useParams<{ id: string }>();
  const [status, setStatus] = useState<Status>({ kind: "connecting" });
  const session = useQuery({ queryKey: ["session", id], queryFn: () => api.sessions.byId.query({ id }) });
  const s = session.data;
  const me = useMe();
  const blocked = s ? (s.owner !== me.name ? `only ${s.owner} can open this session's terminal` : s.state !== "Running" ? `the session is ${s.state}; its terminal opens once it is Running` : null) : null;
  return (
    <>
      <PageHead
        title={
          <span className="row">
            Terminal · {s?.name ?? id} {s ? <StateBadge state={s.state} /> : null}
          </span>
        }
        crumbs={
          <>
            <Link href="/">Sessions</Link> / <Link href={`/sessions/${id}`}>{s?.name ?? id}</Link>
          </>
        }
      >
        <span className="muted small" role="status" data-testid="terminal-status">
          {blocked ? "Not available" : status.kind === "open"
            ? "Connected"
            : status.kind === "connecting"
              ? "Connecting…"
              : status.kind === "reconnecting"
                ? `${status.why}; reconnecting in ${Math.round(status.inMs / 1000)} s…`
                : `Disconnected: ${status.why}`}
        </span>
      </PageHead>
      <ErrorNotice error={session.error} />
      {blocked ? (
        <div className="notice notice-warn" role="alert">
          {blocked[0]!.toUpperCase() + blocked.slice(1)}. <Link href={`/sessions/${id}`}>Back to the session</Link>
        </div>
      ) : s ? (
        <TerminalView id={id} onStatus={setStatus} />
      ) : null}
      <p className="muted small">Copy: select text. Paste: Ctrl+Shift+V or the browser&apos;s paste. The session keeps running when you leave this page.</p>
    </>
  );
}
