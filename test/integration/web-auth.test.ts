import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientWithHeaders, expectTRPCError } from "./support/clients.ts";
import { PORTAL_ORIGIN, startHarness, type Harness } from "./support/harness.ts";

/**
 * Portal sign-in (better-auth inside the API): local accounts made by admins,
 * session cookies that the API maps to Daybox users exactly like API tokens,
 * and the refusals around them — wrong passwords, foreign origins, disabled
 * accounts, signed-out cookies, non-admins managing sign-ins.
 */
describe.each(["pglite", "postgres"] as const)("portal sign-in on %s", (kind) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(kind);
  });
  afterAll(async () => {
    await h?.close();
  });

  /** POST to better-auth as the portal's pages do; returns the response and the session cookie it set. */
  async function signIn(email: string, password: string, origin = PORTAL_ORIGIN) {
    const res = await fetch(`${h.url}/api/auth/sign-in/email`, {
      method: "POST",
      headers: { "content-type": "application/json", origin },
      body: JSON.stringify({ email, password }),
    });
    const cookie = res.headers
      .getSetCookie()
      .map((c) => c.split(";")[0]!)
      .filter((c) => c.startsWith("daybox."))
      .join("; ");
    return { res, cookie, body: (await res.json().catch(() => null)) as { message?: string } | null };
  }
  const asBrowser = (cookie: string, origin = PORTAL_ORIGIN) => clientWithHeaders(h.url, { cookie, origin });

  it("an admin gives alice a sign-in; she signs in and the API knows her by her cookie", async () => {
    const set = await h.admin.users.setPassword.mutate({ user: "alice", email: "Alice@Example.org" });
    expect(set).toMatchObject({ name: "alice", email: "alice@example.org" });
    expect(set.password).toMatch(/^[A-Za-z0-9]{20}$/);

    const { res, cookie } = await signIn("alice@example.org", set.password!);
    expect(res.status).toBe(200);
    expect(cookie).toMatch(/^daybox\.session_token=/);
    const me = await asBrowser(cookie).auth.whoami.query();
    expect(me).toMatchObject({ name: "alice", role: "researcher", email: "alice@example.org", via: "portal" });
    // The cookie acts for alice and only alice: her sessions, not bob's.
    const mine = await asBrowser(cookie).sessions.list.query({});
    expect(mine.every((s) => s.owner === "alice")).toBe(true);
  });

  it("a wrong password, an unknown email and a malformed one are refused", async () => {
    await h.admin.users.setPassword.mutate({ user: "bob", email: "bob@example.org", password: "correct-horse-battery" });
    const wrong = await signIn("bob@example.org", "incorrect-horse-battery");
    expect(wrong.res.status).toBe(401);
    expect(wrong.cookie).toBe("");
    expect(wrong.body?.message).toMatch(/invalid email or password/i);
    expect((await signIn("nobody@example.org", "correct-horse-battery")).res.status).toBe(401);
    expect((await signIn("not-an-email", "correct-horse-battery")).res.status).toBe(400);
  });

  it("a cookie is refused when another site's page sends it", async () => {
    const { cookie } = await signIn("bob@example.org", "correct-horse-battery");
    await expect(asBrowser(cookie).auth.whoami.query()).resolves.toMatchObject({ name: "bob" });
    await expectTRPCError(asBrowser(cookie, "https://evil.example").sessions.create.mutate({ gpus: 1 }), "FORBIDDEN", "https://evil.example", "portal");
    // Sign-in itself checks the origin too.
    expect((await signIn("bob@example.org", "correct-horse-battery", "https://evil.example")).res.status).toBe(403);
  });

  it("signing out ends the cookie; resetting a password signs out every browser", async () => {
    const first = await signIn("bob@example.org", "correct-horse-battery");
    const out = await fetch(`${h.url}/api/auth/sign-out`, { method: "POST", headers: { cookie: first.cookie, origin: PORTAL_ORIGIN } });
    expect(out.status).toBe(200);
    await expectTRPCError(asBrowser(first.cookie).auth.whoami.query(), "UNAUTHORIZED", "sign in to the portal");

    const second = await signIn("bob@example.org", "correct-horse-battery");
    await expect(asBrowser(second.cookie).auth.whoami.query()).resolves.toMatchObject({ name: "bob" });
    await h.admin.users.setPassword.mutate({ user: "bob", password: "another-long-password" });
    await expectTRPCError(asBrowser(second.cookie).auth.whoami.query(), "UNAUTHORIZED");
    expect((await signIn("bob@example.org", "correct-horse-battery")).res.status).toBe(401);
    expect((await signIn("bob@example.org", "another-long-password")).res.status).toBe(200);
  });

  it("users created with an email get a one-time password; emails are unique", async () => {
    const made = await h.admin.users.create.mutate({ name: "erin", email: "erin@example.org" });
    expect(made).toMatchObject({ name: "erin", email: "erin@example.org" });
    expect((await signIn("erin@example.org", made.password!)).res.status).toBe(200);
    await expectTRPCError(h.admin.users.create.mutate({ name: "erin2", email: "ERIN@example.org" }), "CONFLICT", "erin@example.org");
    await expectTRPCError(h.admin.users.setPassword.mutate({ user: "carol", email: "not an email" }), "BAD_REQUEST", "email");
    await expectTRPCError(h.admin.users.setPassword.mutate({ user: "carol", email: "carol@example.org", password: "short" }), "BAD_REQUEST", "password", "10");
    await expectTRPCError(h.admin.users.setPassword.mutate({ user: "dave" }), "BAD_REQUEST", "dave has no sign-in", "--email");
  });

  it("only admins manage sign-ins, and it is audited", async () => {
    await expectTRPCError(h.alice.users.setPassword.mutate({ user: "bob", password: "take-over-bobs-account" }), "FORBIDDEN", "only admins");
    const audit = await h.admin.audit.list.query({ action: "user.password.set" });
    expect(audit.map((a) => a.target)).toEqual(expect.arrayContaining(["user:alice", "user:bob"]));
  });

  it("tells the sign-in page what it can offer", async () => {
    await expect(clientWithHeaders(h.url, {}).auth.methods.query()).resolves.toEqual({ password: true, signUp: false, oidc: null });
  });
});
