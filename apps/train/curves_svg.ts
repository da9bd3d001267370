/** One line of a chart: a name and its (x, y) points. */
export interface CurveSeries {
  /** The legend entry, e.g. `teacher resnet8`. */
  name: string;
  /** Points in x order; non-finite values are left out. */
  points: [number, number][];
}

/** One chart panel. */
export interface CurveChart {
  /** The panel title, e.g. `training loss`. */
  title: string;
  /** The x-axis label. */
  xLabel: string;
  /** The y-axis label. */
  yLabel: string;
  /** The lines. */
  series: CurveSeries[];
  /** Fixed y range (e.g. [0, 1] for accuracy); otherwise fitted to the data. */
  yRange?: [number, number];
}

const PALETTE = [
  "#1f77b4",
  "#d62728",
  "#2ca02c",
  "#ff7f0e",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#17becf",
];

const PANEL_W = 420;
const PANEL_H = 300;
const MARGIN = { left: 58, right: 16, top: 34, bottom: 44 };
const LEGEND_LINE = 18;

/** Escapes text for SVG/XML content and attributes. */
export function escapeXml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) =>
      ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[
        c
      ]!,
  );
}

/** Round tick values covering [min, max], about `count` of them. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (
    let t = Math.ceil(min / step - 1e-9) * step;
    t <= max + step * 1e-9;
    t += step
  ) {
    ticks.push(Number(t.toPrecision(12)));
  }
  return ticks;
}

function fmt(n: number): string {
  return Number(n.toFixed(2)).toString();
}

function formatTick(n: number): string {
  if (n === 0) return "0";
  const a = Math.abs(n);
  if (a >= 1000 || a < 0.01) return n.toExponential(1);
  return Number(n.toPrecision(4)).toString();
}

function extent(values: number[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo === Infinity) return [0, 1];
  if (lo === hi) return [lo - 0.5, hi + 0.5];
  return [lo, hi];
}

function renderPanel(
  chart: CurveChart,
  offsetX: number,
  colour: (name: string) => string,
): string {
  const finite = chart.series.map((s) => ({
    name: s.name,
    points: s.points.filter(([x, y]) =>
      Number.isFinite(x) && Number.isFinite(y)
    ),
  }));
  const xs = finite.flatMap((s) => s.points.map((p) => p[0]));
  const ys = finite.flatMap((s) => s.points.map((p) => p[1]));
  const [x0, x1] = extent(xs);
  let [y0, y1] = chart.yRange ?? extent(ys);
  if (!chart.yRange) {
    const pad = (y1 - y0) * 0.05;
    y0 = y0 >= 0 && y0 - pad < 0 ? 0 : y0 - pad;
    y1 += pad;
  }
  const plotW = PANEL_W - MARGIN.left - MARGIN.right;
  const plotH = PANEL_H - MARGIN.top - MARGIN.bottom;
  const sx = (x: number) =>
    offsetX + MARGIN.left + ((x - x0) / (x1 - x0)) * plotW;
  const sy = (y: number) => MARGIN.top + plotH - ((y - y0) / (y1 - y0)) * plotH;
  const out: string[] = [];
  out.push(
    `<text x="${
      fmt(offsetX + PANEL_W / 2)
    }" y="20" text-anchor="middle" font-weight="bold">${
      escapeXml(chart.title)
    }</text>`,
  );
  out.push(
    `<rect x="${
      fmt(offsetX + MARGIN.left)
    }" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#888"/>`,
  );
  for (const t of niceTicks(y0, y1)) {
    const y = fmt(sy(t));
    out.push(
      `<line x1="${fmt(offsetX + MARGIN.left)}" x2="${
        fmt(offsetX + MARGIN.left + plotW)
      }" y1="${y}" y2="${y}" stroke="#e5e5e5"/>`,
      `<text x="${
        fmt(offsetX + MARGIN.left - 6)
      }" y="${y}" text-anchor="end" dominant-baseline="middle">${
        formatTick(t)
      }</text>`,
    );
  }
  const xTicks = niceTicks(
    x0,
    x1,
    Math.min(8, Math.max(1, Math.round(x1 - x0))),
  );
  for (const t of xTicks) {
    const x = fmt(sx(t));
    out.push(
      `<line x1="${x}" x2="${x}" y1="${MARGIN.top + plotH}" y2="${
        MARGIN.top + plotH + 4
      }" stroke="#888"/>`,
      `<text x="${x}" y="${MARGIN.top + plotH + 16}" text-anchor="middle">${
        formatTick(t)
      }</text>`,
    );
  }
  out.push(
    `<text x="${fmt(offsetX + MARGIN.left + plotW / 2)}" y="${
      PANEL_H - 8
    }" text-anchor="middle">${escapeXml(chart.xLabel)}</text>`,
    `<text transform="translate(${fmt(offsetX + 14)} ${
      fmt(MARGIN.top + plotH / 2)
    }) rotate(-90)" text-anchor="middle">${escapeXml(chart.yLabel)}</text>`,
  );
  for (const s of finite) {
    if (s.points.length === 0) continue;
    const c = colour(s.name);
    const path = s.points.map(([x, y], i) =>
      `${i === 0 ? "M" : "L"}${fmt(sx(x))},${fmt(sy(y))}`
    ).join(" ");
    out.push(
      `<path d="${path}" fill="none" stroke="${c}" stroke-width="2"><title>${
        escapeXml(s.name)
      }</title></path>`,
    );
    for (const [x, y] of s.points) {
      out.push(
        `<circle cx="${fmt(sx(x))}" cy="${fmt(sy(y))}" r="2.5" fill="${c}"/>`,
      );
    }
  }
  return out.join("\n");
}

/**
 * Draws the charts side by side as one standalone SVG document, with one
 * legend shared by all panels (a series keeps its colour in every panel).
 */
export function renderCurvesSvg(charts: CurveChart[], title = ""): string {
  const names: string[] = [];
  for (const chart of charts) {
    for (const s of chart.series) {
      if (!names.includes(s.name)) names.push(s.name);
    }
  }
  const colour = (name: string) =>
    PALETTE[names.indexOf(name) % PALETTE.length];
  const panels = Math.max(1, charts.length);
  const width = panels * PANEL_W;
  const legendTop = PANEL_H + 8;
  const height = legendTop + names.length * LEGEND_LINE + (title ? 24 : 8);
  const body: string[] = [];
  charts.forEach((chart, i) =>
    body.push(renderPanel(chart, i * PANEL_W, colour))
  );
  names.forEach((name, i) => {
    const y = legendTop + i * LEGEND_LINE + 9;
    body.push(
      `<line x1="${MARGIN.left}" x2="${
        MARGIN.left + 24
      }" y1="${y}" y2="${y}" stroke="${colour(name)}" stroke-width="3"/>`,
      `<text x="${MARGIN.left + 32}" y="${y}" dominant-baseline="middle">${
        escapeXml(name)
      }</text>`,
    );
  });
  if (title) {
    body.push(
      `<text x="${width / 2}" y="${
        height - 8
      }" text-anchor="middle" fill="#555">${escapeXml(title)}</text>`,
    );
  }
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    ...body,
    `</svg>`,
    "",
  ].join("\n");
}
