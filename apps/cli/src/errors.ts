/**
 * How failures reach the user: one line, `error: <what to do>`, exit 1; usage
 * mistakes exit 2. The API already writes user-facing messages, so they are
 * passed through; only transport failures are rephrased here.
 */

/** An expected failure with a message written for the user. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = "CliError";
  }
}

/** Wrong or missing arguments that commander could not catch itself. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, 2);
  }
}

const NETWORK_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "ECONNRESET", "ETIMEDOUT", "UND_ERR_CONNECT_TIMEOUT", "UND_ERR_SOCKET"]);

/**
 * The first network error code in an error's cause chain (fetch wraps them twice; dual-stack
 * hosts give an AggregateError). The SSE client keeps only a message, so that is searched too.
 */
export function networkCode(err: unknown, depth = 0): string | null {
  if (depth > 5 || typeof err !== "object" || err === null) return null;
  const e = err as { code?: unknown; cause?: unknown; errors?: unknown; message?: unknown };
  if (typeof e.code === "string" && NETWORK_CODES.has(e.code)) return e.code;
  if (typeof e.message === "string") {
    const named = /\b(E[A-Z_]+|UND_ERR_[A-Z_]+)\b/.exec(e.message)?.[1];
    if (named && NETWORK_CODES.has(named)) return named;
  }
  if (Array.isArray(e.errors)) {
    for (const inner of e.errors) {
      const code = networkCode(inner, depth + 1);
      if (code) return code;
    }
  }
  return networkCode(e.cause, depth + 1);
}

interface TrpcLikeError {
  name: "TRPCClientError";
  message: string;
  data?: { code?: string; httpStatus?: number } | null;
  cause?: unknown;
}

function isTrpcError(err: unknown): err is TrpcLikeError {
  // Duck-typed so this module does not load @trpc/client (startup time).
  return err instanceof Error && err.name === "TRPCClientError";
}

export function unreachable(url: string, code: string): string {
  return code === "ECONNREFUSED"
    ? `cannot reach the Daybox API at ${url} — is it running? (\`npm run up\` / \`daybox up\`)`
    : `cannot reach the Daybox API at ${url} (${code}) — check the address (DAYBOX_URL or \`daybox login --url\`) and your network`;
}

export function unauthorized(message: string): string {
  return /daybox login/.test(message) ? message : `${message} (or log in with a valid token: \`daybox login\`)`;
}

/** The one line to print for a failure, and the exit code. */
export function describeError(err: unknown, url: string): { message: string; exitCode: number } {
  if (err instanceof CliError) return { message: err.message, exitCode: err.exitCode };
  const code = networkCode(err);
  if (code) return { message: unreachable(url, code), exitCode: 1 };
  if (isTrpcError(err)) {
    if (err.data?.code === "UNAUTHORIZED") return { message: unauthorized(err.message), exitCode: 1 };
    // No tRPC error shape and an unparseable body: the URL points at some other server.
    // (The event stream reports that as a bare "Non-200 status code".)
    if (!err.data && (err.cause instanceof SyntaxError || /transform response|JSON|Non-200 status/.test(err.message))) {
      return { message: `${url} answered with something other than the Daybox API; check the address (DAYBOX_URL or \`daybox login --url\`)`, exitCode: 1 };
    }
    return { message: err.message, exitCode: 1 };
  }
  if (err instanceof Error) {
    // Our own wrapped errors ("read config …") carry the useful part in their cause.
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : "";
    return { message: err.message + cause, exitCode: 1 };
  }
  return { message: String(err), exitCode: 1 };
}
