/**
 * Optimizers as chains of transformations (./transforms.ts). Each takes `lr` as a number or a
 * schedule (./schedules.ts).
 *
 *   sgd    PyTorch's SGD: g + wd·w → momentum buffer (dampening 0, optional Nesterov) → ·(−lr)
 *   adam   Adam (Kingma & Ba), bias-corrected
 *   adamw  Adam with decoupled weight decay: −lr·(adam(g) + wd·w) (Loshchilov & Hutter; PyTorch's
 *          AdamW applies the same step)
 *   lars   LARS as SimCLR (and RoCL, through torchlars) use it, in Optax's order:
 *            u = g + wd·w                       (excluded leaves: no decay)
 *            u ← u · η‖w‖/‖u‖                   (excluded leaves: not adapted; 1 when a norm is 0)
 *            v ← momentum·v + lr·u, update −v    (Nesterov: −(momentum·v + lr·u))
 *          i.e. the trust ratio is η‖w‖/‖g + wd·w‖ and the learning rate is inside the momentum
 *          buffer (SimCLR's TF LARS; torchlars differs only in using ‖g‖ + wd‖w‖ and putting lr
 *          outside the buffer, which matters only while lr changes). By default biases and
 *          BatchNorm/LayerNorm parameters — every leaf of rank ≤ 1 — are excluded, as SimCLR does;
 *          pass `exclude(path, param)` to choose by path instead (e.g. /bn|bias/.test(path)).
 *
 * Masks (sgd's and adamw's `decayMask`, lars's `exclude`) are applied with `masked`, as Optax does.
 */
import type { GradientTransformation, ParamPredicate, ScalarOrSchedule } from './types.js';
import { addDecayedWeights, chain, masked, scaleByAdam, scaleByLearningRate, scaleByTrustRatio, traceMomentum } from './transforms.js';

/** Any optimizer here (its state is a tuple of its transformations' states, a pytree). */
export type Optimizer = GradientTransformation<unknown[]>;

/** `t` restricted to the leaves `mask` selects, or `t` itself without a mask. */
const maskedIf = <S>(t: GradientTransformation<S>, mask?: ParamPredicate) => (mask ? masked(t, mask) : t);

/** Options of `sgd`: learning rate, momentum, Nesterov, weight decay and its mask. */
export interface SgdOptions {
  lr: ScalarOrSchedule;
  /** Default 0 (plain SGD). */
  momentum?: number;
  /** Default false. */
  nesterov?: boolean;
  /** L2 weight decay added to the gradient (default 0). */
  weightDecay?: number;
  /** Which leaves are decayed (default all). */
  decayMask?: ParamPredicate;
}

/** PyTorch's SGD (see the module header). */
export function sgd(opts: SgdOptions): Optimizer {
  const { lr, momentum = 0, nesterov = false, weightDecay = 0, decayMask } = opts;
  const parts: GradientTransformation<any>[] = [];
  if (weightDecay !== 0) parts.push(maskedIf(addDecayedWeights(weightDecay), decayMask));
  if (momentum !== 0) parts.push(traceMomentum({ decay: momentum, nesterov }));
  parts.push(scaleByLearningRate(lr));
  return chain(...parts);
}

/** Options of `adam`: learning rate, β₁, β₂ and ε. */
export interface AdamOptions {
  lr: ScalarOrSchedule;
  /** Default 0.9. */
  b1?: number;
  /** Default 0.999. */
  b2?: number;
  /** Default 1e-8. */
  eps?: number;
}

/** Adam (Kingma & Ba), bias-corrected. */
export function adam(opts: AdamOptions) {
  const { lr, ...scaling } = opts;
  return chain(scaleByAdam(scaling), scaleByLearningRate(lr));
}

/** Options of `adamw`: Adam's and the decoupled weight decay and its mask. */
export interface AdamWOptions extends AdamOptions {
  /** Decoupled weight decay (default 1e-4, Optax's). */
  weightDecay?: number;
  /** Which leaves are decayed (default all). */
  decayMask?: ParamPredicate;
}

/** Adam with decoupled weight decay (Loshchilov & Hutter; PyTorch's AdamW). */
export function adamw(opts: AdamWOptions) {
  const { lr, weightDecay = 1e-4, decayMask, ...scaling } = opts;
  return chain(scaleByAdam(scaling), maskedIf(addDecayedWeights(weightDecay), decayMask), scaleByLearningRate(lr));
}

/** Options of `lars`: learning rate, momentum, weight decay, trust coefficient and the excluded leaves. */
export interface LarsOptions {
  lr: ScalarOrSchedule;
  /** Default 0.9. */
  momentum?: number;
  /** Default false. */
  nesterov?: boolean;
  /** Default 0 (RoCL uses 1e-6, SimCLR 1e-6 to 1e-4). */
  weightDecay?: number;
  /** η (default 0.001). */
  trustCoefficient?: number;
  /** Added to the update norm in the trust ratio (default 0). */
  eps?: number;
  /** Leaves excluded from weight decay and adaptation (default: rank ≤ 1 — biases and norm params). */
  exclude?: ParamPredicate;
}

/** The default LARS exclusion: biases and normalization parameters, i.e. every leaf of rank ≤ 1. */
export const excludeBiasAndNorm: ParamPredicate = (_path, p) => p.rank <= 1;

/** LARS as SimCLR uses it (see the module header). */
export function lars(opts: LarsOptions) {
  const { lr, momentum = 0.9, nesterov = false, weightDecay = 0, trustCoefficient = 0.001, eps = 0, exclude = excludeBiasAndNorm } = opts;
  const included: ParamPredicate = (path, p) => !exclude(path, p);
  return chain(
    masked(addDecayedWeights(weightDecay), included),
    masked(scaleByTrustRatio({ trustCoefficient, eps }), included),
    scaleByLearningRate(lr),
    traceMomentum({ decay: momentum, nesterov }),
  );
}
