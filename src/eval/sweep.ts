/**
 * Accuracy-versus-ε curves: for each entry (a model and an attack family) and each ε, robust
 * accuracy over a dataset. At ε = 0 the clean accuracy of the entry's model is used (every attack
 * here returns x at ε = 0, so it is the same number without the attack's cost). The result is plain
 * JSON; `sweepChart` draws it with the SVG writer (one curve per entry).
 */
import { WgradError } from '../core/backend.js';
import type { Key } from '../random/random.js';
import { accuracy, type AccuracyOptions, type AccuracyResult, type Attack, type Model } from './accuracy.js';
import type { LabeledData } from './data.js';
import { lineChart } from './svg.js';

export interface SweepEntry {
  /** The curve's name, e.g. "PGD-20 (standard CNN)". */
  name: string;
  model: Model;
  /** The attack at radius ε. */
  attack: (eps: number) => Attack;
}

export interface SweepResult {
  eps: number[];
  series: { name: string; accuracy: number[]; seconds: number[] }[];
  /** Examples evaluated per point. */
  total: number;
}

export interface SweepOptions extends Omit<AccuracyOptions, 'attack'> {
  key?: Key;
  /** Called after every point (e.g. to print it or write partial results). */
  onPoint?: (name: string, eps: number, accuracy: number, seconds: number) => void;
}

export async function accuracyVsEps(entries: readonly SweepEntry[], data: LabeledData, epsList: readonly number[], opts: SweepOptions = {}): Promise<SweepResult> {
  if (epsList.length === 0 || epsList.some((e) => !(e >= 0))) throw new WgradError('accuracyVsEps', `eps values must be ≥ 0, got ${JSON.stringify(epsList)}`);
  const { onPoint, ...accOpts } = opts;
  const clean = new Map<Model, AccuracyResult>();
  const result: SweepResult = { eps: [...epsList], series: [], total: 0 };
  for (const entry of entries) {
    const series = { name: entry.name, accuracy: [] as number[], seconds: [] as number[] };
    result.series.push(series);
    for (const eps of epsList) {
      let r: AccuracyResult;
      if (eps === 0) {
        if (!clean.has(entry.model)) clean.set(entry.model, await accuracy(entry.model, data, accOpts));
        r = clean.get(entry.model)!;
      } else {
        r = await accuracy(entry.model, data, { ...accOpts, attack: entry.attack(eps), progress: accOpts.progress && { label: `${entry.name} ε=${eps}` } });
      }
      result.total = r.total;
      series.accuracy.push(r.accuracy);
      series.seconds.push(r.seconds);
      onPoint?.(entry.name, eps, r.accuracy, r.seconds);
    }
  }
  return result;
}

/** The sweep as an SVG line chart (accuracy in %, ε on the x axis). */
export function sweepChart(
  result: SweepResult,
  opts: { title: string; subtitle?: string; xLabel?: string; style?: (name: string, index: number) => { color?: string; dash?: string } },
): string {
  return lineChart({
    title: opts.title,
    subtitle: opts.subtitle,
    xLabel: opts.xLabel ?? 'ε (L∞)',
    yLabel: 'accuracy (%)',
    yRange: [0, 100],
    series: result.series.map((s, i) => ({ name: s.name, x: result.eps, y: s.accuracy.map((a) => 100 * a), ...opts.style?.(s.name, i) })),
  });
}
