/**
 * IDAA — Identity-Disentangled Adversarial Augmentation (Yang, Zhou, Tian, Tao, ICML 2022), after
 * the paper and its official code (docs/methods.md#idaa), on SimCLR:
 *
 *   0. Train the VAE G first, once per data set and seed, on the SimCLR-augmented views it is applied
 *      to (./vae.ts, ./vae-train.ts: MSE + β·KL/(N·C·L), β = 0.1, AdamW β = (0, 0.9), to convergence),
 *      then freeze it (eval mode, latent = μ).
 *   1. Adversarial view of xᵢ = t(x) (attacks.latentAttack): z = μ(xᵢ), R = sg(xᵢ − G(z)),
 *      δ = ε·sign(∇_z NT-Xent(enc_adv(xᵢ), enc_adv(G(z) + R))), xᵃᵈᵛ = G(z + δ) + R — one sign step,
 *      no projection; xᵃᵈᵛ = xᵢ exactly when δ = 0. ε = 0.1 (IDAA's README; the code's default 0.01).
 *   2. Loss  L = NT-Xent(xᵢ, xⱼ) + α·NT-Xent(xᵢ, xᵃᵈᵛ), α = 1, τ = 0.5, where xᵃᵈᵛ goes through the
 *      encoder with its separate adversarial BatchNorm branch ('adv'; AdvProp) and the clean views
 *      through the 'clean' branch; convolutions, linear layers and the projector are shared.
 *   3. Adam, lr 3e-4, cosine decay — chosen by the caller through makeOptimizer.
 *   4. The step's parts report the perturbation's size in pixel space (advLinf, advL2: batch means
 *      of the per-example ‖xᵃᵈᵛ − xᵢ‖∞ and ‖·‖₂), as IDAA logs them (there in normalized units).
 *
 * Readings (each an option):
 *   - During the attack the encoder runs with the 'adv' branch in training mode (batch statistics),
 *     as IDAA's gen_adv calls model(x, adv=True) in train mode; its running-statistics update is
 *     dropped (IDAA's code keeps it, but the adv branch's running statistics are never used for
 *     evaluation). `attackBn: 'eval'` uses the running statistics instead.
 *   - xᵃᵈᵛ is clipped to [0, 1] (`clip`, default true; IDAA's code does not clip).
 *   - The clean views xᵢ, xⱼ go through the encoder as one batch (`jointForward`, default false
 *     here: IDAA's code calls net(x_i) and net(x_j) separately).
 *   - The model must be built with `bnBranches: ['clean', 'adv']` (model.init).
 */
import { WgradError } from '../core/backend.js';
import { latentAttack } from '../attacks/unlabeled.js';
import { fmtShape } from '../core/shape.js';
import { checkNtXentBatch, ntXent } from '../losses/contrastive.js';
import { split, type Key } from '../random/random.js';
import { abs, add, mul, sqrt, sub } from '../tensor/ops/elementwise.js';
import { reshape } from '../tensor/ops/movement.js';
import { max, mean, sum } from '../tensor/ops/reduce.js';
import { dispose, tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { applyStep, type CommonOptions, forwardViews, type SslState, type StepResult, twoViews, withDefaults } from './common.js';
import * as model from './model.js';
import type { ModelParams, ModelState } from './model.js';
import { withRegularizer } from './regularizer.js';
import * as vae from './vae.js';
import { VAE_TRAIN_DEFAULTS } from './vae-train.js';
import { type AugmentSettings, AUGMENT_GROUP, augmentOf } from './common.js';
import { IMAGES_ONLY, type MethodRecord, type PretrainedModel } from './method.js';

export interface IdaaOptions extends CommonOptions {
  /** The trained VAE (frozen: only read). */
  vae: { params: vae.VaeParams; state: vae.VaeState };
  /** Latent step size ε (default 0.1). */
  eps?: number;
  /** α, the weight of the adversarial term (default 1). */
  alpha?: number;
  /** BN mode of the encoder's adv branch during the attack (default 'train'). */
  attackBn?: 'train' | 'eval';
  /** Clip xᵃᵈᵛ to [0, 1] (default true). */
  clip?: boolean;
}

/** IDAA's defaults (where each comes from: the module header). */
export const IDAA_DEFAULTS = { eps: 0.1, alpha: 1, attackBn: 'train' as 'train' | 'eval', clip: true, temperature: 0.5, jointForward: false };
/** IDAA's two BN branches: clean and adversarial views. */
export const IDAA_BRANCHES = ['clean', 'adv'] as const;

/** The adversarial-branch projection used inside the attack (state updates dropped). */
function advEmbedding(params: ModelParams, state: ModelState, mode: 'train' | 'eval') {
  return (x: Tensor): Tensor => tidy(() => {
    const [{ z }, s] = model.embed(params, state, x, { training: mode === 'train', branch: 'adv' });
    dispose(s);
    return z;
  });
}

/** IDAA's adversarial view of `a` through the frozen VAE. */
export function idaaAttack(params: ModelParams, state: ModelState, a: Tensor, key: Key, opts: Omit<IdaaOptions, 'optimizer'>): Tensor {
  const o = withDefaults(IDAA_DEFAULTS, opts);
  const f = advEmbedding(params, state, o.attackBn);
  const g = vae.frozen(opts.vae.params, opts.vae.state);
  return tidy(() => {
    const za = f(a);
    const loss = (view: Tensor) => ntXent([za, f(view)], { temperature: o.temperature });
    return latentAttack(loss, a, key, { eps: o.eps, encode: g.encode, decode: g.decode, box: o.clip ? [0, 1] : null });
  });
}

/** NT-Xent(zᵢ, zⱼ) + α·NT-Xent(zᵢ, zᵃᵈᵛ). Returns [total, clean term, adversarial term]. */
export function idaaObjective(zi: Tensor, zj: Tensor, zAdv: Tensor, opts: { temperature?: number; alpha?: number } = {}): [Tensor, Tensor, Tensor] {
  const { temperature, alpha } = withDefaults(IDAA_DEFAULTS, opts);
  const clean = ntXent([zi, zj], { temperature });
  const adv = ntXent([zi, zAdv], { temperature });
  return [add(clean, mul(adv, alpha)), clean, adv];
}

/** The IDAA loss at fixed views (differentiable in params). */
export function idaaLoss(params: ModelParams, state: ModelState, a: Tensor, b: Tensor, adv: Tensor, opts: Omit<IdaaOptions, 'optimizer' | 'vae'> = {}) {
  const momentum = opts.bnMomentum;
  const [[vi, vj], s1] = forwardViews(params, state, [a, b], { joint: opts.jointForward ?? IDAA_DEFAULTS.jointForward, branch: 'clean', momentum });
  const [[vAdv], s2] = forwardViews(params, s1, [adv], { joint: true, branch: 'adv', momentum });
  const [total, clean, advTerm] = idaaObjective(vi.z, vj.z, vAdv.z, opts);
  return [total, { state: s2, parts: { ntXent: clean, ntXentAdv: advTerm }, anchorFeatures: vi.features }] as [Tensor, { state: ModelState; parts: Record<string, Tensor>; anchorFeatures: Tensor }];
}

/**
 * The size of the adversarial perturbation in pixel space, as IDAA logs it: the batch means of the
 * per-example ‖xᵃᵈᵛ − x‖∞ (`advLinf`) and ‖xᵃᵈᵛ − x‖₂ (`advL2`).
 */
export function perturbationSize(x: Tensor, xAdv: Tensor): { advLinf: Tensor; advL2: Tensor } {
  return tidy(() => {
    const d = reshape(sub(xAdv, x), [x.shape[0], -1]);
    return { advLinf: mean(max(abs(d), -1)), advL2: mean(sqrt(sum(mul(d, d), -1))) };
  });
}

/**
 * One IDAA encoder step on a batch x [N, C, H, W] in [0, 1] (the VAE already trained). Its parts add
 * the perturbation's size (perturbationSize) to the loss terms.
 */
export function idaaStep(params: ModelParams, state: SslState, x: Tensor, key: Key, opts: IdaaOptions): StepResult {
  checkNtXentBatch('ssl.idaaStep', x.shape[0], `x of shape ${fmtShape(x.shape)}`);
  if (!opts.vae) throw new WgradError('ssl.idaaStep', 'IDAA needs the trained VAE (opts.vae); train it first with vae.trainVae');
  const [kViews, kAttack, kReg] = split(key, 3);
  const [a, b] = twoViews(kViews, x, opts.augment);
  let adv: Tensor | undefined;
  try {
    adv = idaaAttack(params, state.model, a, kAttack, opts);
    const xAdv = adv;
    const reg = opts.regularizer && withDefaults({ branch: 'clean' }, opts.regularizer);
    const r = withRegularizer(params, state, x, a, kReg, reg, (extra) =>
      applyStep(params, state, opts.optimizer, (p, s) => idaaLoss(p, s, a, b, xAdv, opts), extra));
    return { ...r, parts: { ...r.parts, ...perturbationSize(a, xAdv) } };
  } finally {
    dispose([a, b, adv]);
  }
}

/**
 * IDAA's options as flags: the augmentation's, the latent step and its VAE's training (./vae-train.ts:
 * AdamW learning rate, batch, epoch cap and convergence rule; defaults VAE_TRAIN_DEFAULTS, IDAA's).
 */
export interface IdaaSettings extends AugmentSettings {
  eps: number;
  vaeLr: number;
  vaeBatch: number;
  vaeMaxEpochs: number;
  vaeTolerance: number;
  vaePatience: number;
}

/** IDAA as a method record (./method.ts): the VAE is trained first (`pretrain`), then the encoder. */
export const IDAA: MethodRecord<IdaaSettings> = {
  name: 'idaa',
  summary: 'IDAA: SimCLR plus an adversarial view from a latent step through a VAE trained first',
  ...IMAGES_ONLY,
  encoders: ['cnn', 'resnet'],
  optimizer: 'adam',
  resnetHead: { projHidden: 512, projDim: 64 },
  // 2: the VAE after the official vae.py (other layers than version 1's), trained to convergence.
  version: 2,
  defaults: {
    ...AUGMENT_GROUP.defaults, eps: IDAA_DEFAULTS.eps, vaeLr: VAE_TRAIN_DEFAULTS.lr, vaeBatch: VAE_TRAIN_DEFAULTS.batch,
    vaeMaxEpochs: VAE_TRAIN_DEFAULTS.maxEpochs, vaeTolerance: VAE_TRAIN_DEFAULTS.tolerance, vaePatience: VAE_TRAIN_DEFAULTS.patience,
  },
  flags: [
    ...AUGMENT_GROUP.flags,
    { flag: 'eps', key: 'eps', spec: { kind: 'number', min: 0, help: 'latent step ε of the adversarial view' } },
    { flag: 'vae-lr', key: 'vaeLr', spec: { kind: 'number', above: 0, help: 'the VAE\'s AdamW learning rate (β = (0, 0.9), decaying linearly over --vae-max-epochs)' } },
    { flag: 'vae-batch', key: 'vaeBatch', spec: { kind: 'int', min: 2, max: 65536, help: 'the VAE\'s batch size' } },
    { flag: 'vae-max-epochs', key: 'vaeMaxEpochs', spec: { kind: 'int', min: 1, max: 10000, help: 'the most epochs the VAE trains (it stops earlier once it has converged)' } },
    { flag: 'vae-tolerance', key: 'vaeTolerance', spec: { kind: 'number', min: 0, max: 0.5, help: 'the VAE has converged when its held-out reconstruction error improved by less than this fraction…' } },
    { flag: 'vae-patience', key: 'vaePatience', spec: { kind: 'int', min: 1, max: 1000, help: '…in this many epochs in a row' } },
  ],
  modelConfig: (base) => ({ ...base, bnBranches: IDAA_BRANCHES }),
  pretrain: {
    phase: 'vae',
    options: (o) => ({ augment: augmentOf(o), lr: o.vaeLr, batch: o.vaeBatch, maxEpochs: o.vaeMaxEpochs, tolerance: o.vaeTolerance, patience: o.vaePatience }),
  },
  step: (o, ctx) => {
    const trained = ctx.pretrained as (PretrainedModel & { params: vae.VaeParams; state: { model: vae.VaeState } }) | undefined;
    if (!trained) throw new WgradError('ssl.idaa', 'IDAA\'s step needs its trained VAE (the record\'s pretrain phase)');
    const opts: IdaaOptions = { optimizer: ctx.optimizer, vae: { params: trained.params, state: trained.state.model }, augment: augmentOf(o), eps: o.eps, regularizer: ctx.regularizer };
    return (p, st, x, k) => idaaStep(p, st, x, k, opts);
  },
};
