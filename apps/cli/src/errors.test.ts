import { TRPCClientError } from "@trpc/client";
import { describe, expect, it } from "vitest";
import { CliError, describeError, networkCode, UsageError } from "./errors.ts";

const url = "http://127.0.0.1:7878";

function trpcError(message: string, code: string) {
  return TRPCClientError.from({ error: { message, code: -32001, data: { code, httpStatus: 401 } } });
}

describe("describeError", () => {
  it("rephrases a refused connection, however deeply fetch wrapped it", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:7878"), { code: "ECONNREFUSED" });
    const err = new TRPCClientError("fetch failed", { cause: new TypeError("fetch failed", { cause: new AggregateError([refused]) }) });
    expect(describeError(err, url)).toEqual({
      message: "cannot reach the Daybox API at http://127.0.0.1:7878 — is it running? (`npm run up` / `daybox up`)",
      exitCode: 1,
    });
  });

  it("finds the code in the event stream's message, which keeps no cause", () => {
    expect(networkCode(new TRPCClientError("TypeError: fetch failed: connect ECONNREFUSED 127.0.0.1:7999"))).toBe("ECONNREFUSED");
    expect(networkCode(new Error("EACCES: permission denied"))).toBeNull();
  });

  it("adds a login hint to UNAUTHORIZED unless the API already gave one", () => {
    expect(describeError(trpcError("this API token has expired", "UNAUTHORIZED"), url).message).toMatch(/expired.*`daybox login`/);
    const missing = "no API token: run `daybox login` (or set DAYBOX_TOKEN) and try again";
    expect(describeError(trpcError(missing, "UNAUTHORIZED"), url).message).toBe(missing);
  });

  it("passes other API messages through unchanged", () => {
    expect(describeError(trpcError("project x has no quota", "PRECONDITION_FAILED"), url)).toEqual({ message: "project x has no quota", exitCode: 1 });
  });

  it("keeps the exit code of CLI errors: 2 for usage", () => {
    expect(describeError(new UsageError("pass --session"), url)).toEqual({ message: "pass --session", exitCode: 2 });
    expect(describeError(new CliError("cancelled", 130), url).exitCode).toBe(130);
  });

  it("includes the cause of wrapped errors", () => {
    expect(describeError(new Error("read config /x", { cause: new Error("EACCES") }), url).message).toBe("read config /x: EACCES");
  });
});
