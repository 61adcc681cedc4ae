/**
 * What the self-supervised methods share: the training state, the two augmented views and their
 * option group (the crop scale), the forward of several views in one batch, and the step driver that differentiates a method's loss (plus the robustness
 * regularizer, when its weight is non-zero) and applies the optimizer.
 *
 * A training step is a pure function
 *   step(params, state, batch, key, options) → { params, state, loss, parts }
 * of the model parameters, the state { model: BN running statistics, opt: optimizer state }, a batch
 * of images x [N, C, H, W] in [0, 1], a PRNG key and the method's options (the optimizer is built by
 * name with optim's makeOptimizer, so a checkpoint can record it). It returns new trees; the
 * caller disposes the old ones (as with optim.update). Attacks run first, outside the
 * differentiated function (their outputs are constants of the loss), then the loss is differentiated
 * with respect to the parameters only.
 */
import { WgradError } from '../core/backend.js';
import { valueAndGrad } from '../autograd/transforms.js';
import { simclrAugment, type SimclrAugmentOptions } from '../data/augment.js';
import { split, type Key } from '../random/random.js';
import { add } from '../tensor/ops/elementwise.js';
import { concat, slice } from '../tensor/ops/movement.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Optimizer } from '../optim/optimizers.js';
import { applyUpdates } from '../optim/transforms.js';
import type { OptionGroup } from '../core/options.js';
import * as model from './model.js';
import type { ModelParams, ModelState } from './model.js';

/**
 * The training state every method has. A method with state of its own extends it with fields of
 * its own type (APLR: `generator`, `target`; ./aplr.ts AplrState), created by its record's init.
 */
export interface SslState {
  /** BN running statistics of the model. */
  model: ModelState;
  /** Optimizer state (its step count is a plain number inside). */
  opt: unknown;
}

/** What a training step returns: the new params and state, the loss and its terms. */
export interface StepResult<S extends SslState = SslState> {
  params: ModelParams;
  state: S;
  /** The total loss that was differentiated (float32 scalar). */
  loss: Tensor;
  /** Its named terms (e.g. { ntXent, reg }), float32 scalars. */
  parts: Record<string, Tensor>;
}

// -------------------------------------------------------------------------------------------------
// State

/** Model params and BN state plus the optimizer's initial state. */
export function initState(params: ModelParams, modelState: ModelState, optimizer: Optimizer): SslState {
  return { model: modelState, opt: optimizer.init(params) };
}

// -------------------------------------------------------------------------------------------------
// Views and forwards

/** Options every method shares. */
export interface CommonOptions {
  /** The optimizer (from makeOptimizer). */
  optimizer: Optimizer;
  /** NT-Xent temperature τ (default 0.5). */
  temperature?: number;
  /** The augmentation t, t' (default simclrAugment's: RoCL's CIFAR pipeline). */
  augment?: SimclrAugmentOptions;
  /** BN momentum (default 0.1). */
  bnMomentum?: number;
  /**
   * Clean views go through the encoder as one concatenated batch (true, default: one BN batch over
   * all views, as RoCL's code does with torch.cat) or one forward per view (false: BN statistics per
   * view, as IDAA's and many SimCLR codes do).
   */
  jointForward?: boolean;
  /** The robustness regularizer, added with weight `weight` when given and weight > 0. */
  regularizer?: import('./regularizer.js').RegularizerOptions;
}

/** The image augmentation's options as flags (SimCLR, RoCL, IDAA take this group). */
export interface AugmentSettings {
  /** Smallest area fraction of the random resized crop. */
  cropScale: number;
}

/** The augmentation options the image methods share (the crop's smallest area, `--crop-scale`). */
export const AUGMENT_GROUP: OptionGroup<AugmentSettings> = {
  defaults: { cropScale: 0.2 },
  flags: [{ flag: 'crop-scale', key: 'cropScale', spec: { kind: 'number', above: 0, max: 1, help: 'smallest area fraction of the random resized crop' } }],
};

/** The augmentation of AUGMENT_GROUP's settings (simclrAugment's other defaults: RoCL's CIFAR pipeline). */
export const augmentOf = (s: AugmentSettings): SimclrAugmentOptions => ({ crop: { scale: [s.cropScale, 1] } });

/** Two augmented views t(x), t'(x) of a batch. */
export function twoViews(key: Key, x: Tensor, augment?: SimclrAugmentOptions): [Tensor, Tensor] {
  const [k1, k2] = split(key);
  return tidy(() => [simclrAugment(k1, x, augment), simclrAugment(k2, x, augment)] as [Tensor, Tensor]);
}

/**
 * Features and projections of several views [N, ...] each, in training mode: one concatenated
 * forward (`joint`) or one per view. Returns one { features, z } per view and the new BN state.
 */
export function forwardViews(
  params: ModelParams, state: ModelState, views: readonly Tensor[], opts: { joint: boolean; branch?: string; momentum?: number },
): [{ features: Tensor; z: Tensor }[], ModelState] {
  const bn = { training: true, branch: opts.branch, momentum: opts.momentum };
  if (!opts.joint) {
    let s = state;
    const outs = views.map((v) => {
      const [o, next] = model.embed(params, s, v, bn);
      s = next;
      return o;
    });
    return [outs, s];
  }
  const [o, next] = model.embed(params, state, views.length === 1 ? views[0] : concat(views, 0), bn);
  const rows = (t: Tensor, i: number) => slice(t, [{ start: i * views[0].shape[0], stop: (i + 1) * views[0].shape[0] }]);
  return [views.map((_, i) => ({ features: rows(o.features, i), z: rows(o.z, i) })), next];
}

export { evalEmbedding, evalFeatures } from './model.js';

// -------------------------------------------------------------------------------------------------
// The step driver

/** A method's loss at fixed inputs: (params, BN state) → [total, { state, parts, anchor }]. */
export type MethodLoss = (params: ModelParams, state: ModelState) => [Tensor, { state: ModelState; parts: Record<string, Tensor>; anchorFeatures?: Tensor }];

/**
 * Differentiates `loss` (plus β·R when `extra` is given: a second loss term that receives the
 * anchor's features) and applies the optimizer. Disposes nothing it was given.
 */
export function applyStep(
  params: ModelParams, state: SslState, optimizer: Optimizer, loss: MethodLoss,
  extra?: (params: ModelParams, state: ModelState, anchorFeatures: Tensor) => { term: Tensor; value: Tensor; name: string },
): StepResult {
  return tidy((): StepResult => {
    const total = (p: ModelParams, s: ModelState): [Tensor, { state: ModelState; parts: Record<string, Tensor> }] => {
      const [l, aux] = loss(p, s);
      if (!extra) return [l, { state: aux.state, parts: aux.parts }];
      if (!aux.anchorFeatures) throw new WgradError('ssl.step', 'this method does not expose anchor features for the regularizer');
      const r = extra(p, s, aux.anchorFeatures);
      return [add(l, r.term), { state: aux.state, parts: { ...aux.parts, [r.name]: r.value } }];
    };
    const [[value, aux], grads] = valueAndGrad(total, { hasAux: true })(params, state.model);
    const [updates, opt] = optimizer.update(grads as never, state.opt as never, params as never);
    return {
      params: applyUpdates(params, updates as ModelParams),
      state: { model: aux.state, opt },
      loss: value,
      parts: aux.parts,
    };
  });
}

/** `defaults` overridden by the options that are set (an explicit undefined keeps the default). */
export function withDefaults<D extends object, O extends object>(defaults: D, opts: O): Omit<D, keyof O> & { [K in keyof O & keyof D]-?: Exclude<O[K], undefined> | D[K] } & O {
  const out: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  for (const [k, v] of Object.entries(opts)) if (v !== undefined) out[k] = v;
  return out as never;
}
