import { createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ObjectNotFoundError } from "../object-store.ts";
import { isRetryableError } from "./retrying-store.ts";
import { S3Client } from "@aws-sdk/client-s3";
import { DirectGetHandler } from "./direct-get.ts";
import { S3Store } from "./s3-store.ts";

// The S3 store's own transport for GETs (DirectGetHandler), byte by byte: a TCP server here writes the responses
// as a server might, including the odd ones a real S3 server does not send on demand. (Against a real server, the
// whole store: s3-store.integration.test.ts.)

const BODY = Buffer.from(Array.from({ length: 3 * 1024 * 1024 + 17 }, (_, i) => (i * 131 + (i >> 9)) & 0xff));
const xmlError = (code: string) => `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code} here</Message></Error>`;

/** How the server answers a request for a key (the last segment of the path). */
type Answer = (socket: Socket, request: string, nth: number) => void | Promise<void>;
const answers: Record<string, Answer> = {};
let connections = 0;
let server: Server;
let store: S3Store;

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
const head = (status: string, headers: Record<string, string | number>) =>
  `HTTP/1.1 ${status}\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("")}\r\n`;

beforeAll(async () => {
  server = createServer((socket) => {
    connections++;
    let pending = "";
    let nth = 0;
    socket.on("data", (data) => {
      pending += data.toString("latin1");
      for (let end = pending.indexOf("\r\n\r\n"); end >= 0; end = pending.indexOf("\r\n\r\n")) {
        const request = pending.slice(0, end);
        pending = pending.slice(end + 4);
        const path = request.split(" ")[1]!.split("?")[0]!;
        const answer = answers[path.split("/").pop()!];
        if (!answer) socket.destroy();
        else void answer(socket, request, nth++);
      }
    });
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  store = new S3Store({ bucket: "b", prefix: "", endpoint: `http://127.0.0.1:${port}`, region: "us-east-1", credentials: { accessKeyId: "a", secretAccessKey: "s" }, forcePathStyle: true });
});
afterAll(() => {
  store.client.destroy();
  return new Promise<void>((resolve) => server.close(() => resolve()));
});
beforeEach(() => {
  // Each test starts without kept connections.
  store.client.destroy();
  connections = 0;
});

const failure = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error("expected a failure");
    },
    (e: unknown) => e as Error & { cause?: Error & { name: string } },
  );

describe("S3 store GETs on its own connections", () => {
  it("reads a body straight into the buffer the caller gives, over one kept connection", async () => {
    answers["obj"] = (s) => {
      s.write(head("200 OK", { "content-length": BODY.length }));
      s.write(BODY);
    };
    const given: Uint8Array[] = [];
    const alloc = (size: number) => {
      const b = new Uint8Array(new SharedArrayBuffer(size + 100));
      given.push(b);
      return b;
    };
    for (let i = 0; i < 3; i++) {
      const got = await store.get("obj", alloc);
      expect(got.buffer).toBe(given[i]!.buffer); // no copy made after the read
      expect(Buffer.from(got).equals(BODY)).toBe(true);
    }
    const range = await store.getRange("obj", 0, BODY.length);
    expect(Buffer.from(range).equals(BODY)).toBe(true);
    expect(connections).toBe(1);
  });

  it("takes a response head in any pieces, after an interim 100 Continue", async () => {
    const text = "HTTP/1.1 100 Continue\r\n\r\n" + head("200 OK", { "content-length": 11, "x-amz-request-id": "r1" }) + "hello world";
    answers["slow"] = async (s) => {
      for (let at = 0; at < text.length; at += 7) {
        s.write(text.slice(at, at + 7));
        await pause(2);
      }
    };
    expect(Buffer.from(await store.get("slow")).toString()).toBe("hello world");
  });

  it("hands errors to the SDK as it would get them: with a length, chunked, or up to the close", async () => {
    answers["missing"] = (s) => void s.write(head("404 Not Found", { "content-length": Buffer.byteLength(xmlError("NoSuchKey")), "content-type": "application/xml" }) + xmlError("NoSuchKey"));
    expect(await failure(store.get("missing"))).toBeInstanceOf(ObjectNotFoundError);

    const slow = xmlError("SlowDown");
    answers["busy"] = (s) =>
      void s.write(head("503 Slow Down", { "transfer-encoding": "chunked", "content-type": "application/xml" }) + `a\r\n${slow.slice(0, 10)}\r\n${(slow.length - 10).toString(16)};x=1\r\n${slow.slice(10)}\r\n0\r\n\r\n`);
    const busy = await failure(store.get("busy"));
    expect(busy.cause?.name).toBe("SlowDown");
    expect(isRetryableError(busy)).toBe(true);

    answers["denied"] = (s) => void s.end(`HTTP/1.0 403 Forbidden\r\ncontent-type: application/xml\r\n\r\n${xmlError("AccessDenied")}`);
    const denied = await failure(store.get("denied"));
    expect(denied.cause?.name).toBe("AccessDenied");
    expect(isRetryableError(denied)).toBe(false);
    // The kept connection served the first two; the close-delimited answer needed its own, and the next one a new one.
    answers["obj2"] = (s) => void s.write(head("200 OK", { "content-length": 3 }) + "abc");
    expect(Buffer.from(await store.get("obj2")).toString()).toBe("abc");
    expect(connections).toBe(2);
  });

  it("sends a request again on a new connection when a kept one closes before answering", async () => {
    answers["flaky"] = (s, _req, nth) => {
      if (nth === 0) s.write(head("200 OK", { "content-length": 2 }) + "ok");
      else s.destroy(); // as a server whose idle timeout closed the connection as the request arrived
    };
    expect(Buffer.from(await store.get("flaky")).toString()).toBe("ok");
    expect(Buffer.from(await store.get("flaky")).toString()).toBe("ok");
    expect(connections).toBe(2);
  });

  it("fails, retryably, a body cut short; refuses a head that is not HTTP", async () => {
    answers["cut"] = async (s) => {
      s.write(head("200 OK", { "content-length": BODY.length }));
      s.write(BODY.subarray(0, 100_000));
      await pause(10);
      s.destroy();
    };
    const cut = await failure(store.get("cut"));
    expect(cut.message).toBe("get cut");
    expect(isRetryableError(cut)).toBe(true);

    answers["junk"] = (s) => void s.write("SSH-2.0-OpenSSH_9.2\r\n\r\n");
    expect((await failure(store.get("junk"))).cause?.message).toMatch(/not an HTTP\/1\.x response: "SSH-2\.0/);
  });

  it("keeps bytes sent past a body's end out of the next answer", async () => {
    // One write, small enough to be in the socket's buffer whole when it is read: the body's last bytes and the
    // extra ones arrive in the same read (a later read of them, on a connection reused by then, would go unseen).
    const body = BODY.subarray(0, 70_000);
    answers["body"] = (s) => void s.write(Buffer.concat([Buffer.from(head("200 OK", { "content-length": body.length })), body, Buffer.from(head("200 OK", { "content-length": 5 }) + "WRONG")]));
    answers["other"] = (s) => void s.write(head("200 OK", { "content-length": 5 }) + "right");
    expect(Buffer.from(await store.get("body", (n) => new Uint8Array(n))).equals(body)).toBe(true);
    expect(Buffer.from(await store.get("other")).toString()).toBe("right");
    expect(connections).toBe(2);
  });

  it("fails, never hangs or crashes: a body too big to hold, an answer that stalls, a chunk without its CRLF, a 304", async () => {
    answers["huge"] = (s) => void s.write(head("200 OK", { "content-length": 5_000_000_000_000 }));
    expect((await failure(store.get("huge"))).message).toBe("get huge");

    answers["bad-chunk"] = (s) => void s.write(head("500 Internal Server Error", { "transfer-encoding": "chunked" }) + "3\r\nabcXY0\r\n\r\n");
    expect((await failure(store.get("bad-chunk"))).cause?.message).toMatch(/a chunk does not end with CRLF/);

    answers["not-modified"] = (s) => void s.write(head("304 Not Modified", { "content-length": 100 }));
    expect(await failure(store.get("not-modified"))).toBeInstanceOf(Error); // at once: a 304 has no body to wait for

    const { port } = server.address() as AddressInfo;
    const quick = new S3Store({
      bucket: "b",
      prefix: "",
      client: new S3Client({ endpoint: `http://127.0.0.1:${port}`, region: "us-east-1", credentials: { accessKeyId: "a", secretAccessKey: "s" }, forcePathStyle: true, maxAttempts: 1, requestHandler: new DirectGetHandler(undefined, { stallMs: 150 }) }),
    });
    answers["stall"] = (s) => void s.write(head("200 OK", { "content-length": 10 }) + "abc"); // then nothing
    const stalled = await failure(quick.get("stall"));
    expect(stalled.cause?.message).toMatch(/sent nothing for 0.15 s/);
    expect(isRetryableError(stalled)).toBe(true);
    quick.client.destroy();
  });

  it("takes what a response announced and closes a connection that sends more", async () => {
    answers["extra"] = (s) => void s.write(head("200 OK", { "content-length": 2 }) + "okGARBAGE");
    answers["late"] = async (s) => {
      s.write(head("200 OK", { "content-length": 2 }) + "ok");
      await pause(20);
      s.write("GARBAGE"); // while the connection is idle
    };
    answers["missing"] = (s) => void s.write(head("404 Not Found", { "content-length": Buffer.byteLength(xmlError("NoSuchKey")) }) + xmlError("NoSuchKey") + "GARBAGE");
    answers["after"] = (s) => void s.write(head("200 OK", { "content-length": 5 }) + "after");
    expect(Buffer.from(await store.get("extra")).toString()).toBe("ok");
    expect(Buffer.from(await store.get("after")).toString()).toBe("after");
    expect(await failure(store.get("missing"))).toBeInstanceOf(ObjectNotFoundError);
    expect(Buffer.from(await store.get("late")).toString()).toBe("ok");
    await pause(40);
    expect(Buffer.from(await store.get("after")).toString()).toBe("after");
    expect(connections).toBe(4);
  });
});
