/**
 * RoCL — Adversarial Self-Supervised Contrastive Learning (Kim, Tack, Hwang, NeurIPS 2020), after
 * the paper and its official code (docs/methods.md#rocl):
 *
 *   1. Instance-wise attack (attacks.instanceContrastive): from x⁰ = clip(t(x) + U(−ε, ε), 0, 1),
 *      k PGD steps x ← Π(x + α·sign(∇ₓ NT-Xent([z(x); z(t'(x))]))) with the encoder and projector in
 *      eval mode (BN on running statistics): the positive is the other view t'(x), the negatives
 *      the rest of the batch. Official CIFAR values: ε = 8/255, α = 0.007, k = 7, τ = 0.5.
 *   2. Loss  L = NT-Xent₃({t(x), t'(x), t(x)ᵃᵈᵛ}) + (1/λ)·NT-Xent(t(x)ᵃᵈᵛ, t'(x)),  λ = 256,
 *      where NT-Xent₃ is the 3-view loss over 3N rows with positives summed (`positives: 'sum'`,
 *      RoCL's NT_xent for adv_type 'Rep'; losses/contrastive.ts).
 *   3. LARS over SGD (momentum 0.9, weight decay 1e-6, trust 0.001), warm-up then cosine — chosen
 *      by the caller through makeOptimizer (the CLI's default for this method).
 *
 * Readings where the paper is silent or the code differs (each an option):
 *   - `positives`: 'sum' (RoCL's code, default) or 'mean' for the 3-view term.
 *   - The three views go through the encoder as one batch (RoCL's torch.cat), and the (1/λ) term
 *     reuses those projections; RoCL's code recomputes [xᵃᵈᵛ; t'(x)] in a second train-mode forward,
 *     which differs only in the BN batch statistics and costs a second forward+backward.
 *   - `attackTarget`: 'other' (the positive of the attack is t'(x), as docs/methods.md#rocl states, default)
 *     or 'same' (t(x) itself, RoCL's `attack_to original` option).
 *   - `similarityGradient`: 'anchor' (default, RoCL's `pairwise_similarity`: the similarity matrix
 *     is z·sg(z)ᵀ, gradients flow only through each anchor's own row) in the attack and in the loss,
 *     or 'full' (SimCLR's: both operands; losses/contrastive.ts).
 *   - A batch of 1 is refused (NT-Xent has no negatives; losses.ntXent).
 *   - On 28×28 Fashion-MNIST the budget follows the evaluation: ε = 0.1, α = ε/4 (RoCL's α/ε ≈ 0.22
 *     on CIFAR), k = 7 (ROCL_DEFAULTS, the one place of these defaults; the command line reads them
 *     through the record ROCL at the end of this file). RoCL's CIFAR run is eps 8/255, alpha 0.007.
 */
import { instanceContrastive } from '../attacks/unlabeled.js';
import { fmtShape } from '../core/shape.js';
import { checkNtXentBatch, ntXent } from '../losses/contrastive.js';
import { split, type Key } from '../random/random.js';
import { add, mul } from '../tensor/ops/elementwise.js';
import { dispose } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { applyStep, type CommonOptions, evalEmbedding, forwardViews, type SslState, type StepResult, twoViews, withDefaults } from './common.js';
import type { ModelParams, ModelState } from './model.js';
import { withRegularizer } from './regularizer.js';
import { type AugmentSettings, AUGMENT_GROUP, augmentOf } from './common.js';
import { IMAGES_ONLY, type MethodRecord } from './method.js';

export interface RoclOptions extends CommonOptions {
  /** L∞ radius of the instance-wise attack (default 0.1, the Fashion-MNIST budget; RoCL's CIFAR value is 8/255). */
  eps?: number;
  /** Attack step size (default ε/4; RoCL's CIFAR value is 0.007 at ε = 8/255). */
  alpha?: number;
  /** Attack steps k (default 7). */
  steps?: number;
  /** Random start of the attack (default true). */
  randomStart?: boolean;
  /** λ: the 2-view term's weight is 1/λ (default 256). */
  lambda?: number;
  /** How the 3-view loss combines an anchor's two positives (default 'sum'). */
  positives?: 'sum' | 'mean';
  /** The attack's positive: the other view (default) or the attacked view itself. */
  attackTarget?: 'other' | 'same';
  /** NT-Xent's similarity gradient in the attack and the loss (default 'anchor', RoCL's code). */
  similarityGradient?: 'full' | 'anchor';
}

/** RoCL's defaults (where each comes from: the module header). */
export const ROCL_DEFAULTS = {
  eps: 0.1, alpha: undefined as number | undefined, steps: 7, randomStart: true, lambda: 256, positives: 'sum' as 'sum' | 'mean',
  attackTarget: 'other' as 'other' | 'same', temperature: 0.5, jointForward: true, similarityGradient: 'anchor' as 'full' | 'anchor',
};

/** RoCL's instance-wise adversarial view of `a` against the positive `b` (eval mode). */
export function roclAttack(params: ModelParams, state: ModelState, a: Tensor, b: Tensor, key: Key, opts: Omit<RoclOptions, 'optimizer'> = {}): Tensor {
  const o = withDefaults(ROCL_DEFAULTS, opts);
  return instanceContrastive(evalEmbedding(params, state), a, o.attackTarget === 'same' ? a : b, key, {
    eps: o.eps, alpha: o.alpha ?? o.eps / 4, steps: o.steps, randomStart: o.randomStart, temperature: o.temperature, gradient: o.similarityGradient,
  });
}

/**
 * RoCL's loss from the three projections: NT-Xent₃({za, zb, zAdv}) + (1/λ)·NT-Xent(zAdv, zb).
 * Returns [total, threeView, twoView].
 */
export function roclObjective(za: Tensor, zb: Tensor, zAdv: Tensor, opts: { temperature?: number; lambda?: number; positives?: 'sum' | 'mean'; similarityGradient?: 'full' | 'anchor' } = {}): [Tensor, Tensor, Tensor] {
  const { temperature, lambda, positives, similarityGradient: gradient } = withDefaults(ROCL_DEFAULTS, opts);
  const three = ntXent([za, zb, zAdv], { temperature, positives, gradient });
  const two = ntXent([zAdv, zb], { temperature, gradient });
  return [add(three, mul(two, 1 / lambda)), three, two];
}

/** The RoCL loss at fixed views (differentiable in params). */
export function roclLoss(params: ModelParams, state: ModelState, a: Tensor, b: Tensor, adv: Tensor, opts: Omit<RoclOptions, 'optimizer'> = {}) {
  const [[va, vb, vAdv], next] = forwardViews(params, state, [a, b, adv], { joint: opts.jointForward ?? ROCL_DEFAULTS.jointForward, momentum: opts.bnMomentum });
  const [total, three, two] = roclObjective(va.z, vb.z, vAdv.z, opts);
  return [total, { state: next, parts: { ntXent3: three, ntXentAdv: two }, anchorFeatures: va.features }] as [Tensor, { state: ModelState; parts: Record<string, Tensor>; anchorFeatures: Tensor }];
}

/** One RoCL step on a batch x [N, C, H, W] in [0, 1]. */
export function roclStep(params: ModelParams, state: SslState, x: Tensor, key: Key, opts: RoclOptions): StepResult {
  checkNtXentBatch('ssl.roclStep', x.shape[0], `x of shape ${fmtShape(x.shape)}`);
  const [kViews, kAttack, kReg] = split(key, 3);
  const [a, b] = twoViews(kViews, x, opts.augment);
  let adv: Tensor | undefined;
  try {
    adv = roclAttack(params, state.model, a, b, kAttack, opts);
    const xAdv = adv;
    return withRegularizer(params, state, x, a, kReg, opts.regularizer, (extra) =>
      applyStep(params, state, opts.optimizer, (p, s) => roclLoss(p, s, a, b, xAdv, opts), extra));
  } finally {
    dispose([a, b, adv]);
  }
}

/** RoCL's options as flags: the augmentation's and the instance-wise attack's (defaults: ROCL_DEFAULTS). */
export interface RoclSettings extends AugmentSettings {
  eps: number;
  /** Undefined: ε/4. */
  alpha?: number;
  steps: number;
}

/** RoCL as a method record (./method.ts). */
export const ROCL: MethodRecord<RoclSettings> = {
  name: 'rocl',
  summary: 'RoCL: SimCLR plus an instance-wise PGD attack as a third view',
  ...IMAGES_ONLY,
  optimizer: 'lars',
  defaults: { ...AUGMENT_GROUP.defaults, eps: ROCL_DEFAULTS.eps, alpha: ROCL_DEFAULTS.alpha, steps: ROCL_DEFAULTS.steps },
  flags: [
    ...AUGMENT_GROUP.flags,
    { flag: 'eps', key: 'eps', spec: { kind: 'number', above: 0, help: 'L∞ radius of the instance-wise attack (pixels in [0, 1])' } },
    { flag: 'alpha', key: 'alpha', spec: { kind: 'number', above: 0, help: 'PGD step size of the attack (default ε/4)' } },
    { flag: 'attack-steps', key: 'steps', spec: { kind: 'int', min: 1, max: 1000, help: 'PGD steps of the attack' } },
  ],
  step: (o, ctx) => {
    const opts: RoclOptions = { optimizer: ctx.optimizer, augment: augmentOf(o), regularizer: ctx.regularizer, eps: o.eps, alpha: o.alpha, steps: o.steps };
    return (p, st, x, k) => roclStep(p, st, x, k, opts);
  },
};
