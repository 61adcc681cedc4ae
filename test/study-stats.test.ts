/**
 * The study's statistics (src/cli/stats.ts) and hypotheses (src/cli/study.ts): Student's t quantile
 * against SciPy's values, the paired interval, the decision rule, and the per-seed pairing of a
 * hypothesis's rows.
 */
import { describe, expect, it } from 'vitest';
import { mean, pairedInterval, sampleSd, tCdf, tQuantile, verdict } from '../src/cli/stats.js';
import { decideHypotheses, groupRows, HYPOTHESES, PREREGISTERED_SEEDS, type RunRecord, verdictText } from '../src/cli/study.js';
import type { EvalResult } from '../src/cli/evaluate.js';

describe('Student t', () => {
  // scipy.stats.t.ppf(0.975, df) and t.ppf(0.995, 5), t.cdf(1.5, 3).
  it.each([[1, 12.706204736174694], [2, 4.302652729749462], [3, 3.1824463052837078], [4, 2.7764451051977934], [9, 2.262157162798205], [30, 2.0422724563012378], [1000, 1.9623390808264083]])(
    't(0.975, %i) = %f', (df, want) => expect(tQuantile(0.975, df)).toBeCloseTo(want, 9),
  );
  it('other probabilities, the CDF and symmetry', () => {
    expect(tQuantile(0.995, 5)).toBeCloseTo(4.032142983555228, 9);
    expect(tCdf(1.5, 3)).toBeCloseTo(0.8847080673775886, 12);
    expect(tQuantile(0.025, 2)).toBeCloseTo(-4.302652729749462, 9);
    expect(() => tQuantile(1, 2)).toThrow(/p must be in \(0, 1\)/);
    expect(() => tQuantile(0.9, 0)).toThrow(/df must be > 0/);
  });
});

describe('the paired interval and the verdict', () => {
  it('mean ± t·sd/√n, with the sample sd', () => {
    const d = [1, 2, 6];
    expect(mean(d)).toBe(3);
    expect(sampleSd(d)).toBeCloseTo(Math.sqrt(7), 12);
    const i = pairedInterval(d);
    const half = (4.302652729749462 * Math.sqrt(7)) / Math.sqrt(3);
    expect(i.lo).toBeCloseTo(3 - half, 8);
    expect(i.hi).toBeCloseTo(3 + half, 8);
    expect(verdict(i)).toBe('not shown');
  });
  it('holds above 0, contradicted below 0, not shown with one seed', () => {
    expect(verdict(pairedInterval([2.1, 2.0, 2.2]))).toBe('holds');
    expect(verdict(pairedInterval([-2.1, -2.0, -2.2]))).toBe('contradicted');
    const one = pairedInterval([5]);
    expect(Number.isNaN(one.lo) && Number.isNaN(one.hi)).toBe(true);
    expect(verdict(one)).toBe('not shown');
  });
});

describe('hypotheses on a table', () => {
  const result = (probe: number): EvalResult => ({ linearAccuracy: probe, linearTrainAccuracy: probe, knnAccuracy: probe, knnK: 3, attack: 'PGD-2', robustTotal: 4, robust: [{ eps: 0, accuracy: probe }], seconds: 0 });
  const run = (row: string, index: number, seed: number, probe: number): RunRecord => ({ row, label: row, index, seed, trainSeconds: 0, eval: result(probe) });

  it('pairs the seeds both rows have and skips hypotheses of other domains or missing rows', () => {
    const rows = groupRows([
      run('aplr', 2, 1, 0.80), run('noise', 1, 0, 0.70), run('aplr', 2, 0, 0.75), run('noise', 1, 1, 0.72), run('noise', 1, 2, 0.9), run('mask', 3, 0, 0.5),
    ]);
    expect(rows.map((r) => r.row)).toEqual(['noise', 'aplr', 'mask']);
    const decided = decideHypotheses(rows, 'tabular');
    expect(decided.map((d) => d.hypothesis.id)).toEqual(['A1', 'A2']);
    const a1 = decided[0];
    expect(a1.seeds).toEqual([0, 1]);
    expect(a1.differences[0]).toBeCloseTo(5, 10);
    expect(a1.differences[1]).toBeCloseTo(8, 10);
    expect(a1.interval.t).toBeCloseTo(12.706204736174694, 9);
    expect(decided[1].seeds).toEqual([0]);
    expect(decided[1].verdict).toBe('pending'); // one seed of three
    expect(decideHypotheses(rows, 'image').map((d) => d.hypothesis.id)).toEqual(['A1', 'A2']);
  });

  it('every pre-registered hypothesis is encoded once, R3 without a verdict', () => {
    expect(HYPOTHESES.map((h) => h.id)).toEqual(['R1', 'R2', 'R3', 'I1', 'A1', 'A2', 'A3', 'A4', 'G1', 'G2']);
    expect(HYPOTHESES.filter((h) => !h.decides).map((h) => h.id)).toEqual(['R3']);
    expect(HYPOTHESES.filter((h) => h.metric === 'robust').every((h) => h.eps === 0.1)).toBe(true);
  });
});

describe('deciding a hypothesis on a table', () => {
  const run = (row: string, seed: number, probe: number) => ({ row, label: row, index: 0, seed, trainSeconds: 0, eval: { linearAccuracy: probe, knnAccuracy: 0, robust: [] } as never });
  const rows = (seeds: number[]) => groupRows(seeds.flatMap((s) => [run('aplr', s, 0.9 + 0.001 * s), run('noise', s, 0.8)]));
  it('gives a verdict only on the pre-registered three seeds; fewer are pending, with their interval', () => {
    const [three] = decideHypotheses(rows([0, 1, 2]), 'tabular').filter((r) => r.hypothesis.id === 'A1');
    expect(three.verdict).toBe('holds');
    expect(verdictText(three, true)).toBe('**holds**');
    const [two] = decideHypotheses(rows([0, 1]), 'tabular').filter((r) => r.hypothesis.id === 'A1');
    expect(two.verdict).toBe('pending');
    expect(two.interval.lo).toBeGreaterThan(0); // it would hold: still no verdict
    expect(verdictText(two)).toBe(`pending (2 of ${PREREGISTERED_SEEDS} seeds)`);
  });
});

