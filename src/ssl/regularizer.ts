/**
 * The task-agnostic robustness regularizer (after "Task-Agnostic Unsupervised Robust Representation
 * Learning", ICLR 2023 submission; only its abstract is public, see docs/methods.md#robustness-regularizer):
 *
 *   R(f) = E_x max_{‖δ‖∞ ≤ ε} ‖f(x + δ) − f(x)‖²,     L = L_ssl + β·R(f)
 *
 * with f the encoder's features (the representation a downstream predictor reads, not the
 * projection). The inner max is a PGD representation-distance attack (attacks.representationDistance,
 * random start — the gradient vanishes at δ = 0); R is then differentiated through both f(x + δ) and
 * f(x) (Danskin: the gradient of the max at the maximizer).
 *
 * One normalization for everything: f(x) and f(x + δ) are one train-mode forward of the joint batch
 * [x; x + δ] (BatchNorm on that batch's statistics; the running statistics are not updated by it), and
 * the attack maximizes exactly that function of δ, so it is maximized and differentiated under the
 * same normalization (Danskin's argument holds), and R = 0 exactly at δ = 0 (the batch [x; x] has
 * x's mean and biased variance, so both halves are the same numbers).
 * Why not eval mode (BN on the running statistics), which would make R a property of each example
 * alone: eval mode divides by running variances that lag the batch, and once a channel's features
 * collapse its running variance falls toward 0 and R explodes. Measured: SimCLR + R (β = 1, LARS
 * lr 1) on the committed Fashion-MNIST subset diverged to a NaN loss in epoch 4, and in the soak
 * (results/soak) at step 61; in one batch a collapsed channel normalizes to 0 instead. The cost of this
 * reading is that an example's R depends on the batch it is in, as the SSL loss's own BN does.
 *
 * Readings where the description is silent (each an option):
 *   - x is the method's first augmented view t(x) (`input: 'view'`, default: the input the SSL loss
 *     already sees) or the un-augmented image (`input: 'clean'`).
 *   - ‖·‖² is summed over the feature dimensions and averaged over the batch.
 *   - `normalize` (default false): R on L2-normalized features, ‖f(x+δ)/‖f(x+δ)‖ − f(x)/‖f(x)‖‖²,
 *     scale-free, so the encoder cannot lower R by shrinking the features (e.g. the last BN's γ);
 *     the attack then maximizes the same normalized distance. The default measures the raw features,
 *     the quantity a downstream linear predictor's robustness depends on.
 *   - With BN branches (IDAA), the regularizer uses the clean branch.
 *   - Defaults: ε = 0.1 (the Fashion-MNIST budget of the evaluation), α = ε/4, 5 steps, β = 1.
 *   - x + δ stays in the box [0, 1] (images); `box: null` for tables and spectrograms.
 *   - `perturbation: 'random'` is the control of the claim that the worst case matters: δ uniform in
 *     the same L∞ ball (clipped to the box), drawn anew each step, with no ascent (default 'worst').
 */
import { WgradError } from '../core/backend.js';
import { fmtShape } from '../core/shape.js';
import { squaredDistance } from '../attacks/common.js';
import { randomStart } from '../attacks/common.js';
import { pgd } from '../attacks/pgd.js';
import type { Key } from '../random/random.js';
import { mul } from '../tensor/ops/elementwise.js';
import { concat, slice } from '../tensor/ops/movement.js';
import { l2Normalize } from '../tensor/ops/nn.js';
import { mean, sum } from '../tensor/ops/reduce.js';
import { dispose, tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { features } from './model.js';
import type { ModelParams, ModelState } from './model.js';
import type { OptionGroup } from '../core/options.js';

/** Options of the robustness regularizer: β and its attack. */
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
  /** R on L2-normalized features (scale-free; default false: the raw features). */
  normalize?: boolean;
  /** δ: the attack's worst case (default) or uniform in the same ball (the control). */
  perturbation?: 'worst' | 'random';
}

/** The regularizer's defaults. */
export const REGULARIZER_DEFAULTS = { eps: 0.1, steps: 5, input: 'view' as 'view' | 'clean', normalize: false, perturbation: 'worst' as 'worst' | 'random' };

export function checkRegularizer(o: RegularizerOptions): void {
  if (!(o.weight >= 0 && Number.isFinite(o.weight))) throw new WgradError('ssl.regularizer', `weight β must be a finite number ≥ 0, got ${o.weight}`);
  const eps = o.eps ?? REGULARIZER_DEFAULTS.eps;
  if (!(eps > 0)) throw new WgradError('ssl.regularizer', `eps must be > 0, got ${eps}`);
}

/** ‖a − b‖² summed over features, averaged over the batch. */
export function squaredShift(a: Tensor, b: Tensor): Tensor {
  return tidy(() => mean(squaredDistance(a, b)));
}

/**
 * The per-example shift R measures, ‖f(xAdv) − f(x)‖² [N], with f(x) and f(xAdv) one train-mode
 * forward of [x; xAdv] (see the header; BN state unchanged), L2-normalized features with `normalize`.
 */
export function representationShift(params: ModelParams, state: ModelState, o: RegularizerOptions): (x: Tensor, xAdv: Tensor) => Tensor {
  const normalize = o.normalize ?? REGULARIZER_DEFAULTS.normalize;
  return (x, xAdv) => tidy(() => {
    const n = x.shape[0];
    const [h, next] = features(params, state, concat([x, xAdv], 0), { training: true, branch: o.branch });
    dispose(next);
    const both = normalize ? l2Normalize(h, -1) : h;
    return squaredDistance(slice(both, [{ start: n, stop: 2 * n }]), slice(both, [{ start: 0, stop: n }]));
  });
}

/** The attack: x + δ maximizing R's shift of the joint batch [x; x + δ] (or, as the control, δ uniform in the ball). */
export function regularizerAttack(params: ModelParams, state: ModelState, x: Tensor, key: Key, o: RegularizerOptions): Tensor {
  const eps = o.eps ?? REGULARIZER_DEFAULTS.eps;
  const box = o.box === undefined ? [0, 1] as const : o.box;
  if ((o.perturbation ?? REGULARIZER_DEFAULTS.perturbation) === 'random') return randomStart(key, x, eps, 'linf', box);
  const shift = representationShift(params, state, o);
  const loss = (xa: Tensor) => { const perExample = shift(x, xa); return { loss: sum(perExample), perExample }; };
  return pgd(loss, x, key, { eps, alpha: o.alpha ?? eps / 4, steps: o.steps ?? REGULARIZER_DEFAULTS.steps, randomStart: true, box });
}

/**
 * The regularizer's loss term at a fixed perturbed input `xAdv`: β·mean ‖f(xAdv) − f(x)‖² over the
 * joint train-mode batch [x; xAdv] (exactly 0 at xAdv = x). Returns the term, R and its name in the
 * step's parts.
 */
export function regularizerTerm(params: ModelParams, state: ModelState, x: Tensor, xAdv: Tensor, o: RegularizerOptions): { term: Tensor; value: Tensor; name: string } {
  if (x.shape.join() !== xAdv.shape.join()) throw new WgradError('ssl.regularizerTerm', `x and xAdv must have one shape, got ${fmtShape(x.shape)} and ${fmtShape(xAdv.shape)}`);
  return tidy(() => {
    const value = mean(representationShift(params, state, o)(x, xAdv));
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
    return run((p, s) => regularizerTerm(p, s, input, xAdv, o));
  } finally {
    xAdv.dispose();
  }
}

/** The regularizer's options as flags, for any method (its weight β is the command's --regularizer). */
export interface RegularizerSettings {
  eps: number;
  steps: number;
  normalize: boolean;
  perturbation: 'worst' | 'random';
}

/** The regularizer as an option group (../core/options.ts), declared once for every method. */
export const REGULARIZER_GROUP: OptionGroup<RegularizerSettings> = {
  defaults: { eps: REGULARIZER_DEFAULTS.eps, steps: REGULARIZER_DEFAULTS.steps, normalize: REGULARIZER_DEFAULTS.normalize, perturbation: REGULARIZER_DEFAULTS.perturbation },
  flags: [
    { flag: 'eps', key: 'eps', spec: { kind: 'number', above: 0, help: 'L∞ radius ε of its attack (units of the data)' } },
    { flag: 'reg-steps', key: 'steps', spec: { kind: 'int', min: 1, max: 1000, help: 'PGD steps of its attack' } },
    { flag: 'reg-normalize', key: 'normalize', spec: { kind: 'boolean', help: 'R on L2-normalized features (scale-free)' } },
    { flag: 'reg-perturbation', key: 'perturbation', spec: { kind: 'string', choices: ['worst', 'random'], help: 'δ: its attack\'s worst case, or uniform in the same ball each step (the control)' } },
  ],
};

/** The regularizer's options from its settings, weight β and the data's input box. */
export function regularizerOptions(s: RegularizerSettings, weight: number, box: readonly [number, number] | null): RegularizerOptions {
  return { weight, eps: s.eps, steps: s.steps, normalize: s.normalize, perturbation: s.perturbation, box };
}
