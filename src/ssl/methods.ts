/**
 * The methods by name, as the command line and `compare` use them: for each, the model it needs
 * (IDAA: BN branches) and its step with the options filled in. The optimizer is the caller's
 * (makeOptimizer); the papers use LARS over SGD (momentum 0.9, trust 0.001, weight decay 1e-6) with
 * a linear warm-up then cosine decay for SimCLR and RoCL, and Adam 3e-4 with cosine decay for IDAA.
 */
import { WgradError } from '../core/backend.js';
import type { Key } from '../random/random.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Optimizer } from '../optim/optimizers.js';
import type { SimclrAugmentOptions } from '../data/augment.js';
import type { SslState, StepResult } from './common.js';
import { idaaStep, IDAA_BRANCHES, IDAA_DEFAULTS } from './idaa.js';
import type { ModelConfig, ModelParams } from './model.js';
import type { RegularizerOptions } from './regularizer.js';
import { roclStep, ROCL_DEFAULTS } from './rocl.js';
import { simclrStep } from './simclr.js';
import type { VaeParams, VaeState } from './vae.js';

export const METHOD_NAMES = ['simclr', 'rocl', 'idaa'] as const;
export type MethodName = (typeof METHOD_NAMES)[number];

export function isMethod(name: string): name is MethodName {
  return (METHOD_NAMES as readonly string[]).includes(name);
}

/** Everything a run's step needs besides (params, state, batch, key). */
export interface MethodSettings {
  method: MethodName;
  /** Attack radius: RoCL's instance-wise attack (L∞, pixels) or IDAA's latent step. */
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
}

/** The model configuration a method needs on top of the encoder's (IDAA: BN branches). */
export function methodModelConfig(method: MethodName, base: ModelConfig): ModelConfig {
  return method === 'idaa' ? { ...base, bnBranches: IDAA_BRANCHES } : { ...base, bnBranches: undefined };
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
    default:
      throw new WgradError('ssl.methodStep', `unknown method ${JSON.stringify((s as { method: unknown }).method)}; expected one of ${METHOD_NAMES.join(', ')}`);
  }
}
