/**
 * The task-agnostic robustness regularizer (after "Task-Agnostic Unsupervised Robust Representation
 * Learning", ICLR 2023 submission; only its abstract is public, see METHODS.md):
 *
 *   R(f) = E_x max_{‖δ‖∞ ≤ ε} ‖f(x + δ) − f(x)‖²,     L = L_ssl + β·R(f)
 *
 * with f the encoder's features (the representation a downstream predictor reads, not the
 * projection). The inner max is a PGD representation-distance attack (attacks.representationDistance,
 * random start — the gradient vanishes at δ = 0), run on the encoder in eval mode; R is then
 * differentiated through both f(x + δ) and f(x) (Danskin: the gradient of the max at the maximizer).
 *
 * Readings where the description is silent (each an option):
 *   - x is the method's first augmented view t(x) (`input: 'view'`, default) — the representation
 *     the SSL loss already computed, so f(x) costs nothing extra — or the un-augmented image
 *     (`input: 'clean'`, one more forward).
 *   - ‖·‖² is summed over the feature dimensions and averaged over the batch.
 *   - f(x + δ) in the loss is computed in training mode (batch statistics) as a separate batch,
 *     and its BN running-statistics update is dropped (the running statistics follow clean data).
 *   - With BN branches (IDAA), the regularizer uses the clean branch.
 *   - Defaults: ε = 0.1 (the Fashion-MNIST budget of the evaluation), α = ε/4, 5 steps, β = 1.
 *   - x + δ stays in the box [0, 1] (images); `box: null` for tables and spectrograms.
 */
import { WgradError } from '../core/backend.js';
import { squaredDistance } from '../attacks/common.js';
import { representationDistance } from '../attacks/unlabeled.js';
import type { Key } from '../random/random.js';
import { mul } from '../tensor/ops/elementwise.js';
import { mean } from '../tensor/ops/reduce.js';
import { dispose, tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { evalFeatures } from './model.js';
import * as model from './model.js';
import type { ModelParams, ModelState } from './model.js';

export interface RegularizerOptions {
  /** β, the weight of R in the loss (0 turns the regularizer off). */
  weight: number;
  /** L∞ radius ε of the attack (default 0.1). */
  eps?: number;
  /** PGD step size (default ε/4). */
  alpha?: number;
  /** PGD steps (default 5). */
  steps?: number;
  /** Which x: the first augmented view (default) or the un-augmented batch. */
  input?: 'view' | 'clean';
  /** BN branch of the encoder (default: none, or 'clean' for branched models). */
  branch?: string;
  /** The attack's input box (default [0, 1], images; null for unbounded inputs: tables, spectrograms). */
  box?: readonly [number, number] | null;
}

export const REGULARIZER_DEFAULTS = { eps: 0.1, steps: 5, input: 'view' as const };

export function checkRegularizer(o: RegularizerOptions): void {
  if (!(o.weight >= 0 && Number.isFinite(o.weight))) throw new WgradError('ssl.regularizer', `weight β must be a finite number ≥ 0, got ${o.weight}`);
  const eps = o.eps ?? REGULARIZER_DEFAULTS.eps;
  if (!(eps > 0)) throw new WgradError('ssl.regularizer', `eps must be > 0, got ${eps}`);
}

/** ‖a − b‖² summed over features, averaged over the batch. */
export function squaredShift(a: Tensor, b: Tensor): Tensor {
  return tidy(() => mean(squaredDistance(a, b)));
}

/** The attack: x + δ maximizing ‖f(x + δ) − f(x)‖² with the encoder in eval mode. */
export function regularizerAttack(params: ModelParams, state: ModelState, x: Tensor, key: Key, o: RegularizerOptions): Tensor {
  const eps = o.eps ?? REGULARIZER_DEFAULTS.eps;
  return representationDistance(evalFeatures(params, state, o.branch), x, key, {
    eps, alpha: o.alpha ?? eps / 4, steps: o.steps ?? REGULARIZER_DEFAULTS.steps, randomStart: true, box: o.box,
  });
}

/**
 * The regularizer's loss term at a fixed perturbed input `xAdv`: β·‖f(xAdv) − f(x)‖² with f(x) given
 * (`anchorFeatures`, inside the differentiated function).
 */
export function regularizerTerm(params: ModelParams, state: ModelState, xAdv: Tensor, anchorFeatures: Tensor, o: RegularizerOptions): { term: Tensor; value: Tensor; name: string } {
  return tidy(() => {
    const [h, s] = model.features(params, state, xAdv, { training: true, branch: o.branch });
    dispose(s);
    const value = squaredShift(h, anchorFeatures);
    return { term: mul(value, o.weight), value, name: 'reg' };
  });
}

type ExtraTerm = (params: ModelParams, state: ModelState, anchorFeatures: Tensor) => { term: Tensor; value: Tensor; name: string };

/**
 * Runs a method's step with the regularizer attached when `o` is given with weight > 0: attacks
 * `view` (or the clean batch `x`) first, then hands `run` the extra loss term for applyStep.
 */
export function withRegularizer<T>(
  params: ModelParams, state: { model: ModelState }, x: Tensor, view: Tensor, key: Key,
  o: RegularizerOptions | undefined, run: (extra?: ExtraTerm) => T,
): T {
  if (!o || o.weight === 0) return run(undefined);
  checkRegularizer(o);
  const input = (o.input ?? REGULARIZER_DEFAULTS.input) === 'clean' ? x : view;
  const xAdv = regularizerAttack(params, state.model, input, key, o);
  try {
    return run((p, s, anchorFeatures) => {
      if (input === view) return regularizerTerm(p, s, xAdv, anchorFeatures, o);
      return tidy(() => {
        const [h, s2] = model.features(p, s, x, { training: true, branch: o.branch });
        dispose(s2);
        return regularizerTerm(p, s, xAdv, h, o);
      });
    });
  } finally {
    xAdv.dispose();
  }
}
