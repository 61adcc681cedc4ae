/**
 * wgrad.ssl: adversarial self-supervised learning — SimCLR, RoCL, IDAA (images), APLR and the
 * domain-agnostic noise and masking baselines (tables, spectrograms, images) and the task-agnostic
 * robustness regularizer — as pure training-step functions
 *   step(params, state, batch, key, options) → { params, state, loss, parts }
 * over the model of ./model.ts (encoder + projection head). The command line (`wgrad train`,
 * src/cli) drives them; each method file's header names its paper and every reading chosen where
 * the paper is silent.
 */
export * as model from './model.js';
export type { ModelConfig, ModelParams, ModelState, ApplyOptions } from './model.js';
export * as vae from './vae.js';
export type { VaeConfig, VaeParams, VaeState } from './vae.js';
export { trainVae, startVaeTraining, vaeStopReason, VAE_TRAIN_DEFAULTS, type VaeData, type VaeTraining, type VaeTrainOptions, type VaeEpochRecord } from './vae-train.js';
export {
  makeOptimizer, initState, twoViews, forwardViews, evalEmbedding, evalFeatures, applyStep, withDefaults,
  type SslState, type StepResult, type OptimizerSpec, type CommonOptions, type MethodLoss,
} from './common.js';
export { simclrStep, simclrLoss, SIMCLR_DEFAULTS, type SimclrOptions } from './simclr.js';
export { roclStep, roclLoss, roclAttack, roclObjective, ROCL_DEFAULTS, type RoclOptions } from './rocl.js';
export { idaaStep, idaaLoss, idaaAttack, idaaObjective, IDAA_DEFAULTS, IDAA_BRANCHES, type IdaaOptions } from './idaa.js';
export {
  regularizerAttack, regularizerTerm, squaredShift, withRegularizer, REGULARIZER_DEFAULTS, type RegularizerOptions,
} from './regularizer.js';
export {
  METHOD_NAMES, isMethod, methodModelConfig, methodStep, methodInitState, generatorOptimizer, GENERATOR_LR, type MethodName, type MethodSettings,
} from './methods.js';
export {
  aplrStep, aplrLoss, aplrObjective, generatorObjective, generatorStep, makeGeneratorOptimizer, initGeneratorState, emaUpdate, APLR_DEFAULTS, type AplrOptions,
} from './aplr.js';
export {
  noiseStep, maskStep, noiseView, maskView, noiseViews, maskViews, shuffleColumns, NOISE_DEFAULTS, MASK_DEFAULTS,
  type NoiseOptions as NoiseViewOptions, type MaskOptions,
} from './views.js';
