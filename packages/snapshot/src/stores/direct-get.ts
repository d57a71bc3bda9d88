import net from "node:net";
import { Readable } from "node:stream";
import { buildQueryString, HttpResponse, type HttpHandler, type HttpRequest } from "@smithy/core/protocols";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import type { HttpHandlerOptions } from "@smithy/types";
import { bufferFor, type Allocate } from "../object-store.ts";

/**
 * Where a GET's body should go, passed to S3Client.send() with the request's
 * handler options (the SDK hands them to the request handler as they are).
 * After the call, `filled` holds the body when DirectGetHandler read it
 * there; otherwise the response's body stream has it, as usual.
 */
export interface DirectBody {
  alloc?: Allocate;
  filled?: Uint8Array;
}
export type DirectGetOptions = HttpHandlerOptions & { directBody?: DirectBody };

/** Largest response head (status line and headers) accepted. */
const MAX_HEAD = 64 * 1024;
/** An idle connection is closed after this long (servers close theirs after 5 s or more). */
const IDLE_MS = 4000;
/** An answer that sends nothing for this long fails, retryably (a dead peer or a stalled server). */
const STALL_MS = 60_000;
/** The last bytes of a direct body are read into scratch space (up to this much): bytes past the body show there. */
const SCRATCH = 64 * 1024;

/**
 * The S3 client's request handler: plain-HTTP GETs whose caller asked for
 * the body in a buffer (see DirectBody) are sent on connections of its own
 * that read the body straight into that buffer, one copy from the kernel.
 * Through Node's HTTP client a body is copied three times on the main thread
 * (into a read buffer, into a Buffer per piece, into the caller's buffer):
 * ~0.5 s of CPU for the 1.3 GB of a cold restore (measured with perf).
 *
 * Everything else — TLS, other methods, a GET nobody asked to place — goes
 * through the SDK's NodeHttpHandler. The SDK still builds, signs and parses
 * every request and response (errors included: a response other than a 2xx
 * with a Content-Length is read whole and handed over as a stream), so only
 * the transport differs.
 */
export class DirectGetHandler implements HttpHandler {
  readonly metadata = { handlerProtocol: "http/1.1" };
  private readonly inner: NodeHttpHandler;
  private readonly idle = new Map<string, Connection[]>();
  private readonly stallMs: number;

  /** `stallMs`: how long an answer may send nothing before it fails (default STALL_MS; tests use short ones). */
  constructor(inner = new NodeHttpHandler(), { stallMs = STALL_MS } = {}) {
    this.inner = inner;
    this.stallMs = stallMs;
  }

  async handle(request: HttpRequest, options: DirectGetOptions = {}): Promise<{ response: HttpResponse }> {
    const target = options.directBody;
    if (!target || request.method !== "GET" || request.protocol !== "http:" || request.body !== undefined) return this.inner.handle(request, options);
    if (options.abortSignal?.aborted) throw abortError();
    const host = request.hostname.startsWith("[") ? request.hostname.slice(1, -1) : request.hostname;
    const port = request.port ?? 80;
    const key = `${host}:${port}`;
    const head = requestHead(request);
    // A kept connection the server has just closed fails before any byte of the answer: once more on a new one
    // (a GET changes nothing).
    for (;;) {
      if (options.abortSignal?.aborted) throw abortError();
      const reused = this.idle.get(key)?.pop();
      const conn = reused ?? new Connection(host, port, this.stallMs, (c) => this.forget(key, c));
      try {
        const { response, reusable } = await conn.exchange(head, target, options.abortSignal as Abortable | undefined);
        if (reusable) this.keep(key, conn);
        else conn.close();
        return { response };
      } catch (err) {
        conn.close();
        if (reused && (err as { beforeResponse?: boolean }).beforeResponse) continue;
        throw err;
      }
    }
  }

  updateHttpClientConfig(key: never, value: never): void {
    this.inner.updateHttpClientConfig(key, value);
  }

  httpHandlerConfigs() {
    return this.inner.httpHandlerConfigs();
  }

  destroy(): void {
    for (const conns of this.idle.values()) for (const c of conns) c.close();
    this.idle.clear();
    this.inner.destroy();
  }

  private keep(key: string, conn: Connection) {
    let conns = this.idle.get(key);
    if (!conns) this.idle.set(key, (conns = []));
    conns.push(conn);
    conn.idle(IDLE_MS);
  }

  private forget(key: string, conn: Connection) {
    const conns = this.idle.get(key);
    const i = conns?.indexOf(conn) ?? -1;
    if (i >= 0) conns!.splice(i, 1);
  }
}

/** The request line and headers, as NodeHttpHandler would send them. */
function requestHead(request: HttpRequest): string {
  const query = request.query ? buildQueryString(request.query) : "";
  let head = `GET ${request.path}${query ? `?${query}` : ""} HTTP/1.1\r\n`;
  let hasHost = false;
  for (const [name, value] of Object.entries(request.headers)) {
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) throw new Error(`header ${JSON.stringify(name)} holds a line break`);
    if (name.toLowerCase() === "host") hasHost = true;
    head += `${name}: ${value}\r\n`;
  }
  if (!hasHost) head += `host: ${request.hostname}${request.port ? `:${request.port}` : ""}\r\n`;
  return head + "\r\n";
}

/** The SDK's AbortSignal type, as the signals it passes behave (a DOM AbortSignal, or the SDK's own, without listeners). */
interface Abortable {
  aborted: boolean;
  addEventListener?(type: "abort", listener: () => void, options?: { once: boolean }): void;
  removeEventListener?(type: "abort", listener: () => void): void;
}

type Phase =
  | { kind: "idle" }
  | { kind: "head"; got: number }
  | { kind: "direct"; body: Uint8Array; at: number }
  | { kind: "whole"; pieces: Buffer[]; got: number; framing: "length" | "close"; length: number }
  | { kind: "chunked"; data: Buffer; parsed: number; pieces: Buffer[] };

interface Exchange {
  target: DirectBody;
  resolve(r: { response: HttpResponse; reusable: boolean }): void;
  reject(err: Error): void;
  status?: number;
  reason?: string;
  headers?: Record<string, string>;
  keepAlive?: boolean;
}

/**
 * One keep-alive HTTP/1.1 connection, one exchange at a time. Reads land
 * where the current phase wants them: the response head in a buffer of its
 * own, a direct body in the caller's buffer, anything else in scratch space.
 */
class Connection {
  private readonly socket: net.Socket;
  private readonly headBuf = Buffer.allocUnsafe(MAX_HEAD);
  private readonly scratch = Buffer.allocUnsafe(SCRATCH);
  private phase: Phase = { kind: "idle" };
  private current: Exchange | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    host: string,
    port: number,
    private readonly stallMs: number,
    onClose: (c: Connection) => void,
  ) {
    this.socket = net.connect({
      host,
      port,
      noDelay: true,
      // A peer that vanishes mid-answer is found by TCP keep-alive probes and the stall timeout (as the SDK's agent
      // keeps its sockets alive).
      keepAlive: true,
      keepAliveInitialDelay: 1000,
      onread: {
        buffer: () => this.readInto(),
        callback: (n: number) => {
          try {
            this.received(n);
          } catch (err) {
            this.fail(err as Error); // a body too big to allocate, an alloc that throws: this request's error
          }
          return true;
        },
      },
    });
    const end = (err?: Error) => {
      this.closed = true;
      this.clearTimer();
      onClose(this);
      this.ended(err);
    };
    this.socket.on("error", end);
    this.socket.on("end", () => end());
    this.socket.on("close", () => end());
    this.socket.on("timeout", () => this.fail(Object.assign(new Error(`the server sent nothing for ${this.stallMs / 1000} s`), { code: "ETIMEDOUT" })));
  }

  exchange(head: string, target: DirectBody, signal: Abortable | undefined): Promise<{ response: HttpResponse; reusable: boolean }> {
    this.clearTimer();
    this.socket.ref();
    this.socket.setTimeout(this.stallMs);
    return new Promise((resolve, reject) => {
      const onAbort = () => this.fail(abortError());
      signal?.addEventListener?.("abort", onAbort, { once: true });
      this.current = {
        target,
        resolve: (r) => {
          signal?.removeEventListener?.("abort", onAbort);
          resolve(r);
        },
        reject: (err) => {
          signal?.removeEventListener?.("abort", onAbort);
          reject(err);
        },
      };
      this.phase = { kind: "head", got: 0 };
      if (this.closed) return this.fail(beforeResponse(new Error("connection closed")));
      this.socket.write(head);
    });
  }

  /** Kept for the next request; closed after `ms` unused (and never keeps the process alive). */
  idle(ms: number) {
    this.socket.setTimeout(0);
    this.socket.unref();
    this.timer = setTimeout(() => this.close(), ms);
    this.timer.unref();
  }

  close() {
    this.clearTimer();
    this.socket.destroy();
  }

  private clearTimer() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /**
   * Where the next read goes. Node asks right after each read is handled (and
   * once at connect), and only then: so the phase changes only inside a read's
   * callback, except when an exchange starts (idle → head), and an idle
   * connection reads into the head buffer from its start, where the next
   * exchange wants its first bytes. No exchange ends outside a callback but
   * by closing the connection: a caller's buffer never stays armed for a read.
   */
  private readInto(): Uint8Array {
    const p = this.phase;
    if (p.kind === "idle") return this.headBuf;
    if (p.kind === "head") return this.headBuf.subarray(p.got);
    if (p.kind === "direct" && !directTail(p)) return p.body.subarray(p.at);
    return this.scratch;
  }

  private received(n: number): void {
    const p = this.phase;
    if (p.kind === "idle") return this.close(); // bytes nobody asked for: the stream is out of step
    if (p.kind === "direct") {
      if (directTail(p)) {
        // The body's last bytes, read into scratch: anything past them means the server is out of step.
        const left = p.body.length - p.at;
        if (n > left) this.current!.keepAlive = false;
        p.body.set(this.scratch.subarray(0, Math.min(n, left)), p.at);
        p.at += Math.min(n, left);
      } else p.at += n;
      if (p.at === p.body.length) this.finish(p.body);
      return;
    }
    if (p.kind === "head") {
      p.got += n;
      return this.scanHead(p.got - n);
    }
    this.more(Buffer.from(this.scratch.subarray(0, n)));
  }

  /** Looks for the end of the response head (new bytes from `from` on). */
  private scanHead(from: number): void {
    const got = (this.phase as { got: number }).got;
    const end = this.headBuf.subarray(0, got).indexOf("\r\n\r\n", Math.max(0, from - 3));
    if (end >= 0) return this.startBody(this.headBuf.subarray(0, end).toString("latin1"), this.headBuf.subarray(end + 4, got));
    if (got === MAX_HEAD) this.fail(new Error(`response head longer than ${MAX_HEAD} bytes`));
  }

  /** Parses the head; the body goes straight into the caller's buffer, or is gathered whole. */
  private startBody(text: string, rest: Buffer): void {
    const ex = this.current!;
    const lines = text.split("\r\n");
    const status = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/.exec(lines[0] ?? "");
    if (!status) return this.fail(new Error(`not an HTTP/1.x response: ${JSON.stringify((lines[0] ?? "").slice(0, 80))}`));
    const code = Number(status[2]);
    if (code === 101) return this.fail(new Error("the server switched protocols (101) in answer to a GET"));
    if (code >= 100 && code < 200) {
      // An interim answer (100 Continue): the real one follows.
      rest.copy(this.headBuf);
      this.phase = { kind: "head", got: rest.length };
      return this.scanHead(0);
    }
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      if (colon <= 0) return this.fail(new Error(`malformed response header ${JSON.stringify(line.slice(0, 80))}`));
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
    }
    const connection = new Set((headers["connection"] ?? "").toLowerCase().split(",").map((t) => t.trim()));
    Object.assign(ex, { status: code, reason: status[3] ?? "", headers, keepAlive: status[1] === "1" ? !connection.has("close") : connection.has("keep-alive") });
    if (code === 204 || code === 304) {
      // Never a body, whatever the headers say.
      if (rest.length > 0) ex.keepAlive = false;
      return this.finish(null);
    }
    const lengthHeader = headers["content-length"];
    const length = lengthHeader !== undefined && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
    if (headers["transfer-encoding"] !== undefined) {
      if (!/(^|,)\s*chunked\s*$/i.test(headers["transfer-encoding"])) return this.fail(new Error(`unsupported transfer-encoding ${headers["transfer-encoding"]}`));
      if (lengthHeader !== undefined) ex.keepAlive = false; // both framings: chunked wins, and the connection is not trusted after
      this.phase = { kind: "chunked", data: Buffer.alloc(0), parsed: 0, pieces: [] };
      return this.more(Buffer.from(rest));
    }
    if (lengthHeader !== undefined && length === undefined) return this.fail(new Error(`bad content-length ${JSON.stringify(lengthHeader)}`));
    if (length === undefined) {
      ex.keepAlive = false;
      this.phase = { kind: "whole", pieces: [], got: 0, framing: "close", length: 0 };
      return this.more(Buffer.from(rest));
    }
    if (rest.length > length) {
      // More than announced: the answer is what was announced, and the connection (out of step) is closed after.
      ex.keepAlive = false;
      rest = rest.subarray(0, length);
    }
    if (code >= 200 && code < 300 && length > 0) {
      const body = bufferFor(length, ex.target.alloc);
      body.set(rest);
      this.phase = { kind: "direct", body, at: rest.length };
      if (rest.length === length) this.finish(body);
      return;
    }
    this.phase = { kind: "whole", pieces: [], got: 0, framing: "length", length };
    this.more(Buffer.from(rest));
  }

  /** Bytes of a body gathered whole (copied out of the scratch buffer). */
  private more(piece: Buffer): void {
    const p = this.phase;
    if (p.kind === "whole") {
      if (p.framing === "length" && p.got + piece.length > p.length) {
        this.current!.keepAlive = false; // as in startBody
        piece = piece.subarray(0, p.length - p.got);
      }
      if (piece.length > 0) p.pieces.push(piece);
      p.got += piece.length;
      if (p.framing === "length" && p.got === p.length) this.finish(null, Buffer.concat(p.pieces));
      return;
    }
    if (p.kind !== "chunked") return;
    p.data = p.data.length === p.parsed ? piece : Buffer.concat([p.data.subarray(p.parsed), piece]);
    p.parsed = 0;
    for (;;) {
      const eol = p.data.indexOf("\r\n", p.parsed);
      if (eol < 0) return;
      const sizeText = p.data.subarray(p.parsed, eol).toString("latin1").split(";")[0]!.trim();
      if (!/^[0-9a-fA-F]{1,12}$/.test(sizeText)) return this.fail(new Error(`malformed chunk size ${JSON.stringify(sizeText.slice(0, 20))}`));
      const size = parseInt(sizeText, 16);
      if (size === 0) {
        // The last chunk, then trailers (ignored) up to an empty line; bytes after it mean the server is out of step.
        const end = p.data.indexOf("\r\n\r\n", eol);
        if (end < 0) return;
        if (p.data.length > end + 4) this.current!.keepAlive = false;
        return this.finish(null, Buffer.concat(p.pieces));
      }
      if (p.data.length < eol + 2 + size + 2) return;
      if (p.data[eol + 2 + size] !== 13 || p.data[eol + 3 + size] !== 10) return this.fail(new Error("malformed chunked body: a chunk does not end with CRLF"));
      p.pieces.push(p.data.subarray(eol + 2, eol + 2 + size));
      p.parsed = eol + 2 + size + 2;
    }
  }

  private finish(direct: Uint8Array | null, whole?: Buffer): void {
    const ex = this.current!;
    this.current = null;
    this.phase = { kind: "idle" };
    if (direct) ex.target.filled = direct;
    const body = Readable.from(whole && whole.length > 0 ? [whole] : []);
    ex.resolve({
      response: new HttpResponse({ statusCode: ex.status!, reason: ex.reason, headers: ex.headers!, body }),
      reusable: ex.keepAlive === true && !this.closed,
    });
  }

  private ended(err?: Error): void {
    const p = this.phase;
    if (!this.current) return;
    if (p.kind === "whole" && p.framing === "close" && !err) return this.finish(null, Buffer.concat(p.pieces));
    const why = err ?? Object.assign(new Error("connection closed before the response ended"), { code: "ECONNRESET" });
    this.fail(p.kind === "head" && p.got === 0 ? beforeResponse(why) : why);
  }

  private fail(err: Error): void {
    const ex = this.current;
    this.current = null;
    this.phase = { kind: "idle" };
    this.socket.destroy();
    ex?.reject(err);
  }
}

/** A direct body's last bytes (at most SCRATCH) are read into scratch space. */
function directTail(p: { body: Uint8Array; at: number }): boolean {
  return p.body.length - p.at <= SCRATCH;
}

/** An error before the server answered anything: the request can go again on a new connection. */
function beforeResponse(err: Error): Error {
  return Object.assign(err, { beforeResponse: true });
}

function abortError(): Error {
  return Object.assign(new Error("Request aborted"), { name: "AbortError" });
}
