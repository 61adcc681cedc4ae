/**
 * Attacks from an explicit start (`start: δ₀`): a PGD, FGSM and APGD step from a given point against
 * the step computed by hand, warm starts that continue a run exactly, the unlabeled PGD attacks
 * taking a start (then independent of the key), and the start's validation (shape, ball, box, and
 * options that would ignore it).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as wg from '../src/index.js';
import { init } from '../src/init.js';
import { attacks } from '../src/index.js';

const { key, split } = wg.random;
type T = wg.Tensor;
const host = async (t: T) => Array.from((await t.data()) as Float32Array);

beforeAll(async () => {
  await init({ backend: 'cpu' });
});

// One example of four inputs near both edges of the box, a linear score x·w (gradient w).
const X = [0.5, 0.2, 0.98, 0.01];
const W = [1, -2, 3, -0.5];
const D0 = [0.05, -0.1, 0.01, 0];
const setup = () => {
  const x = wg.tensor(Float32Array.from(X), { shape: [1, 4] });
  const w = wg.tensor(Float32Array.from(W), { shape: [4] });
  const linear = (xa: T) => ({ loss: wg.sum(wg.mul(xa, w)), perExample: wg.sum(wg.mul(xa, w), 1) });
  return { x, w, linear, start: wg.tensor(Float32Array.from(D0), { shape: [1, 4] }) };
};
const clip = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

/** One projected L∞ step from xt on the score x·w, in float64: clip_box(x + clip_ε(xt + α·sign(w) − x)). */
const linfStep = (xt: number[], alpha: number, eps: number) =>
  xt.map((v, i) => clip(X[i] + clip(v + alpha * Math.sign(W[i]) - X[i], -eps, eps), 0, 1));

describe('an attack from a given start takes the hand-computed step', () => {
  it('PGD (L∞, box [0, 1]): one and two steps from x + δ₀', async () => {
    const { x, linear, start } = setup();
    const one = attacks.pgd(linear, x, key(0), { eps: 0.1, alpha: 0.03, steps: 1, start });
    // x + δ₀ = [0.55, 0.1, 0.99, 0.01]; + 0.03·sign(w) = [0.58, 0.07, 1.02, −0.02]; δ clipped to ±0.1
    // gives [0.58, 0.1, 1.02, −0.02]; the box gives [0.58, 0.1, 1, 0].
    const oneGot = await host(one);
    [0.58, 0.1, 1, 0].forEach((v, i) => expect(oneGot[i]).toBeCloseTo(v, 6));
    const x0 = X.map((v, i) => v + D0[i]);
    const two = await host(attacks.pgd(linear, x, key(0), { eps: 0.1, alpha: 0.03, steps: 2, start }));
    linfStep(linfStep(x0, 0.03, 0.1), 0.03, 0.1).forEach((v, i) => expect(two[i]).toBeCloseTo(v, 6));
  });

  it('PGD (L2, no box): the step along w/‖w‖₂, projected onto the ball', async () => {
    const { x, linear } = setup();
    const d0 = [0.3, -0.2, 0.1, 0.4]; // ‖δ₀‖₂ ≈ 0.548 ≤ ε = 0.6
    const start = wg.tensor(Float32Array.from(d0), { shape: [1, 4] });
    const got = await host(attacks.pgd(linear, x, key(9), { norm: 'l2', eps: 0.6, alpha: 0.25, steps: 1, box: null, start }));
    const nw = Math.hypot(...W);
    const d = d0.map((v, i) => v + (0.25 * W[i]) / nw);
    const scale = Math.min(1, 0.6 / Math.hypot(...d));
    X.forEach((v, i) => expect(got[i]).toBeCloseTo(v + d[i] * scale, 6));
  });

  it('FGSM steps α from x + δ₀; APGD (one iteration) takes η = 2ε from it', async () => {
    const { x, linear, start } = setup();
    const fgsm = await host(attacks.fgsm(linear, x, key(0), { eps: 0.1, alpha: 0.03, start }));
    [0.58, 0.1, 1, 0].forEach((v, i) => expect(fgsm[i]).toBeCloseTo(v, 6));
    // x + δ₀ + 0.2·sign(w) = [0.75, −0.1, 1.19, −0.19]: every coordinate reaches the ball's face
    // (x ± 0.1 = [0.6, 0.1, 1.08, −0.09]); the box gives [0.6, 0.1, 1, 0], a better point than x + δ₀.
    const apgd = await host(attacks.apgd(linear, x, key(0), { eps: 0.1, steps: 1, start }));
    [0.6, 0.1, 1, 0].forEach((v, i) => expect(apgd[i]).toBeCloseTo(v, 6));
    // Without a start both would begin at a random point: not this one.
    const random = await host(attacks.pgd(linear, x, key(0), { eps: 0.1, alpha: 0.03, steps: 1 }));
    expect(random).not.toEqual(await host(attacks.pgd(linear, x, key(0), { eps: 0.1, alpha: 0.03, steps: 1, start })));
  });
});

describe('warm starts and the unlabeled attacks', () => {
  /** A small tanh network's cross-entropy on 3 examples of 6 inputs. */
  function problem() {
    const [kx, kp] = split(key(4));
    const x = wg.random.uniform(kx, [3, 6], { minval: 0.1, maxval: 0.9 });
    const params = wg.nn.mlp.init(kp, { widths: [6, 5, 3] });
    const net = (xa: T) => wg.nn.mlp.apply(params, xa, { activation: wg.tanh });
    return { x, net, params, loss: attacks.crossEntropy(net, [0, 1, 2]) };
  }

  it('4 PGD steps from δ₀ equal 2 steps, then 2 more from where they ended (δ = xAdv − x)', async () => {
    const { x, loss } = problem();
    const d0 = wg.random.uniform(key(5), x.shape, { minval: -0.05, maxval: 0.05 });
    const o = { eps: 0.08, alpha: 0.02 };
    const four = await host(attacks.pgd(loss, x, key(1), { ...o, steps: 4, start: d0 }));
    const half = attacks.pgd(loss, x, key(2), { ...o, steps: 2, start: d0 });
    const resumed = await host(attacks.pgd(loss, x, key(3), { ...o, steps: 2, start: wg.sub(half, x) }));
    resumed.forEach((v, i) => expect(v).toBeCloseTo(four[i], 6));
    // The start passes the ball check although xAdv − x may exceed ε by an ulp of x.
    await expect(attacks.checked(() => attacks.pgd(loss, x, key(3), { ...o, steps: 1, start: wg.sub(half, x) }))).resolves.toBeDefined();
  });

  it('representationDistance and instanceContrastive take a start: the result no longer depends on the key', async () => {
    const { x, net } = problem();
    const d0 = wg.random.uniform(key(6), x.shape, { minval: -0.05, maxval: 0.05 });
    const o = { eps: 0.08, alpha: 0.02, steps: 3, start: d0 };
    const rd = async (k: wg.Key) => host(attacks.representationDistance(net, x, k, o));
    expect(await rd(key(1))).toEqual(await rd(key(2)));
    // From δ₀ = 0 the representation distance has a zero gradient: PGD stays at x.
    const still = await host(attacks.representationDistance(net, x, key(1), { ...o, start: wg.zerosLike(x) }));
    expect(still).toEqual(await host(x));
    const positive = wg.add(x, 0.01);
    const ic = async (k: wg.Key) => host(attacks.instanceContrastive(net, x, positive, k, o));
    expect(await ic(key(1))).toEqual(await ic(key(2)));
    expect(await ic(key(1))).not.toEqual(await host(attacks.instanceContrastive(net, x, positive, key(1), { ...o, start: undefined })));
  });
});

describe('the start is validated', () => {
  it('shape, dtype and options that would ignore it, at once', () => {
    const { x, linear, start } = setup();
    expect(() => attacks.pgd(linear, x, key(0), { start: wg.zeros([2, 4]) })).toThrow(/pgd: start \(δ₀\) must be float32 with x's shape \[1, 4\], got float32 \[2, 4\]/);
    expect(() => attacks.apgd(linear, x, key(0), { start: wg.zeros([1, 4], 'int32') })).toThrow(/apgd: start \(δ₀\) must be float32 with x's shape \[1, 4\], got int32/);
    expect(() => attacks.pgd(linear, x, key(0), { start, randomStart: true })).toThrow(/pgd: give either start \(δ₀\) or randomStart: true/);
    expect(() => attacks.pgd(linear, x, key(0), { start, restarts: 2 })).toThrow(/pgd: restarts > 1 needs random starts/);
    expect(() => attacks.fgsm(linear, x, key(0), { start: [0, 0, 0, 0] as never })).toThrow(/fgsm: start must be a Tensor/);
  });

  it('the ball and the box, when the attack is checked', async () => {
    const { x, linear } = setup();
    const far = wg.tensor(Float32Array.from([0.5, 0, 0, 0]), { shape: [1, 4] });
    await expect(attacks.checked(() => attacks.pgd(linear, x, key(0), { eps: 0.1, start: far })))
      .rejects.toThrow(/pgd: start \(δ₀\) must lie in the ε-ball \(‖δ₀‖∞ ≤ ε = 0\.1 per example\), got 0\.5; δ₀ is the offset from x/);
    await expect(attacks.checked(() => attacks.apgd(linear, x, key(0), { eps: 0.6, norm: 'l2', start: far })))
      .resolves.toBeDefined();
    const out = wg.tensor(Float32Array.from([0, 0, 0.05, 0]), { shape: [1, 4] }); // 0.98 + 0.05 > 1
    await expect(attacks.checked(() => attacks.pgd(linear, x, key(0), { eps: 0.1, start: out })))
      .rejects.toThrow(/pgd: x \+ start \(δ₀\) must lie in the box \[0, 1\], but 1 of 4 values are outside/);
    const nan = wg.tensor(Float32Array.from([NaN, 0, 0, 0]), { shape: [1, 4] });
    await expect(attacks.checked(() => attacks.fgsm(linear, x, key(0), { eps: 0.1, start: nan }))).rejects.toThrow(/fgsm: start \(δ₀\) holds 1 non-finite value/);
  });
});
