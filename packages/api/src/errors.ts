import { TRPCError } from "@trpc/server";

/**
 * Domain errors. Routers throw these; one middleware turns them into
 * TRPCErrors, so every message is written once, for a user to read.
 */
export class DomainError extends Error {
  constructor(
    readonly code: "NOT_FOUND" | "FORBIDDEN" | "CONFLICT" | "PRECONDITION_FAILED" | "NOT_IMPLEMENTED" | "BAD_REQUEST" | "UNAUTHORIZED",
    message: string,
  ) {
    super(message);
  }
}
export class NotFound extends DomainError {
  constructor(what: string, id: string, hint = "") {
    super("NOT_FOUND", `${what} ${id} not found${hint}`);
  }
}
export class Forbidden extends DomainError {
  constructor(message: string) {
    super("FORBIDDEN", message);
  }
}
export class Conflict extends DomainError {
  constructor(message: string) {
    super("CONFLICT", message);
  }
}
export class QuotaError extends DomainError {
  constructor(message: string) {
    super("PRECONDITION_FAILED", message);
  }
}
export class NotSupported extends DomainError {
  constructor(message: string) {
    super("NOT_IMPLEMENTED", message);
  }
}
export class BadInput extends DomainError {
  constructor(message: string) {
    super("BAD_REQUEST", message);
  }
}
export class Unauthorized extends DomainError {
  constructor(message: string) {
    super("UNAUTHORIZED", message);
  }
}

export function toTRPCError(err: unknown): unknown {
  if (err instanceof DomainError) return new TRPCError({ code: err.code, message: err.message, cause: err });
  return err;
}
