/**
 * APLR and the domain-agnostic baselines (src/ssl/aplr.ts, views.ts; attacks/generator.ts;
 * losses/hgr.ts, latent.ts) on the CPU backend, small shapes: gradient checks of L_rec and
 * Soft-HGR, both against direct host formulas, the generator's noise and the random noise always
 * inside their ball (property), the alternating step moving the generator up and the encoder down
 * on a fixed batch, what the step logs before and after the generator's update, the generator's
 * learning-rate schedule following the encoder's, the ablations (δ = 0, δ uniform in the ball), the
 * step ratio, the masking and noise views, the vector (MLP) and non-square CNN encoders, the
 * regularizer composed with APLR and the APLR state through a checkpoint; and, where python3 with
 * torch is installed, one APLR step's loss and gradients against a PyTorch transcription
 * (test/helpers/aplr_torch.py).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import * as wg from '../src/index.js';
import { init } from '../src/init.js';
import * as ssl from '../src/ssl/index.js';
import { noiseGenerator, type GeneratorConfig, type GeneratorParams } from '../src/attacks/index.js';
import { latentReconstruction } from '../src/losses/latent.js';
import { softHgr, softHgrLoss } from '../src/losses/hgr.js';
import { deserializeTree, serializeTree } from '../src/io/safetensors.js';

beforeAll(async () => {
  await init({ backend: 'cpu' });
});

/** Deterministic pseudo-random host values in [−1, 1]. */
const values = (n: number, seed: number) => Array.from({ length: n }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233) % 1);
const randn = (shape: number[], seed: number) => wg.tensor(values(shape.reduce((a, b) => a * b, 1), seed), { shape });
const rows = (host: number[], n: number) => Array.from({ length: n }, (_, i) => host.slice((i * host.length) / n, ((i + 1) * host.length) / n));
const host = async (t: wg.Tensor) => Array.from(await t.data() as ArrayLike<number>);

describe('losses: L_rec and Soft-HGR', () => {
  it('Soft-HGR matches the direct formula E[f₀ᵀg₀] − ½·tr(cov f · cov g) on a small case', async () => {
    const n = 5, k = 3;
    const fh = rows(values(n * k, 1), n), gh = rows(values(n * k, 2).map((v, i) => v + 0.5 * values(n * k, 1)[i]), n);
    const center = (m: number[][]) => m.map((r) => r.map((v, j) => v - m.reduce((s, q) => s + q[j], 0) / n));
    const f0 = center(fh), g0 = center(gh);
    const corr = f0.reduce((s, r, i) => s + r.reduce((t, v, j) => t + v * g0[i][j], 0), 0) / n;
    const cov = (m: number[][]) => Array.from({ length: k }, (_, a) => Array.from({ length: k }, (__, b) => m.reduce((s, r) => s + r[a] * r[b], 0) / (n - 1)));
    const cf = cov(f0), cg = cov(g0);
    let trace = 0; // tr(cf · cg) by the matrix product itself
    for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) trace += cf[a][b] * cg[b][a];
    const expected = corr - trace / 2;
    const f = wg.tensor(fh.flat(), { shape: [n, k] }), g = wg.tensor(gh.flat(), { shape: [n, k] });
    expect(await softHgr(f, g).item()).toBeCloseTo(expected, 5);
    expect(await softHgrLoss(f, g).item()).toBeCloseTo(-expected, 5);
    // Shifting either side by a constant changes nothing (the features are centered).
    expect(await softHgr(wg.add(f, 3), wg.sub(g, 1)).item()).toBeCloseTo(expected, 5);
    expect(() => softHgr(randn([1, 3], 3), randn([1, 3], 4))).toThrow(/at least 2 rows/);
    expect(() => softHgr(randn([3, 3], 3), randn([3, 2], 4))).toThrow(/softHgr/);
  });

  it('L_rec matches mean ‖p/‖p‖ − t/‖t‖‖² (normalized) and the elementwise mean (mse)', async () => {
    const n = 3, k = 4;
    const ph = rows(values(n * k, 5), n), th = rows(values(n * k, 6), n);
    const unit = (r: number[]) => r.map((v) => v / Math.hypot(...r));
    const normalized = ph.reduce((s, r, i) => s + unit(r).reduce((t, v, j) => t + (v - unit(th[i])[j]) ** 2, 0), 0) / n;
    const mse = ph.reduce((s, r, i) => s + r.reduce((t, v, j) => t + (v - th[i][j]) ** 2, 0), 0) / (n * k);
    const p = wg.tensor(ph.flat(), { shape: [n, k] }), t = wg.tensor(th.flat(), { shape: [n, k] });
    expect(await latentReconstruction(p, t).item()).toBeCloseTo(normalized, 5);
    expect(await latentReconstruction(p, t, { distance: 'mse' }).item()).toBeCloseTo(mse, 5);
  });

  it('gradient checks: L_rec (both distances), Soft-HGR, and the APLR objective (target stopped)', async () => {
    await wg.checkGrads((p, t) => latentReconstruction(p, t), [randn([3, 4], 7), randn([3, 4], 8)]);
    await wg.checkGrads((p, t) => latentReconstruction(p, t, { distance: 'mse' }), [randn([3, 4], 9), randn([3, 4], 10)]);
    await wg.checkGrads((f, g) => softHgr(f, g), [randn([4, 3], 11), randn([4, 3], 12)]);
    await wg.checkGrads((f, g) => softHgrLoss(f, g), [randn([5, 2], 13), randn([5, 2], 14)]);
    await wg.checkGrads((p) => ssl.aplrObjective(p, randn([3, 4], 16))[0], [randn([3, 4], 15)]);
    await wg.checkGrads((p, f) => ssl.aplrObjective(p, f, { objective: 'softHgr' })[0], [randn([4, 3], 17), randn([4, 3], 18)]);
  });

  it("the APLR objective stops the target's gradient: sg(normalize(f(x)))", async () => {
    const p = randn([3, 4], 19), f = randn([3, 4], 20);
    const [, gf] = wg.grad((pp: wg.Tensor, ff: wg.Tensor) => ssl.aplrObjective(pp, ff)[0], { argnums: [0, 1] })(p, f);
    expect((await host(gf)).every((v) => v === 0)).toBe(true);
    const [gp2, gf2] = wg.grad((pp: wg.Tensor, ff: wg.Tensor) => ssl.aplrObjective(pp, ff, { objective: 'softHgr' })[0], { argnums: [0, 1] })(p, f);
    expect((await host(gf2)).some((v) => v !== 0)).toBe(true);
    expect((await host(gp2)).some((v) => v !== 0)).toBe(true);
  });
});

/** A generator whose every parameter is random and large, so tanh saturates somewhere. */
function randomGenerator(seed: number, config: GeneratorConfig, scale: number): GeneratorParams {
  const g = noiseGenerator.init(wg.random.key(seed), config);
  let i = 0;
  return wg.treeMap(g, (t) => wg.random.normal(wg.random.foldIn(wg.random.key(seed), i++), t.shape, { stddev: scale }));
}

describe('the generator and the random noise of its ball', () => {
  it('starts at δ = 0 (zero output layer) and keeps the example shape (MLP and conv)', async () => {
    for (const config of [{ kind: 'mlp', shape: [7] }, { kind: 'conv', shape: [2, 5, 6] }] as GeneratorConfig[]) {
      const g = noiseGenerator.init(wg.random.key(1), config);
      const x = wg.random.normal(wg.random.key(2), [3, ...config.shape]);
      const d = noiseGenerator.perturbation(g, x, { eps: 0.5 });
      expect(d.shape).toEqual(x.shape);
      expect((await host(d)).every((v) => v === 0)).toBe(true);
    }
  });

  it('its noise is always in its ball, and x̃ in the box when one is given (property: shapes, ε, norm, weights)', async () => {
    await fc.assert(fc.asyncProperty(
      fc.record({
        kind: fc.constantFrom<'mlp' | 'conv'>('mlp', 'conv'),
        c: fc.integer({ min: 1, max: 2 }), h: fc.integer({ min: 1, max: 5 }), w: fc.integer({ min: 1, max: 5 }),
        n: fc.integer({ min: 1, max: 3 }),
        eps: fc.double({ min: 1e-3, max: 3, noNaN: true }),
        norm: fc.constantFrom<'linf' | 'l2'>('linf', 'l2'),
        scale: fc.constantFrom(0.1, 1, 10),
        box: fc.boolean(),
        seed: fc.integer({ min: 0, max: 1000 }),
      }),
      async ({ kind, c, h, w, n, eps, norm, scale, box, seed }) => {
        const shape = kind === 'conv' ? [c, h, w] : [c * h * w];
        const g = randomGenerator(seed, { kind, shape, hidden: [5], width: 3 }, scale);
        const x = wg.random.uniform(wg.random.key(seed + 1), [n, ...shape], box ? {} : { minval: -3, maxval: 3 });
        const opts = { eps, norm, box: box ? [0, 1] as const : null };
        const xt = noiseGenerator.apply(g, x, opts);
        const per = shape.reduce((a, b) => a * b, 1);
        // δ itself, to float32 rounding of ε; x̃ − x, to the rounding of x + δ as well (|x| ≤ 3).
        const inBall = (d: number[], slack: number) => {
          for (let i = 0; i < n; i++) {
            const row = d.slice(i * per, (i + 1) * per);
            if (norm === 'linf') expect(Math.max(...row.map(Math.abs))).toBeLessThanOrEqual(eps * (1 + 1e-6) + slack);
            else expect(Math.hypot(...row)).toBeLessThanOrEqual(eps * (1 + 1e-5) + slack * Math.sqrt(per));
          }
        };
        inBall(await host(noiseGenerator.perturbation(g, x, opts)), 0);
        const d = await host(wg.sub(xt, x));
        inBall(d, 3 * 2 ** -22);
        if (box) (await host(xt)).forEach((v) => { expect(v).toBeGreaterThanOrEqual(0); expect(v).toBeLessThanOrEqual(1); });
        // The noise is not trivially zero: the bound is tested, not an idle generator.
        expect(d.some((v) => v !== 0)).toBe(true);
        wg.dispose([g, x, xt]);
      },
    ), { numRuns: 60, seed: 12 });
  });

  it('diversity: 0 when every example gets the same δ, 1 for ±ε noise split evenly (L∞)', async () => {
    const same = wg.tensor([0.1, -0.2, 0.1, -0.2], { shape: [2, 2] });
    expect(await noiseGenerator.diversity(same, { eps: 0.2 }).item()).toBeCloseTo(0, 6);
    const split = wg.tensor([0.2, 0.2, -0.2, -0.2], { shape: [2, 2] });
    expect(await noiseGenerator.diversity(split, { eps: 0.2 }).item()).toBeCloseTo(1, 5);
  });

  it('uniformNoise lies in the ball, fills it (L∞: the cube; L2: radius r with P(r ≤ t) = (t/ε)^D) and differs by key', async () => {
    const eps = 0.3, n = 2000, d = 4;
    const linf = await host(noiseGenerator.uniformNoise(wg.random.key(1), [n, d], { eps }));
    expect(Math.max(...linf.map(Math.abs))).toBeLessThanOrEqual(eps);
    expect(Math.min(...linf)).toBeLessThan(-0.99 * eps);
    expect(Math.max(...linf)).toBeGreaterThan(0.99 * eps);
    expect(Math.abs(linf.reduce((a, b) => a + b, 0) / linf.length)).toBeLessThan(0.01);
    const l2 = rows(await host(noiseGenerator.uniformNoise(wg.random.key(2), [n, d], { eps, norm: 'l2' })), n);
    const radii = l2.map((r) => Math.hypot(...r) / eps);
    expect(Math.max(...radii)).toBeLessThanOrEqual(1 + 1e-6);
    // E[r] = D/(D + 1) and P(r ≤ ½) = 2^−D for a uniform draw from a D-ball (U(0, 1) radii: ½ and ½).
    expect(radii.reduce((a, b) => a + b, 0) / n).toBeCloseTo(d / (d + 1), 1);
    expect(radii.filter((r) => r <= 0.5).length / n).toBeCloseTo(2 ** -d, 1);
    // [N, C, H, W] batches: one radius per example; another key, another draw.
    const img = noiseGenerator.uniformNoise(wg.random.key(3), [2, 1, 2, 3], { eps, norm: 'l2' });
    rows(await host(img), 2).forEach((r) => expect(Math.hypot(...r)).toBeLessThanOrEqual(eps * (1 + 1e-6)));
    expect(await host(noiseGenerator.uniformNoise(wg.random.key(4), [2, 1, 2, 3], { eps, norm: 'l2' }))).not.toEqual(await host(img));
    expect(() => noiseGenerator.uniformNoise(wg.random.key(1), [5], { eps })).toThrow(/batch \[N, \.\.\.example\]/);
  });

  it('meanNorm: the batch mean of max |δ| per example (L∞) or of ‖δ_n‖₂ (L2)', async () => {
    const d = wg.tensor([0.1, -0.3, 0, 0.2, 0, 0], { shape: [3, 2] });
    expect(await noiseGenerator.meanNorm(d, 'linf').item()).toBeCloseTo((0.3 + 0.2 + 0) / 3, 6);
    expect(await noiseGenerator.meanNorm(d, 'l2').item()).toBeCloseTo((Math.hypot(0.1, 0.3) + 0.2) / 3, 6);
  });
});

const VEC: ssl.ModelConfig = { encoder: 'mlp', inputShape: [6], hidden: [8], featureDim: 5, projHidden: 8 };

/** An optimizer spec at a constant rate (Adam). */
const constantSpec = (lr: number): wg.optim.OptimizerSpec => ({ name: 'adam', lr, schedule: 'constant', warmupSteps: 0, totalSteps: 1 });

/** APLR's model configuration (projDim = featureDim) of an encoder's. */
const aplrConfig = (base: ssl.ModelConfig) => ssl.APLR.modelConfig!(base, ssl.APLR.defaults);

/**
 * An APLR model, its state with a fresh generator (MLP for the MLP encoder, else conv), a fixed
 * batch x (unbounded: no box) and the step's options.
 */
function setup(opts: { lr?: number; generatorLr?: number; config?: ssl.ModelConfig; spec?: wg.optim.OptimizerSpec; aplr?: Partial<ssl.AplrOptions> } = {}) {
  const config = aplrConfig(opts.config ?? VEC);
  const { params, state } = ssl.model.init(wg.random.key(5), config);
  const spec = opts.spec ?? constantSpec(opts.lr ?? 0.05);
  const optimizer = wg.optim.makeOptimizer(spec);
  const generatorOptimizer = ssl.makeGeneratorOptimizer(spec, { generatorLr: opts.generatorLr ?? 0.05, ...opts.aplr });
  const c = ssl.model.resolveConfig(config);
  const generator = ssl.initGeneratorState(wg.random.key(6), { kind: c.encoder === 'mlp' ? 'mlp' : 'conv', shape: c.inputShape }, generatorOptimizer);
  const st: ssl.AplrState = { ...ssl.initState(params, state, optimizer), generator };
  const x = wg.random.normal(wg.random.key(7), [8, ...c.inputShape]);
  const aplr: ssl.AplrOptions & { eps: number } = { optimizer, generatorOptimizer, eps: 0.5, box: null, ...opts.aplr };
  return { params, st, x, aplr, config, optimizer };
}

describe('APLR: the alternating min-max step on a fixed batch', () => {
  for (const [name, config] of [['vectors (MLP encoder and generator)', VEC], ['spectrogram-shaped [1, 6, 10] (CNN encoder, conv generator)', { encoder: 'cnn', inputShape: [1, 6, 10], width: 2, featureDim: 6, projHidden: 8 }]] as const) {
    it(`${name}: the generator step raises L_rec, the encoder step lowers it`, async () => {
      const { params, st, x, aplr } = setup({ config });
      const g0 = st.generator!.params;
      // A first step from δ = 0 puts the generator somewhere; the checks are on the second step.
      const r1 = ssl.aplrStep(params, st, x, wg.random.key(1), aplr);
      const g1 = r1.state.generator!.params;
      const recAt = (p: ssl.ModelParams, g: GeneratorParams) => ssl.generatorObjective(g, p, st.model, x, aplr)[0].item();
      expect(await recAt(params, g1)).toBeGreaterThan(await recAt(params, g0));
      const r2 = ssl.aplrStep(r1.params, r1.state, x, wg.random.key(2), aplr);
      const g2 = r2.state.generator!.params;
      const before = await ssl.generatorObjective(g1, r1.params, r1.state.model, x, aplr)[0].item();
      const afterGen = await ssl.generatorObjective(g2, r1.params, r1.state.model, x, aplr)[0].item();
      expect(afterGen).toBeGreaterThan(before);
      // The encoder step is taken at x̃ = x + g₂(x): its loss there is the step's reported loss and falls.
      const xt = noiseGenerator.apply(g2, x, aplr);
      const encBefore = await ssl.aplrLoss(r1.params, r1.state.model, x, xt, aplr)[0].item();
      expect(await r2.loss.item()).toBeCloseTo(encBefore, 5);
      expect(await r2.parts.rec.item()).toBeCloseTo(encBefore, 5);
      expect(await r2.parts.generator.item()).toBeCloseTo(before, 5);
      expect(await ssl.aplrLoss(r2.params, r1.state.model, x, xt, aplr)[0].item()).toBeLessThan(encBefore);
      expect(Object.keys(r2.parts).sort()).toEqual(['delta', 'deltaBefore', 'generator', 'rec', 'recBefore', 'softHgr']);
      expect(r2.state.generator!.count).toBe(2);
    });
  }

  it('the step ratio: generatorEvery 2 updates g on steps 0, 2, …; generatorSteps 0 freezes it; state trees are fresh', async () => {
    const { params, st, x, aplr } = setup();
    const every = { ...aplr, generatorEvery: 2 };
    const leaf = async (s: ssl.AplrState) => host(wg.treeLeaves(s.generator!.params).at(-2)![1]);
    const r1 = ssl.aplrStep(params, st, x, wg.random.key(1), every);
    expect(await leaf(r1.state)).not.toEqual(await leaf(st));
    const r2 = ssl.aplrStep(r1.params, r1.state, x, wg.random.key(2), every);
    const l1 = await leaf(r1.state);
    wg.dispose(r1.state.generator); // the new state must not share tensors with the old one
    expect(await leaf(r2.state)).toEqual(l1);
    const r3 = ssl.aplrStep(r2.params, r2.state, x, wg.random.key(3), every);
    expect(await leaf(r3.state)).not.toEqual(await leaf(r2.state));
    const frozen = ssl.aplrStep(r3.params, r3.state, x, wg.random.key(4), { ...aplr, generatorSteps: 0 });
    expect(await leaf(frozen.state)).toEqual(await leaf(r3.state));
  });

  it("generatorBn 'eval': the generator step raises L_rec with the encoder on its running statistics", async () => {
    const { params, st, x, aplr } = setup();
    const o = { ...aplr, generatorBn: 'eval' as const };
    const g = randomGenerator(9, { kind: 'mlp', shape: [6], hidden: [256] }, 0.1);
    const r = ssl.generatorStep(g, aplr.generatorOptimizer.init(g), params, st.model, x, o);
    const at = (gg: GeneratorParams) => ssl.generatorObjective(gg, params, st.model, x, o)[0].item();
    expect(await r.objective.item()).toBeCloseTo(await at(g), 5);
    expect(await at(r.params)).toBeGreaterThan(await at(g));
    // Eval mode is not train mode: the objective differs from the batch-statistics one.
    expect(Math.abs((await at(g)) - (await ssl.generatorObjective(g, params, st.model, x, aplr)[0].item()))).toBeGreaterThan(1e-4);
  });

  it('softHgr objective and diversity: the encoder step raises Soft-HGR; the generator reports its diversity', async () => {
    const { params, st, x, aplr } = setup();
    const o = { ...aplr, objective: 'softHgr' as const, diversity: 0.5 };
    const r1 = ssl.aplrStep(params, st, x, wg.random.key(1), o);
    const xt = noiseGenerator.apply(r1.state.generator!.params, x, o);
    const hgr = (p: ssl.ModelParams) => ssl.aplrLoss(p, r1.state.model, x, xt, o)[1].parts.softHgr.item();
    const r2 = ssl.aplrStep(r1.params, r1.state, x, wg.random.key(2), { ...o, generatorSteps: 0 });
    expect(await r2.loss.item()).toBeCloseTo(-(await hgr(r1.params)), 5);
    expect(await hgr(r2.params)).toBeGreaterThan(await hgr(r1.params));
    expect(await r2.parts.generatorDiversity.item()).toBeGreaterThan(0);
  });

  it('an EMA target (targetMomentum m): t ← m·t + (1 − m)·f after the step, and the loss reads it', async () => {
    const { params, x, aplr, st: plainState } = setup();
    const st: ssl.AplrState = { ...plainState, target: wg.treeMap(params.encoder, (t) => wg.copy(t)) };
    const first = (t: unknown) => host(wg.treeLeaves(t)[0][1]);
    expect(await first(st.target)).toEqual(await first(params.encoder));
    const o = { ...aplr, targetMomentum: 0.9 };
    const r = ssl.aplrStep(params, st, x, wg.random.key(1), o);
    const [t0, f1, t1] = [await first(st.target), await first(r.params.encoder), await first(r.state.target)];
    t1.forEach((v, i) => expect(v).toBeCloseTo(0.9 * t0[i] + 0.1 * f1[i], 6));
    // After the step the target differs from the encoder, and the loss with it differs from the plain one.
    const xt = noiseGenerator.apply(r.state.generator!.params, x, o);
    const withTarget = await ssl.aplrLoss(r.params, r.state.model, x, xt, o, r.state.target)[0].item();
    const plain = await ssl.aplrLoss(r.params, r.state.model, x, xt, o)[0].item();
    expect(Math.abs(withTarget - plain)).toBeGreaterThan(1e-6);
    const r2 = ssl.aplrStep(r.params, r.state, x, wg.random.key(2), { ...o, generatorSteps: 0 });
    expect(await r2.loss.item()).toBeCloseTo(withTarget, 5);
  });

  it('the robustness regularizer composes: loss = L_rec + β·R, and it falls', async () => {
    const { params, st, x, aplr } = setup({ lr: 0.02 });
    const regularizer = { weight: 2, eps: 0.1, steps: 2, box: null };
    // Unbounded inputs (a table): with box null the attack stays within ε of x, which has entries outside [0, 1].
    const xAdv = ssl.regularizerAttack(params, st.model, x, wg.random.key(4), regularizer);
    expect(await wg.max(wg.abs(wg.sub(xAdv, x))).item()).toBeLessThanOrEqual(0.1 + 1e-6);
    const r = ssl.aplrStep(params, st, x, wg.random.key(3), { ...aplr, regularizer });
    const reg = await r.parts.reg.item();
    expect(reg).toBeGreaterThan(0);
    expect(await r.loss.item()).toBeCloseTo((await r.parts.rec.item()) + 2 * reg, 4);
  });

  it('a step refuses a state without its generator, and the APLR state round-trips through a checkpoint', async () => {
    const { params, st, x, aplr } = setup();
    expect(() => ssl.aplrStep(params, { model: st.model, opt: st.opt }, x, wg.random.key(1), aplr)).toThrow(/initGeneratorState/);
    const r = ssl.aplrStep(params, st, x, wg.random.key(1), aplr);
    const { tree } = deserializeTree<ssl.AplrState>(await serializeTree(r.state));
    expect(tree.generator!.count).toBe(1);
    const a = ssl.aplrStep(r.params, r.state, x, wg.random.key(2), aplr);
    const b = ssl.aplrStep(r.params, tree, x, wg.random.key(2), aplr);
    expect(await b.loss.item()).toBe(await a.loss.item());
    expect(await host(wg.treeLeaves(b.state.generator!.params)[0][1])).toEqual(await host(wg.treeLeaves(a.state.generator!.params)[0][1]));
  });
});

describe("APLR: what the step logs around the generator's update", () => {
  it('recBefore/deltaBefore are L_rec and ‖x̃ − x‖ at g before its update; rec/delta at the updated g, where the encoder trains', async () => {
    const { params, st, x, aplr } = setup();
    const r1 = ssl.aplrStep(params, st, x, wg.random.key(1), aplr);
    // From δ = 0 (the zero output layer): nothing before, noise after.
    expect(await r1.parts.deltaBefore.item()).toBe(0);
    expect(await r1.parts.delta.item()).toBeGreaterThan(0);
    const r2 = ssl.aplrStep(r1.params, r1.state, x, wg.random.key(2), aplr);
    const [g1, g2] = [r1.state.generator!.params, r2.state.generator!.params];
    const norm = async (g: GeneratorParams) => noiseGenerator.meanNorm(wg.sub(noiseGenerator.apply(g, x, aplr), x), 'linf').item();
    const [, at1] = ssl.generatorObjective(g1, r1.params, r1.state.model, x, aplr);
    expect(await r2.parts.recBefore.item()).toBeCloseTo(await at1.rec.item(), 6);
    expect(await r2.parts.deltaBefore.item()).toBeCloseTo(await norm(g1), 6);
    expect(await r2.parts.delta.item()).toBeCloseTo(await norm(g2), 6);
    const [, at2] = ssl.generatorObjective(g2, r1.params, r1.state.model, x, aplr);
    expect(await r2.parts.rec.item()).toBeCloseTo(await at2.rec.item(), 5);
    // The generator's ascent raised L_rec, within the ball.
    expect(await r2.parts.rec.item()).toBeGreaterThan(await r2.parts.recBefore.item());
    expect(await r2.parts.delta.item()).toBeLessThanOrEqual(aplr.eps);
  });
});

describe("APLR's generator schedule follows the encoder's (makeGeneratorOptimizer)", () => {
  /** The rate an Adam optimizer applies at each of `n` updates: a constant gradient 1 gets the update −lr·1/(1 + 1e-8). */
  async function rates(opt: wg.optim.Optimizer, n: number): Promise<number[]> {
    const params = { w: wg.zeros([1]) }, grads = { w: wg.ones([1]) };
    let state = opt.init(params);
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const [u, next] = opt.update(grads, state, params);
      out.push(-(await u.w.item()) * (1 + 1e-8));
      wg.dispose([u, state]);
      state = next;
    }
    wg.dispose([params, grads, state]);
    return out;
  }
  const encoder: wg.optim.OptimizerSpec = { name: 'lars', lr: 0.2, schedule: 'cosine', warmupSteps: 3, totalSteps: 12 };

  it("the encoder's warm-up and cosine shape at generatorLr, stretched over generatorSteps and generatorEvery; 'constant' keeps generatorLr", async () => {
    const shape = (await rates(wg.optim.makeOptimizer({ ...encoder, name: 'adam' }), 12)).map((r) => r / encoder.lr);
    expect(shape[0]).toBe(0);
    expect(shape[11]).toBeLessThan(0.04);
    // The rates come back as float32 values: compared to 5e-9.
    const scaled = (v: number) => 0.01 * v;
    (await rates(ssl.makeGeneratorOptimizer(encoder, { generatorLr: 0.01 }), 12)).forEach((r, s) => expect(r).toBeCloseTo(scaled(shape[s]), 8));
    // Two updates per encoder step: updates 2s and 2s + 1 are taken at encoder step s.
    const twice = await rates(ssl.makeGeneratorOptimizer(encoder, { generatorLr: 0.01, generatorSteps: 2 }), 24);
    shape.forEach((v, s) => expect(twice[2 * s]).toBeCloseTo(scaled(v), 8));
    // One update every 3 encoder steps: update k is taken at encoder step 3k.
    const sparse = await rates(ssl.makeGeneratorOptimizer(encoder, { generatorLr: 0.01, generatorEvery: 3 }), 4);
    sparse.forEach((r, k) => expect(r).toBeCloseTo(scaled(shape[3 * k]), 8));
    (await rates(ssl.makeGeneratorOptimizer(encoder, { generatorLr: 0.01, generatorSchedule: 'constant' }), 12)).forEach((r) => expect(r).toBeCloseTo(0.01, 8));
    expect(() => ssl.makeGeneratorOptimizer(encoder, { generatorLr: 0 })).toThrow(/generatorLr must be a finite number > 0/);
    expect(() => ssl.makeGeneratorOptimizer(encoder, { generatorSchedule: 'cosine' as never })).toThrow(/generatorSchedule must be 'encoder' or 'constant'/);
  });

  it("at the end of a cosine run the generator all but stops with the encoder ('encoder'); at a constant rate it keeps moving", async () => {
    const steps = 8, generatorLr = 0.05;
    const spec: wg.optim.OptimizerSpec = { name: 'adam', lr: 0.05, schedule: 'cosine', warmupSteps: 0, totalSteps: steps };
    // Adam's step per coordinate is at most ~1.03·lr in the first 8 updates (β₁ = 0.9, β₂ = 0.999).
    const lastRate = generatorLr * 0.5 * (1 + Math.cos((Math.PI * (steps - 1)) / steps));
    const lastMove = async (generatorSchedule: 'encoder' | 'constant') => {
      const { params, st, x, aplr } = setup({ spec, generatorLr, aplr: { generatorSchedule } });
      let [p, s] = [params, st];
      let move = 0;
      for (let i = 0; i < steps; i++) {
        const r = ssl.aplrStep(p, s, x, wg.random.key(i), aplr);
        const before = wg.treeLeaves(s.generator!.params), after = wg.treeLeaves(r.state.generator!.params);
        move = 0;
        for (let j = 0; j < before.length; j++) move = Math.max(move, await wg.max(wg.abs(wg.sub(after[j][1], before[j][1]))).item());
        [p, s] = [r.params, r.state];
      }
      return move;
    };
    expect(await lastMove('encoder')).toBeLessThanOrEqual(1.1 * lastRate);
    expect(await lastMove('constant')).toBeGreaterThan(1.1 * lastRate);
  });
});

describe("APLR's ablations: perturbation 'zero' and 'random' beside the learned δ", () => {
  it("'zero': x̃ = x (the encoder's loss is L_rec at x̃ = x), ‖δ‖ = 0, the generator neither updated nor needed", async () => {
    const { params, st, x, aplr } = setup();
    const o = { ...aplr, perturbation: 'zero' as const };
    const r = ssl.aplrStep(params, st, x, wg.random.key(1), o);
    expect(await r.loss.item()).toBeCloseTo(await ssl.aplrLoss(params, st.model, x, x, o)[0].item(), 6);
    expect(await r.parts.delta.item()).toBe(0);
    expect(Object.keys(r.parts).sort()).toEqual(['delta', 'rec', 'softHgr']);
    // The generator rides along unchanged, as new tensors (the old state may be freed).
    const leaf = async (s: ssl.AplrState) => host(wg.treeLeaves(s.generator!.params).at(-1)![1]);
    const kept = await leaf(st);
    wg.dispose(st.generator);
    expect(await leaf(r.state)).toEqual(kept);
    expect(r.state.generator!.count).toBe(1);
    const bare = ssl.aplrStep(r.params, { model: r.state.model, opt: r.state.opt }, x, wg.random.key(2), o);
    expect(bare.state.generator).toBeUndefined();
  });

  it("'random': x̃ = x + δ with δ uniform in the ball from the step's key, new each step", async () => {
    const { params, st, x, aplr } = setup();
    for (const norm of ['linf', 'l2'] as const) {
      const o = { ...aplr, perturbation: 'random' as const, norm };
      const losses: number[] = [];
      for (const seed of [1, 2]) {
        const key = wg.random.key(seed);
        const r = ssl.aplrStep(params, st, x, key, o);
        const [kNoise] = wg.random.split(key);
        const xt = wg.add(x, noiseGenerator.uniformNoise(kNoise, x.shape, o));
        expect(await r.loss.item()).toBeCloseTo(await ssl.aplrLoss(params, st.model, x, xt, o)[0].item(), 6);
        const delta = await r.parts.delta.item();
        expect(delta).toBeGreaterThan(0.3 * o.eps);
        expect(delta).toBeLessThanOrEqual(o.eps * (1 + 1e-6));
        losses.push(await r.loss.item());
      }
      expect(losses[1]).not.toBe(losses[0]);
    }
    expect(() => ssl.aplrStep(params, st, x, wg.random.key(1), { ...aplr, perturbation: 'none' as never })).toThrow(/perturbation must be 'learned' or 'zero' or 'random'/);
  });
});

describe('domain-agnostic baselines: noise and masking views', () => {
  it('maskView: p = 0 is x; p = 1 with zero fill is 0; marginal fill permutes each column within the batch', async () => {
    const x = randn([5, 4], 21);
    const xs = await host(x);
    expect(await host(ssl.maskView(wg.random.key(1), x, { p: 0 }))).toEqual(xs);
    expect((await host(ssl.maskView(wg.random.key(1), x, { p: 1, fill: 'zero' }))).every((v) => v === 0)).toBe(true);
    const m = await host(ssl.maskView(wg.random.key(2), x, { p: 1 }));
    const col = (a: number[], j: number) => a.filter((_, i) => i % 4 === j).sort((p, q) => p - q);
    for (let j = 0; j < 4; j++) expect(col(m, j)).toEqual(col(xs, j));
    expect(m).not.toEqual(xs);
    // p = 0.5: every entry is either x's or another row's value in the same column.
    const half = await host(ssl.maskView(wg.random.key(3), x, { p: 0.5 }));
    half.forEach((v, i) => expect(col(xs, i % 4)).toContain(v));
    expect(() => ssl.maskView(wg.random.key(1), x, { p: 1.5 })).toThrow(/\[0, 1\]/);
  });

  it('noiseView adds N(0, σ²) noise (its spread is σ)', async () => {
    const x = wg.zeros([200, 10]);
    const d = await host(ssl.noiseView(wg.random.key(4), x, 0.3));
    const sd = Math.sqrt(d.reduce((s, v) => s + v * v, 0) / d.length);
    expect(sd).toBeGreaterThan(0.27);
    expect(sd).toBeLessThan(0.33);
  });

  for (const method of ['noise', 'mask'] as const) {
    it(`${method}: one NT-Xent step lowers the loss at the step's views (MLP encoder on vectors)`, async () => {
      const { params, state } = ssl.model.init(wg.random.key(5), { ...VEC, projDim: 4 });
      const optimizer = wg.optim.makeOptimizer(constantSpec(0.05));
      const st = ssl.initState(params, state, optimizer);
      const x = wg.random.normal(wg.random.key(7), [8, 6]);
      const key = wg.random.key(8);
      const [a, b] = method === 'noise' ? ssl.noiseViews(key, x, 0.2) : ssl.maskViews(key, x, { p: 0.3 });
      const before = await ssl.simclrLoss(params, st.model, a, b)[0].item();
      const r = method === 'noise' ? ssl.noiseStep(params, st, x, key, { optimizer, sigma: 0.2 }) : ssl.maskStep(params, st, x, key, { optimizer, p: 0.3 });
      expect(await r.loss.item()).toBeCloseTo(before, 5);
      expect(await ssl.simclrLoss(r.params, st.model, a, b)[0].item()).toBeLessThan(before);
    });
  }
});

describe('encoders for vectors and spectrograms', () => {
  it('the MLP encoder maps [N, D] to post-ReLU features; APLR sets projDim = featureDim', async () => {
    const c = aplrConfig(VEC);
    expect(c.projDim).toBe(5);
    const { params, state } = ssl.model.init(wg.random.key(1), c);
    const [{ features, z }] = ssl.model.embed(params, state, randn([4, 6], 22), { training: true });
    expect(features.shape).toEqual([4, 5]);
    expect(z.shape).toEqual([4, 5]);
    expect((await host(features)).every((v) => v >= 0)).toBe(true);
    expect(() => ssl.model.features(params, state, randn([4, 7], 23), { training: true })).toThrow(/6 elements/);
    expect(() => ssl.model.init(wg.random.key(1), { encoder: 'mlp' })).toThrow(/inputShape/);
  });

  it('the CNN takes non-square, non-multiple-of-4 inputs [1, 13, 10] (floor pooling)', async () => {
    const { params, state } = ssl.model.init(wg.random.key(1), { inputShape: [1, 13, 10], width: 2, featureDim: 6 });
    const [h] = ssl.model.features(params, state, randn([3, 1, 13, 10], 24), { training: false });
    expect(h.shape).toEqual([3, 6]);
    expect((params.encoder as { fc: { w: wg.Tensor } }).fc.w.shape).toEqual([4 * 3 * 2, 6]);
  });
});

/** python3 with torch (Debian's python3-torch), or undefined. */
function torchPython(): string | undefined {
  for (const py of ['python3', '/usr/bin/python3']) {
    try {
      execFileSync(py, ['-c', 'import torch'], { stdio: 'ignore' });
      return py;
    } catch {
      // try the next one
    }
  }
  return undefined;
}

describe('APLR against a PyTorch transcription (when python3 with torch is available)', () => {
  it('one step on a fixed batch: L_rec, Soft-HGR and the gradients of encoder, predictor and generator', async (ctx) => {
    const py = torchPython();
    if (!py) ctx.skip('python3 with torch is not available');
    const { params, st, x, aplr } = setup({ config: { encoder: 'mlp', inputShape: [5], hidden: [7], featureDim: 4, projHidden: 6 } });
    const g = randomGenerator(3, { kind: 'mlp', shape: [5], hidden: [6] }, 0.7);
    type Leaf = { shape: readonly number[]; data: number[] };
    const leaves = async (t: unknown, prefix = ''): Promise<Record<string, Leaf>> =>
      Object.fromEntries(await Promise.all(wg.treeLeaves(t).map(async ([k, v]) => [prefix + k, { shape: v.shape, data: await host(v) }] as const)));
    const xt = noiseGenerator.apply(g, x, aplr);
    const [[loss, aux], encGrads] = wg.valueAndGrad((p: ssl.ModelParams) => ssl.aplrLoss(p, st.model, x, xt, aplr), { hasAux: true })(params);
    const genGrads = wg.grad((gg: GeneratorParams) => ssl.generatorObjective(gg, params, st.model, x, aplr)[0])(g);
    const dir = mkdtempSync(join(tmpdir(), 'aplr-torch-'));
    const file = join(dir, 'case.json');
    writeFileSync(file, JSON.stringify({ x: await host(x), xShape: x.shape, eps: aplr.eps, params: await leaves(params), generator: await leaves(g) }));
    const ref = JSON.parse(execFileSync(py!, [fileURLToPath(new URL('./helpers/aplr_torch.py', import.meta.url)), file]).toString()) as { loss: number; softHgr: number; grads: Record<string, number[]> };
    rmSync(dir, { recursive: true, force: true });
    expect(await loss.item()).toBeCloseTo(ref.loss, 5);
    expect(await aux.parts.softHgr.item()).toBeCloseTo(ref.softHgr, 5);
    const ours = { ...(await leaves(encGrads)), ...(await leaves(genGrads, 'gen.')) };
    expect(Object.keys(ours).sort()).toEqual(Object.keys(ref.grads).sort());
    let compared = 0;
    for (const [k, { data }] of Object.entries(ours)) {
      const r = ref.grads[k];
      const scale = Math.max(1e-3, ...r.map(Math.abs));
      data.forEach((v: number, i: number) => expect(Math.abs(v - r[i]), `${k}[${i}]: ${v} vs ${r[i]}`).toBeLessThanOrEqual(1e-4 * scale));
      compared += data.length;
    }
    expect(compared).toBeGreaterThan(100);
    // The generator's gradient is not zero: the check covers g, not only the encoder.
    expect(Object.entries(ours).some(([k, v]) => k.startsWith('gen.') && v.data.some((a: number) => Math.abs(a) > 1e-6))).toBe(true);
  });
});
