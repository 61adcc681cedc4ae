/**
 * What a self-supervised method is to the rest of wgrad: one record, declared at the end of the
 * method's own file (./simclr.ts, ./rocl.ts, ./idaa.ts, ./aplr.ts, ./views.ts) and listed in
 * ./methods.ts. The record holds everything that is particular to the method — its name, the data
 * domains it supports, its options with their defaults (the one place they live) and the flags
 * that set them, which of them must match on --resume, its model configuration, its own state
 * beside the model's and the optimizer's, a model it trains first (IDAA's VAE) and its step — so
 * that the command line (src/cli) derives its flags, --help text, resume and domain checks, default
 * optimizer and `compare` defaults from the list, and a new method is one file plus one line in
 * ./methods.ts (or one registerMethod call).
 *
 * Options shared by several methods are groups declared once beside what they configure: the image
 * augmentation (AUGMENT_GROUP, ./common.ts) and the robustness regularizer (REGULARIZER_GROUP,
 * ./regularizer.ts, addable to any method).
 */
import type { OptionGroup } from '../core/options.js';
import type { Key } from '../random/random.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Optimizer } from '../optim/optimizers.js';
import type { OptimizerName, OptimizerSpec } from '../optim/spec.js';
import type { SslState, StepResult } from './common.js';
import type { ModelConfig, ModelParams, ModelState } from './model.js';
import type { RegularizerOptions } from './regularizer.js';
import type { VaeTrainOptions } from './vae-train.js';

/** The kinds of data a run can take: images [C, H, W] in [0, 1], standardized tables [D], log-mel spectrograms [1, mels, frames]. */
export const DATA_DOMAINS = ['image', 'tabular', 'audio'] as const;
/** The kinds of data a method trains on. */
export type DataDomain = (typeof DATA_DOMAINS)[number];

/** The encoders an SSL model can have. */
export type EncoderName = NonNullable<ModelConfig['encoder']>;

/** What a method's state and step are built with besides its options. */
export interface MethodContext {
  /** The model's configuration (the record's modelConfig applied), input shape included. */
  modelConfig: ModelConfig;
  /** The encoder's optimizer and the spec it was built from (a method may build one of its own with the same schedule). */
  optimizer: Optimizer;
  optimizerSpec: OptimizerSpec;
  /** The input box of the data's domain: [0, 1] for images, null for standardized tables and log-mels. */
  box: readonly [number, number] | null;
  /** The robustness regularizer, when it is on (weight β > 0). */
  regularizer?: RegularizerOptions;
  /** What the record's `pretrain` trained (IDAA: its VAE); given to the step. */
  pretrained?: PretrainedModel;
}

/** A model trained before the encoder: its parameters, and its BN state and optimizer state. */
export interface PretrainedModel {
  params: unknown;
  state: { model: unknown; opt: unknown };
}

/**
 * A model a method trains before the encoder (IDAA: its VAE, trained by ./vae-train.ts to
 * convergence on the method's augmented views). It is trained once per data set, key and training
 * options: the command line caches it beside the run directory (src/cli/vae-cache.ts), reuses it for
 * every run with the same ones and keeps a copy in the run's checkpoint.
 */
export interface Pretrain<O> {
  /** Its phase name in logs and metrics.jsonl (IDAA: 'vae'). */
  phase: string;
  /** Its training options, from the method's options. */
  options(o: O): VaeTrainOptions;
}

/** A method's training step with its options bound; `labels` (int32 [N]) are given to a `supervised` record's step only. */
export type MethodStep<S extends SslState = SslState> = (params: ModelParams, state: S, x: Tensor, key: Key, labels?: Tensor) => StepResult<S>;

/**
 * A self-supervised method. `O` is its options (JSON-able: a run directory records them), `S` its
 * training state: { model, opt } plus the method's own fields (APLR: its generator).
 */
export interface MethodRecord<O extends object = Record<string, unknown>, S extends SslState = SslState> extends OptionGroup<O> {
  name: string;
  /** One line for --help. */
  summary: string;
  /** The data it supports. */
  domains: readonly DataDomain[];
  /** Why it supports only those (the usage error's reason), e.g. "its augmentations assume pixels in [0, 1]". */
  domainReason?: string;
  /** The encoders it works with (default: every one). */
  encoders?: readonly EncoderName[];
  /** The optimizer its paper trains with (the command line's default; its learning rate is the optimizer's default). */
  optimizer: OptimizerName;
  /**
   * A supervised reference (./supervised.ts), not a self-supervised method: its step takes the
   * batch's labels, and its projection head outputs one logit per class (the command line sets the
   * head's output to the data's number of classes).
   */
  supervised?: boolean;
  /** The domains on which `wgrad compare` runs it by default. */
  compare?: readonly DataDomain[];
  /** The projection head on the ResNet encoder when not given (default RESNET_HEAD, SimCLR's 2048 → 128). */
  resnetHead?: { projHidden: number; projDim: number };
  /**
   * The values of options that a stored run lacks because it was written before they existed: what
   * the code did then (default: the option's default). E.g. APLR's generator schedule was constant.
   */
  before?: Partial<O>;
  /**
   * The version of what the method stores (its own state, its pretrained model), raised when a change
   * makes older stored state unusable by its step: runs stored with another version are refused on
   * --resume (their encoders can still be evaluated). Default 1.
   */
  version?: number;
  /** Options that must match when a run is resumed (default: every option). */
  resume?: readonly (keyof O & string)[];
  /** The model configuration it needs on top of the encoder's (IDAA: BN branches; APLR: projDim = featureDim). */
  modelConfig?(base: ModelConfig, o: O): ModelConfig;
  /** A model trained before the encoder (IDAA: its VAE). */
  pretrain?: Pretrain<O>;
  /** Its initial state (default: initState's { model, opt }); `key` is for its own parameters (APLR: the generator's init). */
  init?(params: ModelParams, modelState: ModelState, key: Key, o: O, ctx: MethodContext): S;
  /** Its step with the options bound. */
  step(o: O, ctx: MethodContext): MethodStep<S>;
}

/** SimCLR's projection head on a ResNet (2048 → 128; RoCL's too): the default of MethodRecord.resnetHead. */
export const RESNET_HEAD = { projHidden: 2048, projDim: 128 };

/** The domain declaration of a method that needs images in [0, 1] (spread into its record). */
export const IMAGES_ONLY = { domains: ['image'], domainReason: 'its augmentations and attacks assume pixels in [0, 1]' } as const;
