"use client";
import { useRouter } from "next/navigation";
import { useEffect, useState, type FormEvent } from "react";
import { api, errorMessage, type Outputs } from "../../lib/api";
import { authClient } from "../../lib/auth-client";

type Methods = Outputs["auth"]["methods"];

export default function SignInPage() {
  const router = useRouter();
  const [methods, setMethods] = useState<Methods | null>(null);
  const [mode, setMode] = useState<"sign-in" | "sign-up">("sign-in");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    api.auth.methods.query().then(setMethods, (err: unknown) => setError(`The Daybox API is not reachable: ${errorMessage(err)}`));
  }, []);

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const email = String(form.get("email") ?? "").trim();
    const password = String(form.get("password") ?? "");
    setBusy(true);
    setError(null);
    const result =
      mode === "sign-in"
        ? await authClient.signIn.email({ email, password })
        : await authClient.signUp.email({ email, password, name: String(form.get("name") ?? "").trim() || email.split("@")[0]! });
    setBusy(false);
    if (result.error) {
      setError(result.error.message ?? result.error.statusText ?? "sign-in failed");
      return;
    }
    router.replace("/");
    router.refresh();
  }

  return (
    <main className="auth-page">
      <div className="auth-card card">
        <div className="brand brand-lg">
          <span className="brand-mark" aria-hidden="true" />
          Daybox
        </div>
        <h1>{mode === "sign-in" ? "Sign in" : "Create your account"}</h1>
        <p className="muted">Interactive GPU sessions that give their GPUs back when idle — and come back in seconds.</p>
        <form onSubmit={submit} className="form" aria-describedby={error ? "auth-error" : undefined}>
          {mode === "sign-up" ? (
            <label className="field">
              <span>Name</span>
              <input name="name" autoComplete="name" placeholder="Ada Lovelace" />
            </label>
          ) : null}
          <label className="field">
            <span>Email</span>
            <input name="email" type="email" autoComplete="email" required autoFocus placeholder="you@example.org" />
          </label>
          <label className="field">
            <span>Password</span>
            <input name="password" type="password" autoComplete={mode === "sign-in" ? "current-password" : "new-password"} required minLength={mode === "sign-up" ? 10 : undefined} />
          </label>
          {error ? (
            <div id="auth-error" className="notice notice-err" role="alert">
              {error}
            </div>
          ) : null}
          <button type="submit" className="btn btn-primary btn-block" disabled={busy}>
            {busy ? "Signing in…" : mode === "sign-in" ? "Sign in" : "Create account"}
          </button>
        </form>
        {methods?.oidc ? (
          <>
            <div className="divider">or</div>
            <button
              type="button"
              className="btn btn-block"
              onClick={() => authClient.signIn.social({ provider: methods.oidc!.id, callbackURL: "/" })}
            >
              Sign in with {methods.oidc.name}
            </button>
          </>
        ) : null}
        <p className="muted small auth-foot">
          {methods?.signUp ? (
            mode === "sign-in" ? (
              <button type="button" className="link" onClick={() => setMode("sign-up")}>
                New here? Create an account
              </button>
            ) : (
              <button type="button" className="link" onClick={() => setMode("sign-in")}>
                Have an account? Sign in
              </button>
            )
          ) : (
            <>No account? Ask an admin: <code>daybox user create &lt;name&gt; --email you@example.org</code></>
          )}
        </p>
      </div>
    </main>
  );
}
