/**
 * Losses against host computations, and gradient checks (float64 finite differences): softmax
 * cross-entropy (with label smoothing), MSE, negative cosine similarity, NT-Xent for 2 and 3 views
 * ('mean' and 'sum' positives; RoCL's official 3-view formula), and the Gaussian KL.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as wg from '../src/index.js';
import { init } from '../src/init.js';
import * as losses from '../src/losses/index.js';

beforeAll(async () => {
  await init({ backend: 'cpu' });
});

const arr = async (t: wg.Tensor) => Array.from(await t.data() as Float32Array);
const close = async (t: wg.Tensor, want: number, tol = 1e-5) => {
  const got = await t.item();
  if (!(Math.abs(got - want) <= tol * (1 + Math.abs(want)))) expect.fail(`got ${got}, want ${want}`);
};
/** Deterministic pseudo-random host values in [−1, 1]. */
const values = (n: number, seed: number) => Array.from({ length: n }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233) % 1);
const lse = (v: number[]) => { const m = Math.max(...v); return m + Math.log(v.reduce((s, x) => s + Math.exp(x - m), 0)); };

describe('softmaxCrossEntropy', () => {
  const logits = [[1, 2, 3], [1, 0, -1]];
  const labels = [2, 0];

  it('mean over the batch of logsumexp − z_label', async () => {
    const want = logits.reduce((s, z, i) => s + lse(z) - z[labels[i]], 0) / 2;
    await close(losses.softmaxCrossEntropy(wg.tensor(logits), wg.tensor(labels, { dtype: 'int32' })), want);
    const none = losses.softmaxCrossEntropy(wg.tensor(logits), wg.tensor(labels, { dtype: 'int32' }), { reduction: 'none' });
    expect(none.shape).toEqual([2]);
  });

  it('label smoothing α: targets (1 − α)·onehot + α/C', async () => {
    const a = 0.1;
    const want = logits.reduce((s, z, i) => s + z.reduce((t, zc, c) => t - ((c === labels[i] ? 1 - a : 0) + a / 3) * (zc - lse(z)), 0), 0) / 2;
    await close(losses.softmaxCrossEntropy(wg.tensor(logits), wg.tensor(labels, { dtype: 'int32' }), { labelSmoothing: a }), want);
  });

  it('rejects float labels', () => {
    expect(() => losses.softmaxCrossEntropy(wg.tensor(logits), wg.tensor([2, 0]))).toThrow(/int32/);
  });

  it('gradients', async () => {
    const f = (z: wg.Tensor) => losses.softmaxCrossEntropy(z, wg.tensor([2, 0, 1], { dtype: 'int32' }), { labelSmoothing: 0.2 });
    await wg.checkGrads(f, [wg.tensor(values(9, 1), { shape: [3, 3] })]);
  });
});

describe('mse and negativeCosineSimilarity', () => {
  it('mse: mean of squared differences, with gradients', async () => {
    await close(losses.mse(wg.tensor([[1, 2], [3, 4]]), wg.tensor([[0, 2], [5, 1]])), (1 + 0 + 4 + 9) / 4);
    await close(losses.mse(wg.tensor([1, 2]), wg.tensor([0, 0]), { reduction: 'sum' }), 5);
    await wg.checkGrads((a, b) => losses.mse(a, b), [wg.tensor(values(6, 2), { shape: [2, 3] }), wg.tensor(values(6, 3), { shape: [2, 3] })]);
  });

  it('negative cosine similarity: −mean cos, with gradients', async () => {
    const p = [[1, 0], [1, 1]], z = [[0, 1], [2, 2]];
    await close(losses.negativeCosineSimilarity(wg.tensor(p), wg.tensor(z)), -(0 + 1) / 2);
    const pv = values(8, 4), zv = values(8, 5);
    const host = [0, 1].reduce((s, r) => {
      const a = pv.slice(4 * r, 4 * r + 4), b = zv.slice(4 * r, 4 * r + 4);
      const dot = a.reduce((t, x, i) => t + x * b[i], 0);
      return s - dot / (Math.hypot(...a) * Math.hypot(...b));
    }, 0) / 2;
    await close(losses.negativeCosineSimilarity(wg.tensor(pv, { shape: [2, 4] }), wg.tensor(zv, { shape: [2, 4] })), host);
    await wg.checkGrads((a, b) => losses.negativeCosineSimilarity(a, b), [wg.tensor(pv, { shape: [2, 4] }), wg.tensor(zv, { shape: [2, 4] })]);
  });
});

describe('ntXent', () => {
  /** Host NT-Xent: views as [V][N][D] arrays. */
  function hostNtXent(views: number[][][], tau: number, positives: 'mean' | 'sum'): number {
    const v = views.length, n = views[0].length;
    const z = views.flat().map((r) => { const s = Math.hypot(...r); return r.map((x) => x / s); });
    const m = v * n;
    const sim = (i: number, j: number) => z[i].reduce((s, x, k) => s + x * z[j][k], 0) / tau;
    let total = 0;
    for (let i = 0; i < m; i++) {
      const denom = lse(Array.from({ length: m }, (_, k) => k).filter((k) => k !== i).map((k) => sim(i, k)));
      const pos = Array.from({ length: m }, (_, k) => k).filter((k) => k !== i && k % n === i % n);
      const terms = pos.map((p) => denom - sim(i, p));
      total += positives === 'sum' ? terms.reduce((a, b) => a + b, 0) : terms.reduce((a, b) => a + b, 0) / terms.length;
    }
    return total / m;
  }

  /** RoCL's official NT_xent (adv_type 'Rep'), transcribed: −log(e^{s}/Σ_{k≠i} e^{s_ik}) on six diagonals / 3N. */
  function roclRep(views: number[][][], tau: number): number {
    const n = views[0].length, m = 3 * n;
    const z = views.flat().map((r) => { const s = Math.hypot(...r); return r.map((x) => x / s); });
    const e = (i: number, j: number) => (i === j ? 0 : Math.exp(z[i].reduce((s, x, k) => s + x * z[j][k], 0) / tau));
    const rowSum = (i: number) => Array.from({ length: m }, (_, j) => e(i, j)).reduce((a, b) => a + b, 0);
    const L = (i: number, j: number) => -Math.log(e(i, j) / rowSum(i));
    let s = 0;
    for (let k = 0; k < n; k++) {
      s += L(k, n + k) + L(n + k, k) + L(k, 2 * n + k) + L(2 * n + k, k) + L(n + k, 2 * n + k) + L(2 * n + k, n + k);
    }
    return s / m;
  }

  const shaped = (vals: number[], n: number, d: number) => Array.from({ length: n }, (_, i) => vals.slice(i * d, i * d + d));

  it('two views: SimCLR loss (both positives modes agree)', async () => {
    const a = values(12, 6), b = values(12, 7);
    const want = hostNtXent([shaped(a, 3, 4), shaped(b, 3, 4)], 0.5, 'mean');
    const views = [wg.tensor(a, { shape: [3, 4] }), wg.tensor(b, { shape: [3, 4] })];
    await close(losses.ntXent(views), want);
    await close(losses.ntXent(views, { positives: 'sum' }), want);
    await close(losses.ntXent(views, { temperature: 0.1 }), hostNtXent([shaped(a, 3, 4), shaped(b, 3, 4)], 0.1, 'mean'));
  });

  it('three views: mean of per-positive terms; "sum" equals RoCL\'s official 3-view formula', async () => {
    const vs = [values(8, 8), values(8, 9), values(8, 10)];
    const host = vs.map((v) => shaped(v, 2, 4));
    const views = vs.map((v) => wg.tensor(v, { shape: [2, 4] }));
    await close(losses.ntXent(views), hostNtXent(host, 0.5, 'mean'));
    await close(losses.ntXent(views, { positives: 'sum' }), hostNtXent(host, 0.5, 'sum'));
    await close(losses.ntXent(views, { positives: 'sum' }), roclRep(host, 0.5));
  });

  it('identical views of well-separated samples give a small loss', async () => {
    const z = wg.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1]]);
    const l = await losses.ntXent([z, z], { temperature: 0.1 }).item();
    // Anchor: positive sim 10, other four 0 → log(1 + 4e^{−10}).
    expect(l).toBeCloseTo(Math.log(1 + 4 * Math.exp(-10)), 6);
  });

  it('gradients (2 and 3 views)', async () => {
    const a = wg.tensor(values(12, 11), { shape: [3, 4] }), b = wg.tensor(values(12, 12), { shape: [3, 4] }), c = wg.tensor(values(12, 13), { shape: [3, 4] });
    await wg.checkGrads((a, b) => losses.ntXent([a, b]), [a, b]);
    await wg.checkGrads((a, b, c) => losses.ntXent([a, b, c], { temperature: 0.2, positives: 'sum' }), [a, b, c]);
  });
});

describe('gaussianKl', () => {
  const mu = [[0.5, -1], [0, 0.2]], lv = [[0.1, -0.5], [0, 1]];
  const kl = (m: number, l: number) => -0.5 * (1 + l - m * m - Math.exp(l));
  const perSample = mu.map((r, i) => r.reduce((s, m, j) => s + kl(m, lv[i][j]), 0));

  it('sum over latent dims, mean over the batch; normalizeBy divides the total', async () => {
    await close(losses.gaussianKl(wg.tensor(mu), wg.tensor(lv)), (perSample[0] + perSample[1]) / 2);
    await close(losses.gaussianKl(wg.tensor(mu), wg.tensor(lv), { normalizeBy: 2 * 3 * 8 * 8 }), (perSample[0] + perSample[1]) / 384);
    const none = await arr(losses.gaussianKl(wg.tensor(mu), wg.tensor(lv), { reduction: 'none' }));
    none.forEach((v, i) => expect(v).toBeCloseTo(perSample[i], 6));
    await close(losses.gaussianKl(wg.zeros([3, 4]), wg.zeros([3, 4])), 0);
  });

  it('gradients', async () => {
    await wg.checkGrads((m, l) => losses.gaussianKl(m, l), [wg.tensor(values(6, 14), { shape: [2, 3] }), wg.tensor(values(6, 15), { shape: [2, 3] })]);
  });
});
