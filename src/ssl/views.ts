/**
 * Domain-agnostic contrastive baselines for APLR (./aplr.ts): SimCLR's NT-Xent (./simclr.ts,
 * τ = 0.5) on two views made without any domain knowledge, with the same encoder and projection
 * head as every other method. They work on any batch x [N, ...]: tables, spectrograms, images.
 *
 *   'noise'  Gaussian-noise views: t(x) = x + σ·ε, ε ~ N(0, I) per element, independently for each
 *            view (default σ = 0.1; no clipping).
 *   'mask'   random feature masking, after VIME's pretext corruption (Yoon et al., NeurIPS 2020,
 *            `pretext_generator`): a mask m ~ Bernoulli(p) per element (default p = 0.3, VIME's
 *            p_m), and x̃ = (1 − m)·x + m·x̄. With `fill: 'marginal'` (default, VIME's) x̄ is x with
 *            every feature column permuted independently across the batch — each masked entry takes
 *            the value of that feature in another row, a draw from the feature's empirical marginal
 *            without replacement (which may be the row itself, as in VIME); `fill: 'zero'` puts 0.
 *            A "feature" is every element of an example (a pixel of an image, a bin of a
 *            spectrogram), since the method knows no structure. The two views are masked
 *            independently. VIME's own pretext tasks (mask and feature estimation) are not used:
 *            the views feed NT-Xent, as in the domain-agnostic comparisons of DACL and APLR.
 *
 * The step functions follow simclrStep: (params, state, x, key, options) → { params, state, loss,
 * parts }, with the robustness regularizer composed the same way (anchored at the first view).
 *
 * What it computes, per the papers and official code, and the readings chosen: docs/methods.md#noise-and-mask-baselines.
 */
import { WgradError } from '../core/backend.js';
import { bits, bernoulli, normal, split, type Key } from '../random/random.js';
import { add, mul, where } from '../tensor/ops/elementwise.js';
import { reshape } from '../tensor/ops/movement.js';
import { argsort, takeAlongAxis } from '../tensor/ops/sort.js';
import { dispose, tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { applyStep, type CommonOptions, type SslState, type StepResult } from './common.js';
import type { ModelParams } from './model.js';
import { withRegularizer } from './regularizer.js';
import { simclrLoss } from './simclr.js';
import type { MethodRecord } from './method.js';

/** The noise baseline's default σ. */
export const NOISE_DEFAULTS = { sigma: 0.1 };
/** The masking baseline's defaults: probability and fill. */
export const MASK_DEFAULTS = { p: 0.3, fill: 'marginal' as 'marginal' | 'zero' };

/** x + σ·N(0, I). */
export function noiseView(key: Key, x: Tensor, sigma = NOISE_DEFAULTS.sigma): Tensor {
  if (!(sigma >= 0 && Number.isFinite(sigma))) throw new WgradError('ssl.noiseView', `sigma must be a finite number ≥ 0, got ${sigma}`);
  return tidy(() => add(x, normal(key, x.shape, { stddev: sigma })));
}

/** x with each feature column permuted independently across the batch (VIME's x̄). */
export function shuffleColumns(key: Key, x: Tensor): Tensor {
  return tidy(() => {
    const rows = reshape(x, [x.shape[0], -1]);
    const perm = argsort(bits(key, rows.shape), 0);
    return reshape(takeAlongAxis(rows, perm, 0), x.shape);
  });
}

/** VIME's mask corruption: (1 − m)·x + m·x̄ with m ~ Bernoulli(p) per element. */
export function maskView(key: Key, x: Tensor, opts: { p?: number; fill?: 'marginal' | 'zero' } = {}): Tensor {
  const { p = MASK_DEFAULTS.p, fill = MASK_DEFAULTS.fill } = opts;
  if (!(p >= 0 && p <= 1)) throw new WgradError('ssl.maskView', `the mask probability p must be in [0, 1], got ${p}`);
  if (fill !== 'marginal' && fill !== 'zero') throw new WgradError('ssl.maskView', `fill must be 'marginal' or 'zero', got ${JSON.stringify(fill)}`);
  const [kMask, kShuffle] = split(key);
  return tidy(() => {
    const m = bernoulli(kMask, p, x.shape);
    return where(m, fill === 'zero' ? mul(x, 0) : shuffleColumns(kShuffle, x), x);
  });
}

/** Options of the noise baseline: the shared options and σ. */
export interface NoiseOptions extends Omit<CommonOptions, 'augment'> {
  /** σ of the Gaussian noise (default 0.1). */
  sigma?: number;
}

/** Options of the masking baseline: the shared options, the probability and the fill. */
export interface MaskOptions extends Omit<CommonOptions, 'augment'> {
  /** Mask probability p (default 0.3). */
  p?: number;
  /** What a masked entry becomes (default 'marginal'). */
  fill?: 'marginal' | 'zero';
}

/** NT-Xent on two views made by `view` (a baseline's step). */
function viewsStep(params: ModelParams, state: SslState, x: Tensor, key: Key, opts: Omit<CommonOptions, 'augment'>, view: (k: Key) => Tensor): StepResult {
  const [kA, kB, kReg] = split(key, 3);
  const a = view(kA);
  const b = view(kB);
  try {
    return withRegularizer(params, state, x, a, kReg, opts.regularizer, (extra) =>
      applyStep(params, state, opts.optimizer, (p, s) => simclrLoss(p, s, a, b, opts), extra));
  } finally {
    dispose([a, b]);
  }
}

/** The two Gaussian-noise views of a step's key (what noiseStep trains on). */
export function noiseViews(key: Key, x: Tensor, sigma?: number): [Tensor, Tensor] {
  const [kA, kB] = split(key, 3);
  return [noiseView(kA, x, sigma), noiseView(kB, x, sigma)];
}

/** The two masked views of a step's key (what maskStep trains on). */
export function maskViews(key: Key, x: Tensor, opts: { p?: number; fill?: 'marginal' | 'zero' } = {}): [Tensor, Tensor] {
  const [kA, kB] = split(key, 3);
  return [maskView(kA, x, opts), maskView(kB, x, opts)];
}

/** One Gaussian-noise-views NT-Xent step on a batch x [N, ...]. */
export function noiseStep(params: ModelParams, state: SslState, x: Tensor, key: Key, opts: NoiseOptions): StepResult {
  return viewsStep(params, state, x, key, opts, (k) => noiseView(k, x, opts.sigma));
}

/** One masked-views (VIME-style) NT-Xent step on a batch x [N, ...]. */
export function maskStep(params: ModelParams, state: SslState, x: Tensor, key: Key, opts: MaskOptions): StepResult {
  return viewsStep(params, state, x, key, opts, (k) => maskView(k, x, opts));
}

const ANY_DOMAIN = { domains: ['image', 'tabular', 'audio'], optimizer: 'adam', compare: ['tabular', 'audio'] } as const;

/** The noise baseline as a method record (./method.ts). */
export const NOISE: MethodRecord<{ sigma: number }> = {
  name: 'noise',
  summary: 'NT-Xent between two Gaussian-noise views (a domain-agnostic baseline)',
  ...ANY_DOMAIN,
  defaults: NOISE_DEFAULTS,
  flags: [{ flag: 'noise-std', key: 'sigma', spec: { kind: 'number', min: 0, value: 'σ', help: 'σ of the Gaussian views (units of the data, as --eps)' } }],
  step: (o, ctx) => {
    const opts: NoiseOptions = { optimizer: ctx.optimizer, regularizer: ctx.regularizer, sigma: o.sigma };
    return (p, st, x, k) => noiseStep(p, st, x, k, opts);
  },
};

/** The masking baseline as a method record (./method.ts). */
export const MASK: MethodRecord<{ p: number; fill: 'marginal' | 'zero' }> = {
  name: 'mask',
  summary: 'NT-Xent between two randomly masked views, after VIME (a domain-agnostic baseline)',
  ...ANY_DOMAIN,
  defaults: MASK_DEFAULTS,
  flags: [
    { flag: 'mask-prob', key: 'p', spec: { kind: 'number', min: 0, max: 1, value: 'P', help: 'probability that a feature is masked' } },
    { flag: 'mask-fill', key: 'fill', spec: { kind: 'string', choices: ['marginal', 'zero'], help: 'what a masked feature becomes: another row\'s value (VIME) or 0' } },
  ],
  step: (o, ctx) => {
    const opts: MaskOptions = { optimizer: ctx.optimizer, regularizer: ctx.regularizer, p: o.p, fill: o.fill };
    return (p, st, x, k) => maskStep(p, st, x, k, opts);
  },
};
