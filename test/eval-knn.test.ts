/**
 * Weighted kNN (src/eval/knn.ts) beyond the basic vote: small temperatures against a float64 host
 * computation (exp(s/T) overflowed float32 below T ≈ 0.011 and ∞·0 made the vote NaN), the default
 * k scaled to the bank (√N, at most 200), and kNN on a projection of the features.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as wg from '../src/index.js';
import { init } from '../src/init.js';
import { evaluation } from '../src/index.js';
import { mulberry32 } from '../src/core/random/mulberry.js';

beforeAll(async () => {
  await init({ backend: 'cpu' });
});

/** Random unit-scale features: a bank of n with labels, and q queries, d dims. */
function sets(n: number, q: number, d: number, classes: number, seed: number) {
  const rng = mulberry32(seed);
  const bank = Array.from({ length: n * d }, () => rng() * 2 - 1);
  const labels = Array.from({ length: n }, () => Math.floor(rng() * classes));
  const queries = Array.from({ length: q * d }, () => rng() * 2 - 1);
  return { bank, labels, queries };
}

/** The weighted vote in float64, each row shifted by its top similarity (the same argmax as exp(s/T)). */
function hostKnn(bank: number[], labels: number[], queries: number[], d: number, classes: number, k: number, t: number): number[] {
  const unit = (v: number[]) => { const s = Math.hypot(...v); return v.map((a) => a / s); };
  const rows = (a: number[]) => Array.from({ length: a.length / d }, (_, i) => unit(a.slice(i * d, (i + 1) * d)));
  const b = rows(bank);
  return rows(queries).map((q) => {
    const top = b.map((v, j) => [v.reduce((a, x, i) => a + x * q[i], 0), j]).sort((x, y) => y[0] - x[0]).slice(0, k);
    const votes = new Array(classes).fill(0);
    for (const [s, j] of top) votes[labels[j]] += Math.exp((s - top[0][0]) / t);
    return votes.indexOf(Math.max(...votes));
  });
}

describe('kNN at small temperatures', () => {
  it('T = 0.001 (and 0.01, 0.5) votes as a float64 computation does', async () => {
    const d = 6, classes = 4, k = 9;
    const { bank, labels, queries } = sets(80, 30, d, classes, 11);
    const set = { features: wg.tensor(Float32Array.from(bank), { shape: [80, d] }), labels: wg.tensor(Int32Array.from(labels), { shape: [80] }) };
    const q = wg.tensor(Float32Array.from(queries), { shape: [30, d] });
    for (const temperature of [0.001, 0.01, 0.5]) {
      const want = hostKnn(bank, labels, queries, d, classes, k, temperature);
      expect(new Set(want).size, 'the queries are not all one class').toBeGreaterThan(1);
      const got = await evaluation.knnPredict(set, q, { classes, k, temperature });
      expect(Array.from(await got.data()), `T = ${temperature}`).toEqual(want);
      const acc = await evaluation.knnAccuracy(set, { features: q, labels: wg.tensor(Int32Array.from(want), { shape: [30] }) }, { classes, k, temperature, batchSize: 7 });
      expect(acc.accuracy).toBe(1);
    }
  });
});

describe('the default k', () => {
  it('is min(200, max(1, round(√N))): 200 on CIFAR-sized banks, 45 on 2,000 images; an explicit k wins', async () => {
    expect([1, 2, 100, 2000, 39_800, 39_801, 50_000, 1_000_000].map(evaluation.knnDefaultK)).toEqual([1, 1, 10, 45, 199, 200, 200, 200]);
    const d = 3, classes = 10;
    const { bank, labels } = sets(2000, 0, d, classes, 2);
    const set = { features: wg.tensor(Float32Array.from(bank), { shape: [2000, d] }), labels: wg.tensor(Int32Array.from(labels), { shape: [2000] }) };
    const test = { features: wg.slice(set.features, [{ start: 0, stop: 50 }]), labels: wg.slice(set.labels, [{ start: 0, stop: 50 }]) };
    expect((await evaluation.knnAccuracy(set, test, { classes })).k).toBe(45);
    expect((await evaluation.knnAccuracy(set, test, { classes, k: 200 })).k).toBe(200);
    expect((await evaluation.knnAccuracy(test, test, { classes, k: 200 })).k).toBe(50); // capped at the bank
    await expect(evaluation.knnAccuracy(set, test, { classes, k: 2.5 })).rejects.toThrow(/knnAccuracy: k must be an integer ≥ 1, got 2\.5/);
    await expect(evaluation.knnAccuracy(set, test, { classes: 1 })).rejects.toThrow(/knnAccuracy: classes must be an integer ≥ 2/);
  });
});

describe('kNN on the projection', () => {
  it("features: 'projection' votes on projection(features) for the bank and the queries", async () => {
    const d = 5, classes = 3;
    const { bank, labels, queries } = sets(40, 12, d, classes, 7);
    const set = { features: wg.tensor(Float32Array.from(bank), { shape: [40, d] }), labels: wg.tensor(Int32Array.from(labels), { shape: [40] }) };
    const q = wg.tensor(Float32Array.from(queries), { shape: [12, d] });
    const p = wg.tensor(Float32Array.from({ length: d * 3 }, (_, i) => Math.sin(3 * i + 1)), { shape: [d, 3] });
    const projection = (f: wg.Tensor) => wg.tanh(wg.matmul(f, p));
    const onProjected = await evaluation.knnPredict({ features: projection(set.features), labels: set.labels }, projection(q), { classes, k: 5 });
    const viaOption = await evaluation.knnPredict(set, q, { classes, k: 5, features: 'projection', projection, batchSize: 16 });
    expect(Array.from(await viaOption.data())).toEqual(Array.from(await onProjected.data()));
    const onEncoder = await evaluation.knnPredict(set, q, { classes, k: 5, features: 'encoder', projection });
    expect(Array.from(await onEncoder.data())).toEqual(hostKnn(bank, labels, queries, d, classes, 5, 0.5));
    const test = { features: q, labels: onProjected };
    expect((await evaluation.knnAccuracy(set, test, { classes, k: 5, features: 'projection', projection, batchSize: 5 })).accuracy).toBe(1);
    await expect(evaluation.knnAccuracy(set, test, { classes, features: 'projection' })).rejects.toThrow(/knnAccuracy: features: 'projection' needs the projection function/);
    await expect(evaluation.knnAccuracy(set, test, { classes, features: 'head' as never })).rejects.toThrow(/features must be 'encoder' or 'projection', got "head"/);
  });
});
