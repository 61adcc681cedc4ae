/**
 * A walkthrough (docs/walkthroughs.md#a-new-ssl-method-as-a-record): a self-supervised method
 * written on top of wgrad as one record, registered with one call, trained for a few steps.
 *
 * The method, "fgsm-view": NT-Xent between a Gaussian-noise view a of x and an adversarial view
 * x + δ, where δ is one signed-gradient step of size ε (FGSM) that *increases* NT-Xent against a —
 * a one-step, noise-anchored cousin of RoCL's instance-wise attack, built from the library's own
 * `attacks.instanceContrastive`. test/walkthroughs.test.ts checks its properties.
 *
 *   npx tsx examples/walkthrough-method.ts
 */
import { pathToFileURL } from 'node:url';
import * as wg from '../src/node.js';

/** The method's options (JSON-able: a run directory records them). */
export interface FgsmViewOptions {
  /** L∞ radius ε of the adversarial view. */
  eps: number;
  /** σ of the Gaussian noise of the anchor view. */
  sigma: number;
}

/** x's adversarial view against the anchor a: one FGSM step on NT-Xent([z(x + δ); z(a)]), in the box. */
export function fgsmView(params: wg.ssl.ModelParams, state: wg.ssl.ModelState, x: wg.Tensor, a: wg.Tensor, key: wg.Key,
  eps: number, box: readonly [number, number] | null): wg.Tensor {
  const embed = wg.ssl.evalEmbedding(params, state);
  return wg.attacks.instanceContrastive(embed, x, a, key, { eps, alpha: eps, steps: 1, randomStart: false, box });
}

/** The record: everything the command line, checkpoints and `wgrad compare` need to know. */
export const FGSM_VIEW: wg.ssl.MethodRecord<FgsmViewOptions> = {
  name: 'fgsm-view',
  summary: 'NT-Xent between a noise view and a one-step adversarial view',
  domains: ['image', 'tabular', 'audio'],
  optimizer: 'sgd',
  defaults: { eps: 0.05, sigma: 0.05 },
  flags: [
    { flag: 'fgsm-view-eps', key: 'eps', spec: { kind: 'number', above: 0, max: 1, help: 'L∞ radius of the adversarial view' } },
    { flag: 'fgsm-view-sigma', key: 'sigma', spec: { kind: 'number', min: 0, max: 1, help: 'σ of the noise view' } },
  ],
  step: (o, ctx) => (params, state, x, key) => {
    const [kNoise, kAttack] = wg.random.split(key);
    const a = wg.ssl.noiseView(kNoise, x, o.sigma);
    const adv = fgsmView(params, state.model, x, a, kAttack, o.eps, ctx.box);
    try {
      return wg.ssl.applyStep(params, state, ctx.optimizer, (p, s) => wg.ssl.simclrLoss(p, s, a, adv));
    } finally {
      wg.dispose([a, adv]);
    }
  },
};

/** A tiny table problem: an MLP encoder on [8, 6] inputs, and the context a method's step is built with. */
export function tinySetup(seed = 0) {
  const modelConfig: wg.ssl.ModelConfig = { encoder: 'mlp', inputShape: [6], hidden: [8], featureDim: 8, projDim: 4 };
  const optimizerSpec: wg.optim.OptimizerSpec = { name: 'sgd', lr: 0.1, schedule: 'constant', warmupSteps: 0, totalSteps: 10 };
  const ctx: wg.ssl.MethodContext = { modelConfig, optimizer: wg.optim.makeOptimizer(optimizerSpec), optimizerSpec, box: null };
  const [kModel, kData] = wg.random.split(wg.random.key(seed));
  const { params, state } = wg.ssl.model.init(kModel, modelConfig);
  const x = wg.random.normal(kData, [8, 6]);
  return { ctx, params, state, x };
}

/** Registers the method and trains it for `steps` steps on the tiny problem; returns the losses. */
export async function main(steps = 3): Promise<number[]> {
  if (!wg.ssl.findMethod(FGSM_VIEW.name)) wg.ssl.registerMethod(FGSM_VIEW);
  const { ctx, params, state, x } = tinySetup();
  const options = wg.ssl.methodOptions(FGSM_VIEW, {});
  const step = wg.ssl.methodStep(FGSM_VIEW.name, options, ctx);
  let p = params;
  let s = wg.ssl.methodInitState(FGSM_VIEW.name, options, params, state, wg.random.key(1), ctx);
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) {
    const r = step(p, s, x, wg.random.key(100 + i));
    losses.push(await r.loss.item());
    wg.dispose([p, s, r.loss, r.parts]);
    [p, s] = [r.params, r.state];
  }
  wg.dispose([p, s, x]);
  return losses;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await wg.init({ backend: (process.env.WGRAD_BACKEND as 'cpu' | undefined) ?? 'cpu' });
  for (const [i, loss] of (await main()).entries()) console.log(`step ${i}: NT-Xent ${loss.toFixed(4)}`);
}
