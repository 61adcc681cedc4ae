/**
 * A small SVG writer for result charts (no plotting dependency): `lineChart` draws one curve per
 * series with axes, ticks at "nice" round values, axis labels, a title and a legend; `barChart`
 * draws grouped bars with error bars (mean ± sd over seeds); `escapeXml`
 * is shared with the benchmark report's bar chart (bench/report.ts).
 */

export const escapeXml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** About `count` evenly spaced round values (1, 2 or 5 × 10ᵏ apart) covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** One line of a chart: its name, points and colour. */
export interface Series {
  name: string;
  x: readonly number[];
  y: readonly number[];
  /** CSS colour (default from a colour-blind-safe palette). */
  color?: string;
  /** Dash pattern, e.g. '6,3'. */
  dash?: string;
}

/** A line chart's titles, axis labels and series. */
export interface LineChartOptions {
  title: string;
  subtitle?: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  width?: number;
  /** Height of the plotting area (default 300; the legend adds a line per series below it). */
  plotHeight?: number;
  /** Axis ranges (default: the data's, widened to nice ticks). */
  xRange?: readonly [number, number];
  yRange?: readonly [number, number];
  /** Formats the x axis's tick labels (default: a short number). */
  xFormat?: (v: number) => string;
  /** Formats the y axis's tick labels (default: a short number). */
  yFormat?: (v: number) => string;
}

/** The default series colours, in order (Okabe–Ito, colour-blind-safe). */
export const PALETTE = ['#0072b2', '#d55e00', '#009e73', '#cc79a7', '#e69f00', '#56b4e9', '#000000', '#f0e442'];

const fmtDefault = (v: number) => String(Number(v.toPrecision(6)));

function extent(values: number[], given?: readonly [number, number]): [number, number] {
  if (given) return [given[0], given[1]];
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return [0, 1];
  const lo = Math.min(...finite), hi = Math.max(...finite);
  if (lo === hi) return [lo - 1, hi + 1];
  const t = niceTicks(lo, hi);
  return [Math.min(lo, t[0]), Math.max(hi, t[t.length - 1])];
}

/** The opening of a chart: the svg element, a white background, the title and the subtitle. */
function chartStart(width: number, height: number, left: number, title: string, subtitle?: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="22" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
    ...(subtitle ? [`<text x="${left}" y="42" fill="#555">${escapeXml(subtitle)}</text>`] : []),
  ];
}

/** The y grid lines with their tick labels, and the plot's frame. */
function yAxis([y0, y1]: [number, number], Y: (v: number) => number, p: { left: number; top: number; pw: number; ph: number }, yFormat: (v: number) => string): string[] {
  const f = (v: number) => v.toFixed(1);
  const out = niceTicks(y0, y1, 6).filter((t) => t >= y0 - 1e-12 && t <= y1 + 1e-12).flatMap((t) => [
    `<line x1="${p.left}" y1="${f(Y(t))}" x2="${p.left + p.pw}" y2="${f(Y(t))}" stroke="#e5e5e5"/>`,
    `<text x="${p.left - 6}" y="${f(Y(t) + 4)}" text-anchor="end" fill="#333">${escapeXml(yFormat(t))}</text>`,
  ]);
  return [...out, `<rect x="${p.left}" y="${p.top}" width="${p.pw}" height="${p.ph}" fill="none" stroke="#333"/>`];
}

/** An SVG line chart as a string. */
export function lineChart(o: LineChartOptions): string {
  const { width = 680, plotHeight: ph = 300, xFormat = fmtDefault, yFormat = fmtDefault } = o;
  const left = 70, right = 20, top = o.subtitle ? 62 : 44, bottom = 56;
  const height = top + ph + bottom + 18 * o.series.length;
  const pw = width - left - right;
  const [x0, x1] = extent(o.series.flatMap((s) => [...s.x]), o.xRange);
  const [y0, y1] = extent(o.series.flatMap((s) => [...s.y]), o.yRange);
  const X = (v: number) => left + ((v - x0) / (x1 - x0)) * pw;
  const Y = (v: number) => top + ph - ((v - y0) / (y1 - y0)) * ph;
  const f = (v: number) => v.toFixed(1);
  const out = chartStart(width, height, left, o.title, o.subtitle);
  for (const t of niceTicks(x0, x1, 8).filter((t) => t >= x0 - 1e-12 && t <= x1 + 1e-12)) {
    out.push(`<line x1="${f(X(t))}" y1="${top}" x2="${f(X(t))}" y2="${top + ph}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${f(X(t))}" y="${top + ph + 16}" text-anchor="middle" fill="#333">${escapeXml(xFormat(t))}</text>`);
  }
  out.push(...yAxis([y0, y1], Y, { left, top, pw, ph }, yFormat));
  out.push(`<text x="${left + pw / 2}" y="${top + ph + 36}" text-anchor="middle">${escapeXml(o.xLabel)}</text>`);
  out.push(`<text transform="translate(18 ${top + ph / 2}) rotate(-90)" text-anchor="middle">${escapeXml(o.yLabel)}</text>`);
  o.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    const pts = s.x.map((xv, j) => [xv, s.y[j]]).filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b));
    const dash = s.dash ? ` stroke-dasharray="${s.dash}"` : '';
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="2"${dash} points="${pts.map(([a, b]) => `${f(X(a))},${f(Y(b))}`).join(' ')}"/>`);
    for (const [a, b] of pts) out.push(`<circle cx="${f(X(a))}" cy="${f(Y(b))}" r="3" fill="${color}"/>`);
    const ly = top + ph + bottom - 8 + i * 18;
    out.push(`<line x1="${left}" y1="${ly}" x2="${left + 28}" y2="${ly}" stroke="${color}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${left + 36}" y="${ly + 4}">${escapeXml(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** One group of bars (e.g. a metric), one bar per series with its error bar. */
export interface BarGroup {
  /** The group's label under its bars (e.g. a metric). */
  name: string;
  /** One bar per series, in the series' order: its height and the half-length of its error bar (NaN: none). */
  bars: readonly { value: number; error?: number }[];
}

/** A grouped bar chart's titles, series names, groups and layout. */
export interface BarChartOptions {
  title: string;
  subtitle?: string;
  yLabel: string;
  /** The bars' names (one per bar of every group), in the legend. */
  series: readonly string[];
  groups: readonly BarGroup[];
  width?: number;
  plotHeight?: number;
  yRange?: readonly [number, number];
  /** Formats the y axis's tick labels (default: a short number). */
  yFormat?: (v: number) => string;
}

/** An SVG chart of grouped bars with error bars (e.g. mean ± sd over seeds), as a string. */
export function barChart(o: BarChartOptions): string {
  const { width = 680, plotHeight: ph = 300, yFormat = fmtDefault } = o;
  const left = 70, right = 20, top = o.subtitle ? 62 : 44, bottom = 40;
  const height = top + ph + bottom + 18 * o.series.length;
  const pw = width - left - right;
  const tops = o.groups.flatMap((g) => g.bars.map((b) => b.value + (Number.isFinite(b.error) ? b.error! : 0)));
  const [y0, y1] = o.yRange ? [o.yRange[0], o.yRange[1]] : extent([0, ...tops]);
  const Y = (v: number) => top + ph - ((Math.min(Math.max(v, y0), y1) - y0) / (y1 - y0)) * ph;
  const f = (v: number) => v.toFixed(1);
  const groupWidth = pw / Math.max(1, o.groups.length);
  const barWidth = (groupWidth * 0.8) / Math.max(1, o.series.length);
  const out = chartStart(width, height, left, o.title, o.subtitle);
  out.push(...yAxis([y0, y1], Y, { left, top, pw, ph }, yFormat));
  out.push(`<text transform="translate(18 ${top + ph / 2}) rotate(-90)" text-anchor="middle">${escapeXml(o.yLabel)}</text>`);
  o.groups.forEach((g, gi) => {
    const gx = left + gi * groupWidth + groupWidth * 0.1;
    out.push(`<text x="${f(left + (gi + 0.5) * groupWidth)}" y="${top + ph + 16}" text-anchor="middle" fill="#333">${escapeXml(g.name)}</text>`);
    g.bars.forEach((b, i) => {
      if (!Number.isFinite(b.value)) return;
      const x = gx + i * barWidth, color = PALETTE[i % PALETTE.length];
      out.push(`<rect x="${f(x)}" y="${f(Y(b.value))}" width="${f(barWidth * 0.9)}" height="${f(Y(y0) - Y(b.value))}" fill="${color}"/>`);
      if (!Number.isFinite(b.error)) return;
      const cx = f(x + barWidth * 0.45), [hi, lo] = [Y(b.value + b.error!), Y(b.value - b.error!)];
      out.push(`<line x1="${cx}" y1="${f(hi)}" x2="${cx}" y2="${f(lo)}" stroke="#000"/>`);
      for (const yy of [hi, lo]) out.push(`<line x1="${f(x + barWidth * 0.25)}" y1="${f(yy)}" x2="${f(x + barWidth * 0.65)}" y2="${f(yy)}" stroke="#000"/>`);
    });
  });
  o.series.forEach((name, i) => {
    const ly = top + ph + bottom - 8 + i * 18;
    out.push(`<rect x="${left}" y="${ly - 6}" width="28" height="10" fill="${PALETTE[i % PALETTE.length]}"/>`);
    out.push(`<text x="${left + 36}" y="${ly + 4}">${escapeXml(name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
