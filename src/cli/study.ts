/**
 * The pre-registered study (docs/results.md, Part 1) as data: its hypotheses (each a method row, a
 * control row of `wgrad compare`, a metric and, for robust accuracy, a radius), and the aggregation
 * of a table's runs over seeds — per row the mean ± sd of each metric, per hypothesis whose two
 * rows are in the table the per-seed paired differences, their Student-t interval and the verdict
 * (./stats.ts). `compare` and `report` both build their tables from this, so no number is typed twice.
 */
import type { Domain } from './dataset.js';
import type { EvalResult } from './evaluate.js';
import { mean, pairedInterval, type PairedInterval, sampleSd, verdict, type Verdict } from './stats.js';

/** A metric of an evaluation: the clean linear probe, kNN, or robust accuracy at a radius. */
export type MetricName = 'probe' | 'knn' | 'robust';

export interface Hypothesis {
  id: string;
  claim: string;
  /** The rows of `wgrad compare --methods` (variants as "method:option=value"). */
  method: string;
  control: string;
  metric: MetricName;
  /** The radius of a robust-accuracy metric. */
  eps?: number;
  /** The domains it is decided on (each table separately). */
  domains: readonly Domain[];
  /** False: the difference is reported as a distance, with no verdict (R3). */
  decides: boolean;
}

const IMAGES: readonly Domain[] = ['image'];
const EVERY: readonly Domain[] = ['image', 'tabular', 'audio'];

/** docs/results.md's hypotheses, in its order. The primary radius on images is ε = 0.1. */
export const HYPOTHESES: readonly Hypothesis[] = [
  { id: 'R1', claim: 'RoCL gives robust representations without labels', method: 'rocl', control: 'simclr', metric: 'robust', eps: 0.1, domains: IMAGES, decides: true },
  { id: 'R2', claim: 'RoCL\'s robustness comes from the adversary, not from perturbed views', method: 'rocl', control: 'noise', metric: 'robust', eps: 0.1, domains: IMAGES, decides: true },
  { id: 'R3', claim: 'how far RoCL is from supervised adversarial training', method: 'supervised-at', control: 'rocl', metric: 'robust', eps: 0.1, domains: IMAGES, decides: false },
  { id: 'I1', claim: 'IDAA improves SimCLR\'s representation', method: 'idaa', control: 'simclr', metric: 'probe', domains: IMAGES, decides: true },
  { id: 'A1', claim: 'APLR is above the noise baseline', method: 'aplr', control: 'noise', metric: 'probe', domains: EVERY, decides: true },
  { id: 'A2', claim: 'APLR is above the masking baseline', method: 'aplr', control: 'mask', metric: 'probe', domains: EVERY, decides: true },
  { id: 'A3', claim: 'APLR\'s learned δ beats δ = 0', method: 'aplr', control: 'aplr:perturbation=zero', metric: 'probe', domains: EVERY, decides: true },
  { id: 'A4', claim: 'APLR\'s learned δ beats random δ', method: 'aplr', control: 'aplr:perturbation=random', metric: 'probe', domains: EVERY, decides: true },
  { id: 'G1', claim: 'the regularizer makes downstream predictors robust', method: 'simclr+reg', control: 'simclr', metric: 'robust', eps: 0.1, domains: IMAGES, decides: true },
  { id: 'G2', claim: 'the worst-case δ is what matters', method: 'simclr+reg', control: 'simclr+reg:reg-perturbation=random', metric: 'robust', eps: 0.1, domains: IMAGES, decides: true },
];

/** One evaluated run of a table: its row, seed and evaluation. */
export interface RunRecord {
  /** The row's name in --methods ("simclr+reg", "aplr:perturbation=zero", "random"). */
  row: string;
  /** Its label in tables. */
  label: string;
  /** Its position in the table. */
  index: number;
  seed: number;
  trainSeconds: number;
  eval: EvalResult;
}

/** A metric's value in a result (a fraction), or undefined where the evaluation did not compute it. */
export function metricValue(r: EvalResult, metric: MetricName, eps?: number): number | undefined {
  if (metric === 'probe') return r.linearAccuracy;
  if (metric === 'knn') return r.knnAccuracy;
  return r.robust.find((x) => x.eps === eps)?.accuracy;
}

export const metricLabel = (h: Pick<Hypothesis, 'metric' | 'eps'>): string =>
  h.metric === 'probe' ? 'clean linear probe' : h.metric === 'knn' ? 'kNN' : `robust accuracy, ε = ${h.eps}`;

/** A value over seeds: mean, sample sd (NaN for one seed), the values by seed. */
export interface Summary { mean: number; sd: number; n: number; values: number[] }

export function summarize(values: readonly number[]): Summary {
  return { mean: mean(values), sd: sampleSd(values), n: values.length, values: [...values] };
}

/** A row of the table: its runs, in seed order. */
export interface RowRuns { row: string; label: string; runs: RunRecord[] }

/** The runs grouped by row (in table order), each row's runs in seed order. */
export function groupRows(records: readonly RunRecord[]): RowRuns[] {
  const rows = new Map<string, RowRuns>();
  for (const r of [...records].sort((a, b) => a.index - b.index || a.seed - b.seed)) {
    const g = rows.get(r.row) ?? { row: r.row, label: r.label, runs: [] };
    g.runs.push(r);
    rows.set(r.row, g);
  }
  return [...rows.values()];
}

/** A row's summary of a value of its runs over its seeds (undefined where no run has it). */
export function summaryBy(row: RowRuns, value: (r: RunRecord) => number | undefined): Summary | undefined {
  const values = row.runs.map(value).filter((v): v is number => v !== undefined);
  return values.length ? summarize(values) : undefined;
}

/** A row's summary of one metric over its seeds. */
export const rowSummary = (row: RowRuns, metric: MetricName, eps?: number): Summary | undefined => summaryBy(row, (r) => metricValue(r.eval, metric, eps));

/** A hypothesis decided on a table: the paired differences (percentage points) by seed, the interval and the verdict. */
export interface HypothesisResult {
  hypothesis: Hypothesis;
  seeds: number[];
  method: number[];
  control: number[];
  /** method − control per seed, in percentage points. */
  differences: number[];
  interval: PairedInterval;
  /** The verdict by the decision rule; 'pending' while fewer than the pre-registered seeds are paired; 'distance' where the hypothesis decides nothing (R3). */
  verdict: Verdict | 'pending' | 'distance';
}

/** docs/results.md: every row runs with 3 seeds, and a hypothesis is decided on all three. */
export const PREREGISTERED_SEEDS = 3;

/** A verdict as the tables print it ('pending' with how many seeds are in, 'distance' as no verdict). */
export function verdictText(r: Pick<HypothesisResult, 'verdict' | 'seeds'>, bold = false): string {
  if (r.verdict === 'distance') return 'distance (no verdict)';
  if (r.verdict === 'pending') return `pending (${r.seeds.length} of ${PREREGISTERED_SEEDS} seeds)`;
  return bold ? `**${r.verdict}**` : r.verdict;
}

/** The value of `metric` by seed for a row. */
function bySeed(row: RowRuns, h: Hypothesis): Map<number, number> {
  const out = new Map<number, number>();
  for (const r of row.runs) {
    const v = metricValue(r.eval, h.metric, h.eps);
    if (v !== undefined) out.set(r.seed, v);
  }
  return out;
}

/**
 * The hypotheses of `domain` whose method and control rows are both in the table, each on the seeds
 * both rows have (the pairing: seed s of the method beside seed s of its control).
 */
export function decideHypotheses(rows: readonly RowRuns[], domain: Domain, hypotheses: readonly Hypothesis[] = HYPOTHESES, seedsNeeded = PREREGISTERED_SEEDS): HypothesisResult[] {
  const out: HypothesisResult[] = [];
  for (const h of hypotheses) {
    const m = rows.find((r) => r.row === h.method), c = rows.find((r) => r.row === h.control);
    if (!h.domains.includes(domain) || !m || !c) continue;
    const [mv, cv] = [bySeed(m, h), bySeed(c, h)];
    const seeds = [...mv.keys()].filter((s) => cv.has(s)).sort((a, b) => a - b);
    if (!seeds.length) continue;
    const method = seeds.map((s) => mv.get(s)!), control = seeds.map((s) => cv.get(s)!);
    const differences = seeds.map((_, i) => 100 * (method[i] - control[i]));
    const interval = pairedInterval(differences);
    const decided = !h.decides ? 'distance' : seeds.length < seedsNeeded ? 'pending' : verdict(interval);
    out.push({ hypothesis: h, seeds, method, control, differences, interval, verdict: decided });
  }
  return out;
}
