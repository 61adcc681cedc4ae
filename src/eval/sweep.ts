/**
 * Accuracy-versus-ε curves: for each entry (a model and an attack family) and each ε, robust
 * accuracy over a dataset. At ε = 0 the clean accuracy of the entry's model is used (every attack
 * here returns x at ε = 0, so it is the same number without the attack's cost). The result is plain
 * JSON; `sweepChart` draws it with the SVG writer (one curve per entry). `worstCaseVsEps` is the
 * per-example worst case of several attacks on one model (docs/results.md's robust accuracy).
 *
 * What it computes, per the papers and official code, and the readings chosen: docs/methods.md#accuracy-versus-epsilon.
 */
import { WgradError } from '../core/backend.js';
import { foldIn, key as makeKey, type Key } from '../random/random.js';
import { accuracy, type AccuracyOptions, type AccuracyResult, type Attack, type Model } from './accuracy.js';
import { type LabeledData, type ProgressSetting, subsetOf } from './data.js';
import { lineChart } from './svg.js';

/** One curve of an accuracy-versus-ε sweep: a model and its attack at each radius. */
export interface SweepEntry {
  /** The curve's name, e.g. "PGD-20 (standard CNN)". */
  name: string;
  model: Model;
  /** The attack at radius ε. */
  attack: (eps: number) => Attack;
}

/** Accuracy (and seconds) per ε for each curve. */
export interface SweepResult {
  eps: number[];
  series: { name: string; accuracy: number[]; seconds: number[] }[];
  /** Examples evaluated per point. */
  total: number;
}

/** Options of `accuracyVsEps`: accuracy's options, the key and a per-point callback. */
export interface SweepOptions extends Omit<AccuracyOptions, 'attack'> {
  key?: Key;
  /** Called after every point (e.g. to print it or write partial results). */
  onPoint?: (name: string, eps: number, accuracy: number, seconds: number) => void;
}

function checkEpsList(op: string, epsList: readonly number[]): void {
  if (epsList.length === 0 || epsList.some((e) => !(e >= 0))) throw new WgradError(op, `eps values must be ≥ 0, got ${JSON.stringify(epsList)}`);
}

/** Robust accuracy of each entry at every ε of `epsList` (ε = 0: clean accuracy). */
export async function accuracyVsEps(entries: readonly SweepEntry[], data: LabeledData, epsList: readonly number[], opts: SweepOptions = {}): Promise<SweepResult> {
  checkEpsList('accuracyVsEps', epsList);
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
        r = await accuracy(entry.model, data, { ...accOpts, attack: entry.attack(eps), progress: pointProgress(accOpts.progress, `${entry.name} ε=${eps}`) });
      }
      result.total = r.total;
      series.accuracy.push(r.accuracy);
      series.seconds.push(r.seconds);
      onPoint?.(entry.name, eps, r.accuracy, r.seconds);
    }
  }
  return result;
}

/** A point's progress setting: the caller's (its log and interval kept) under the point's label; off stays off. */
function pointProgress(progress: ProgressSetting, label: string): ProgressSetting {
  return progress ? { ...(typeof progress === 'object' ? progress : {}), label } : progress;
}

/** One attack of a worst-case sweep: its name and the attack at radius ε. */
export interface NamedAttack {
  name: string;
  /** The attack at radius ε. */
  attack: (eps: number) => Attack;
}

/** Per ε, the accuracy under the worst of several attacks per example, and each attack's own (or, in a cascade, after it). */
export interface WorstCaseResult {
  eps: number[];
  /** Per ε: the fraction of examples that every attack failed on (at ε = 0: the clean accuracy). */
  worst: number[];
  /** Each attack's own accuracy per ε; in a cascade, the accuracy after it and every attack before it (at ε = 0: the clean accuracy). */
  attacks: { name: string; accuracy: number[] }[];
  total: number;
  /** The attacks ran as a cascade (each on the examples the ones before it did not break). */
  cascade?: boolean;
}

/** Options of `worstCaseVsEps`: the sweep's, and the cascade. */
export interface WorstCaseOptions extends SweepOptions {
  /**
   * Run each attack only on the examples that every attack before it failed on (AutoAttack's order):
   * the worst case is the same, at the cost of the survivors only; each attack's number is then the
   * accuracy after it and the ones before it, so a later attack far below an earlier one still shows.
   */
  cascade?: boolean;
}

/**
 * Robust accuracy as the per-example worst case of several attacks: at each ε, an example counts as
 * robust only if it is classified correctly under every attack (on the same examples; attack j's
 * randomness from foldIn(key, j + 1)). Each attack's own accuracy is returned beside it, or with
 * `cascade`, the accuracy after each attack in turn.
 */
export async function worstCaseVsEps(model: Model, attacks: readonly NamedAttack[], data: LabeledData, epsList: readonly number[], opts: WorstCaseOptions = {}): Promise<WorstCaseResult> {
  if (!attacks.length) throw new WgradError('worstCaseVsEps', 'at least one attack is needed');
  checkEpsList('worstCaseVsEps', epsList);
  const { onPoint, key = makeKey(0), cascade = false, ...accOpts } = opts;
  const result: WorstCaseResult = { eps: [...epsList], worst: [], attacks: attacks.map((a) => ({ name: a.name, accuracy: [] })), total: 0, ...(cascade && { cascade }) };
  let clean: AccuracyResult | undefined;
  for (const eps of epsList) {
    let robust: Uint8Array | undefined;
    for (const [j, a] of attacks.entries()) {
      const attackOpts = { ...accOpts, perExample: true, key: foldIn(key, j + 1), attack: a.attack(eps), progress: pointProgress(accOpts.progress, `${a.name} ε=${eps}`) };
      let r: AccuracyResult;
      if (eps === 0) r = clean ??= await accuracy(model, data, { ...accOpts, perExample: true });
      else if (cascade && robust) r = await onSurvivors(model, data, robust, attackOpts);
      else r = await accuracy(model, data, attackOpts);
      robust = robust ? robust.map((v, i) => v & r.hits![i]) : r.hits!;
      result.total = robust.length;
      const acc = cascade ? robust.reduce((n, v) => n + v, 0) / robust.length : r.accuracy;
      result.attacks[j].accuracy.push(acc);
      onPoint?.(a.name, eps, acc, r.seconds);
    }
    result.worst.push(robust!.reduce((n, v) => n + v, 0) / result.total);
  }
  return result;
}

/** An attack's hits over all `robust.length` examples, attacking only those still robust (the others: 0). */
async function onSurvivors(model: Model, data: LabeledData, robust: Uint8Array, opts: AccuracyOptions): Promise<AccuracyResult> {
  const alive = Int32Array.from([...robust.keys()].filter((i) => robust[i]));
  const hits = new Uint8Array(robust.length);
  if (!alive.length) return { accuracy: 0, correct: 0, total: robust.length, seconds: 0, imagesPerSecond: 0, hits };
  const { limit: _limit, ...rest } = opts; // the survivors are already within the limit
  const r = await accuracy(model, subsetOf(data, alive), rest);
  alive.forEach((i, k) => { hits[i] = r.hits![k]; });
  return { ...r, total: robust.length, hits };
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
