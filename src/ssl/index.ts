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
export { trainVae, startVaeTraining, untrainedVae, vaeStopReason, VAE_TRAIN_DEFAULTS, type VaeData, type VaeTraining, type VaeTrainOptions, type VaeEpochRecord } from './vae-train.js';
export {
  initState, twoViews, forwardViews, evalEmbedding, evalFeatures, applyStep, withDefaults, AUGMENT_GROUP, augmentOf,
  type SslState, type StepResult, type CommonOptions, type MethodLoss, type AugmentSettings,
} from './common.js';
export { simclrStep, simclrLoss, SIMCLR_DEFAULTS, SIMCLR, type SimclrOptions } from './simclr.js';
export { supervisedStep, supervisedLoss, SUPERVISED, SUPERVISED_AT, type AdversarialTraining, type SupervisedAtSettings } from './supervised.js';
export { roclStep, roclLoss, roclAttack, roclObjective, ROCL_DEFAULTS, ROCL, type RoclOptions, type RoclSettings } from './rocl.js';
export { idaaStep, idaaLoss, idaaAttack, idaaObjective, IDAA_DEFAULTS, IDAA_BRANCHES, IDAA, type IdaaOptions, type IdaaSettings } from './idaa.js';
export {
  regularizerAttack, regularizerTerm, squaredShift, withRegularizer, REGULARIZER_DEFAULTS, REGULARIZER_GROUP, regularizerOptions,
  type RegularizerOptions, type RegularizerSettings,
} from './regularizer.js';
export {
  METHODS, methods, methodNames, findMethod, methodRecord, registerMethod, methodOptions, methodModelConfig, methodInitState, methodStep, type AnyMethod,
} from './methods.js';
export {
  DATA_DOMAINS, IMAGES_ONLY, RESNET_HEAD,
  type DataDomain, type EncoderName, type MethodContext, type MethodRecord, type MethodStep, type Pretrain, type PretrainedModel,
} from './method.js';
export {
  aplrStep, aplrLoss, aplrObjective, generatorObjective, generatorStep, makeGeneratorOptimizer, initGeneratorState, emaUpdate, APLR_DEFAULTS, APLR,
  type AplrOptions, type AplrSettings, type AplrState, type GeneratorState,
} from './aplr.js';
export {
  noiseStep, maskStep, noiseView, maskView, noiseViews, maskViews, shuffleColumns, NOISE_DEFAULTS, MASK_DEFAULTS, NOISE, MASK,
  type NoiseOptions as NoiseViewOptions, type MaskOptions,
} from './views.js';
