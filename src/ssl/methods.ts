/**
 * The methods by name, as the command line and `compare` use them: for each, the model it needs
 * (IDAA: BN branches; APLR: a predictor with output = feature dimension), its initial state (APLR:
 * plus its generator) and its step with the options filled in. The optimizer is the caller's
 * (makeOptimizer); the papers use LARS over SGD (momentum 0.9, trust 0.001, weight decay 1e-6) with
 * a linear warm-up then cosine decay for SimCLR and RoCL, and Adam 3e-4 with cosine decay for IDAA.
 * APLR's generator has its own optimizer, built here from the settings (Adam, constant
 * `generatorLr`, default 1e-3: a reading, the paper does not say).
 *
 * 'simclr', 'rocl', 'idaa' use image augmentations (images in [0, 1]); 'aplr', 'noise' and 'mask'
 * are domain-agnostic and take any batch [N, ...] (tables with the 'mlp' encoder, spectrograms and
 * images with the 'cnn').
 */
import { WgradError } from '../core/backend.js';
import type { Key } from '../random/random.js';
import { copy } from '../tensor/ops/elementwise.js';
import { treeMap } from '../tensor/tree.js';
import type { Tensor } from '../tensor/tensor.js';
import { adam, type Optimizer } from '../optim/optimizers.js';
import type { SimclrAugmentOptions } from '../data/augment.js';
import { aplrStep, APLR_DEFAULTS, initGeneratorState } from './aplr.js';
import { initState, type SslState, type StepResult } from './common.js';
import type { GeneratorKind } from './generator.js';
import { idaaStep, IDAA_BRANCHES, IDAA_DEFAULTS } from './idaa.js';
import { resolveConfig, type ModelConfig, type ModelParams, type ModelState } from './model.js';
import type { RegularizerOptions } from './regularizer.js';
import { roclStep, ROCL_DEFAULTS } from './rocl.js';
import { simclrStep } from './simclr.js';
import type { VaeParams, VaeState } from './vae.js';
import { maskStep, noiseStep } from './views.js';

export const METHOD_NAMES = ['simclr', 'rocl', 'idaa', 'aplr', 'noise', 'mask'] as const;
export type MethodName = (typeof METHOD_NAMES)[number];

export function isMethod(name: string): name is MethodName {
  return (METHOD_NAMES as readonly string[]).includes(name);
}

/** Everything a run's step needs besides (params, state, batch, key). */
export interface MethodSettings {
  method: MethodName;
  /** Attack radius: RoCL's instance-wise attack (L∞, pixels), IDAA's latent step, APLR's noise radius. */
  eps?: number;
  /** RoCL: attack step size (default ε/4 when eps is given, else RoCL's 0.007). */
  alpha?: number;
  /** RoCL: attack steps. */
  attackSteps?: number;
  /** RoCL λ. */
  lambda?: number;
  /** IDAA α. */
  advWeight?: number;
  temperature?: number;
  augment?: SimclrAugmentOptions;
  regularizer?: RegularizerOptions;
  /** noise: σ of the Gaussian views (default 0.1). */
  noiseStd?: number;
  /** mask: mask probability (default 0.3) and what masked entries become (default 'marginal'). */
  maskProb?: number;
  maskFill?: 'marginal' | 'zero';
  /** APLR: the noise ball's norm (default 'linf') and an input box to clip x̃ to (default none). */
  norm?: 'linf' | 'l2';
  box?: readonly [number, number] | null;
  /** APLR: L_rec's distance (default 'normalized'), the encoder's objective (default 'reconstruction'). */
  distance?: 'normalized' | 'mse';
  objective?: 'reconstruction' | 'softHgr';
  /** APLR: weight λ of the generator's diversity term (default 0). */
  diversity?: number;
  /** APLR: generator steps per update (default 1), update every k encoder steps (default 1), its Adam lr (default 1e-3). */
  generatorSteps?: number;
  generatorEvery?: number;
  generatorLr?: number;
  /** APLR: the generator's network (default 'mlp' for the 'mlp' encoder, else 'conv'), MLP hidden widths, conv width. */
  generator?: GeneratorKind;
  generatorHidden?: readonly number[];
  generatorWidth?: number;
  /** APLR: an EMA target encoder with this momentum (default: none, the online encoder with stop-gradient). */
  targetMomentum?: number;
}

export const GENERATOR_LR = 1e-3;

/** The model configuration a method needs on top of the encoder's (IDAA: BN branches; APLR: projDim = featureDim). */
export function methodModelConfig(method: MethodName, base: ModelConfig): ModelConfig {
  if (method === 'idaa') return { ...base, bnBranches: IDAA_BRANCHES };
  if (method === 'aplr') return { ...base, bnBranches: undefined, projDim: resolveConfig(base).featureDim };
  return { ...base, bnBranches: undefined };
}

/** APLR's generator optimizer (Adam, constant lr). */
export function generatorOptimizer(s: MethodSettings): Optimizer {
  const lr = s.generatorLr ?? GENERATOR_LR;
  if (!(lr > 0)) throw new WgradError('ssl.generatorOptimizer', `generatorLr must be positive, got ${lr}`);
  return adam({ lr }) as Optimizer;
}

/**
 * A method's initial training state: the model's BN state and the optimizer's (initState), plus,
 * for APLR, its generator for examples of the model's input shape (key: the generator's init).
 */
export function methodInitState(s: MethodSettings, key: Key, params: ModelParams, modelState: ModelState, optimizer: Optimizer, modelConfig: ModelConfig): SslState {
  const st = initState(params, modelState, optimizer);
  if (s.method !== 'aplr') return st;
  const c = resolveConfig(modelConfig);
  const kind = s.generator ?? (c.encoder === 'mlp' ? 'mlp' : 'conv');
  const generator = initGeneratorState(key, { kind, shape: c.inputShape, hidden: s.generatorHidden, width: s.generatorWidth }, generatorOptimizer(s));
  if (s.targetMomentum === undefined) return { ...st, generator };
  return { ...st, generator, target: treeMap(params.encoder, (t) => copy(t)) };
}

/** A step function for the method with its options bound. */
export function methodStep(
  s: MethodSettings, optimizer: Optimizer, vae?: { params: VaeParams; state: VaeState },
): (params: ModelParams, state: SslState, x: Tensor, key: Key) => StepResult {
  const common = { optimizer, temperature: s.temperature, augment: s.augment, regularizer: s.regularizer };
  switch (s.method) {
    case 'simclr':
      return (p, st, x, k) => simclrStep(p, st, x, k, common);
    case 'rocl': {
      const eps = s.eps ?? ROCL_DEFAULTS.eps;
      const alpha = s.alpha ?? (s.eps !== undefined ? eps / 4 : ROCL_DEFAULTS.alpha);
      const o = { ...common, eps, alpha, steps: s.attackSteps, lambda: s.lambda };
      return (p, st, x, k) => roclStep(p, st, x, k, o);
    }
    case 'idaa': {
      if (!vae) throw new WgradError('ssl.methodStep', 'IDAA needs its trained VAE');
      const o = { ...common, vae, eps: s.eps ?? IDAA_DEFAULTS.eps, alpha: s.advWeight };
      return (p, st, x, k) => idaaStep(p, st, x, k, o);
    }
    case 'aplr': {
      const o = {
        optimizer, generatorOptimizer: generatorOptimizer(s), regularizer: s.regularizer, eps: s.eps ?? APLR_DEFAULTS.eps, norm: s.norm, box: s.box,
        distance: s.distance, objective: s.objective, diversity: s.diversity, generatorSteps: s.generatorSteps, generatorEvery: s.generatorEvery,
        targetMomentum: s.targetMomentum,
      };
      return (p, st, x, k) => aplrStep(p, st, x, k, o);
    }
    case 'noise': {
      const o = { optimizer, temperature: s.temperature, regularizer: s.regularizer, sigma: s.noiseStd };
      return (p, st, x, k) => noiseStep(p, st, x, k, o);
    }
    case 'mask': {
      const o = { optimizer, temperature: s.temperature, regularizer: s.regularizer, p: s.maskProb, fill: s.maskFill };
      return (p, st, x, k) => maskStep(p, st, x, k, o);
    }
    default:
      throw new WgradError('ssl.methodStep', `unknown method ${JSON.stringify((s as { method: unknown }).method)}; expected one of ${METHOD_NAMES.join(', ')}`);
  }
}
