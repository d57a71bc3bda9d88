/** Human and machine output. Human text goes to stdout; notes and progress to stderr. */

export type Cell = string | number | null | undefined;

/**
 * Aligned columns, two spaces apart; the last column is not padded so long
 * text (reasons) does not leave trailing blanks. Empty cells show as "-".
 */
export function table(headers: string[], rows: Cell[][]): string {
  const cells = [headers, ...rows.map((r) => headers.map((_, i) => show(r[i])))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => width(r[i] ?? ""))));
  return cells
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c + " ".repeat(widths[i]! - width(c))))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** "KEY:  value" lines with the values aligned, for one object. */
export function fields(pairs: [string, Cell][]): string {
  const w = Math.max(...pairs.map(([k]) => width(k))) + 1;
  return pairs.map(([k, v]) => `${(k + ":").padEnd(w + 1)} ${show(v)}`.trimEnd()).join("\n");
}

function show(c: Cell): string {
  if (c === null || c === undefined || c === "") return "-";
  return String(c).replace(/[\r\n\t]+/g, " ");
}

// Code points, not UTF-16 units, so "→" and "×" count as one column.
function width(s: string): number {
  return [...s].length;
}

const units: [string, number][] = [
  ["d", 86_400_000],
  ["h", 3_600_000],
  ["m", 60_000],
  ["s", 1000],
];

/** 95_000 → "1m35s": the coarsest unit and the next one, if not zero. */
export function formatDuration(ms: number): string {
  ms = Math.max(0, Math.round(ms));
  if (ms < 1000) return `${ms}ms`;
  const i = units.findIndex(([, size]) => ms >= size);
  const [unit, size] = units[i]!;
  const n = Math.floor(ms / size);
  const next = units[i + 1];
  const rest = next ? Math.floor((ms - n * size) / next[1]) : 0;
  return `${n}${unit}` + (next && rest > 0 ? `${rest}${next[0]}` : "");
}

/** "3m ago", "2h ago", "in 5d", "just now"; "-" for null. One unit: it is for scanning a table. */
export function relativeTime(iso: string | null | undefined, now: Date = new Date()): string {
  if (!iso) return "-";
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return "-";
  const diff = now.getTime() - t;
  const abs = Math.abs(diff);
  if (abs < 5000) return "just now";
  const [unit, size] = units.find(([, size]) => abs >= size) ?? units[units.length - 1]!;
  const n = Math.floor(abs / size);
  return diff >= 0 ? `${n}${unit} ago` : `in ${n}${unit}`;
}

/** Local wall-clock time of day, for streamed events: "14:03:27". */
export function clockTime(iso: string): string {
  const d = new Date(iso);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** The API result exactly as returned, pretty-printed. */
export function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

export function print(text: string): void {
  process.stdout.write(text.endsWith("\n") ? text : text + "\n");
}

export function note(text: string): void {
  process.stderr.write(text.endsWith("\n") ? text : text + "\n");
}

/** Prints `rows` as a table, or `empty` on stderr (stdout stays empty, so `| wc -l` counts 0). */
export function printTable(headers: string[], rows: Cell[][], empty: string): void {
  if (rows.length === 0) note(empty);
  else print(table(headers, rows));
}

/** "2×sim-a100" */
export function gpus(count: number, type: string): string {
  return `${count}×${type}`;
}

/** "Pending → Scheduled"; the first event of a session has no previous state. */
export function transition(from: string | null, to: string): string {
  return from ? `${from} → ${to}` : to;
}
