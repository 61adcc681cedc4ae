/**
 * The evaluations (src/eval): accuracy and robust accuracy against host-computed answers (a
 * linear classifier under L∞ PGD has a closed-form robust accuracy), progress lines, label
 * checks, feature extraction, linear probes, weighted kNN against a brute-force host version,
 * robust linear evaluation, ε sweeps and the SVG writer.
 */
import { describe, expect, it } from 'vitest';
import * as wg from '../src/index.js';
import { init } from '../src/init.js';
import { attacks, evaluation } from '../src/index.js';
import { nodeGpu } from '../src/backends/webgpu/node-gpu.js';
import { mulberry32 } from '../src/core/random/mulberry.js';

type T = wg.Tensor;
const { key } = wg.random;

/** Two-class data with margins away from a few thresholds: x [N, 4], w [4, 2]. */
function linearCase(n = 37, seed = 1) {
  const rng = mulberry32(seed);
  const W = [0.8, -0.5, 0.3, 0.6, -0.4, 0.2, 0.5, -0.7]; // row-major [4, 2]
  const xs: number[] = [], ys: number[] = [], margins: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = [0, 1, 2, 3].map(() => rng() * 2 - 1);
    const logit = (c: number) => x.reduce((a, v, j) => a + v * W[j * 2 + c], 0);
    const y = rng() < 0.5 ? 0 : 1;
    xs.push(...x);
    ys.push(y);
    margins.push(logit(y) - logit(1 - y));
  }
  // ‖w_y − w_other‖₁ is the same for both classes.
  const dw = [0, 1, 2, 3].reduce((a, j) => a + Math.abs(W[j * 2] - W[j * 2 + 1]), 0);
  return { xs, ys, margins, dw, W };
}

const setup = (c: ReturnType<typeof linearCase>) => {
  const images = wg.tensor(Float32Array.from(c.xs), { shape: [c.ys.length, 4] });
  const labels = wg.tensor(Int32Array.from(c.ys), { shape: [c.ys.length] });
  const w = wg.tensor(Float32Array.from(c.W), { shape: [4, 2] });
  return { images, labels, model: (x: T) => wg.matmul(x, w) };
};

describe('accuracy and robust accuracy', () => {
  for (const kind of ['cpu', 'webgpu'] as const) {
    it(`match host-computed answers, batched and from a BatchSource (${kind})`, async () => {
      await init(kind === 'cpu' ? { backend: 'cpu' } : { backend: 'webgpu', gpu: nodeGpu() });
      const c = linearCase();
      const { images, labels, model } = setup(c);
      const want = c.margins.filter((m) => m > 0).length / c.ys.length;
      for (const batchSize of [1, 8, 100]) {
        const r = await evaluation.accuracy(model, { images, labels }, { batchSize });
        expect(r.accuracy).toBeCloseTo(want, 12);
        expect(r.total).toBe(c.ys.length);
      }
      // A BatchSource with fresh tensors per batch gives the same.
      let made = 0;
      const source: evaluation.BatchSource = {
        size: c.ys.length,
        batch: (start, stop) => { made++; return { images: wg.slice(images, [{ start, stop }]), labels: wg.slice(labels, [{ start, stop }]) }; },
      };
      expect((await evaluation.accuracy(model, source, { batchSize: 10 })).accuracy).toBeCloseTo(want, 12);
      expect(made).toBe(4);
      // PGD (no box) finds the L∞ optimum of a linear two-class model: an example survives iff its
      // margin exceeds ε·‖w_y − w_other‖₁.
      for (const eps of [0.05, 0.2]) {
        const robustWant = c.margins.filter((m) => m > eps * c.dw).length / c.ys.length;
        const attack: evaluation.Attack = (x, y, k) => attacks.pgd(attacks.crossEntropy(model, y), x, k, { eps, alpha: eps / 4, steps: 10, box: null });
        const r = await evaluation.robustAccuracy(model, { images, labels }, attack, { batchSize: 16 });
        expect(r.accuracy).toBeCloseTo(robustWant, 12);
      }
      // Same key, same result; the limit option counts only the first rows.
      const lim = await evaluation.accuracy(model, { images, labels }, { limit: 10 });
      expect(lim.total).toBe(10);
      expect(lim.correct).toBe(c.margins.slice(0, 10).filter((m) => m > 0).length);
    });
  }

  it('prints a progress line (done/total, images/s, ETA) and checks labels', async () => {
    await init({ backend: 'cpu' });
    const c = linearCase(20);
    const { images, labels, model } = setup(c);
    const lines: string[] = [];
    await evaluation.accuracy(model, { images, labels }, { batchSize: 5, progress: { label: 'test', log: (l) => lines.push(l), every: 0 } });
    expect(lines.length).toBe(4);
    expect(lines[0]).toMatch(/^test 5\/20 \(25\.0%\) {2}[\d.]+ images\/s {2}ETA \d+s$/);
    expect(lines[3]).toMatch(/^test 20\/20 \(100\.0%\) {2}[\d.]+ images\/s {2}done in \d+s$/);
    expect(evaluation.progressLine('x', 50, 200, 10)).toBe('x 50/200 (25.0%)  5.0 images/s  ETA 30s');
    expect(evaluation.progressLine('x', 100, 10_000, 10)).toBe('x 100/10000 (1.0%)  10.0 images/s  ETA 16m30s');
    const bad = wg.tensor(Int32Array.from([0, 1, 2, 1]), { shape: [4] });
    await expect(evaluation.accuracy(model, { images: wg.slice(images, [{ start: 0, stop: 4 }]), labels: bad })).rejects.toThrow(/accuracy: labels must be in \[0, 2\) \(the model's class count\), got 2 \(1 label out of range, the first in row 2\)/);
    await expect(evaluation.accuracy(model, { images, labels: wg.cast(labels, 'float32') })).rejects.toThrow(/int32 labels/);
    await expect(evaluation.accuracy(model, { images, labels }, { batchSize: 0 })).rejects.toThrow(/batchSize must be a positive integer/);
  });
});

/** Gaussian blobs: class c centred at 3·e_c in D dims (well separated). */
function blobs(n: number, classes: number, d: number, seed: number) {
  const rng = mulberry32(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
  const xs: number[] = [], ys: number[] = [];
  for (let i = 0; i < n; i++) {
    const y = i % classes;
    for (let j = 0; j < d; j++) xs.push((j === y ? 3 : 0) + 0.6 * gauss());
    ys.push(y);
  }
  return { features: wg.tensor(Float32Array.from(xs), { shape: [n, d] }), labels: wg.tensor(Int32Array.from(ys), { shape: [n] }), xs, ys };
}

describe('probes and kNN', () => {
  it('extractFeatures, linearProbe and trainLinearHead learn separable features; options are checked', async () => {
    await init({ backend: 'cpu' });
    const train = blobs(120, 3, 5, 1), test = blobs(60, 3, 5, 2);
    const proj = wg.tensor(Float32Array.from({ length: 5 * 4 }, (_, i) => Math.cos(i)), { shape: [5, 4] });
    const encoder = (x: T) => wg.matmul(x, proj);
    const ex = await evaluation.extractFeatures(encoder, { images: train.features, labels: train.labels }, { batchSize: 7 });
    expect(Array.from(await ex.features.data())).toEqual(Array.from(await encoder(train.features).data()));
    expect(Array.from(await ex.labels.data())).toEqual(train.ys);
    const r = await evaluation.linearProbe((x) => x, { images: train.features, labels: train.labels }, { images: test.features, labels: test.labels }, { classes: 3, epochs: 10, batchSize: 32 });
    expect(r.accuracy).toBeGreaterThan(0.95);
    const adam = await evaluation.trainLinearHead(train.features, train.labels, { classes: 3, epochs: 10, optimizer: 'adam', lr: 0.05, batchSize: 32 });
    const acc = await evaluation.accuracy((x) => wg.nn.linear.apply(adam, x), { images: test.features, labels: test.labels });
    expect(acc.accuracy).toBeGreaterThan(0.95);
    await expect(evaluation.trainLinearHead(train.features, train.labels, { classes: 1 })).rejects.toThrow(/classes must be an integer ≥ 2/);
    await expect(evaluation.trainLinearHead(train.features, train.labels, { classes: 3, lr: 0 })).rejects.toThrow(/lr must be > 0/);
  });

  it('standardize folds the training mean/std into the head: same logits as a head fitted on standardized features', async () => {
    // (per-feature here; the global variant below)
    await init({ backend: 'cpu' });
    const b = blobs(90, 3, 4, 3);
    // Small, shifted features with one constant column: a plain SGD head under-fits them.
    const raw = wg.add(wg.mul(b.features, wg.tensor(Float32Array.from([1e-3, 2e-3, 5e-4, 0])), ), wg.tensor(Float32Array.from([0.3, -0.2, 0.1, 7])));
    const opts = { classes: 3, epochs: 6, batchSize: 16 };
    const folded = await evaluation.trainLinearHead(raw, b.labels, { ...opts, standardize: 'per-feature' });
    const mu = wg.mean(raw, 0), sd = wg.sqrt(wg.variance(raw, 0));
    const sdSafe = wg.where(wg.greater(sd, 1e-6), sd, 1);
    const z = wg.div(wg.sub(raw, mu), sdSafe);
    const onZ = await evaluation.trainLinearHead(z, b.labels, { ...opts, standardize: 'none' });
    const a = await wg.nn.linear.apply(folded, raw).data(), want = await wg.nn.linear.apply(onZ, z).data();
    for (let i = 0; i < want.length; i++) expect(a[i]).toBeCloseTo(want[i], 3);
    const acc = (h: wg.nn.linear.LinearParams) => evaluation.accuracy((x) => wg.nn.linear.apply(h, x), { images: raw, labels: b.labels });
    expect((await acc(folded)).accuracy).toBeGreaterThan(0.95);
    const plain = await evaluation.trainLinearHead(raw, b.labels, { ...opts, standardize: 'none' });
    expect((await acc(plain)).accuracy).toBeLessThan(0.8);
    // Global: one σ (the root mean variance) for every feature.
    const small = wg.mul(b.features, 1e-3);
    const g = await evaluation.trainLinearHead(small, b.labels, opts);
    const sigma = Math.sqrt((await wg.mean(wg.variance(small, 0)).data())[0]);
    const zg = wg.div(wg.sub(small, wg.mean(small, 0)), sigma);
    const onZg = await evaluation.trainLinearHead(zg, b.labels, { ...opts, standardize: 'none' });
    const ag = await wg.nn.linear.apply(g, small).data(), wantG = await wg.nn.linear.apply(onZg, zg).data();
    for (let i = 0; i < wantG.length; i++) expect(ag[i]).toBeCloseTo(wantG[i], 3);
    await expect(evaluation.trainLinearHead(raw, b.labels, { ...opts, standardize: 'yes' as never })).rejects.toThrow(/standardize must be/);
  });

  it('weighted kNN matches a brute-force host computation', async () => {
    await init({ backend: 'cpu' });
    const rng = mulberry32(5);
    const n = 40, d = 4, q = 13, classes = 3, k = 7, temperature = 0.3;
    const bank = Array.from({ length: n * d }, () => rng() * 2 - 1);
    const bankLabels = Array.from({ length: n }, () => Math.floor(rng() * classes));
    const queries = Array.from({ length: q * d }, () => rng() * 2 - 1);
    const unit = (v: number[]) => { const s = Math.hypot(...v); return v.map((a) => a / s); };
    const want = Array.from({ length: q }, (_, i) => {
      const qi = unit(queries.slice(i * d, (i + 1) * d));
      const sims = Array.from({ length: n }, (_, j) => unit(bank.slice(j * d, (j + 1) * d)).reduce((a, v, t) => a + v * qi[t], 0));
      const top = sims.map((s, j) => [s, j]).sort((a, b) => b[0] - a[0]).slice(0, k);
      const votes = new Array(classes).fill(0);
      for (const [s, j] of top) votes[bankLabels[j]] += Math.exp(s / temperature);
      return votes.indexOf(Math.max(...votes));
    });
    const set = { features: wg.tensor(Float32Array.from(bank), { shape: [n, d] }), labels: wg.tensor(Int32Array.from(bankLabels), { shape: [n] }) };
    const pred = await evaluation.knnPredict(set, wg.tensor(Float32Array.from(queries), { shape: [q, d] }), { classes, k, temperature });
    expect(Array.from(await pred.data())).toEqual(want);
    const testSet = { features: wg.tensor(Float32Array.from(queries), { shape: [q, d] }), labels: wg.tensor(Int32Array.from(want), { shape: [q] }) };
    expect((await evaluation.knnAccuracy(set, testSet, { classes, k, temperature, batchSize: 5 })).accuracy).toBe(1);
    // On separable blobs kNN is right.
    const tr = blobs(90, 3, 5, 3), te = blobs(30, 3, 5, 4);
    expect((await evaluation.knnAccuracy(tr, te, { classes: 3, k: 10 })).accuracy).toBeGreaterThan(0.95);
    await expect(evaluation.knnPredict(set, wg.ones([2, 3]), { classes })).rejects.toThrow(/queries must be \[B, 4\]/);
    await expect(evaluation.knnPredict(set, wg.ones([2, 4]), { classes, temperature: 0 })).rejects.toThrow(/temperature must be a number in \[1\.2e-38, 3\.4e38\]/);
  });

  it('robust linear evaluation trains on PGD examples: robust ≤ clean, and beats a plain head under attack', async () => {
    await init({ backend: 'cpu' });
    const train = blobs(96, 2, 3, 6), test = blobs(48, 2, 3, 7);
    const scale = (b: ReturnType<typeof blobs>) => ({ images: wg.clip(wg.mul(wg.add(b.features, 2), 0.15), 0, 1), labels: b.labels }); // in the attack's box [0, 1]
    const [tr, te] = [scale(train), scale(test)];
    const encoder = (x: T) => x;
    const o = { classes: 2, epochs: 8, batchSize: 16, trainAttack: { eps: 0.15, alpha: 0.05, steps: 3 }, evalAttack: { eps: 0.15, steps: 5 } };
    const r = await evaluation.robustLinearEval(encoder, tr, te, o);
    expect(r.robust.accuracy).toBeLessThanOrEqual(r.clean.accuracy);
    expect(r.clean.accuracy).toBeGreaterThan(0.8);
    expect(r.robust.total).toBe(48);
    const plain = await evaluation.trainLinearHead(tr.images, tr.labels, { classes: 2, epochs: 8, batchSize: 16 });
    const model = (x: T) => wg.nn.linear.apply(plain, x);
    const plainRobust = await evaluation.robustAccuracy(model, te, (x, y, k) => attacks.pgd(attacks.crossEntropy(model, y), x, k, { eps: 0.15, alpha: 0.015, steps: 5 }));
    expect(r.robust.accuracy).toBeGreaterThanOrEqual(plainRobust.accuracy);
  });
});

describe('ε sweeps and SVG', () => {
  it('accuracyVsEps: clean at ε = 0, non-increasing for a linear model, JSON-ready; sweepChart draws it', async () => {
    await init({ backend: 'cpu' });
    const c = linearCase(30, 3);
    const { images, labels, model } = setup(c);
    const pgdAt = (eps: number): evaluation.Attack => (x, y, k) => attacks.pgd(attacks.crossEntropy(model, y), x, k, { eps, alpha: eps / 4, steps: 8, box: null });
    const fgsmAt = (eps: number): evaluation.Attack => (x, y, k) => attacks.fgsm(attacks.crossEntropy(model, y), x, k, { eps, box: null });
    const points: string[] = [];
    const res = await evaluation.accuracyVsEps(
      [{ name: 'PGD-8', model, attack: pgdAt }, { name: 'FGSM <linear>', model, attack: fgsmAt }],
      { images, labels }, [0, 0.05, 0.1, 0.3],
      { onPoint: (name, eps) => points.push(`${name}@${eps}`) },
    );
    expect(points.length).toBe(8);
    expect(res.total).toBe(30);
    const clean = c.margins.filter((m) => m > 0).length / 30;
    for (const s of res.series) {
      expect(s.accuracy[0]).toBeCloseTo(clean, 12);
      for (let i = 1; i < s.accuracy.length; i++) expect(s.accuracy[i]).toBeLessThanOrEqual(s.accuracy[i - 1]);
      res.eps.forEach((eps, i) => expect(s.accuracy[i]).toBeCloseTo(c.margins.filter((m) => m > eps * c.dw).length / 30, 12));
    }
    expect(JSON.parse(JSON.stringify(res))).toEqual(res);
    const svg = evaluation.sweepChart(res, { title: 'Accuracy & ε', subtitle: 'linear "model"' });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg.match(/<polyline/g)?.length).toBe(2);
    expect(svg.match(/<circle/g)?.length).toBe(8);
    expect(svg).toContain('Accuracy &amp; ε');
    expect(svg).toContain('FGSM &lt;linear&gt;');
    expect(svg).toContain('linear &quot;model&quot;');
    expect(svg).not.toContain('NaN');
    await expect(evaluation.accuracyVsEps([], { images, labels }, [-1])).rejects.toThrow(/eps values must be ≥ 0/);
  });

  it('niceTicks and lineChart', () => {
    expect(evaluation.niceTicks(0, 0.2, 4)).toEqual([0, 0.05, 0.1, 0.15, 0.2]);
    expect(evaluation.niceTicks(0, 100, 5)).toEqual([0, 20, 40, 60, 80, 100]);
    expect(evaluation.niceTicks(-3, 7, 5)).toEqual([-2, 0, 2, 4, 6]);
    expect(evaluation.niceTicks(1, 1)).toEqual([1]);
    const svg = evaluation.lineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'a', x: [0, 1, 2], y: [1, NaN, 3] }] });
    // Points that are not finite are left out of the curve.
    expect(svg.match(/<circle/g)?.length).toBe(2);
    expect(svg).not.toContain('NaN');
  });
});
