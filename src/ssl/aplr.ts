/**
 * APLR — Adversarial Perturbation based Latent Reconstruction for domain-agnostic self-supervised
 * learning (ICLR 2023 submission; only its abstract is public, see docs/methods.md#aplr). Followed from the
 * abstract: a neural network, the generator, is trained to produce adversarial noise that perturbs
 * each unlabeled sample, replacing domain-specific augmentations; the pretext task is to reconstruct
 * the latent representation of the clean sample from the perturbed one; latent reconstruction is
 * related to multi-dimensional HGR maximal correlation (Soft-HGR, losses/hgr.ts, is reported as a
 * diagnostic and offered as the objective). No domain-specific augmentation is used anywhere.
 *
 * wgrad's reading of what the abstract leaves open (each an option; docs/methods.md#aplr-generator):
 *   - Generator g (attacks/generator.ts): an MLP for vectors, a 3-layer conv net for images and
 *     spectrograms, δ = ε·tanh(g(x)) (L∞, default) or ε·tanh(‖u‖)·u/‖u‖ (`norm: 'l2'`), x̃ = x + δ,
 *     clipped to `box` only when one is given (APLR's default: none). Zero-initialized output:
 *     δ = 0 at the start. Deterministic in x (no noise input).
 *   - The ablations the paper's claim needs (`perturbation`): 'learned' (default, the method),
 *     'zero' (δ = 0: x̃ = x, the plain latent-reconstruction pretext task) and 'random' (δ drawn
 *     uniformly from the same ball at every step, generator.uniformNoise; not learned).
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
 *     (`generatorOptimizer`, from makeGeneratorOptimizer: Adam at `generatorLr`, default 1e-3, whose
 *     rate follows the encoder's schedule shape — `generatorSchedule: 'encoder'`, default — so that
 *     the adversary slows down as the encoder does; 'constant' keeps generatorLr, under which L_rec
 *     rose late in training once the encoder's rate had decayed); then x̃ from the updated g is a
 *     constant and one descent step of f and h on L_rec (with `optimizer`). The step logs L_rec and
 *     ‖x̃ − x‖ before g's update (`recBefore`, `deltaBefore`) and after it (`rec`, `delta`).
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
import { treeLeaves, treeMap } from '../tensor/tree.js';
import { latentReconstruction, type LatentDistance } from '../losses/latent.js';
import { softHgr, softHgrLoss } from '../losses/hgr.js';
import { split, type Key } from '../random/random.js';
import { add, copy, mul, neg, sub } from '../tensor/ops/elementwise.js';
import { concat, slice } from '../tensor/ops/movement.js';
import { l2Normalize } from '../tensor/ops/nn.js';
import { sum } from '../tensor/ops/reduce.js';
import { dispose, tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Optimizer } from '../optim/optimizers.js';
import { checkBall } from '../attacks/common.js';
import * as generator from '../attacks/generator.js';
import type { GeneratorConfig, GeneratorParams } from '../attacks/generator.js';
import { applyStep, forwardViews, type SslState, type StepResult, withDefaults } from './common.js';
import { makeOptimizer, type OptimizerSpec } from '../optim/spec.js';
import * as model from './model.js';
import type { ModelParams, ModelState } from './model.js';
import { type RegularizerOptions, withRegularizer } from './regularizer.js';
import { type MethodContext, type MethodRecord } from './method.js';
import { initState } from './common.js';

/** Options of APLR: the optimizers, the attack, the objective and the generator schedule. */
export interface AplrOptions {
  /** The encoder's and predictor's optimizer (from makeOptimizer). */
  optimizer: Optimizer;
  /** The generator's optimizer (makeGeneratorOptimizer; its state lives in state.generator.opt). */
  generatorOptimizer: Optimizer;
  /** What x̃ − x is: g's learned δ ('learned', default), 0 ('zero') or uniform in the ball, drawn anew each step ('random'). */
  perturbation?: 'learned' | 'zero' | 'random';
  /** The generator's peak Adam learning rate (makeGeneratorOptimizer; default 1e-3). */
  generatorLr?: number;
  /** The generator's schedule: the encoder's shape scaled to generatorLr ('encoder', default) or constant (makeGeneratorOptimizer). */
  generatorSchedule?: 'encoder' | 'constant';
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

/** APLR's defaults (where each comes from: the module header). */
export const APLR_DEFAULTS = {
  eps: 0.1, norm: 'linf' as 'linf' | 'l2', box: null as readonly [number, number] | null, distance: 'normalized' as LatentDistance,
  objective: 'reconstruction' as 'reconstruction' | 'softHgr', diversity: 0, generatorSteps: 1, generatorEvery: 1,
  generatorBn: 'train' as 'train' | 'eval', jointForward: true, targetMomentum: 0.99,
  perturbation: 'learned' as 'learned' | 'zero' | 'random', generatorLr: 1e-3, generatorSchedule: 'encoder' as 'encoder' | 'constant',
};

/** The generator in APLR's state: its parameters, its optimizer state and the encoder steps taken. */
export interface GeneratorState {
  params: GeneratorParams;
  opt: unknown;
  count: number;
}

/** APLR's training state: the shared one, its generator and, with an EMA target, the target encoder. */
export interface AplrState extends SslState {
  generator?: GeneratorState;
  target?: Record<string, unknown>;
}

type Parts = Record<string, Tensor>;

const oneOf = (name: string, v: unknown, allowed: readonly string[]) => {
  if (!allowed.includes(v as string)) throw new WgradError('ssl.aplr', `${name} must be ${allowed.map((a) => `'${a}'`).join(' or ')}, got ${JSON.stringify(v)}`);
};

/** The options the generator's optimizer is built from (makeGeneratorOptimizer). */
function checkGeneratorSchedule(o: Resolved): void {
  if (!(o.generatorLr > 0 && Number.isFinite(o.generatorLr))) throw new WgradError('ssl.aplr', `generatorLr must be a finite number > 0, got ${o.generatorLr}`);
  oneOf('generatorSchedule', o.generatorSchedule, ['encoder', 'constant']);
  if (!(Number.isInteger(o.generatorSteps) && o.generatorSteps >= 0)) throw new WgradError('ssl.aplr', `generatorSteps must be an integer ≥ 0, got ${o.generatorSteps}`);
  if (!(Number.isInteger(o.generatorEvery) && o.generatorEvery >= 1)) throw new WgradError('ssl.aplr', `generatorEvery must be an integer ≥ 1, got ${o.generatorEvery}`);
}

function checkOptions(o: Resolved): void {
  checkBall('ssl.aplr', o);
  oneOf('perturbation', o.perturbation, ['learned', 'zero', 'random']);
  oneOf('objective', o.objective, ['reconstruction', 'softHgr']);
  if (!(o.diversity >= 0 && Number.isFinite(o.diversity))) throw new WgradError('ssl.aplr', `diversity must be a finite number ≥ 0, got ${o.diversity}`);
  checkGeneratorSchedule(o);
  oneOf('generatorBn', o.generatorBn, ['train', 'eval']);
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
 * What the generator maximizes at x̃ = x + δ (clipped, as generator.perturb gives it): the loss
 * (target stopped) plus λ·diversity(δ), with the encoder fixed (BN per `generatorBn`, running
 * statistics untouched). Returns [value, { rec, delta, diversity? }]: L_rec and ‖x̃ − x‖
 * (generator.meanNorm, in the ball's norm) there, and the diversity when λ > 0.
 */
function objectiveAt(xTilde: Tensor, delta: Tensor, params: ModelParams, state: ModelState, x: Tensor, o: Resolved, target?: Record<string, unknown>): [Tensor, Parts] {
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
  const [loss, { rec }] = aplrObjective(p, fx, { ...o, stopTarget: true });
  const parts = { rec: stopGradient(rec), delta: generator.meanNorm(stopGradient(sub(xTilde, x)), o.norm) };
  if (o.diversity === 0) return [loss, parts];
  const div = generator.diversity(delta, o);
  return [add(loss, mul(div, o.diversity)), { ...parts, diversity: div }];
}

/** generatorObjective's value and parts (objectiveAt's) at g's x̃ = x + g(x). */
export function generatorObjective(genParams: GeneratorParams, params: ModelParams, state: ModelState, x: Tensor, opts: Partial<AplrOptions> = {}, target?: Record<string, unknown>): [Tensor, Parts] {
  const o = resolve(opts);
  return tidy(() => {
    const delta = generator.perturbation(genParams, x, o);
    return objectiveAt(generator.perturb(x, delta, o), delta, params, state, x, o, target);
  });
}

/** One ascent step of g on generatorObjective; returns g's new params and optimizer state, and the objective and its parts before the step. */
export function generatorStep(
  genParams: GeneratorParams, genOpt: unknown, params: ModelParams, state: ModelState, x: Tensor, opts: Partial<AplrOptions> & { generatorOptimizer: Optimizer },
  target?: Record<string, unknown>,
): { params: GeneratorParams; opt: unknown; objective: Tensor; parts: Parts } {
  const o = resolve(opts);
  const r = generator.step(genParams, genOpt, x, (xt, delta) => objectiveAt(xt, delta, params, state, x, o, target), { ...o, optimizer: opts.generatorOptimizer });
  return { params: r.params, opt: r.optState, objective: r.value, parts: r.parts };
}

/**
 * The generator's optimizer: Adam (a reading; the paper does not say) at peak rate `generatorLr`.
 * With `generatorSchedule: 'encoder'` (default) its rate has the shape of the encoder's schedule
 * (the run's spec `encoder`: linear warm-up then cosine decay to 0, or constant), stretched over the
 * generator's own updates (generatorSteps per update, an update every generatorEvery encoder
 * steps), so both players slow down together. With 'constant' it keeps generatorLr throughout:
 * once the encoder's rate has decayed, the adversary then moves unopposed and L_rec rises late in
 * training.
 */
export function makeGeneratorOptimizer(encoder: OptimizerSpec, opts: Partial<AplrOptions> = {}): Optimizer {
  const o = resolve(opts);
  checkGeneratorSchedule(o);
  const updates = Math.ceil(encoder.totalSteps / o.generatorEvery) * o.generatorSteps;
  return makeOptimizer({
    name: 'adam', lr: o.generatorLr, schedule: o.generatorSchedule === 'constant' ? 'constant' : encoder.schedule,
    warmupSteps: (encoder.warmupSteps * updates) / encoder.totalSteps, totalSteps: Math.max(1, updates),
  });
}

/** A fresh generator for examples of `config.shape`, with its optimizer state and a zero step count. */
export function initGeneratorState(key: Key, config: GeneratorConfig, generatorOptimizer: Optimizer): GeneratorState {
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

/**
 * g after this step's generator updates (new trees), and the parts that report them, taken before
 * the first update (at the current g when none is due): `generator` (g's objective), `recBefore`
 * and `deltaBefore` (L_rec and ‖x̃ − x‖), `generatorDiversity` (λ > 0).
 */
function updateGenerator(params: ModelParams, state: AplrState, x: Tensor, o: Resolved & { generatorOptimizer: Optimizer }) {
  const g = state.generator!;
  let gp = copyTree(g.params), gopt = copyTree(g.opt);
  let before: Parts | undefined;
  const steps = g.count % o.generatorEvery === 0 ? o.generatorSteps : 0;
  for (let i = 0; i < steps; i++) {
    const r = generatorStep(gp, gopt, params, state.model, x, o, state.target);
    dispose([gp, gopt]);
    [gp, gopt] = [r.params, r.opt];
    if (before) dispose([r.objective, r.parts]);
    else before = beforeParts(r.objective, r.parts);
  }
  before ??= beforeParts(...generatorObjective(gp, params, state.model, x, o, state.target));
  return { gp, gopt, parts: before };
}

const beforeParts = (value: Tensor, { rec, delta, diversity }: Parts): Parts =>
  ({ generator: value, recBefore: rec, deltaBefore: delta, ...(diversity && { generatorDiversity: diversity }) });

/** x̃ for the encoder's step (a constant of its loss) per `perturbation`, and ‖x̃ − x‖. */
function perturbedInput(x: Tensor, key: Key, o: Resolved, gp?: GeneratorParams): [Tensor, Tensor] {
  return tidy(() => {
    const delta = o.perturbation === 'learned' ? generator.perturbation(gp!, x, o)
      : o.perturbation === 'random' ? generator.uniformNoise(key, x.shape, o)
      : mul(x, 0);
    const xTilde = stopGradient(generator.perturb(x, delta, o));
    return [xTilde, generator.meanNorm(sub(xTilde, x), o.norm)];
  });
}

/**
 * One APLR step on a batch x [N, ...]: with `perturbation: 'learned'`, generator ascent step(s)
 * first, then the encoder's and predictor's descent step at x̃ = x + δ. parts: rec and softHgr (at
 * the encoder's step: after g's update), delta (‖x̃ − x‖ there, generator.meanNorm in the ball's
 * norm), reg (with the regularizer); learned only: generator, recBefore, deltaBefore and
 * generatorDiversity (λ > 0), before g's update (updateGenerator).
 */
export function aplrStep(params: ModelParams, state: AplrState, x: Tensor, key: Key, opts: AplrOptions): StepResult<AplrState> {
  const o = { ...resolve(opts), optimizer: opts.optimizer, generatorOptimizer: opts.generatorOptimizer };
  checkOptions(o);
  const learned = o.perturbation === 'learned';
  if (learned && !state.generator) throw new WgradError('ssl.aplrStep', "the state has no generator: create it with initGeneratorState (or the APLR record's init)");
  const [kNoise, kReg] = split(key);
  // The other perturbations leave a generator in the state as it is (a fresh copy: the step returns new trees).
  const gen = learned ? updateGenerator(params, state, x, o)
    : state.generator && { gp: copyTree(state.generator.params), gopt: copyTree(state.generator.opt), parts: {} };
  const [xTilde, delta] = perturbedInput(x, kNoise, o, gen?.gp);
  try {
    const r = withRegularizer(params, state, x, x, kReg, o.regularizer, (extra) =>
      applyStep(params, state, o.optimizer, (p, s) => aplrLoss(p, s, x, xTilde, o, state.target), extra));
    const target = state.target && emaUpdate(state.target, r.params.encoder, o.targetMomentum);
    const generatorState = gen && { generator: { params: gen.gp, opt: gen.gopt, count: state.generator!.count + 1 } };
    return { ...r, state: { ...r.state, ...generatorState, ...(target && { target }) }, parts: { ...r.parts, delta, ...gen?.parts } };
  } catch (e) {
    dispose([gen, delta]);
    throw e;
  } finally {
    xTilde.dispose();
  }
}

/** APLR's options as flags (defaults: APLR_DEFAULTS). */
export interface AplrSettings {
  eps: number;
  objective: 'reconstruction' | 'softHgr';
  perturbation: 'learned' | 'zero' | 'random';
  generatorLr: number;
  generatorSchedule: 'encoder' | 'constant';
  generatorSteps: number;
  generatorEvery: number;
}

/** The generator's optimizer of a run: makeGeneratorOptimizer over the encoder's spec. */
const runGeneratorOptimizer = (o: AplrSettings, ctx: MethodContext) => makeGeneratorOptimizer(ctx.optimizerSpec, o);

/** APLR as a method record (./method.ts): on every domain, with the data's box; its generator is its own state. */
export const APLR: MethodRecord<AplrSettings, AplrState> = {
  name: 'aplr',
  summary: 'APLR: reconstruct the clean latent from an input perturbed by a learned adversarial generator (no augmentation)',
  domains: ['image', 'tabular', 'audio'],
  optimizer: 'adam',
  compare: ['image', 'tabular', 'audio'],
  defaults: {
    eps: APLR_DEFAULTS.eps, objective: APLR_DEFAULTS.objective, perturbation: APLR_DEFAULTS.perturbation, generatorLr: APLR_DEFAULTS.generatorLr,
    generatorSchedule: APLR_DEFAULTS.generatorSchedule, generatorSteps: APLR_DEFAULTS.generatorSteps, generatorEvery: APLR_DEFAULTS.generatorEvery,
  },
  // Runs written before these options existed trained a learned generator at a constant rate.
  before: { perturbation: 'learned', generatorSchedule: 'constant' },
  flags: [
    { flag: 'eps', key: 'eps', spec: { kind: 'number', min: 0, help: 'L∞ radius of the generator\'s noise (units of the data)' } },
    { flag: 'aplr-objective', key: 'objective', spec: { kind: 'string', choices: ['reconstruction', 'softHgr'], help: 'the encoder\'s objective: L_rec (as specified) or −Soft-HGR between prediction and clean features' } },
    { flag: 'aplr-perturbation', key: 'perturbation', spec: { kind: 'string', choices: ['learned', 'zero', 'random'], help: 'x̃ − x: the generator\'s δ, 0, or uniform in the ball each step (the ablations)' } },
    { flag: 'generator-lr', key: 'generatorLr', spec: { kind: 'number', above: 0, help: 'the generator\'s peak learning rate (Adam)' } },
    { flag: 'generator-schedule', key: 'generatorSchedule', spec: { kind: 'string', choices: ['encoder', 'constant'], help: 'the generator\'s learning-rate schedule: the encoder\'s shape, or constant' } },
    { flag: 'generator-steps', key: 'generatorSteps', spec: { kind: 'int', min: 0, max: 1000, help: 'generator ascent steps per update (0 freezes it at its initial δ = 0)' } },
    { flag: 'generator-every', key: 'generatorEvery', spec: { kind: 'int', min: 1, max: 1000000, value: 'K', help: 'update the generator every K encoder steps (the step ratio)' } },
  ],
  modelConfig: (base) => ({ ...base, bnBranches: undefined, projDim: model.resolveConfig(base).featureDim }),
  init: (params, modelState, key, o, ctx) => {
    const c = model.resolveConfig(ctx.modelConfig);
    const kind = c.encoder === 'mlp' ? 'mlp' : 'conv';
    return { ...initState(params, modelState, ctx.optimizer), generator: initGeneratorState(key, { kind, shape: c.inputShape }, runGeneratorOptimizer(o, ctx)) };
  },
  step: (o, ctx) => {
    const opts: AplrOptions = { ...o, optimizer: ctx.optimizer, generatorOptimizer: runGeneratorOptimizer(o, ctx), box: ctx.box, regularizer: ctx.regularizer };
    return (p, st, x, k) => aplrStep(p, st, x, k, opts);
  },
};
