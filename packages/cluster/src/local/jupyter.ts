import { execFile } from "node:child_process";
import { access } from "node:fs/promises";
import { constants } from "node:fs";
import path from "node:path";

/** The `jupyter` executable on PATH, or null: without it sessions are terminal-only. */
export async function findJupyter(envPath = process.env.PATH ?? ""): Promise<string | null> {
  for (const dir of envPath.split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, "jupyter");
    try {
      await access(candidate, constants.X_OK);
      if (await hasServer(candidate)) return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** `jupyter server` needs the jupyter-server package, not just the jupyter launcher. */
function hasServer(jupyter: string): Promise<boolean> {
  return new Promise((resolve) => {
    execFile(jupyter, ["server", "--version"], { timeout: 20_000 }, (err) => resolve(!err));
  });
}

/** The path a session's Jupyter serves under: the same as the API's proxy path, so the proxy forwards paths unchanged. */
export function jupyterBaseUrl(sessionId: string): string {
  return `/v1/sessions/${sessionId}/jupyter/`;
}

/**
 * Arguments for a Jupyter server that only this session's owner can reach
 * (loopback + token). `baseUrl` (leading and trailing `/`) is the path prefix
 * it serves under; the API's Jupyter proxy forwards to it without rewriting paths.
 */
export function jupyterArgs(opts: { port: number; token: string; rootDir: string; baseUrl?: string }): string[] {
  const baseUrl = opts.baseUrl ?? "/";
  if (!/^\/([\w.-]+\/)*$/.test(baseUrl)) throw new Error(`invalid Jupyter base URL ${JSON.stringify(baseUrl)}: it must start and end with "/"`);
  return [
    "server",
    "--no-browser",
    "--ServerApp.ip=127.0.0.1",
    `--ServerApp.port=${opts.port}`,
    "--ServerApp.port_retries=0",
    `--ServerApp.base_url=${baseUrl}`,
    `--IdentityProvider.token=${opts.token}`,
    `--ServerApp.root_dir=${opts.rootDir}`,
    "--ServerApp.allow_remote_access=False",
    // Containers and CI often run as root; the session is isolated by its own directory and token.
    ...(process.getuid?.() === 0 ? ["--allow-root"] : []),
  ];
}

/** The lines of a Jupyter log that explain a failed start: critical/error lines, else the last few. */
export function explainFailure(log: string): string {
  const lines = log.trim().split("\n").filter(Boolean);
  const severe = lines.filter((l) => /^\[(C|E) /.test(l) || /Error|error:/.test(l));
  return (severe.length ? severe.slice(-2) : lines.slice(-3)).map((l) => l.replace(/^\[\w [\d-]+ [\d:.]+ \w+\]\s*/, "")).join(" | ");
}
