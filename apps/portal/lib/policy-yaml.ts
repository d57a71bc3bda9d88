import { LineCounter, parseDocument } from "yaml";

/** Parses a policy editor's YAML into the object the API validates, or says which line is broken. */
export function readPolicyYaml(text: string): { ok: true; doc: Record<string, unknown> } | { ok: false; error: string } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const first = doc.errors[0];
  if (first) {
    const at = lines.linePos(first.pos[0]);
    return { ok: false, error: `line ${at.line}: not valid YAML (${first.message.split("\n")[0]})` };
  }
  const value: unknown = doc.toJS();
  if (!value || typeof value !== "object" || Array.isArray(value)) return { ok: false, error: "a policy is one YAML mapping with name, idle, …" };
  return { ok: true, doc: value as Record<string, unknown> };
}

/**
 * The API names the fields a policy got wrong ("invalid policy — idle.after:
 * must be at least 1 min; warning (5 min) must be …"); this adds the editor's
 * line for each, so the admin can find it.
 */
export function withLines(text: string, message: string): string[] {
  const body = message.replace(/^invalid input — |^invalid policy — /, "").replace(/^document: invalid policy — /, "");
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  return body.split("; ").map((issue) => {
    // "idle: Unrecognized key: \"x\"" names the parent; the line is the unknown key's.
    const unknown = /^(?:([\w.]+): )?Unrecognized keys?: "([^"]+)"/.exec(issue);
    const field = unknown ? [unknown[1], unknown[2]].filter(Boolean).join(".") : /^([A-Za-z]+(?:\.[A-Za-z]+)*)(?=[: (])/.exec(issue)?.[1];
    if (!field) return issue;
    const path = field.split(".");
    for (let n = path.length; n > 0; n--) {
      const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      const pair = n === path.length ? findKey(doc, path) : null;
      const offset = pair ?? node?.range?.[0];
      if (offset !== undefined) return `line ${lines.linePos(offset).line} · ${issue}`;
    }
    return issue;
  });
}

/** Where a mapping key is written (its value may be missing or null). */
function findKey(doc: ReturnType<typeof parseDocument>, path: string[]): number | null {
  const parent = path.length > 1 ? doc.getIn(path.slice(0, -1), true) : doc.contents;
  const items = (parent as { items?: { key?: { value?: unknown; range?: [number, number, number] } }[] } | null)?.items;
  const key = items?.find((i) => i.key?.value === path[path.length - 1])?.key;
  return key?.range?.[0] ?? null;
}
