import { describe, expect, it } from "vitest";
import { checkRequest, type SessionStateName, type UserRequest } from "./lifecycle.ts";

describe("checkRequest: which user requests each state allows", () => {
  const cases: [UserRequest, SessionStateName, boolean][] = [
    ["stop", "Running", true],
    ["stop", "Pending", true],
    ["stop", "Stopped", false],
    ["stop", "Stopping", false],
    ["resume", "Stopped", true],
    ["resume", "Failed", true],
    ["resume", "Running", false],
    ["resume", "Terminated", false],
    ["delete", "Running", true],
    ["delete", "Stopped", true],
    ["delete", "Terminated", false],
    ["park", "Running", true],
    ["park", "Stopped", false],
    ["park", "Snapshotting", false],
    ["park", "Parked", false],
    ["resume", "Parked", true],
    ["resume", "Snapshotting", false],
    ["stop", "Snapshotting", false],
    ["delete", "Parked", true],
  ];
  it.each(cases)("%s a %s session: %s", (request, state, ok) => {
    expect(checkRequest(request, state).ok).toBe(ok);
  });

  it("says which states would have worked", () => {
    expect(checkRequest("resume", "Running")).toEqual({
      ok: false,
      reason: "session is Running; only Stopped, Parked, Failed sessions can be resumed",
    });
  });
});
