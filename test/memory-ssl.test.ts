/**
 * The SSL training steps keep device memory flat on WebGPU, as test/memory.test.ts checks for a
 * plain MLP: each method's step run as a training loop runs it (the old params and state disposed
 * once the step has returned new ones, loss and parts read back and freed) keeps live tensors, live
 * buffers and live bytes the same from step to step after a warm-up. (The count does not return to
 * its start once the loop has freed everything: the engine caches scalar constants, e.g. ε, by
 * value.) Tiny models and batches and a constant learning rate (a schedule caches a constant per
 * step until the cache's bound): a leak of one tensor per step shows within a few steps.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as wg from '../src/node.js';
import * as ssl from '../src/ssl/index.js';

beforeAll(async () => {
  await wg.init({ backend: 'webgpu' });
});

type Step = (params: ssl.ModelParams, state: ssl.SslState, x: wg.Tensor, key: wg.random.Key) => ssl.StepResult;

interface Training {
  params: ssl.ModelParams;
  state: ssl.SslState;
  /** A fixed batch. */
  x: wg.Tensor;
  step: Step;
}

type Sample = { tensors: number; liveBuffers: number; liveBytes: number };

/**
 * Runs `steps` steps of the training `make` builds and checks that memory stays flat after `warmup`
 * steps (the first steps may allocate lasting things: cached constants, the pool).
 */
async function expectFlatTraining(make: () => Training, steps = 8, warmup = 2): Promise<void> {
  const t = make();
  let { params, state } = t;
  const samples: Sample[] = [];
  for (let i = 0; i < steps; i++) {
    const r = t.step(params, state, t.x, wg.random.key(100 + i));
    wg.dispose([params, state]);
    [params, state] = [r.params, r.state];
    expect(Number.isFinite(await r.loss.item())).toBe(true);
    wg.dispose([r.loss, r.parts]);
    if (i + 1 >= warmup) {
      await wg.sync();
      const { tensors, liveBuffers, liveBytes } = wg.memoryStats();
      samples.push({ tensors, liveBuffers, liveBytes });
    }
  }
  wg.dispose([params, state, t.x]);
  const trail = `live tensors after each step from ${warmup}: ${samples.map((s) => s.tensors).join(', ')}`;
  samples.forEach((s) => expect(s, trail).toEqual(samples[0]));
}

describe('APLR', () => {
  const config = ssl.APLR.modelConfig!({ encoder: 'mlp', inputShape: [6], hidden: [8], featureDim: 5, projHidden: 8 }, ssl.APLR.defaults);
  const cases: [string, Partial<ssl.AplrOptions>][] = [
    ['reconstruction objective', {}],
    ['softHgr objective with the diversity term', { objective: 'softHgr', diversity: 0.5 }],
    ['with the robustness regularizer', { regularizer: { weight: 1, eps: 0.1, steps: 2, box: null } }],
    ['generator updated every other step', { generatorEvery: 2 }],
    ['random perturbation', { perturbation: 'random' }],
  ];
  for (const [name, extra] of cases) {
    it(`${name}: live tensors, buffers and bytes stay flat`, async () => {
      await expectFlatTraining(() => {
        const { params, state } = ssl.model.init(wg.random.key(1), config);
        const spec: wg.optim.OptimizerSpec = { name: 'adam', lr: 0.01, schedule: 'constant', warmupSteps: 0, totalSteps: 1 };
        const optimizer = wg.optim.makeOptimizer(spec);
        const generatorOptimizer = ssl.makeGeneratorOptimizer(spec, extra);
        const generator = ssl.initGeneratorState(wg.random.key(2), { shape: [6], hidden: [16] }, generatorOptimizer);
        const st: ssl.AplrState = { ...ssl.initState(params, state, optimizer), generator };
        const o: ssl.AplrOptions = { optimizer, generatorOptimizer, eps: 0.3, ...extra };
        const x = wg.random.normal(wg.random.key(3), [8, 6]);
        return { params, state: st, x, step: (p, s, xx, k) => ssl.aplrStep(p, s, xx, k, o) };
      });
    });
  }
});

describe('SimCLR, RoCL and IDAA with the robustness regularizer (images)', () => {
  const SMALL: ssl.ModelConfig = { imageSize: 8, width: 2, featureDim: 8, projHidden: 8, projDim: 4 };
  const reg = { weight: 1, eps: 0.1, steps: 2 };
  // Each case covers its method's step with the regularizer's attack and term (IDAA's: its clean branch).
  const cases: [string, (o: { optimizer: wg.optim.Optimizer }) => Step, boolean?][] = [
    ['SimCLR + scale-free regularizer', (o) => (p, s, x, k) => ssl.simclrStep(p, s, x, k, { ...o, regularizer: { ...reg, normalize: true } })],
    ['RoCL + regularizer', (o) => (p, s, x, k) => ssl.roclStep(p, s, x, k, { ...o, eps: 0.1, steps: 2, regularizer: reg })],
    ['IDAA + regularizer', (o) => idaa({ ...o, regularizer: reg }), true],
  ];
  function idaa(o: { optimizer: wg.optim.Optimizer; regularizer?: ssl.RegularizerOptions }): Step {
    const vae = ssl.vae.init(wg.random.key(4), { imageSize: 8, width: 4, latent: 3 });
    return (p, s, x, k) => ssl.idaaStep(p, s, x, k, { ...o, vae, eps: 0.1 });
  }
  for (const [name, make, branches] of cases) {
    it(`${name}: live tensors, buffers and bytes stay flat`, async () => {
      await expectFlatTraining(() => {
        const { params, state } = ssl.model.init(wg.random.key(1), { ...SMALL, bnBranches: branches ? ssl.IDAA_BRANCHES : undefined });
        const optimizer = wg.optim.makeOptimizer({ name: 'adam', lr: 0.01, schedule: 'constant', warmupSteps: 0, totalSteps: 1 });
        const x = wg.random.uniform(wg.random.key(3), [4, 1, 8, 8]);
        return { params, state: ssl.initState(params, state, optimizer), x, step: make({ optimizer }) };
      });
    });
  }
});
