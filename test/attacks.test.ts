/**
 * The attacks (src/attacks): ε-ball and box on both backends (fast-check), closed forms on a linear
 * score, monotonicity on a convex loss, APGD-CE against PGD, the latent attack at ε = 0, the noise
 * generator's bound, gradient checks of every loss an attack differentiates, validation, eval-mode
 * BatchNorm, reproducibility and flat memory.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as wg from '../src/index.js';
import { init } from '../src/init.js';
import { attacks } from '../src/index.js';
import { nodeGpu } from '../src/backends/webgpu/node-gpu.js';

const { key, split } = wg.random;
type T = wg.Tensor;

async function useBackend(kind: 'cpu' | 'webgpu'): Promise<void> {
  await init(kind === 'cpu' ? { backend: 'cpu' } : { backend: 'webgpu', gpu: nodeGpu() });
}
const host = async (t: T) => Float64Array.from((await t.data()) as Float32Array);
const flatDim = (x: T) => x.size / x.shape[0];

/** A small tanh network on flattened inputs, from a key: x [N, ...] → [N, out]. */
function tinyNet(k: wg.Key, inDim: number, out: number, hidden = 6) {
  const params = wg.nn.mlp.init(k, { widths: [inDim, hidden, out] });
  return { params, apply: (x: T) => wg.nn.mlp.apply(params, wg.reshape(x, [x.shape[0], inDim]), { activation: wg.tanh }) };
}

/** Max over examples of ‖δ‖ (L∞ or L2 per example) and min/max of xAdv. */
async function measure(x: T, xAdv: T, norm: attacks.Norm) {
  const [a, b] = [await host(x), await host(xAdv)];
  const d = flatDim(x);
  let worst = 0;
  for (let n = 0; n < x.shape[0]; n++) {
    let acc = 0;
    for (let i = n * d; i < (n + 1) * d; i++) {
      const v = Math.abs(b[i] - a[i]);
      acc = norm === 'linf' ? Math.max(acc, v) : acc + v * v;
    }
    worst = Math.max(worst, norm === 'linf' ? acc : Math.sqrt(acc));
  }
  return { worst, lo: Math.min(...b), hi: Math.max(...b), finite: b.every(Number.isFinite) };
}

// WebGPU compiles kernels per shape (seconds each on lavapipe): there the shapes come from two.
const shapeArb = (kind: 'cpu' | 'webgpu') => kind === 'cpu'
  ? fc.record({ n: fc.integer({ min: 2, max: 3 }), c: fc.integer({ min: 1, max: 2 }), side: fc.integer({ min: 2, max: 3 }) })
  : fc.constantFrom({ n: 2, c: 1, side: 2 }, { n: 3, c: 1, side: 3 });
const caseArb = (kind: 'cpu' | 'webgpu') => fc.record({
  shape: shapeArb(kind),
  eps: fc.oneof(fc.constant(0), fc.double({ min: 0.01, max: 0.4, noNaN: true })),
  steps: fc.integer({ min: 1, max: 3 }),
  norm: fc.constantFrom<attacks.Norm>('linf', 'l2'),
  seed: fc.integer({ min: 0, max: 1000 }),
});

/** Every attack, on one random case: returns [name, norm, x, xAdv] to measure. */
type Case = ReturnType<typeof caseArb> extends fc.Arbitrary<infer R> ? R : never;
function runAll(cs: Case) {
  const { shape: { n, c, side }, eps, steps, norm, seed } = cs;
  const [kx, kn, ke, kd, kg, ka] = split(key(seed), 6);
  const x = wg.random.uniform(kx, [n, c, side, side]);
  const d = c * side * side;
  const net = tinyNet(kn, d, 3);
  const labels = Array.from({ length: n }, (_, i) => (seed + i) % 3);
  const ce = attacks.crossEntropy(net.apply, labels);
  const enc = tinyNet(ke, d, 2);
  const dec = tinyNet(kd, 2, d);
  const decode = (z: T) => wg.reshape(wg.nn.sigmoid(wg.nn.mlp.apply(dec.params, z)), [-1, ...x.shape.slice(1)]);
  const gen = attacks.noiseGenerator.init(kg, { shape: [c, side, side], hidden: [4] });
  const bigGen = wg.treeMap(gen, (t) => wg.add(t, wg.random.normal(ka, t.shape, { stddev: 3 })));
  const o = { eps, norm, alpha: Math.max(eps / 2, 0.01), steps };
  const out: [string, attacks.Norm, T][] = [
    ['fgsm', norm, attacks.fgsm(ce, x, ka, o)],
    ['fgsm-rs', norm, attacks.fgsm(ce, x, ka, { ...o, randomStart: true })],
    ['pgd', norm, attacks.pgd(ce, x, ka, { ...o, restarts: 2 })],
    ['apgd', norm, attacks.apgd(ce, x, ka, { eps, norm, steps: steps + 2 })],
    ['contrastive', norm, attacks.instanceContrastive(enc.apply, x, wg.flip(x, [3]), ka, o)],
    ['representation', norm, attacks.representationDistance(enc.apply, x, ka, o)],
    ['generator', norm, attacks.noiseGenerator.apply(bigGen, x, { eps, norm })],
    ['latent', 'linf', attacks.latentAttack((v) => wg.sum(wg.square(enc.apply(v))), x, ka, { eps, encode: enc.apply, decode })],
  ];
  return { x, out };
}

for (const kind of ['cpu', 'webgpu'] as const) {
  describe(`every attack stays in its ε-ball and the box (${kind})`, () => {
    it('holds for random shapes, ε, steps and norms', async () => {
      await useBackend(kind);
      await fc.assert(
        fc.asyncProperty(caseArb(kind), async (cs) => {
          const { x, out } = runAll(cs);
          for (const [name, norm, xAdv] of out) {
            expect(xAdv.shape, name).toEqual(x.shape);
            const m = await measure(x, xAdv, norm);
            expect(m.finite, name).toBe(true);
            expect(m.lo, name).toBeGreaterThanOrEqual(0);
            expect(m.hi, name).toBeLessThanOrEqual(1);
            // The latent attack's ball is in latent space: only the box applies to its output.
            if (name !== 'latent') expect(m.worst, `${name} ${norm}`).toBeLessThanOrEqual(cs.eps * (1 + 1e-5) + 1e-6);
          }
          wg.dispose([x, out.map((o) => o[2])]);
        }),
        { numRuns: kind === 'cpu' ? 12 : 5 },
      );
    });
  });
}

describe('closed forms, monotonicity and APGD (CPU)', () => {
  it('FGSM and PGD reach ε·sign(w) (L∞) and ε·w/‖w‖ (L2) on a linear score without a box', async () => {
    await useBackend('cpu');
    const w = wg.tensor([[0.5, -2, 0.25, 3], [-1, 0.1, 2, -0.3]]);
    const x = wg.tensor([[0.3, 0.1, -4, 2], [1, 1, 1, 1]]);
    const score = (xa: T) => wg.sum(wg.mul(xa, w));
    const eps = 0.3;
    const delta = async (xAdv: T) => Array.from(await host(wg.sub(xAdv, x)));
    const sign = Array.from(await host(wg.mul(wg.sign(w), eps)));
    const unit = Array.from(await host(wg.mul(wg.div(w, attacks.exampleNorm(w)), eps)));
    const close = (got: number[], want: number[]) => got.forEach((g, i) => expect(g).toBeCloseTo(want[i], 5));
    close(await delta(attacks.fgsm(score, x, key(0), { eps, box: null })), sign);
    close(await delta(attacks.pgd(score, x, key(1), { eps, alpha: 0.1, steps: 8, box: null })), sign);
    close(await delta(attacks.fgsm(score, x, key(0), { eps, norm: 'l2', box: null })), unit);
    close(await delta(attacks.pgd(score, x, key(2), { eps, norm: 'l2', alpha: 0.1, steps: 5, randomStart: false, box: null })), unit);
  });

  it('on a convex loss, more PGD steps (α = ε, same start) never end lower, and one step is FGSM', async () => {
    await useBackend('cpu');
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 10_000 }), fc.constantFrom<attacks.Norm>('linf', 'l2'), async (seed, norm) => {
        const [kx, kw] = split(key(seed));
        const x = wg.random.uniform(kx, [4, 6]);
        const w = wg.random.normal(kw, [6, 3]);
        // Cross-entropy of a linear model is convex in x; L2 without a box (where the projection is exact).
        const ce = attacks.crossEntropy((xa) => wg.matmul(xa, w), [0, 1, 2, 1]);
        const box = norm === 'linf' ? ([0, 1] as const) : null;
        const lossAt = async (xa: T) => (await (ce(xa) as { loss: T }).loss.item());
        const eps = 0.2;
        const f = await lossAt(attacks.fgsm(ce, x, key(0), { eps, norm, box }));
        let prev = -Infinity;
        for (const steps of [1, 2, 4, 8]) {
          const l = await lossAt(attacks.pgd(ce, x, key(0), { eps, alpha: eps, steps, norm, box, randomStart: false }));
          if (steps === 1) expect(l).toBeCloseTo(f, 5);
          expect(l).toBeGreaterThanOrEqual(f - 1e-5);
          expect(l).toBeGreaterThanOrEqual(prev - 1e-5);
          prev = l;
        }
      }),
      { numRuns: 8 },
    );
  });

  it('APGD-CE ends at least as high as PGD with the same budget on a small model', async () => {
    await useBackend('cpu');
    for (const seed of [0, 1, 2]) {
      const [kx, kn] = split(key(seed));
      const x = wg.random.uniform(kx, [16, 12]);
      const net = tinyNet(kn, 12, 4, 16);
      const labels = Array.from({ length: 16 }, (_, i) => i % 4);
      const ce = attacks.crossEntropy(net.apply, labels);
      // The best-loss point only (without `success`), so that both are judged by the loss itself.
      const lossOnly = (xa: T) => { const o = ce(xa) as { loss: T; perExample: T }; return { loss: o.loss, perExample: o.perExample }; };
      const total = async (xa: T) => (ce(xa) as { loss: T }).loss.item();
      const p = await total(attacks.pgd(ce, x, key(7), { eps: 0.1, alpha: 0.01, steps: 20 }));
      const a = await total(attacks.apgd(lossOnly, x, key(7), { eps: 0.1, steps: 20 }));
      expect(a).toBeGreaterThanOrEqual(p);
    }
  });

  it('APGD follows a plain host implementation of the official algorithm step for step', async () => {
    await useBackend('cpu');
    // An oscillating per-example loss f(xᵢ) = Σⱼ cⱼ·sin(3xᵢⱼ + φⱼ), so that step halving and restarts from the best point happen.
    const n = 24, d = 5, eps = 0.3, steps = 40; // 40: the last step is not a checkpoint
    const c = [1, -0.7, 0.5, 1.3, -0.9], phi = [0.1, 2, -1, 0.5, 3];
    const x = await host(wg.random.uniform(key(11), [n, d], { minval: 0.1, maxval: 0.9 }));
    const t = await host(wg.random.uniform(key(12), [n, d], { minval: -1, maxval: 1 }));
    const xt = wg.tensor(Float32Array.from(x), { shape: [n, d] });
    const cT = wg.tensor(c), phiT = wg.tensor(phi);
    const loss = (xa: T) => {
      const perExample = wg.sum(wg.mul(wg.sin(wg.add(wg.mul(xa, 3), phiT)), cT), 1);
      return { loss: wg.sum(perExample), perExample };
    };
    const got = await host(attacks.apgd(loss, xt, key(12), { eps, steps }));
    const windows = new Map(attacks.apgdCheckpoints(steps).map((at, j, all) => [at, at - (all[j - 1] ?? 0)]));
    let same = 0, halvings = 0;
    for (let i = 0; i < n; i++) {
      const x0 = Array.from(x.slice(i * d, (i + 1) * d)), ti = Array.from(t.slice(i * d, (i + 1) * d));
      const f = (v: number[]) => v.reduce((a, vj, j) => a + c[j] * Math.sin(3 * vj + phi[j]), 0);
      const g = (v: number[]) => v.map((vj, j) => 3 * c[j] * Math.cos(3 * vj + phi[j]));
      const P = (v: number[]) => v.map((vj, j) => Math.min(1, Math.max(0, Math.min(x0[j] + eps, Math.max(x0[j] - eps, vj)))));
      const tmax = Math.max(...ti.map(Math.abs));
      let xk = P(x0.map((v, j) => v + (eps * ti[j]) / tmax)), xPrev = xk, grad = g(xk), lossPrev = f(xk);
      let best = lossPrev, xBest = xk, gBest = grad, eta = 2 * eps, increases = 0, reducedLast = true, bestLastCheck = best;
      for (let it = 0; it < steps; it++) {
        const a = it === 0 ? 1 : 0.75;
        const z = P(xk.map((v, j) => v + eta * Math.sign(grad[j])));
        const xn = P(xk.map((v, j) => v + a * (z[j] - v) + (1 - a) * (v - xPrev[j])));
        [xPrev, xk] = [xk, xn];
        grad = g(xk);
        const l = f(xk);
        if (l > lossPrev) increases++;
        lossPrev = l;
        if (l > best) [best, xBest, gBest] = [l, xk, grad];
        const w = windows.get(it + 1);
        if (w !== undefined) {
          const reduce: boolean = increases <= 0.75 * w || (!reducedLast && bestLastCheck >= best);
          [reducedLast, bestLastCheck, increases] = [reduce, best, 0];
          if (reduce) [eta, xk, grad] = [eta / 2, xBest, gBest];
        }
      }
      halvings += Math.round(Math.log2((2 * eps) / eta));
      // float32 (device) and float64 (host) may break a near-tie differently near a flat maximum:
      // then the point differs but its loss must agree to float32 resolution.
      const gi = Array.from(got.slice(i * d, (i + 1) * d));
      if (gi.every((v, j) => Math.abs(v - xBest[j]) < 1e-5)) same++;
      else expect(Math.abs(f(gi) - best), `example ${i}`).toBeLessThan(1e-5);
    }
    expect(same).toBeGreaterThanOrEqual(n - 2);
    expect(halvings).toBeGreaterThan(n); // the schedule did halve the step, often
  });

  it('APGD checkpoints match the official schedule', () => {
    expect(attacks.apgdCheckpoints(100)).toEqual([22, 41, 57, 70, 80, 87, 93, 99]);
    expect(attacks.apgdCheckpoints(20)).toEqual([4, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
  });
});

describe('latent attack and noise generator', () => {
  for (const kind of ['cpu', 'webgpu'] as const) {
    it(`the latent attack returns x bit for bit at ε = 0 (${kind})`, async () => {
      await useBackend(kind);
      const [kx, ke, kd] = split(key(3), 3);
      // Small inputs beside decoder outputs near 0.5: G(z) + (x − G(z)) would round (x − G(z) is
      // not exact), so only a formulation that cancels G exactly returns x.
      const x = wg.random.uniform(kx, [5, 1, 4, 4], { maxval: 0.03 });
      const enc = tinyNet(ke, 16, 3);
      const dec = tinyNet(kd, 3, 16);
      const decode = (z: T) => wg.reshape(wg.nn.sigmoid(wg.nn.mlp.apply(dec.params, z)), [-1, ...x.shape.slice(1)]);
      const loss = (v: T) => wg.losses.ntXent([enc.apply(x), enc.apply(v)]);
      for (const box of [[0, 1] as const, null]) {
        const out = attacks.latentAttack(loss, x, key(0), { eps: 0, encode: enc.apply, decode, box });
        expect(Array.from(await out.data())).toEqual(Array.from(await x.data()));
      }
      const moved = attacks.latentAttack(loss, x, key(0), { eps: 0.5, encode: enc.apply, decode });
      expect(Array.from(await moved.data())).not.toEqual(Array.from(await x.data()));
    });
  }

  it('the generator output is always inside the ball, and a step increases its loss', async () => {
    await useBackend('cpu');
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 1000 }), fc.double({ min: 0, max: 0.5, noNaN: true }), fc.constantFrom<attacks.Norm>('linf', 'l2'), async (seed, eps, norm) => {
        const [kx, kg, kn] = split(key(seed), 3);
        const x = wg.random.uniform(kx, [3, 2, 3]);
        const gen = wg.treeMap(attacks.noiseGenerator.init(kg, { shape: [2, 3], hidden: [5] }), (t) => wg.add(t, wg.random.normal(kn, t.shape, { stddev: 4 })));
        const delta = attacks.noiseGenerator.perturbation(gen, x, { eps, norm });
        const m = await measure(wg.zerosLike(delta), delta, norm);
        expect(m.worst).toBeLessThanOrEqual(eps * (1 + 1e-6) + 1e-7);
        const xt = attacks.noiseGenerator.apply(gen, x, { eps, norm });
        const mt = await measure(x, xt, norm);
        expect(mt.worst).toBeLessThanOrEqual(eps * (1 + 1e-5) + 1e-6);
        expect(mt.lo).toBeGreaterThanOrEqual(0);
        expect(mt.hi).toBeLessThanOrEqual(1);
      }),
      { numRuns: 20 },
    );
    // Ascent: the distance of a fixed tanh feature map between x and x̃ grows (from a random g: at
    // the initial δ = 0 the distance is at its minimum, where its gradient vanishes).
    const x = wg.random.uniform(key(1), [8, 6]);
    const f = tinyNet(key(2), 6, 4);
    const loss = (xt: T) => wg.mean(wg.sum(wg.square(wg.sub(f.apply(xt), f.apply(x))), -1));
    const optimizer = wg.optim.adam({ lr: 0.05 });
    let params = wg.treeMap(attacks.noiseGenerator.init(key(3), { shape: [6], hidden: [8] }), (t) => wg.add(t, wg.random.normal(key(4), t.shape, { stddev: 0.1 })));
    let optState: unknown = optimizer.init(params);
    const losses: number[] = [];
    for (let i = 0; i < 15; i++) {
      const r = attacks.noiseGenerator.step(params, optState, x, loss, { eps: 0.2, optimizer });
      wg.dispose([params, optState]);
      ({ params, optState } = r);
      losses.push(await r.value.item());
    }
    expect(losses[14]).toBeGreaterThan(losses[0] + 1e-4);
  });
});

describe('gradient checks of the losses the attacks differentiate', () => {
  it('cross-entropy, NT-Xent, representation distance, latent view and generator losses', async () => {
    await useBackend('cpu');
    // Everything a checked function closes over is made inside it (checkGrads runs it on its own
    // float64 backend).
    const W = Float32Array.from({ length: 12 }, (_, i) => Math.sin(i * 1.7));
    const X = Float32Array.from({ length: 12 }, (_, i) => 0.1 + 0.07 * i);
    const w = () => wg.tensor(W, { shape: [4, 3] });
    const constX = () => wg.tensor(X, { shape: [3, 4] });
    const xs = constX();
    const net = (x: T) => wg.tanh(wg.matmul(x, w()));
    const opt = { atol: 1e-5, rtol: 1e-3 };
    // Cross-entropy (the loss of FGSM, PGD and APGD-CE).
    await wg.checkGrads((x) => (attacks.crossEntropy(net, [0, 2, 1])(x) as { loss: T }).loss, [xs], opt);
    // RoCL's instance-wise NT-Xent against a fixed positive view.
    await wg.checkGrads((x) => wg.losses.ntXent([net(x), net(wg.flip(constX(), [1]))]), [xs], opt);
    // Representation distance Σ‖f(x') − f(x)‖² as a function of x' (f(x) a constant).
    await wg.checkGrads((x) => wg.sum(wg.square(wg.sub(net(x), net(wg.add(constX(), 0.05))))), [xs], opt);
    // IDAA's view G(z) + R, through the decoder, as a function of z.
    const Z0 = [[0.2, -0.4, 0.3], [0.1, 0.5, -0.2], [0.7, 0.0, 0.3]];
    await wg.checkGrads((z) => {
      const decode = (zz: T) => wg.nn.sigmoid(wg.matmul(zz, wg.mT(w())));
      const view = wg.add(constX(), wg.sub(decode(z), decode(wg.tensor(Z0))));
      return wg.losses.ntXent([net(constX()), net(view)]);
    }, [wg.add(wg.tensor(Z0), 0.1)], opt);
    // The generator's loss as a function of its parameters (L∞ and L2 forms).
    const gen = attacks.noiseGenerator.init(key(0), { shape: [4], hidden: [3] });
    const leaves = wg.treeLeaves(gen).map(([, t]) => wg.add(t, 0.3));
    for (const norm of ['linf', 'l2'] as const) {
      await wg.checkGrads((...ls: T[]) => {
        const p = wg.treeUnflatten(gen, ls);
        return wg.sum(wg.square(net(attacks.noiseGenerator.apply(p, constX(), { eps: 0.3, norm, box: null }))));
      }, leaves, opt);
    }
  });
});

describe('validation, eval mode, reproducibility and memory', () => {
  it('rejects bad options, labels and losses with clear errors', async () => {
    await useBackend('cpu');
    const x = wg.random.uniform(key(0), [2, 3]);
    const net = (xa: T) => wg.matmul(xa, wg.ones([3, 4]));
    const ce = attacks.crossEntropy(net, [0, 1]);
    const k = key(1);
    expect(() => attacks.pgd(ce, x, k, { eps: -0.1 })).toThrow(/pgd: eps must be a finite number ≥ 0, got -0.1/);
    expect(() => attacks.fgsm(ce, x, k, { eps: -1 })).toThrow(/fgsm: eps/);
    expect(() => attacks.apgd(ce, x, k, { eps: -1 })).toThrow(/apgd: eps/);
    expect(() => attacks.pgd(ce, x, k, { alpha: 0 })).toThrow(/pgd: alpha must be a finite number > 0, got 0/);
    expect(() => attacks.pgd(ce, x, k, { alpha: -1 })).toThrow(/alpha/);
    expect(() => attacks.pgd(ce, x, k, { steps: 0 })).toThrow(/pgd: steps must be an integer ≥ 1, got 0/);
    expect(() => attacks.apgd(ce, x, k, { steps: 0.5 })).toThrow(/apgd: steps must be an integer ≥ 1/);
    expect(() => attacks.pgd(attacks.crossEntropy(net, [0, 4]), x, k)).toThrow(/label 4 at index 1 is out of range \[0, 4\)/);
    expect(() => attacks.pgd(attacks.crossEntropy(net, [-1, 0]), x, k)).toThrow(/out of range/);
    expect(() => attacks.pgd(attacks.crossEntropy(net, [0, 1, 2]), x, k)).toThrow(/3 labels for a batch of 2/);
    expect(() => attacks.crossEntropy(net, wg.tensor([0.5, 1]))).toThrow(/labels must be int32 \[N\], got float32/);
    expect(() => attacks.pgd((xa) => wg.sum(xa, 1), x, k)).toThrow(/pgd: the loss must return a float32 scalar .*got float32 \[2\]/);
    expect(() => attacks.fgsm((xa) => xa, x, k)).toThrow(/fgsm: the loss must return a float32 scalar/);
    expect(() => attacks.apgd((xa) => wg.sum(xa), x, k)).toThrow(/apgd: the loss must give perExample scores/);
    expect(() => attacks.pgd(ce, x, k, { norm: 'l1' as never })).toThrow(/norm must be 'linf' or 'l2'/);
    expect(() => attacks.pgd(ce, x, k, { box: [1, 0] })).toThrow(/box must be \[lo, hi\]/);
    expect(() => attacks.pgd(ce, wg.tensor([1, 2], { dtype: 'int32' }), k)).toThrow(/x must be a float32 batch/);
    expect(() => attacks.latentAttack(wg.sum, x, k, { eps: -1, encode: (t) => t, decode: (t) => t })).toThrow(/latentAttack: eps/);
    expect(() => attacks.noiseGenerator.perturbation(attacks.noiseGenerator.init(k, { shape: [5] }), x, { eps: 0.1 })).toThrow(/examples of 5 elements/);
  });

  it('eval mode: BatchNorm uses running statistics, so a row does not depend on the batch and the state is untouched', async () => {
    await useBackend('cpu');
    const { params: bnP, state: bnS } = wg.nn.batchNorm.init({ channels: 3 });
    const state = { mean: wg.tensor([0.3, -0.2, 0.1]), var: wg.tensor([2, 0.5, 1.5]) };
    wg.dispose(bnS);
    const lin = wg.nn.linear.init(key(4), { inFeatures: 3, outFeatures: 2 });
    const apply = (p: typeof bnP, s: typeof state, x: T, o: { training: boolean }) => {
      const [h, ns] = wg.nn.batchNorm.apply(p, s, x, o);
      return [wg.nn.linear.apply(lin, h), ns] as [T, typeof state];
    };
    const model = attacks.evalMode(apply, bnP, state);
    const x = wg.random.uniform(key(5), [4, 3]);
    const o = { eps: 0.1, alpha: 0.02, steps: 5, randomStart: false };
    const all = await host(attacks.pgd(attacks.crossEntropy(model, [0, 1, 1, 0]), x, key(0), o));
    const one = await host(attacks.pgd(attacks.crossEntropy(model, [0]), wg.slice(x, [{ start: 0, stop: 1 }]), key(0), o));
    expect(Array.from(one)).toEqual(Array.from(all.slice(0, 3)));
    expect(Array.from(await state.mean.data())).toEqual(Array.from(Float32Array.from([0.3, -0.2, 0.1])));
    // In training mode the first row would depend on the others (batch statistics).
    const trainModel = (xa: T) => { const [y, ns] = apply(bnP, state, xa, { training: true }); wg.dispose(ns); return y; };
    const allT = await host(attacks.pgd(attacks.crossEntropy(trainModel, [0, 1, 1, 0]), x, key(0), o));
    expect(Array.from(allT.slice(0, 3))).not.toEqual(Array.from(one));
  });

  it('is reproducible from its key', async () => {
    await useBackend('cpu');
    const x = wg.random.uniform(key(0), [3, 4]);
    const ce = attacks.crossEntropy(tinyNet(key(1), 4, 3).apply, [0, 1, 2]);
    const bits = async (t: T) => Array.from(await t.data());
    for (const [name, run] of [
      ['pgd restarts', (k: wg.Key) => attacks.pgd(ce, x, k, { eps: 0.2, steps: 3, restarts: 2 })],
      ['pgd l2', (k: wg.Key) => attacks.pgd(ce, x, k, { eps: 0.2, steps: 3, norm: 'l2' })],
      ['apgd', (k: wg.Key) => attacks.apgd(ce, x, k, { eps: 0.2, steps: 4 })],
      ['fgsm-rs', (k: wg.Key) => attacks.fgsm(ce, x, k, { eps: 0.2, randomStart: true })],
      ['representation', (k: wg.Key) => attacks.representationDistance((xa) => wg.tanh(xa), x, k, { eps: 0.2, steps: 2 })],
    ] as const) {
      expect(await bits(run(key(9))), name).toEqual(await bits(run(key(9))));
      // APGD's sign steps of size 2ε usually land on the same corners from any start.
      if (name !== 'apgd') expect(await bits(run(key(9))), name).not.toEqual(await bits(run(key(10))));
    }
    // APGD's start point does depend on the key (one step of size ≪ ε keeps it visible).
    const apgd1 = (k: wg.Key) => attacks.apgd((xa) => ({ loss: wg.sum(xa), perExample: wg.mul(wg.sum(xa, 1), -1) }), x, k, { eps: 0.2, steps: 1 });
    expect(await bits(apgd1(key(9)))).not.toEqual(await bits(apgd1(key(10))));
  });

  for (const kind of ['cpu', 'webgpu'] as const) {
    it(`keeps memory flat over many steps (${kind})`, async () => {
      await useBackend(kind);
      const x = wg.random.uniform(key(0), [4, 8]);
      const net = tinyNet(key(1), 8, 3);
      const ce = attacks.crossEntropy(net.apply, [0, 1, 2, 0]);
      for (const run of [
        (onStep: attacks.OnStep) => attacks.pgd(ce, x, key(2), { eps: 0.1, steps: 40, onStep }),
        (onStep: attacks.OnStep) => attacks.apgd(ce, x, key(2), { eps: 0.1, steps: 40, onStep }),
      ]) {
        run(() => {}).dispose(); // warms the cache of scalar constants (live tensors that are kept)
        const before = wg.memoryStats();
        const seen: { tensors: number; bytes: number }[] = [];
        const out = run(() => { const m = wg.memoryStats(); seen.push({ tensors: m.tensors, bytes: m.liveBytes }); });
        await out.data();
        expect(seen.length).toBe(40);
        // Every step ends with the same live tensors (APGD's checkpoints alias one [N] vector, so ±1).
        const counts = seen.map((s) => s.tensors);
        expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
        // On the CPU the bytes are exact too; WebGPU's lazily fused values hold buffers for a while.
        const bytes = seen.map((s) => s.bytes);
        if (kind === 'cpu') expect(Math.max(...bytes) - Math.min(...bytes)).toBeLessThanOrEqual(4 * 4);
        out.dispose();
        expect(wg.memoryStats().tensors).toBe(before.tensors);
      }
    });
  }
});
