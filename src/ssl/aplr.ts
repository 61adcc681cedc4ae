/**
 * APLR — Adversarial Perturbation based Latent Reconstruction for domain-agnostic self-supervised
 * learning (ICLR 2023 submission; only its abstract is public, see METHODS.md). Followed from the
 * abstract: a neural network, the generator, is trained to produce adversarial noise that perturbs
 * each unlabeled sample, replacing domain-specific augmentations; the pretext task is to reconstruct
 * the latent representation of the clean sample from the perturbed one; latent reconstruction is
 * related to multi-dimensional HGR maximal correlation (Soft-HGR, losses/hgr.ts, is reported as a
 * diagnostic and offered as the objective). No domain-specific augmentation is used anywhere.
 *
 * wgrad's reading of what the abstract leaves open (each an option; METHODS.md):
 *   - Generator g (./generator.ts): an MLP for vectors, a 3-layer conv net for images and
 *     spectrograms, δ = ε·tanh(g(x)) (L∞, default) or ε·tanh(‖u‖)·u/‖u‖ (`norm: 'l2'`), x̃ = x + δ,
 *     clipped to `box` only when one is given (default none). Zero-initialized output: δ = 0 at the
 *     start. Deterministic in x (no noise input).
 *   - Encoder f = the model's encoder; predictor h = the model's projection head with output
 *     dimension = the feature dimension (methodModelConfig('aplr', …) sets projDim = featureDim).
 *   - L_rec = mean_n ‖normalize(h(f(x̃_n))) − sg(normalize(f(x_n)))‖² (`distance: 'normalized'`,
 *     default; summed over features) or mean over elements of (h(f(x̃)) − sg(f(x)))² (`'mse'`).
 *     The target is the same online encoder with its gradient stopped (SimSiam-like, default), or,
 *     with `targetMomentum` m (and `state.target`, methodInitState makes it), an exponential moving
 *     average of the encoder, t ← m·t + (1 − m)·f after every step (BYOL-style; run in training
 *     mode on x alone, its BN running statistics dropped). The regularizer's anchor stays f(x).
 *   - `objective: 'softHgr'` trains on −SoftHGR(h(f(x̃)), f(x)) instead, with gradients through both
 *     sides (Wang et al.'s two-branch training); L_rec is then the diagnostic. Either way `parts`
 *     carries both `rec` and `softHgr`: gradient-free diagnostics of h(f(x̃)) against f(x), Soft-HGR
 *     taken of the row-normalized vectors when `distance` is 'normalized' (then it does not grow
 *     with the features' norm; the 'softHgr' objective itself uses the raw vectors).
 *   - Alternating min-max, per step: first `generatorSteps` (default 1) ascent steps of g on
 *     L_rec(+ λ·diversity, `diversity` λ default 0) with the encoder and predictor fixed, on every
 *     `generatorEvery`-th encoder step (default every one), with g's own optimizer
 *     (`generatorOptimizer`; methodStep builds Adam with a constant lr, 1e-3 by default); then x̃ from the updated g is a
 *     constant and one descent step of f and h on L_rec (with `optimizer`).
 *   - BatchNorm: x and x̃ go through the encoder as one batch (`jointForward`, default true). In the
 *     generator's step the encoder runs in training mode (batch statistics, `generatorBn: 'train'`,
 *     default) with its running-statistics update dropped, or on running statistics ('eval'); the
 *     target is stopped in the generator's objective too (g acts through x̃ only).
 *   - Default ε = 0.1 (L∞), the evaluation's budget on [0, 1] images; for standardized tables and
 *     log-mel spectrograms the caller picks its own (the noise is relative to the data's scale).
 *   - The robustness regularizer (`regularizer`) attacks the clean x and reuses f(x) as its anchor
 *     (give it `box: null` for unbounded inputs).
 *
 * State: the step keeps g, its optimizer state and a step counter in `state.generator`
 * (initGeneratorState), and the EMA target's encoder in `state.target` when there is one; a
 * checkpoint of the state holds them like the rest. Every tree of the returned state is new.
 */
import { WgradError } from '../core/backend.js';
import { stopGradient } from '../tensor/alias.js';
import { valueAndGrad } from '../autograd/transforms.js';
import { treeLeaves, treeMap } from '../tensor/tree.js';
import { latentReconstruction, type LatentDistance } from '../losses/latent.js';
import { softHgr, softHgrLoss } from '../losses/hgr.js';
import { split, type Key } from '../random/random.js';
import { add, copy, mul, neg } from '../tensor/ops/elementwise.js';
import { concat, slice } from '../tensor/ops/movement.js';
import { l2Normalize } from '../tensor/ops/nn.js';
import { sum } from '../tensor/ops/reduce.js';
import { dispose, tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Optimizer } from '../optim/optimizers.js';
import { applyUpdates } from '../optim/transforms.js';
import { applyStep, forwardViews, type SslState, type StepResult, withDefaults } from './common.js';
import * as generator from './generator.js';
import type { GeneratorConfig, GeneratorParams } from './generator.js';
import * as model from './model.js';
import type { ModelParams, ModelState } from './model.js';
import { type RegularizerOptions, withRegularizer } from './regularizer.js';

export interface AplrOptions {
  /** The encoder's and predictor's optimizer (from makeOptimizer). */
  optimizer: Optimizer;
  /** The generator's optimizer (its state lives in state.generator.opt). */
  generatorOptimizer: Optimizer;
  /** Radius of the noise (default 0.1). */
  eps?: number;
  /** 'linf' (default) or 'l2'. */
  norm?: 'linf' | 'l2';
  /** Clip x̃ to [lo, hi] (default null: no clipping). */
  box?: readonly [number, number] | null;
  /** L_rec's distance (default 'normalized'). */
  distance?: LatentDistance;
  /** What f and h minimize: L_rec ('reconstruction', default) or −SoftHGR ('softHgr'). */
  objective?: 'reconstruction' | 'softHgr';
  /** λ: weight of the noise diversity the generator maximizes beside the loss (default 0). */
  diversity?: number;
  /** Generator ascent steps per generator update (default 1; 0 freezes g). */
  generatorSteps?: number;
  /** Update g on every k-th encoder step (default 1). */
  generatorEvery?: number;
  /** BN mode of the encoder inside the generator's step (default 'train'). */
  generatorBn?: 'train' | 'eval';
  /** BN momentum (default 0.1). */
  bnMomentum?: number;
  /** x and x̃ through the encoder as one batch (default true). */
  jointForward?: boolean;
  /** The robustness regularizer, added with weight `weight` when given and weight > 0. */
  regularizer?: RegularizerOptions;
  /** EMA momentum m of the target encoder in state.target (used only when the state has one; default 0.99). */
  targetMomentum?: number;
}

export const APLR_DEFAULTS = {
  eps: 0.1, norm: 'linf' as 'linf' | 'l2', box: null as readonly [number, number] | null, distance: 'normalized' as LatentDistance,
  objective: 'reconstruction' as 'reconstruction' | 'softHgr', diversity: 0, generatorSteps: 1, generatorEvery: 1,
  generatorBn: 'train' as 'train' | 'eval', jointForward: true, targetMomentum: 0.99,
};

type Parts = Record<string, Tensor>;

function checkOptions(o: Resolved): void {
  generator.checkNoise('ssl.aplr', o);
  if (o.objective !== 'reconstruction' && o.objective !== 'softHgr') throw new WgradError('ssl.aplr', `objective must be 'reconstruction' or 'softHgr', got ${JSON.stringify(o.objective)}`);
  if (!(o.diversity >= 0 && Number.isFinite(o.diversity))) throw new WgradError('ssl.aplr', `diversity must be a finite number ≥ 0, got ${o.diversity}`);
  if (!(Number.isInteger(o.generatorSteps) && o.generatorSteps >= 0)) throw new WgradError('ssl.aplr', `generatorSteps must be an integer ≥ 0, got ${o.generatorSteps}`);
  if (!(Number.isInteger(o.generatorEvery) && o.generatorEvery >= 1)) throw new WgradError('ssl.aplr', `generatorEvery must be an integer ≥ 1, got ${o.generatorEvery}`);
  if (o.generatorBn !== 'train' && o.generatorBn !== 'eval') throw new WgradError('ssl.aplr', `generatorBn must be 'train' or 'eval', got ${JSON.stringify(o.generatorBn)}`);
}

type Resolved = typeof APLR_DEFAULTS & Partial<AplrOptions>;
const resolve = (opts: Partial<AplrOptions>): Resolved => withDefaults(APLR_DEFAULTS, opts) as Resolved;

/**
 * The APLR objective from the prediction p = h(f(x̃)) and the clean features f(x), both [N, K].
 * Returns [what the encoder minimizes, { rec, softHgr }] (the diagnostics are gradient-free except
 * the one that is the loss itself). `stopTarget` stops f(x)'s gradient in the softHgr objective too.
 */
export function aplrObjective(prediction: Tensor, clean: Tensor, opts: { distance?: LatentDistance; objective?: 'reconstruction' | 'softHgr'; stopTarget?: boolean } = {}): [Tensor, Parts] {
  const distance = opts.distance ?? APLR_DEFAULTS.distance;
  if (prediction.rank !== 2 || prediction.shape.join() !== clean.shape.join()) {
    throw new WgradError('ssl.aplr', `the predictor's output [${prediction.shape}] must match the features [${clean.shape}]: build the model with methodModelConfig('aplr', …) (projDim = featureDim)`);
  }
  const sgP = stopGradient(prediction), sgF = stopGradient(clean);
  // The diagnostic compares the vectors L_rec compares (row-normalized for 'normalized'), so its
  // scale does not follow the features' norm. Soft-HGR needs two rows; a 1-row batch reports 0.
  const hgr = (p: Tensor, f: Tensor) => {
    if (p.shape[0] < 2) return mul(sum(p), 0);
    return distance === 'normalized' ? softHgr(l2Normalize(p, -1), l2Normalize(f, -1)) : softHgr(p, f);
  };
  if ((opts.objective ?? APLR_DEFAULTS.objective) === 'softHgr') {
    const loss = softHgrLoss(prediction, opts.stopTarget ? sgF : clean);
    return [loss, { rec: latentReconstruction(sgP, sgF, { distance }), softHgr: neg(loss) }];
  }
  const rec = latentReconstruction(prediction, sgF, { distance });
  return [rec, { rec, softHgr: hgr(sgP, sgF) }];
}

/**
 * p = h(f(x̃)), f(x) in training mode (one or two BN batches) and the target: f(x) itself, or the EMA
 * encoder's features of x when `target` is given. Returns [p, target, f(x), new BN state].
 */
function predictAndTarget(params: ModelParams, state: ModelState, x: Tensor, xTilde: Tensor, joint: boolean, momentum?: number, target?: Record<string, unknown>): [Tensor, Tensor, Tensor, ModelState] {
  const [[vx, vt], next] = forwardViews(params, state, [x, xTilde], { joint, momentum });
  if (!target) return [model.project(params, vt.features), vx.features, vx.features, next];
  const [ft, dropped] = model.features({ encoder: target, projector: params.projector }, state, x, { training: true });
  dispose(dropped);
  return [model.project(params, vt.features), stopGradient(ft), vx.features, next];
}

/**
 * The loss of f and h at a fixed x̃ (differentiable in params), in the applyStep contract; `target`:
 * the EMA target encoder's parameters (state.target), when the run has one.
 */
export function aplrLoss(params: ModelParams, state: ModelState, x: Tensor, xTilde: Tensor, opts: Partial<AplrOptions> = {}, target?: Record<string, unknown>) {
  const o = resolve(opts);
  const [p, ft, fx, next] = predictAndTarget(params, state, x, xTilde, o.jointForward, o.bnMomentum, target);
  const [loss, parts] = aplrObjective(p, ft, o);
  return [loss, { state: next, parts, anchorFeatures: fx }] as [Tensor, { state: ModelState; parts: Parts; anchorFeatures: Tensor }];
}

/**
 * What the generator maximizes: the loss at x̃ = x + g(x) (target stopped) plus λ·diversity, with the
 * encoder fixed (BN per `generatorBn`, running statistics untouched). Returns [value, { loss, diversity }].
 */
export function generatorObjective(genParams: GeneratorParams, params: ModelParams, state: ModelState, x: Tensor, opts: Partial<AplrOptions> = {}, target?: Record<string, unknown>): [Tensor, Parts] {
  const o = resolve(opts);
  return tidy((): [Tensor, Parts] => {
    const delta = generator.perturbation(genParams, x, o);
    const xTilde = generator.perturb(x, delta, o);
    let p: Tensor, fx: Tensor;
    if (o.generatorBn === 'train') {
      const [pp, ft, , next] = predictAndTarget(params, state, x, xTilde, o.jointForward, o.bnMomentum, target);
      dispose(next);
      [p, fx] = [pp, ft];
    } else {
      const n = x.shape[0];
      const [h, s] = model.features(params, state, concat([x, xTilde], 0), { training: false });
      dispose(s);
      fx = slice(h, [{ start: 0, stop: n }]);
      p = model.project(params, slice(h, [{ start: n, stop: 2 * n }]));
      if (target) {
        const [ht, st] = model.features({ encoder: target, projector: params.projector }, state, x, { training: false });
        dispose(st);
        fx = ht;
      }
    }
    const [loss] = aplrObjective(p, fx, { ...o, stopTarget: true });
    if (o.diversity === 0) return [loss, { loss }];
    const div = generator.diversity(delta, o);
    return [add(loss, mul(div, o.diversity)), { loss, diversity: div }];
  });
}

/** One ascent step of g on generatorObjective; returns g's new params and optimizer state and the objective before the step. */
export function generatorStep(
  genParams: GeneratorParams, genOpt: unknown, params: ModelParams, state: ModelState, x: Tensor, opts: Partial<AplrOptions> & { generatorOptimizer: Optimizer },
  target?: Record<string, unknown>,
): { params: GeneratorParams; opt: unknown; objective: Tensor; parts: Parts } {
  return tidy(() => {
    const negObjective = (g: GeneratorParams): [Tensor, Parts] => {
      const [v, parts] = generatorObjective(g, params, state, x, opts, target);
      return [neg(v), parts];
    };
    const [[negValue, parts], grads] = valueAndGrad(negObjective, { hasAux: true })(genParams);
    const [updates, opt] = opts.generatorOptimizer.update(grads as never, genOpt as never, genParams as never);
    return { params: applyUpdates(genParams, updates as GeneratorParams), opt, objective: neg(negValue), parts };
  });
}

/** A fresh generator for examples of `config.shape`, with its optimizer state and a zero step count. */
export function initGeneratorState(key: Key, config: GeneratorConfig, generatorOptimizer: Optimizer): NonNullable<SslState['generator']> {
  const params = generator.init(key, config);
  return { params, opt: generatorOptimizer.init(params), count: 0 };
}

const copyTree = <T>(t: T): T => treeMap(t, (x) => copy(x));

/** m·target + (1 − m)·online, leaf by leaf (new tensors). */
export function emaUpdate<T>(target: T, online: T, m: number): T {
  if (!(m >= 0 && m <= 1)) throw new WgradError('ssl.aplr', `targetMomentum must be in [0, 1], got ${m}`);
  const on = treeLeaves(online);
  return tidy(() => {
    let i = 0;
    return treeMap(target, (t) => add(mul(t, m), mul(on[i++][1], 1 - m)));
  });
}

/** g after this step's generator updates (new trees), and the generator's parts. */
function updateGenerator(params: ModelParams, state: SslState, x: Tensor, o: Resolved & { generatorOptimizer: Optimizer }) {
  const g = state.generator!;
  let gp = copyTree(g.params), gopt = copyTree(g.opt);
  let parts: Parts | undefined;
  const steps = g.count % o.generatorEvery === 0 ? o.generatorSteps : 0;
  for (let i = 0; i < steps; i++) {
    const r = generatorStep(gp, gopt, params, state.model, x, o, state.target);
    dispose([gp, gopt, parts]);
    [gp, gopt] = [r.params, r.opt];
    parts = { generator: r.objective, ...prefixed(r.parts, r.objective) };
  }
  if (!parts) {
    const [v, p] = generatorObjective(gp, params, state.model, x, o, state.target);
    parts = { generator: v, ...prefixed(p, v) };
  }
  return { gp, gopt, parts };
}

/**
 * The generator's parts renamed generatorX, without `loss` (the objective is reported as
 * `generator`): `loss` is disposed here unless it is `objective` itself.
 */
function prefixed(p: Parts, objective: Tensor): Parts {
  if (p.loss !== objective) p.loss.dispose();
  return Object.fromEntries(Object.entries(p).filter(([k]) => k !== 'loss').map(([k, v]) => [`generator${k[0].toUpperCase()}${k.slice(1)}`, v]));
}

/**
 * One APLR step on a batch x [N, ...]: generator ascent step(s), then the encoder's and predictor's
 * descent step at x̃ = x + g(x). parts: rec, softHgr (at the encoder's step), generator (g's
 * objective before its last update, or at the current g when it is not updated this step),
 * generatorDiversity (λ > 0), reg (with the regularizer).
 */
export function aplrStep(params: ModelParams, state: SslState, x: Tensor, key: Key, opts: AplrOptions): StepResult {
  const o = { ...resolve(opts), optimizer: opts.optimizer, generatorOptimizer: opts.generatorOptimizer };
  checkOptions(o);
  if (!state.generator) throw new WgradError('ssl.aplrStep', 'the state has no generator: create it with initGeneratorState (or methodInitState)');
  const [, kReg] = split(key);
  const { gp, gopt, parts: genParts } = updateGenerator(params, state, x, o);
  const xTilde = tidy(() => stopGradient(generator.apply(gp, x, o)));
  try {
    const r = withRegularizer(params, state, x, x, kReg, o.regularizer, (extra) =>
      applyStep(params, state, o.optimizer, (p, s) => aplrLoss(p, s, x, xTilde, o, state.target), extra));
    const target = state.target && emaUpdate(state.target, r.params.encoder, o.targetMomentum);
    return { ...r, state: { ...r.state, generator: { params: gp, opt: gopt, count: state.generator.count + 1 }, ...(target && { target }) }, parts: { ...r.parts, ...genParts } };
  } finally {
    xTilde.dispose();
  }
}
