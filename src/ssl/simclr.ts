/**
 * SimCLR (Chen, Kornblith, Norouzi, Hinton, ICML 2020), the baseline every other method is compared
 * with: two augmented views t(x), t'(x), z = g(f(·)), and NT-Xent over the 2N projections
 * (losses.ntXent; τ = 0.5 as in RoCL and IDAA, SimCLR's CIFAR value).
 *
 * Readings (each an option): both views go through the encoder as one batch (`jointForward`,
 * default true: one set of BN statistics over 2N images); the optimizer is LARS over SGD with a
 * linear warm-up then cosine decay by default (SimCLR's), chosen by the caller through
 * `makeOptimizer`. With `regularizer`, β·R(f) is added (./regularizer.ts).
 *
 * What it computes, per the papers and official code, and the readings chosen: docs/methods.md#simclr.
 */
import { fmtShape } from '../core/shape.js';
import { checkNtXentBatch, ntXent } from '../losses/contrastive.js';
import { split, type Key } from '../random/random.js';
import { dispose, tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { applyStep, type CommonOptions, forwardViews, type SslState, type StepResult, twoViews } from './common.js';
import type { ModelParams, ModelState } from './model.js';
import { withRegularizer } from './regularizer.js';
import { type AugmentSettings, AUGMENT_GROUP, augmentOf } from './common.js';
import { IMAGES_ONLY, type MethodRecord } from './method.js';

/** Options of SimCLR: the options every method shares. */
export type SimclrOptions = CommonOptions;

/** SimCLR's defaults: τ 0.5, both views in one forward pass. */
export const SIMCLR_DEFAULTS = { temperature: 0.5, jointForward: true };

/** NT-Xent of two views' projections: the SimCLR loss at fixed views (differentiable in params). */
export function simclrLoss(params: ModelParams, state: ModelState, a: Tensor, b: Tensor, opts: Omit<SimclrOptions, 'optimizer'> = {}) {
  const [[va, vb], next] = forwardViews(params, state, [a, b], { joint: opts.jointForward ?? SIMCLR_DEFAULTS.jointForward, momentum: opts.bnMomentum });
  const loss = ntXent([va.z, vb.z], { temperature: opts.temperature ?? SIMCLR_DEFAULTS.temperature });
  return [loss, { state: next, parts: { ntXent: loss }, anchorFeatures: va.features }] as [Tensor, { state: ModelState; parts: Record<string, Tensor>; anchorFeatures: Tensor }];
}

/** One SimCLR step on a batch x [N, C, H, W] in [0, 1]. */
export function simclrStep(params: ModelParams, state: SslState, x: Tensor, key: Key, opts: SimclrOptions): StepResult {
  checkNtXentBatch('ssl.simclrStep', x.shape[0], `x of shape ${fmtShape(x.shape)}`);
  const [kViews, kReg] = split(key);
  const [a, b] = twoViews(kViews, x, opts.augment);
  try {
    return withRegularizer(params, state, x, a, kReg, opts.regularizer, (extra) =>
      applyStep(params, state, opts.optimizer, (p, s) => simclrLoss(p, s, a, b, opts), extra));
  } finally {
    dispose([a, b]);
  }
}

/** The loss at fixed views without a step (for tests and diagnostics). */
export function simclrLossValue(params: ModelParams, state: SslState, a: Tensor, b: Tensor, opts: Omit<SimclrOptions, 'optimizer'> = {}): Tensor {
  return tidy(() => simclrLoss(params, state.model, a, b, opts)[0]);
}

/** SimCLR as a method record (./method.ts): its options are the image augmentation's. */
export const SIMCLR: MethodRecord<AugmentSettings> = {
  name: 'simclr',
  summary: 'SimCLR: NT-Xent between two augmented views',
  ...IMAGES_ONLY,
  optimizer: 'lars',
  compare: ['image'],
  defaults: AUGMENT_GROUP.defaults,
  flags: AUGMENT_GROUP.flags,
  step: (o, ctx) => {
    const opts: SimclrOptions = { optimizer: ctx.optimizer, augment: augmentOf(o), regularizer: ctx.regularizer };
    return (p, st, x, k) => simclrStep(p, st, x, k, opts);
  },
};
