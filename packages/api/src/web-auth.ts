import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { betterAuth } from "better-auth";
import { fromNodeHeaders, toNodeHandler } from "better-auth/node";
import { genericOAuth } from "better-auth/plugins";
import { NAME_PATTERN, newId } from "@daybox/core";
import type { Repos } from "@daybox/db";

/** Browser sign-in: served under this path by the API (and, through its proxy, by the portal). */
export const WEB_AUTH_PATH = "/api/auth";
export const MIN_PASSWORD_LENGTH = 10;

export interface WebAuthConfig {
  /** Signs session cookies; ≥ 32 characters, stable across restarts. */
  secret: string;
  /** Where browsers reach Daybox (the portal's URL): cookies, OIDC redirects and CSRF checks use it. */
  publicUrl: string;
  /** Let anyone with the portal's URL create a researcher account (default: admins create accounts). */
  openSignUp?: boolean;
  /** An organisation's OpenID Connect provider. First sign-in creates a researcher. */
  oidc?: { discoveryUrl: string; clientId: string; clientSecret: string; name?: string };
}

export interface WebSession {
  /** The Daybox user signed in. */
  userId: string;
  /** The browser session (WebSession.id). */
  sessionId: string;
}

export interface WebAuth {
  /** Serves better-auth's endpoints (`/api/auth/*`: sign-in, sign-out, OIDC callback, password change). */
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** The signed-in user behind a request's session cookie, or null. */
  sessionOf(headers: IncomingHttpHeaders): Promise<WebSession | null>;
  /** Creates or replaces a user's password sign-in (admins; the install's first start). */
  setPassword(user: { id: string; name: string }, email: string, password: string): Promise<void>;
  /** The portal's origin: the only one whose pages may use a session cookie. */
  readonly origin: string;
  /** What the sign-in page offers. */
  readonly methods: { password: true; signUp: boolean; oidc: { id: string; name: string } | null };
}

const OIDC_PROVIDER_ID = "oidc";
/** Daybox-style ids for better-auth's rows (keyed by its model names and ours). */
const ID_PREFIX: Record<string, string> = {
  user: "lgn",
  login: "lgn",
  session: "wss",
  webSession: "wss",
  account: "lac",
  loginAccount: "lac",
  verification: "lvf",
  loginVerification: "lvf",
};

/**
 * Web sign-in with better-auth: local accounts (email + password, hashed by
 * better-auth) and an optional OIDC provider, with sessions stored in the
 * Daybox database. Every Login belongs to one Daybox User; the API maps a
 * session cookie to that user exactly as it maps an API token.
 */
export function createWebAuth(repos: Repos, config: WebAuthConfig): WebAuth {
  if (config.secret.length < 32) throw new Error("the web sign-in secret must be at least 32 characters");
  const publicOrigin = new URL(config.publicUrl).origin;

  const auth = betterAuth({
    appName: "Daybox",
    baseURL: publicOrigin,
    basePath: WEB_AUTH_PATH,
    secret: config.secret,
    trustedOrigins: [publicOrigin],
    database: repos.logins.adapter,
    telemetry: { enabled: false },
    user: {
      modelName: "login",
      additionalFields: { dayboxUserId: { type: "string", fieldName: "userId", required: false, input: false } },
    },
    session: { modelName: "webSession", fields: { userId: "loginId" }, expiresIn: 7 * 86_400, updateAge: 86_400 },
    account: { modelName: "loginAccount", fields: { userId: "loginId" } },
    verification: { modelName: "loginVerification" },
    emailAndPassword: { enabled: true, disableSignUp: !config.openSignUp, minPasswordLength: MIN_PASSWORD_LENGTH },
    advanced: { cookiePrefix: "daybox", database: { generateId: ({ model }) => newId(ID_PREFIX[model] ?? "auth") } },
    databaseHooks: {
      user: {
        create: {
          // A self-service or OIDC sign-up becomes a researcher; admin-made logins arrive linked.
          before: async (login) => {
            const existing = (login as { dayboxUserId?: string }).dayboxUserId;
            if (existing) return { data: login };
            const user = await repos.users.create({ name: await freeUserName(repos, login.email, login.name), role: "researcher" });
            await repos.audit.record({ actorId: user.id, action: "user.signup", target: `user:${user.name}`, details: { email: login.email } });
            return { data: { ...login, dayboxUserId: user.id } };
          },
        },
      },
      session: {
        create: {
          // Disabled accounts cannot sign in; the API refuses their existing sessions too.
          before: async (session) => {
            const login = await repos.logins.byId(session.userId);
            const user = login ? await repos.users.byId(login.userId) : null;
            return user && !user.disabledAt ? { data: session } : false;
          },
        },
      },
    },
    plugins: config.oidc
      ? [
          genericOAuth({
            config: [
              {
                providerId: OIDC_PROVIDER_ID,
                discoveryUrl: config.oidc.discoveryUrl,
                clientId: config.oidc.clientId,
                clientSecret: config.oidc.clientSecret,
                scopes: ["openid", "email", "profile"],
                pkce: true,
              },
            ],
          }),
        ]
      : [],
  });
  const handler = toNodeHandler(auth);

  return {
    handle: (req, res) => handler(req, res),
    async sessionOf(headers) {
      if (!headers.cookie?.includes("daybox.")) return null;
      const found = await auth.api.getSession({ headers: fromNodeHeaders(headers) });
      const userId = (found?.user as { dayboxUserId?: string | null } | undefined)?.dayboxUserId;
      return found && userId ? { userId, sessionId: found.session.id } : null;
    },
    async setPassword(user, email, password) {
      if (password.length < MIN_PASSWORD_LENGTH) throw new Error(`the password must be at least ${MIN_PASSWORD_LENGTH} characters`);
      const ctx = await auth.$context;
      const hash = await ctx.password.hash(password);
      const login = await repos.logins.ofUser(user.id);
      if (login) {
        if (login.email !== email) await ctx.internalAdapter.updateUser(login.id, { email });
        if (login.accounts.some((a) => a.providerId === "credential")) await ctx.internalAdapter.updatePassword(login.id, hash);
        else await ctx.internalAdapter.linkAccount({ userId: login.id, providerId: "credential", accountId: login.id, password: hash });
        await repos.logins.endSessions(user.id);
        return;
      }
      const created = await ctx.internalAdapter.createUser(
        { email, name: user.name, emailVerified: true, dayboxUserId: user.id },
        { method: "admin" },
      );
      await ctx.internalAdapter.linkAccount({ userId: created.id, providerId: "credential", accountId: created.id, password: hash });
    },
    origin: publicOrigin,
    methods: {
      password: true,
      signUp: config.openSignUp ?? false,
      oidc: config.oidc ? { id: OIDC_PROVIDER_ID, name: config.oidc.name ?? "your organisation" } : null,
    },
  };
}

/** A Daybox user name from an email's local part ("Ada.Lovelace@x" → "ada-lovelace"), made unique. */
async function freeUserName(repos: Repos, email: string, displayName: string): Promise<string> {
  const slug = (s: string) =>
    s
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 50);
  const base = slug(email.split("@")[0] ?? "") || slug(displayName) || "user";
  for (let i = 1; i < 1000; i++) {
    const candidate = i === 1 ? base : `${base}-${i}`;
    if (NAME_PATTERN.test(candidate) && !(await repos.users.byName(candidate))) return candidate;
  }
  throw new Error(`no free user name for ${email}`);
}
