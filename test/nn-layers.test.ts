/**
 * nn layers and initializers on the CPU backend: shapes, forward values against hand computations,
 * dropout's keyed determinism and scaling, initializer statistics and orthogonality, gradient checks
 * of the layers, and that no layer leaks tensors.
 */
import { describe, expect, it } from 'vitest';
import * as wg from '../src/index.js';
import * as nn from '../src/nn/index.js';
import { arr, expectClose, key, live, useCpuBackend } from './helpers/cpu.js';

useCpuBackend();

describe('linear', () => {
  it('init shapes and PyTorch default bounds', async () => {
    const p = nn.linear.init(key(0), { inFeatures: 3, outFeatures: 4 });
    expect(p.w.shape).toEqual([3, 4]);
    expect(p.b!.shape).toEqual([4]);
    for (const v of [...await arr(p.w), ...await arr(p.b!)]) expect(Math.abs(v)).toBeLessThanOrEqual(1 / Math.sqrt(3));
    expect(nn.linear.init(key(0), { inFeatures: 3, outFeatures: 4, bias: false }).b).toBeUndefined();
  });

  it('forward: x @ w + b', async () => {
    const p = { w: wg.tensor([[1, 2], [3, 4], [5, 6]]), b: wg.tensor([0.5, -1]) };
    const y = nn.linear.apply(p, wg.tensor([[1, 0, -1], [2, 1, 0]]));
    expect(y.shape).toEqual([2, 2]);
    expectClose(await arr(y), [1 - 5 + 0.5, 2 - 6 - 1, 2 + 3 + 0.5, 4 + 4 - 1]);
    // Leading batch dims broadcast.
    expect(nn.linear.apply(p, wg.zeros([2, 5, 3])).shape).toEqual([2, 5, 2]);
  });

  it('gradients', async () => {
    const x = wg.tensor([[0.3, -0.2, 0.5], [1, 0.4, -0.7]]);
    await wg.checkGrads((x, w, b) => nn.linear.apply({ w, b }, x), [x, wg.tensor([[1, 2], [3, 4], [5, 6]]), wg.tensor([0.1, 0.2])]);
  });
});

describe('conv2d and convTranspose2d layers', () => {
  it('conv2d init shapes (groups) and forward value', async () => {
    const p = nn.conv2d.init(key(1), { inChannels: 4, outChannels: 6, kernel: [3, 2], groups: 2 });
    expect(p.w.shape).toEqual([6, 2, 3, 2]);
    expect(p.b!.shape).toEqual([6]);
    expect(nn.conv2d.apply(p, wg.zeros([2, 4, 5, 5]), { padding: 1, stride: 2 }).shape).toEqual([2, 6, 3, 3]);
    // x = 1..9 in 3×3, w = [[1, 0], [0, −1]]: every output is x[i][j] − x[i+1][j+1] + b = −4 + 0.5.
    const q = { w: wg.tensor([1, 0, 0, -1], { shape: [1, 1, 2, 2] }), b: wg.tensor([0.5]) };
    const y = nn.conv2d.apply(q, wg.tensor([1, 2, 3, 4, 5, 6, 7, 8, 9], { shape: [1, 1, 3, 3] }));
    expect(y.shape).toEqual([1, 1, 2, 2]);
    expectClose(await arr(y), [-3.5, -3.5, -3.5, -3.5]);
  });

  it('convTranspose2d forward values (stride 1 overlap, stride 2 spread)', async () => {
    const p = nn.convTranspose2d.init(key(2), { inChannels: 3, outChannels: 4, kernel: 4 });
    expect(p.w.shape).toEqual([3, 4, 4, 4]);
    expect(nn.convTranspose2d.apply(p, wg.zeros([1, 3, 8, 8]), { stride: 2, padding: 1 }).shape).toEqual([1, 4, 16, 16]);
    const q = { w: wg.ones([1, 1, 2, 2]), b: wg.tensor([1]) };
    const x = wg.tensor([1, 2, 3, 4], { shape: [1, 1, 2, 2] });
    expectClose(await arr(nn.convTranspose2d.apply(q, x)), [1, 3, 2, 4, 10, 6, 3, 7, 4].map((v) => v + 1));
    expectClose(await arr(nn.convTranspose2d.apply({ w: q.w }, x, { stride: 2 })), [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
  });

  it('gradients', async () => {
    const x = wg.random.normal(key(3), [1, 2, 4, 4]);
    const w = wg.random.normal(key(4), [3, 2, 3, 3]);
    await wg.checkGrads((x, w, b) => nn.conv2d.apply({ w, b }, x, { padding: 1 }), [x, w, wg.tensor([0.1, -0.2, 0.3])]);
    const wt = wg.random.normal(key(5), [2, 3, 2, 2]);
    await wg.checkGrads((x, w) => nn.convTranspose2d.apply({ w }, x, { stride: 2 }), [x, wt]);
  });
});

describe('layerNorm', () => {
  it('forward value and gradients', async () => {
    const p = nn.layerNorm.init({ shape: 3 });
    expect(p.scale!.shape).toEqual([3]);
    const x = wg.tensor([[1, 2, 3], [2, 4, 6]]);
    const y = nn.layerNorm.apply({ scale: wg.tensor([1, 2, 1]), bias: wg.tensor([0, 0, 1]) }, x);
    const s1 = Math.sqrt(2 / 3 + 1e-5), s2 = Math.sqrt(8 / 3 + 1e-5);
    expectClose(await arr(y), [-1 / s1, 0, 1 / s1 + 1, -2 / s2, 0, 2 / s2 + 1]);
    expectClose(await arr(nn.layerNorm.apply({}, x)), [-1 / s1, 0, 1 / s1, -2 / s2, 0, 2 / s2]);
    await wg.checkGrads((x, s, b) => nn.layerNorm.apply({ scale: s, bias: b }, x), [wg.tensor([[0.1, 0.7, -0.4], [1, -2, 0.5]]), wg.tensor([1, 0.5, 2]), wg.tensor([0, 1, 0])]);
  });
});

describe('dropout', () => {
  it('is a pure function of the key, scales survivors by 1/(1 − rate), drops about `rate`', async () => {
    const x = wg.full([10000], 2);
    const a = await arr(nn.dropout(key(9), x, 0.3, true));
    const b = await arr(nn.dropout(key(9), x, 0.3, true));
    const c = await arr(nn.dropout(key(10), x, 0.3, true));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    for (const v of a) expect(v === 0 || Math.abs(v - 2 / 0.7) < 1e-5).toBe(true);
    const dropped = a.filter((v) => v === 0).length / a.length;
    expect(Math.abs(dropped - 0.3)).toBeLessThan(0.03);
  });

  it('gradients with a fixed key: the kept mask scaled by 1/(1 − rate), through a nonlinearity too', async () => {
    const k = key(4);
    const x = wg.tensor(Float32Array.from({ length: 24 }, (_, i) => Math.sin(i * 1.3)), { shape: [4, 6] });
    await wg.checkGrads((t) => nn.dropout(k, t, 0.4, true), [x]);
    await wg.checkGrads((t) => wg.mul(nn.dropout(k, wg.tanh(t), 0.25, true), t), [x], { order: 2 });
    // The gradient of Σ dropout(x) is exactly the forward mask of ones.
    const mask = await arr(nn.dropout(k, wg.ones([4, 6]), 0.4, true));
    expect(await arr(wg.grad((t: wg.Tensor) => wg.sum(nn.dropout(k, t, 0.4, true)))(x))).toEqual(mask);
    expect(mask.some((v) => v === 0) && mask.some((v) => v !== 0)).toBe(true);
  });

  it('is the identity in eval mode or at rate 0, and zero at rate 1', async () => {
    const x = wg.tensor([1, 2, 3]);
    const y = nn.dropout(key(1), x, 0.5, false);
    expect(await arr(y)).toEqual([1, 2, 3]);
    x.dispose();
    expect(await arr(y)).toEqual([1, 2, 3]); // a fresh reference, independent of x
    expect(await arr(nn.dropout(key(1), wg.tensor([1, 2]), 0, true))).toEqual([1, 2]);
    expect(await arr(nn.dropout(key(1), wg.tensor([1, 2]), 1, true))).toEqual([0, 0]);
  });
});

describe('mlp', () => {
  it('shapes and forward value equal to the composed layers', async () => {
    const p = nn.mlp.init(key(11), { widths: [4, 8, 3] });
    expect(p.layers.map((l) => l.w.shape)).toEqual([[4, 8], [8, 3]]);
    const x = wg.random.normal(key(12), [5, 4]);
    const y = nn.mlp.apply(p, x);
    expect(y.shape).toEqual([5, 3]);
    const manual = nn.linear.apply(p.layers[1], nn.relu(nn.linear.apply(p.layers[0], x)));
    expectClose(await arr(y), await arr(manual));
    const t = nn.mlp.apply(p, x, { activation: wg.tanh, finalActivation: nn.sigmoid });
    expectClose(await arr(t), await arr(nn.sigmoid(nn.linear.apply(p.layers[1], wg.tanh(nn.linear.apply(p.layers[0], x))))));
  });
});

describe('smallCnn', () => {
  it('has the benchmark shape (3136 → 128 → 10) and maps [N, 1, 28, 28] to [N, 10]', async () => {
    const p = nn.smallCnn.init(key(13));
    expect(p.conv1.w.shape).toEqual([32, 1, 3, 3]);
    expect(p.conv2.w.shape).toEqual([64, 32, 3, 3]);
    expect(p.fc1.w.shape).toEqual([3136, 128]);
    expect(p.fc2.w.shape).toEqual([128, 10]);
    const before = live();
    const y = nn.smallCnn.apply(p, wg.random.uniform(key(14), [2, 1, 28, 28]));
    expect(y.shape).toEqual([2, 10]);
    expect(live()).toBe(before + 2); // the input and the logits only
    for (const v of await arr(y)) expect(Number.isFinite(v)).toBe(true);
  });

  it('forward value against a hand computation (constant weights)', async () => {
    // Input ones; conv1 weights 1/9, bias 0 → 1 inside, 4/9 at corners, 6/9 on edges; max-pool gives
    // 1 everywhere except... every 2×2 window holds an interior pixel (28×28), so the pooled map is 1.
    // conv2 weights c, bias 0 on a 14×14 map of ones: 32·9·c inside; pooled again → 32·9·c.
    // fc1 weights d: every hidden unit = 3136·288c·d; fc2 weights e: every logit = 128·that·e.
    const c = 0.001, d = 0.01, e = 0.1;
    const p: nn.SmallCnnParams = {
      conv1: { w: wg.full([32, 1, 3, 3], 1 / 9), b: wg.zeros([32]) },
      conv2: { w: wg.full([64, 32, 3, 3], c), b: wg.zeros([64]) },
      fc1: { w: wg.full([3136, 128], d), b: wg.zeros([128]) },
      fc2: { w: wg.full([128, 10], e), b: wg.tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]) },
    };
    const y = await arr(nn.smallCnn.apply(p, wg.ones([1, 1, 28, 28])));
    const h = 3136 * 288 * c * d;
    expectClose(y, Array.from({ length: 10 }, (_, i) => 128 * h * e + i), 1e-4);
  });
});

describe('initializers', () => {
  const stats = async (t: wg.Tensor) => {
    const v = await arr(t);
    const m = v.reduce((a, b) => a + b, 0) / v.length;
    const sd = Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length);
    return { m, sd, max: Math.max(...v.map(Math.abs)) };
  };

  it('fans follow the layouts ([in, out]; [out, in, kh, kw])', () => {
    expect(nn.initializers.fans([3, 5])).toEqual({ fanIn: 3, fanOut: 5 });
    expect(nn.initializers.fans([8, 4, 3, 3])).toEqual({ fanIn: 36, fanOut: 72 });
    expect(nn.initializers.fans([7])).toEqual({ fanIn: 7, fanOut: 7 });
  });

  it('he, xavier, lecun, torchDefault have the right scale', async () => {
    const shape = [256, 128];
    const he = await stats(nn.initializers.heNormal(key(1), shape));
    expect(Math.abs(he.sd / Math.sqrt(2 / 256) - 1)).toBeLessThan(0.03);
    expect(Math.abs(he.m)).toBeLessThan(0.01);
    const heOut = await stats(nn.initializers.heNormal(key(1), shape, { mode: 'fanOut' }));
    expect(Math.abs(heOut.sd / Math.sqrt(2 / 128) - 1)).toBeLessThan(0.03);
    const heU = await stats(nn.initializers.heUniform(key(2), shape));
    expect(heU.max).toBeLessThanOrEqual(Math.sqrt(6 / 256));
    expect(Math.abs(heU.sd / Math.sqrt(2 / 256) - 1)).toBeLessThan(0.03);
    const xn = await stats(nn.initializers.xavierNormal(key(3), shape));
    expect(Math.abs(xn.sd / Math.sqrt(2 / 384) - 1)).toBeLessThan(0.03);
    const xu = await stats(nn.initializers.xavierUniform(key(4), shape, { gain: 2 }));
    expect(xu.max).toBeLessThanOrEqual(2 * Math.sqrt(6 / 384));
    expect(xu.max).toBeGreaterThan(0.95 * 2 * Math.sqrt(6 / 384));
    const ln = await stats(nn.initializers.lecunNormal(key(5), shape));
    expect(Math.abs(ln.sd / Math.sqrt(1 / 256) - 1)).toBeLessThan(0.03);
    const td = await stats(nn.initializers.torchDefault(key(6), [64, 32, 3, 3]));
    expect(td.max).toBeLessThanOrEqual(1 / Math.sqrt(32 * 9));
    const u = await stats(nn.initializers.uniform(key(7), [1000], { minval: -1, maxval: 3 }));
    expect(Math.abs(u.m - 1)).toBeLessThan(0.1);
    expect(await arr(nn.initializers.zeros(key(0), [3]))).toEqual([0, 0, 0]);
    expect(await arr(nn.initializers.constant(0.5)(key(0), [2]))).toEqual([0.5, 0.5]);
  });

  it('are pure functions of the key', async () => {
    expect(await arr(nn.initializers.heNormal(key(42), [4, 4]))).toEqual(await arr(nn.initializers.heNormal(key(42), [4, 4])));
    expect(await arr(nn.initializers.heNormal(key(42), [4, 4]))).not.toEqual(await arr(nn.initializers.heNormal(key(43), [4, 4])));
  });

  it('orthogonal: orthonormal rows or columns, gain, conv shapes, no leaks', async () => {
    const gram = async (q: wg.Tensor, rowsFirst: boolean) => arr(rowsFirst ? wg.matmul(q, wg.transpose(q)) : wg.matmul(wg.transpose(q), q));
    const eye = (n: number, g = 1) => Array.from({ length: n * n }, (_, i) => (i % (n + 1) === 0 ? g * g : 0));
    const before = live();
    const tall = nn.initializers.orthogonal(key(1), [6, 4]);
    expect(live()).toBe(before + 1);
    expectClose(await gram(tall, false), eye(4), 1e-5);
    const wide = nn.initializers.orthogonal(key(2), [3, 5], { gain: 2 });
    expectClose(await gram(wide, true), eye(3, 2), 1e-5);
    const square = nn.initializers.orthogonal(key(3), [16, 16]);
    expectClose(await gram(square, true), eye(16), 1e-5);
    const conv = nn.initializers.orthogonal(key(4), [4, 2, 3, 3]);
    expect(conv.shape).toEqual([4, 2, 3, 3]);
    expectClose(await gram(wg.reshape(conv, [4, 18]), true), eye(4), 1e-5);
  });
});

describe('ownership', () => {
  it('layers leave only their outputs behind', () => {
    const p = nn.mlp.init(key(1), { widths: [3, 4, 2] });
    const c = nn.conv2d.init(key(2), { inChannels: 1, outChannels: 2, kernel: 3 });
    const x = wg.ones([2, 3]), img = wg.ones([1, 1, 5, 5]);
    const before = live();
    const outs = [nn.mlp.apply(p, x), nn.conv2d.apply(c, img, { padding: 1 }), nn.layerNorm.apply({}, x), nn.dropout(key(3), x, 0.5, true)];
    expect(live()).toBe(before + outs.length);
  });
});
