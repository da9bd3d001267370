/**
 * Statistics, the markdown table and the SVG plot of the headline-results
 * benchmark (`tasks/bench_results.ts`). Pure functions of the collected
 * figures, so they are tested without training anything.
 *
 * @module
 */

/** The mean and sample standard deviation of some values. */
export interface Spread {
  /** Number of values. */
  n: number;
  /** Arithmetic mean (NaN when there are none). */
  mean: number;
  /** Sample standard deviation (n - 1); 0 for a single value. */
  sd: number;
}

/** Mean and sample standard deviation of `values`. */
export function spreadOf(values: readonly number[]): Spread {
  const n = values.length;
  if (n === 0) return { n, mean: NaN, sd: 0 };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { n, mean, sd: 0 };
  const squares = values.reduce((a, b) => a + (b - mean) ** 2, 0);
  return { n, mean, sd: Math.sqrt(squares / (n - 1)) };
}

/** How a difference between two rows compares with the seed-to-seed spread. */
export type Verdict = "exceeds spread" | "within spread" | "one seed";

/**
 * Whether the difference of two means exceeds the seed-to-seed spread: the
 * gap must be larger than the sum of both standard deviations. With fewer
 * than two seeds on either side there is no spread to compare with.
 */
export function compareSpreads(a: Spread, b: Spread): Verdict {
  if (a.n < 2 || b.n < 2) return "one seed";
  return Math.abs(a.mean - b.mean) > a.sd + b.sd
    ? "exceeds spread"
    : "within spread";
}

/** An accuracy in [0, 1] as `mean ± sd %` (the `±` part only with several seeds). */
export function formatAccuracy(s: Spread): string {
  if (s.n === 0 || Number.isNaN(s.mean)) return "—";
  const mean = (100 * s.mean).toFixed(2);
  return s.n > 1 ? `${mean} ± ${(100 * s.sd).toFixed(2)} %` : `${mean} %`;
}

/** Seconds as `1h02m`, `3m04s` or `12.3s`. */
export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return "—";
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const total = Math.round(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h > 0
    ? `${h}h${String(m).padStart(2, "0")}m`
    : `${m}m${String(s).padStart(2, "0")}s`;
}

/** Bytes as `812 B`, `3.2 KiB`, `4.10 MiB`. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return "—";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
}

/** One row of the results table: a model and its figures over the seeds. */
export interface ResultRow {
  /** Short identifier, e.g. `both`. */
  id: string;
  /** What the row is, e.g. `student, CNN + INN tokens (soft)`. */
  label: string;
  /** Test accuracy per seed, in [0, 1]. */
  accuracies: number[];
  /** Wall seconds per seed (training, or the whole variant run). */
  seconds: number[];
  /** Extra text for the last column. */
  note?: string;
}

/** A comparison to report: row `a` against row `b`. */
export interface Comparison {
  /** The row id compared. */
  a: string;
  /** The row id it is compared with. */
  b: string;
}

/** Renders a markdown table with a header row and aligned columns. */
export function markdownTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  rightAligned: readonly boolean[] = [],
): string {
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length), 3)
  );
  const line = (cells: readonly string[]) =>
    "| " +
    cells.map((c, i) =>
      rightAligned[i] ? c.padStart(widths[i]) : c.padEnd(widths[i])
    ).join(" | ") + " |";
  const rule = "| " +
    widths.map((w, i) =>
      rightAligned[i] ? "-".repeat(w - 1) + ":" : "-".repeat(w)
    ).join(" | ") + " |";
  return [line(header), rule, ...rows.map(line)].join("\n");
}

/** The accuracy table: one line per row, mean ± sd over the seeds, wall time. */
export function resultsTable(rows: readonly ResultRow[]): string {
  return markdownTable(
    ["model", "test accuracy", "seeds", "wall time (mean)", "notes"],
    rows.map((r) => [
      r.label,
      formatAccuracy(spreadOf(r.accuracies)),
      String(r.accuracies.length),
      formatSeconds(spreadOf(r.seconds).mean),
      r.note ?? "",
    ]),
    [false, true, true, true, false],
  );
}

/**
 * The per-seed gaps `a - b` in points, for rows whose accuracies are listed
 * in the same seed order: a seed's variants share data, teachers and
 * initialisation, so a gap of one sign in every seed is telling even when
 * the means' spreads overlap. Marks the gaps `(every seed)` when they all
 * have the sign of their sum.
 */
export function pairedGaps(
  a: readonly number[],
  b: readonly number[],
): string {
  const count = Math.min(a.length, b.length);
  const gaps: number[] = [];
  for (let i = 0; i < count; i++) gaps.push(100 * (a[i] - b[i]));
  if (gaps.length === 0 || gaps.some((g) => Number.isNaN(g))) return "—";
  const text = gaps.map((g) => `${g >= 0 ? "+" : ""}${g.toFixed(1)}`).join(
    ", ",
  );
  const total = gaps.reduce((x, y) => x + y, 0);
  const sameSign = gaps.length > 1 && total !== 0 &&
    gaps.every((g) => Math.sign(g) === Math.sign(total));
  return sameSign ? `${text} (every seed)` : text;
}

/** The comparison table: difference of means and whether it exceeds the spread. */
export function comparisonTable(
  rows: readonly ResultRow[],
  comparisons: readonly Comparison[],
): string {
  const byId = new Map(rows.map((r) => [r.id, r]));
  const lines: string[][] = [];
  for (const { a, b } of comparisons) {
    const ra = byId.get(a);
    const rb = byId.get(b);
    if (!ra || !rb) continue;
    const sa = spreadOf(ra.accuracies);
    const sb = spreadOf(rb.accuracies);
    const diff = 100 * (sa.mean - sb.mean);
    lines.push([
      `${ra.label} − ${rb.label}`,
      `${diff >= 0 ? "+" : ""}${diff.toFixed(2)} pt`,
      `${(100 * (sa.sd + sb.sd)).toFixed(2)} pt`,
      compareSpreads(sa, sb),
      pairedGaps(ra.accuracies, rb.accuracies),
    ]);
  }
  return markdownTable(
    ["difference", "mean gap", "sd sum", "verdict", "per seed (same teachers)"],
    lines,
    [false, true, true, false, false],
  );
}

function escapeXml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(
    ">",
    "&gt;",
  ).replaceAll('"', "&quot;");
}

/**
 * A horizontal dot plot of the rows' test accuracy: one dot per seed, a bar
 * for the mean and a whisker of ± one standard deviation.
 */
export function resultsSvg(rows: readonly ResultRow[], title: string): string {
  const labelWidth = 300;
  const plotWidth = 420;
  const rowHeight = 28;
  const top = 48;
  const bottom = 44;
  const width = labelWidth + plotWidth + 40;
  const height = top + rows.length * rowHeight + bottom;
  const all = rows.flatMap((r) => r.accuracies).filter(Number.isFinite);
  const lo = all.length
    ? Math.max(0, Math.floor(Math.min(...all) * 10) / 10)
    : 0;
  const hi = all.length
    ? Math.min(1, Math.ceil(Math.max(...all) * 10) / 10)
    : 1;
  const span = hi > lo ? hi - lo : 0.1;
  const x = (acc: number) => labelWidth + ((acc - lo) / span) * plotWidth;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${
      escapeXml(title)
    }</text>`,
  ];
  const ticks = 5;
  for (let t = 0; t <= ticks; t++) {
    const acc = lo + (span * t) / ticks;
    const px = x(acc).toFixed(1);
    parts.push(
      `<line x1="${px}" y1="${top - 6}" x2="${px}" y2="${
        height - bottom
      }" stroke="#ddd"/>`,
      `<text x="${px}" y="${height - bottom + 16}" text-anchor="middle">${
        (100 * acc).toFixed(0)
      } %</text>`,
    );
  }
  parts.push(
    `<text x="${labelWidth + plotWidth / 2}" y="${
      height - 8
    }" text-anchor="middle">test accuracy (dots: seeds; bar: mean ± sd)</text>`,
  );
  rows.forEach((r, i) => {
    const cy = top + i * rowHeight + rowHeight / 2;
    parts.push(
      `<text x="${labelWidth - 8}" y="${cy + 4}" text-anchor="end">${
        escapeXml(r.label)
      }</text>`,
    );
    const s = spreadOf(r.accuracies.filter(Number.isFinite));
    if (s.n === 0) return;
    if (s.n > 1) {
      parts.push(
        `<line x1="${x(s.mean - s.sd).toFixed(1)}" y1="${cy}" x2="${
          x(s.mean + s.sd).toFixed(1)
        }" y2="${cy}" stroke="#555" stroke-width="2"/>`,
      );
    }
    parts.push(
      `<line x1="${x(s.mean).toFixed(1)}" y1="${cy - 9}" x2="${
        x(s.mean).toFixed(1)
      }" y2="${cy + 9}" stroke="#c0392b" stroke-width="3"/>`,
    );
    for (const acc of r.accuracies) {
      if (!Number.isFinite(acc)) continue;
      parts.push(
        `<circle cx="${
          x(acc).toFixed(1)
        }" cy="${cy}" r="4" fill="#2c7fb8" fill-opacity="0.7"/>`,
      );
    }
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}
