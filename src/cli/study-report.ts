/**
 * The tables and charts of a comparison, built from its runs alone (one RunRecord per row × seed),
 * so that `wgrad compare` (from the runs it just evaluated) and `wgrad report` (from the run
 * directories on disk: ./report-command.ts) write the same files: results.md (rows × metrics, mean ±
 * sd over seeds; the hypotheses decided on the table, ./study.ts), results.json, accuracy-vs-eps.svg
 * (per row: the worst case, and each attack's curve beside it), metrics.svg (bars with error bars)
 * and loss.svg (each row's first seed).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { barChart, lineChart, PALETTE, type Series } from '../eval/svg.js';
import { compareLossChart } from './charts.js';
import type { Domain } from './dataset.js';
import { decideHypotheses, groupRows, type HypothesisResult, metricLabel, type MetricName, type RowRuns, rowSummary, type RunRecord, type Summary, summaryBy, verdictText } from './study.js';

/** What every run of a table shares (stored with each run, so a table can be rebuilt from any of them). */
export interface TableMeta {
  /** The data's description. */
  data: string;
  domain: Domain;
  /** "cnn encoder, width 8" / "mlp encoder, hidden 256". */
  encoder: string;
  epochs: number;
  batch: number;
  /** compare --robust-rows: the rows whose robust accuracy was measured (absent: every row). */
  robustRows?: string[];
}

/** A run of a table as its directory records it (row.json beside eval.json). */
export interface StoredRun extends RunRecord {
  /** The method trained ('none': the untrained encoder; 'raw': the inputs themselves). */
  method: string;
  regularizer: number;
  /** What it trained on: "augmentation (crop scale [s, 1])" or "no augmentation" (the untrained encoder: none). */
  views?: string;
  /** Its run directory. */
  dir: string;
}

export interface Table { meta: TableMeta; runs: StoredRun[] }

const pct = (v: number) => `${(100 * v).toFixed(2)} %`;
const minutes = (s: number) => (s >= 600 ? `${(s / 60).toFixed(0)} min` : s >= 60 ? `${(s / 60).toFixed(1)} min` : `${s.toFixed(0)} s`);
/** A summary as a cell: the value for one seed, "mean ± sd %" for several. */
const cell = (s: Summary | undefined) => (!s ? '–' : s.n === 1 ? pct(s.mean) : `${(100 * s.mean).toFixed(2)} ± ${(100 * s.sd).toFixed(2)} %`);
const seedsOf = (runs: readonly RunRecord[]) => [...new Set(runs.map((r) => r.seed))].sort((a, b) => a - b);

/** The radii of the robust columns (ε > 0), from the runs' evaluations. */
const radii = (runs: readonly RunRecord[]) => [...new Set(runs.flatMap((r) => r.eval.robust.map((x) => x.eps)))].filter((e) => e > 0).sort((a, b) => a - b);

/** The per-attack accuracy of a run at ε (a worst-case evaluation's separate numbers). */
const attackAt = (r: RunRecord, label: string, eps: number) => r.eval.robustAttacks?.find((a) => a.label === label)?.robust.find((x) => x.eps === eps)?.accuracy;

/** The rows × metrics table (mean ± sd over seeds). */
export function metricsTable(runs: readonly RunRecord[]): string {
  const rows = groupRows(runs);
  const eps = radii(runs);
  const first = (runs.find((r) => r.eval.robust.length) ?? runs[0])?.eval; // a row outside --robust-rows has no attack
  const attack = first?.attack ?? '';
  const attacks = first?.robustAttacks?.map((a) => a.label) ?? [];
  const rl = runs.find((r) => r.eval.robustLinear)?.eval.robustLinear;
  const classifier = runs.some((r) => r.eval.classifierAccuracy !== undefined);
  const validation = runs.some((r) => r.eval.probeSelection !== undefined);
  const head = [
    'method', ...(validation ? ['probe, validation split'] : []), 'linear probe', 'kNN', ...(classifier ? ['own classifier'] : []), ...(attacks.length ? [`clean (first ${first!.robustTotal})`] : []), ...eps.map((e) => `${attack} ε = ${e}`),
    ...attacks.flatMap((label) => eps.map((e) => `${label} ε = ${e}`)),
    ...(rl ? ['robust linear head: clean', `robust linear head: ${attack} ε = ${rl.eps}`] : []), 'train time', 'eval time',
  ];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const row of rows) {
    const mean = (f: (r: RunRecord) => number) => row.runs.reduce((a, r) => a + f(r), 0) / row.runs.length;
    lines.push(`| ${[
      row.label, ...(validation ? [cell(summaryBy(row, (r) => r.eval.probeSelection?.valAccuracy))] : []), cell(rowSummary(row, 'probe')), cell(rowSummary(row, 'knn')), ...(classifier ? [cell(summaryBy(row, (r) => r.eval.classifierAccuracy))] : []),
      ...(attacks.length ? [cell(rowSummary(row, 'robust', 0))] : []), ...eps.map((e) => cell(rowSummary(row, 'robust', e))),
      ...attacks.flatMap((label) => eps.map((e) => cell(summaryBy(row, (r) => attackAt(r, label, e))))),
      ...(rl ? [cell(summaryBy(row, (r) => r.eval.robustLinear?.clean)), cell(summaryBy(row, (r) => r.eval.robustLinear?.robust))] : []),
      minutes(mean((r) => r.trainSeconds)), minutes(mean((r) => r.eval.seconds)),
    ].join(' | ')} |`);
  }
  return lines.join('\n');
}

const signed = (v: number, digits = 2) => (Number.isFinite(v) ? `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(digits)}` : '–');

/** The hypotheses decided on a table: per-seed differences, their mean, the 95 % interval and the verdict. */
export function hypothesesTable(results: readonly HypothesisResult[]): string {
  const head = ['id', 'claim', 'method', 'control', 'metric', 'seeds', 'method − control by seed (points)', 'mean', '95 % interval', 'verdict'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of results) {
    const h = r.hypothesis, i = r.interval;
    const interval = Number.isFinite(i.lo) ? `[${signed(i.lo)}, ${signed(i.hi)}] (t = ${i.t.toFixed(3)}, n = ${i.n})` : `none (n = ${i.n})`;
    lines.push(`| ${[h.id, h.claim, h.method, h.control, metricLabel(h), r.seeds.join(', '), r.differences.map((d) => signed(d)).join(', '), signed(i.mean), interval, verdictText(r, true)].join(' | ')} |`);
  }
  return lines.join('\n');
}

/** What each run trained on, rows grouped by it. */
function viewsLine(rows: readonly RowRuns[]): string {
  const groups = new Map<string, string[]>();
  for (const row of rows) {
    const views = (row.runs[0] as StoredRun).views;
    if (views !== undefined) groups.set(views, [...(groups.get(views) ?? []), row.row]);
  }
  return [...groups].map(([text, names]) => `${names.join(', ')}: ${text}`).join('; ');
}

/** results.md of a table. */
export function tableMarkdown(t: Table): string {
  const rows = groupRows(t.runs);
  const seeds = seedsOf(t.runs);
  const first = (t.runs.find((r) => r.eval.robust.length) ?? t.runs[0])?.eval;
  const units = t.meta.domain === 'image' ? 'L∞, pixels in [0, 1]' : 'L∞ in standard deviations of the standardized features, no box';
  const seedText = seeds.length === 1 ? `and seed ${seeds[0]} for every run` : `for every run; seeds ${seeds.join(', ')} (each cell: mean ± sd over the seeds)`;
  const decided = decideHypotheses(rows, t.meta.domain);
  const sum = (f: (r: RunRecord) => number) => t.runs.reduce((a, r) => a + f(r), 0);
  return [
    '# wgrad compare', '',
    `Data: ${t.meta.data}. The same ${t.meta.encoder}, ${t.meta.epochs} epochs, batch ${t.meta.batch} ${seedText}. Views: ${viewsLine(rows)}.`,
    `Robust accuracy: encoder + linear head under ${first?.attack ?? ''} (${units}) on the first ${first?.robustTotal ?? ''} test examples (white box, random start)${t.meta.robustRows ? `, for the rows ${t.meta.robustRows.join(', ')} only (compare --robust-rows; the others: clean metrics)` : ''}.`,
    `Training ${minutes(sum((r) => r.trainSeconds))} and evaluation ${minutes(sum((r) => r.eval.seconds))} in all (summed over the runs).`, '',
    metricsTable(t.runs), '',
    ...(decided.length ? ['## Hypotheses (docs/results.md)', '', hypothesesTable(decided), ''] : []),
  ].join('\n');
}

/** results.json of a table: the meta, every run, each row's summaries and the hypotheses. */
export function tableJson(t: Table): object {
  const rows = groupRows(t.runs);
  const eps = [0, ...radii(t.runs)];
  return {
    ...t.meta,
    rows: [...t.runs].sort((x, y) => x.seed - y.seed || x.index - y.index).map((r) => ({ name: r.label, row: r.row, method: r.method, regularizer: r.regularizer, seed: r.seed, trainSeconds: r.trainSeconds, eval: r.eval, dir: r.dir })),
    summary: rows.map((row) => ({ row: row.row, label: row.label, seeds: seedsOf(row.runs), probe: rowSummary(row, 'probe'), knn: rowSummary(row, 'knn'), robust: eps.map((e) => ({ eps: e, ...rowSummary(row, 'robust', e) })) })),
    hypotheses: decideHypotheses(rows, t.meta.domain).map((r) => ({ ...r, hypothesis: r.hypothesis.id })),
  };
}

/** Accuracy versus ε, per row (mean over seeds): the evaluation's curve solid, each attack's dashed beside it. */
function epsChart(t: Table): string {
  const eps = [0, ...radii(t.runs)];
  const series: Series[] = [];
  groupRows(t.runs).forEach((row, i) => {
    if (!row.runs.some((r) => r.eval.robust.length)) return; // a row outside --robust-rows
    const color = PALETTE[i % PALETTE.length];
    series.push({ name: row.label, color, x: eps, y: eps.map((e) => 100 * (rowSummary(row, 'robust', e)?.mean ?? Number.NaN)) });
    for (const [j, a] of (row.runs[0].eval.robustAttacks ?? []).entries()) {
      series.push({ name: `${row.label}: ${a.label}`, color, dash: j ? '2,3' : '6,3', x: eps, y: eps.map((e) => 100 * (e === 0 ? rowSummary(row, 'robust', 0)?.mean ?? Number.NaN : summaryBy(row, (r) => attackAt(r, a.label, e))?.mean ?? Number.NaN)) });
    }
  });
  return lineChart({
    title: `Robust accuracy of encoder + linear head (${(t.runs.find((r) => r.eval.robust.length) ?? t.runs[0])?.eval.attack ?? ''})`, subtitle: `${t.meta.data.split(':')[0]}; mean over seeds`,
    xLabel: t.meta.domain === 'image' ? 'ε (L∞)' : 'ε (L∞, standardized units)', yLabel: 'accuracy (%)', yRange: [0, 100], series,
  });
}

/** The main metrics as bars, mean ± sd over seeds. */
function metricsChart(t: Table): string {
  const rows = groupRows(t.runs);
  const eps = radii(t.runs);
  const metrics: { name: string; m: MetricName; e?: number }[] = [{ name: 'linear probe', m: 'probe' }, { name: 'kNN', m: 'knn' }, ...eps.map((e) => ({ name: `robust, ε = ${e}`, m: 'robust' as const, e }))];
  return barChart({
    title: 'Clean and robust accuracy (mean ± sd over seeds)', subtitle: t.meta.data.split(':')[0], yLabel: 'accuracy (%)', yRange: [0, 100],
    series: rows.map((r) => r.label),
    groups: metrics.map(({ name, m, e }) => ({ name, bars: rows.map((row) => { const s = rowSummary(row, m, e); return { value: 100 * (s?.mean ?? Number.NaN), error: 100 * (s?.sd ?? Number.NaN) }; }) })),
  });
}

/** Writes results.md, results.json and the charts of a table into `out`. */
export function writeTable(out: string, t: Table): void {
  writeFileSync(join(out, 'results.md'), tableMarkdown(t));
  writeFileSync(join(out, 'results.json'), `${JSON.stringify(tableJson(t), null, 2)}\n`);
  writeFileSync(join(out, 'accuracy-vs-eps.svg'), epsChart(t));
  writeFileSync(join(out, 'metrics.svg'), metricsChart(t));
  const firstSeed = groupRows(t.runs).flatMap((row, i) => ['none', 'raw'].includes((row.runs[0] as StoredRun).method) ? [] : [{ name: row.label, dir: (row.runs[0] as StoredRun).dir, color: PALETTE[i % PALETTE.length] }]);
  writeFileSync(join(out, 'loss.svg'), compareLossChart(firstSeed, 'Training loss per step (first seed)'));
}
