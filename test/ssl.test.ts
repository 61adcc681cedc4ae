/**
 * Self-supervised methods (src/ssl) on the CPU backend, small shapes: gradient checks of every new
 * loss (RoCL's and IDAA's objectives, the regularizer's squared shift, the VAE loss), NT-Xent's
 * V-view formula where it has a closed form, IDAA's attack wiring at ε = 0, and one training step
 * of each method (and the VAE) lowering its loss on a fixed batch.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as wg from '../src/index.js';
import { init } from '../src/init.js';
import * as ssl from '../src/ssl/index.js';
import { ntXent } from '../src/losses/contrastive.js';

beforeAll(async () => {
  await init({ backend: 'cpu' });
});

/** Deterministic pseudo-random host values in [−1, 1]. */
const values = (n: number, seed: number) => Array.from({ length: n }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233) % 1);
const randn = (shape: number[], seed: number) => wg.tensor(values(shape.reduce((a, b) => a * b, 1), seed), { shape });

const SMALL: ssl.ModelConfig = { imageSize: 8, width: 2, featureDim: 8, projHidden: 8, projDim: 4 };
const VAE_SMALL: ssl.VaeConfig = { imageSize: 8, width: 4, latent: 3 };
const AUGMENT = { crop: { scale: [0.5, 1] as [number, number] } };

describe('gradient checks of the new losses', () => {
  it("RoCL's objective: NT-Xent₃ + (1/λ)·NT-Xent(adv, t') (with the full similarity gradient: RoCL's default 'anchor' is not the value's gradient; test/ssl-fidelity.test.ts checks it)", async () => {
    const full = { similarityGradient: 'full' as const };
    await wg.checkGrads((a, b, c) => ssl.roclObjective(a, b, c, { lambda: 4, ...full })[0], [randn([3, 4], 1), randn([3, 4], 2), randn([3, 4], 3)]);
    await wg.checkGrads((a, b, c) => ssl.roclObjective(a, b, c, { positives: 'mean', temperature: 0.2, ...full })[0], [randn([2, 3], 4), randn([2, 3], 5), randn([2, 3], 6)]);
  });

  it("IDAA's objective: NT-Xent(xᵢ, xⱼ) + α·NT-Xent(xᵢ, xᵃᵈᵛ)", async () => {
    await wg.checkGrads((a, b, c) => ssl.idaaObjective(a, b, c, { alpha: 0.7 })[0], [randn([3, 4], 7), randn([3, 4], 8), randn([3, 4], 9)]);
  });

  it("the regularizer's squared representation shift", async () => {
    await wg.checkGrads((a, b) => ssl.squaredShift(a, b), [randn([3, 5], 10), randn([3, 5], 11)]);
  });

  it('the VAE loss (MSE + β·KL/(N·C·L), reparameterized) with respect to the input and a decoder weight', async () => {
    const k = wg.random.key(3);
    const loss = (x: wg.Tensor, w?: wg.Tensor) => {
      const { params, state } = ssl.vae.init(wg.random.key(1), VAE_SMALL);
      const p = w ? { ...params, dec: { ...params.dec, fc: { ...params.dec.fc, w } } } : params;
      return ssl.vae.vaeLoss(p, state, x, k, { beta: 0.5 })[0];
    };
    // Constants are made inside f: checkGrads runs f on its own float64 backend.
    const image = () => wg.random.uniform(wg.random.key(2), [2, 1, 8, 8]);
    await wg.checkGrads((xx) => loss(xx), [image()], { directions: 4, rtol: 1e-3 });
    const w = ssl.vae.init(wg.random.key(1), VAE_SMALL).params.dec.fc.w;
    await wg.checkGrads((ww) => loss(image(), ww), [w], { directions: 4, rtol: 1e-3 });
  });
});

describe('NT-Xent over V views', () => {
  /**
   * With every view equal (rows z_n, normalized), each anchor's V − 1 positives have similarity
   * 1/τ and every other sample k appears V times among the negatives, so
   *   ℓ = log((V − 1)·e^{1/τ} + V·Σ_{k≠n} e^{s_nk}) − 1/τ
   * (the same for 'mean' and, per positive, 'sum'). At V = 2 this is SimCLR's 2-view loss: the
   * 3-view loss reduces to the 2-view formula with the counts V − 1 = 1 and V = 2.
   */
  it('matches the closed form for identical views at V = 2 and V = 3', async () => {
    const tau = 0.5;
    const z = randn([4, 3], 12);
    const host = Array.from({ length: 4 }, (_, n) => values(12, 12).slice(3 * n, 3 * n + 3));
    const unit = host.map((r) => { const m = Math.hypot(...r); return r.map((v) => v / m); });
    const s = (i: number, j: number) => unit[i].reduce((a, v, d) => a + v * unit[j][d], 0) / tau;
    const closed = (v: number) => unit.reduce((acc, _, n) => {
      const neg = unit.reduce((t, __, k) => (k === n ? t : t + Math.exp(s(n, k))), 0);
      return acc + Math.log((v - 1) * Math.exp(1 / tau) + v * neg) - 1 / tau;
    }, 0) / unit.length;
    expect(await ntXent([z, z], { temperature: tau }).item()).toBeCloseTo(closed(2), 5);
    expect(await ntXent([z, z, z], { temperature: tau }).item()).toBeCloseTo(closed(3), 5);
    expect(await ntXent([z, z, z], { temperature: tau, positives: 'sum' }).item()).toBeCloseTo(2 * closed(3), 5);
    // RoCL's objective at zAdv = za = zb: the 3-view 'sum' term plus 1/λ times the 2-view term.
    expect(await ssl.roclObjective(z, z, z, { lambda: 8 })[0].item()).toBeCloseTo(2 * closed(3) + closed(2) / 8, 5);
  });
});

/** A small model, its optimizer state and a fixed batch. */
function setup(method: string, lr = 0.05) {
  const { params, state } = ssl.model.init(wg.random.key(5), ssl.methodModelConfig(method, SMALL));
  const optimizer = wg.optim.makeOptimizer({ name: 'adam', lr, schedule: 'constant', warmupSteps: 0, totalSteps: 1 });
  const x = wg.random.uniform(wg.random.key(6), [6, 1, 8, 8]);
  return { params, st: ssl.initState(params, state, optimizer), optimizer, x };
}

function trainedVae() {
  const { params, state } = ssl.vae.init(wg.random.key(8), VAE_SMALL);
  return { params, state };
}

describe('IDAA wiring', () => {
  it('at ε = 0 the adversarial view is the anchor view, bit for bit', async () => {
    const { params, st, x } = setup('idaa');
    const vae = trainedVae();
    const adv = ssl.idaaAttack(params, st.model, x, wg.random.key(1), { vae, eps: 0 });
    expect(Array.from(await adv.data())).toEqual(Array.from(await x.data()));
    const moved = ssl.idaaAttack(params, st.model, x, wg.random.key(1), { vae, eps: 0.5 });
    expect(Array.from(await moved.data())).not.toEqual(Array.from(await x.data()));
  });

  it('the adversarial view goes through the adv BN branch: only its running statistics see it', async () => {
    const { params, st, optimizer, x } = setup('idaa');
    const vae = trainedVae();
    const r = ssl.idaaStep(params, st, x, wg.random.key(2), { optimizer, vae, augment: AUGMENT });
    const before = st.model as { bn1: { clean: { mean: wg.Tensor }; adv: { mean: wg.Tensor } } };
    const after = r.state.model as typeof before;
    expect(Array.from(await after.bn1.clean.mean.data())).not.toEqual(Array.from(await before.bn1.clean.mean.data()));
    expect(Array.from(await after.bn1.adv.mean.data())).not.toEqual(Array.from(await before.bn1.adv.mean.data()));
  });
});

describe('one training step lowers the loss on a fixed batch', () => {
  const key = wg.random.key(11);

  it('SimCLR (and the reported loss is the loss at the step\'s views)', async () => {
    const { params, st, optimizer, x } = setup('simclr');
    const [kViews] = wg.random.split(key);
    const [a, b] = ssl.twoViews(kViews, x, AUGMENT);
    const before = await ssl.simclrLoss(params, st.model, a, b)[0].item();
    const r = ssl.simclrStep(params, st, x, key, { optimizer, augment: AUGMENT });
    expect(await r.loss.item()).toBeCloseTo(before, 5);
    expect(await ssl.simclrLoss(r.params, st.model, a, b)[0].item()).toBeLessThan(before);
  });

  it('RoCL (attack in eval mode, 3-view + 1/λ 2-view loss)', async () => {
    const { params, st, optimizer, x } = setup('rocl');
    const opts = { optimizer, augment: AUGMENT, eps: 0.1, alpha: 0.03, steps: 3 };
    const [kViews, kAttack] = wg.random.split(key, 3);
    const [a, b] = ssl.twoViews(kViews, x, AUGMENT);
    const adv = ssl.roclAttack(params, st.model, a, b, kAttack, opts);
    const delta = await wg.max(wg.abs(wg.sub(adv, a))).item();
    expect(delta).toBeLessThanOrEqual(0.1 + 1e-6);
    expect(delta).toBeGreaterThan(0);
    const before = await ssl.roclLoss(params, st.model, a, b, adv, opts)[0].item();
    const r = ssl.roclStep(params, st, x, key, opts);
    expect(await r.loss.item()).toBeCloseTo(before, 5);
    expect(Object.keys(r.parts).sort()).toEqual(['ntXent3', 'ntXentAdv']);
    expect(await ssl.roclLoss(r.params, st.model, a, b, adv, opts)[0].item()).toBeLessThan(before);
  });

  it('IDAA (frozen VAE, latent attack, adv BN branch)', async () => {
    const { params, st, optimizer, x } = setup('idaa');
    const vae = trainedVae();
    const opts = { optimizer, vae, augment: AUGMENT, eps: 0.3 };
    const [kViews, kAttack] = wg.random.split(key, 3);
    const [a, b] = ssl.twoViews(kViews, x, AUGMENT);
    const adv = ssl.idaaAttack(params, st.model, a, kAttack, opts);
    const before = await ssl.idaaLoss(params, st.model, a, b, adv, opts)[0].item();
    const r = ssl.idaaStep(params, st, x, key, opts);
    expect(await r.loss.item()).toBeCloseTo(before, 5);
    expect(await ssl.idaaLoss(r.params, st.model, a, b, adv, opts)[0].item()).toBeLessThan(before);
  });

  it('SimCLR + the robustness regularizer (β·R is part of the loss and decreases with it)', async () => {
    const { params, st, optimizer, x } = setup('simclr', 0.02);
    const regularizer = { weight: 2, eps: 0.1, steps: 3 };
    const [kViews, kReg] = wg.random.split(key);
    const [a, b] = ssl.twoViews(kViews, x, AUGMENT);
    const xAdv = ssl.regularizerAttack(params, st.model, a, kReg, regularizer);
    const total = (p: ssl.ModelParams) => wg.tidy(() => {
      const [l] = ssl.simclrLoss(p, st.model, a, b);
      return wg.add(l, ssl.regularizerTerm(p, st.model, a, xAdv, regularizer).term);
    });
    const before = await total(params).item();
    const r = ssl.simclrStep(params, st, x, key, { optimizer, augment: AUGMENT, regularizer });
    expect(await r.loss.item()).toBeCloseTo(before, 5);
    const reg = await r.parts.reg.item();
    expect(reg).toBeGreaterThan(0);
    expect(await r.loss.item()).toBeCloseTo((await r.parts.ntXent.item()) + 2 * reg, 4);
    expect(await total(r.params).item()).toBeLessThan(before);
  });

  it('the VAE (MSE + β·KL)', async () => {
    const { params, state } = ssl.vae.init(wg.random.key(8), VAE_SMALL);
    const optimizer = wg.optim.makeOptimizer({ name: 'adam', lr: 0.01, schedule: 'constant', warmupSteps: 0, totalSteps: 1 });
    const x = wg.random.uniform(wg.random.key(6), [6, 1, 8, 8]);
    const k = wg.random.key(4);
    const before = await ssl.vae.vaeLoss(params, state, x, k)[0].item();
    const r = ssl.vae.vaeStep(params, { model: state, opt: optimizer.init(params) }, x, k, { optimizer });
    expect(await r.loss.item()).toBeCloseTo(before, 5);
    expect(await ssl.vae.vaeLoss(r.params, state, x, k)[0].item()).toBeLessThan(before);
  });
});
