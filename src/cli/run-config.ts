/**
 * A run as its directory stores it (RunCheckpoint: the configuration, the trained trees, the epochs
 * done) and its configuration: the settings every run has (data, budget,
 * encoder, optimizer, seed), the method's options (its record's, src/ssl/method.ts) and the
 * regularizer's when it is on. What must match on --resume is read from the method's record.
 *
 * Runs written before the records (checkpoint version 1) kept every method's hyperparameters as flat
 * fields named after their flags (eps, alpha, attackSteps, regSteps, generatorLr, noiseStd, …):
 * upgradeConfig rebuilds the options from them, flag by flag, so those runs resume and evaluate.
 */
import { WgradError } from '../core/backend.js';
import { makeOptimizer, type OptimizerName, type OptimizerSpec } from '../optim/spec.js';
import { foldIn, key as prngKey, split, type Key } from '../random/random.js';
import * as ssl from '../ssl/index.js';
import type { Domain, HostDataset, Preprocessing } from './data.js';

export interface RunConfig {
  /** The method's record name (src/ssl/methods.ts). */
  method: string;
  /** The version of the method's stored state (its record's; absent: 1). */
  methodVersion?: number;
  /** β of the robustness regularizer (0: off). */
  regularizer: number;
  data: string;
  /** The data's domain (image, tabular, audio); absent in checkpoints written before tables and audio (images). */
  domain?: Domain;
  trainLimit?: number;
  testLimit?: number;
  epochs: number;
  batch: number;
  seed: number;
  /** 'mlp' for tables (examples [D]), 'cnn' or 'resnet' for images and spectrograms [C, H, W]. */
  encoder: ssl.EncoderName;
  width: number;
  /** MLP encoder: hidden widths before the feature layer. */
  hidden?: number[];
  featureDim?: number;
  /** Projection head hidden width (default: the feature dimension). */
  projHidden?: number;
  projDim: number;
  optimizer: OptimizerName;
  lr: number;
  warmupEpochs: number;
  /** The method's options (its record's defaults, overridden by the flags given). */
  options: Record<string, unknown>;
  /** The regularizer's options (REGULARIZER_GROUP) when β > 0. */
  regularizerOptions?: ssl.RegularizerSettings;
}

export interface EpochRecord {
  /** 'encoder', or the phase of the model the method trains first (IDAA: 'vae'). */
  phase: string;
  epoch: number;
  loss: number;
  parts: Record<string, number>;
  seconds: number;
  imagesPerSec: number;
}

export interface RunCheckpoint {
  format: 'wgrad-ssl-run';
  /** RUN_VERSION (./run-config.ts; version 1 configurations are upgraded on load). */
  version: number;
  config: RunConfig;
  modelConfig: ssl.ModelConfig;
  /** Epochs done of the model the method trains first (its record's pretrain; IDAA: its VAE). */
  vaeEpochsDone: number;
  epochsDone: number;
  params: ssl.ModelParams;
  /** { model, opt } and the method's own state (APLR: generator, target). */
  state: ssl.SslState;
  /** The model the method trains first (its record's pretrain: IDAA's VAE; the field keeps its first name so that runs resume). */
  vae?: ssl.PretrainedModel;
  history: EpochRecord[];
  /** What the data loader fitted on the training split (absent in older runs); `eval` applies it to its data. */
  preprocessing?: Preprocessing;
}

/** The regularizer as a flag source (its options are set by the flags REGULARIZER_GROUP declares). */
export const REGULARIZER_SOURCE = { name: 'the regularizer', ...ssl.REGULARIZER_GROUP };

/** The version of the run checkpoints written now (1: before method records, flat method fields). */
export const RUN_VERSION = 2;

const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** The options of `group` stored in a version-1 configuration, under the camel-cased names of their flags. */
function legacyOptions(old: Record<string, unknown>, group: ssl.AnyMethod | typeof REGULARIZER_SOURCE): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of group.flags) if (old[camel(f.flag)] !== undefined) out[f.key] = old[camel(f.flag)];
  return out;
}

/**
 * A stored configuration in today's form: version-1 fields become the method's and the regularizer's
 * options; options a run predates take the record's `before` values, then its defaults. A method
 * that no longer exists is a WgradError naming the known ones.
 */
export function upgradeConfig(stored: RunConfig, version: number): RunConfig {
  const record = ssl.methodRecord(stored.method);
  if (version >= RUN_VERSION) {
    return {
      ...stored, options: ssl.methodOptions(record, stored.options, true),
      regularizerOptions: stored.regularizer > 0 ? { ...REGULARIZER_SOURCE.defaults, ...stored.regularizerOptions } : undefined,
    };
  }
  const old = stored as unknown as Record<string, unknown>;
  const keep = new Set(['method', 'regularizer', 'data', 'domain', 'trainLimit', 'testLimit', 'epochs', 'batch', 'seed', 'encoder', 'width', 'hidden', 'featureDim', 'projHidden', 'projDim', 'optimizer', 'lr', 'warmupEpochs']);
  const common = Object.fromEntries(Object.entries(old).filter(([k]) => keep.has(k))) as unknown as RunConfig;
  return {
    ...common,
    options: ssl.methodOptions(record, legacyOptions(old, record), true),
    regularizerOptions: common.regularizer > 0 ? { ...REGULARIZER_SOURCE.defaults, ...legacyOptions(old, REGULARIZER_SOURCE) } : undefined,
  };
}

/** The settings every run has that must match on --resume (the encoder's size only where it applies). */
function commonFixed(cfg: RunConfig): (keyof RunConfig)[] {
  return [
    'method', 'regularizer', 'data', 'trainLimit', 'batch', 'seed', 'encoder', cfg.encoder === 'mlp' ? 'hidden' : 'width',
    'featureDim', 'projHidden', 'projDim', 'optimizer', 'lr', 'warmupEpochs',
  ];
}

/** The first of `keys` whose value differs between two records (compared as JSON), or undefined. */
function firstDifference(a: object | undefined, b: object | undefined, keys: readonly string[]): string | undefined {
  const [x, y] = [(a ?? {}) as Record<string, unknown>, (b ?? {}) as Record<string, unknown>];
  return keys.find((k) => JSON.stringify(x[k]) !== JSON.stringify(y[k]));
}

/** Why a stored run cannot be resumed with `cfg` (a setting differs), or undefined. Epochs may not change: the schedule depends on them. */
export function resumeProblem(stored: RunConfig, cfg: RunConfig): string | undefined {
  const says = (k: string, a: object | undefined, b: object | undefined, whose = '') =>
    `${k} = ${JSON.stringify((a as Record<string, unknown> | undefined)?.[k])}, not ${JSON.stringify((b as Record<string, unknown> | undefined)?.[k])}${whose}`;
  const [was, is] = [stored.methodVersion ?? 1, cfg.methodVersion ?? 1];
  if (was !== is) return `${cfg.method}'s state of version ${was}, but ${cfg.method} now keeps version ${is} (it changed since): train a new run (this one's encoder can still be evaluated)`;
  const k = firstDifference(stored, cfg, commonFixed(cfg));
  if (k) return says(k, stored, cfg);
  const record = ssl.methodRecord(cfg.method);
  const o = firstDifference(stored.options, cfg.options, record.resume ?? Object.keys(record.defaults));
  const flag = (group: ssl.AnyMethod | typeof REGULARIZER_SOURCE, key: string) => group.flags.find((f) => f.key === key)?.flag;
  if (o) return says(o, stored.options, cfg.options, ` (an option of ${cfg.method}${flag(record, o) ? `: --${flag(record, o)}` : ''})`);
  const r = cfg.regularizer > 0 ? firstDifference(stored.regularizerOptions, cfg.regularizerOptions, Object.keys(REGULARIZER_SOURCE.defaults)) : undefined;
  if (r) return says(r, stored.regularizerOptions, cfg.regularizerOptions, ` (an option of the regularizer: --${flag(REGULARIZER_SOURCE, r)})`);
  if (stored.epochs !== cfg.epochs) return `the run was started with --epochs ${stored.epochs} (the learning-rate schedule depends on it), got ${cfg.epochs}`;
  return undefined;
}

/** The attack box of a domain: pixels in [0, 1]; none for standardized tables and log-mels. */
export function domainBox(domain: Domain | undefined): readonly [number, number] | null {
  return (domain ?? 'image') === 'image' ? [0, 1] : null;
}

/** The model for the examples of a dataset: MLP for vectors [D], the configured CNN/ResNet for [C, H, W], with what the method adds. */
export function modelConfigFor(cfg: RunConfig, ds: HostDataset): ssl.ModelConfig {
  const head = { featureDim: cfg.featureDim, projHidden: cfg.projHidden, projDim: cfg.projDim };
  if (cfg.encoder === 'mlp') return ssl.methodModelConfig(cfg.method, { encoder: 'mlp', inputShape: ds.shape, hidden: cfg.hidden, ...head }, cfg.options);
  if (ds.shape.length !== 3) throw new WgradError('train', `the ${cfg.encoder} encoder needs examples [C, H, W], but ${ds.description} has examples of shape [${ds.shape.join(', ')}] (use --encoder mlp)`);
  return ssl.methodModelConfig(cfg.method, { encoder: cfg.encoder, inputShape: ds.shape, width: cfg.width, ...head }, cfg.options);
}

/** The encoder's optimizer: the named one, warm-up (at most a tenth of the run) then cosine decay; weight decay 1e-6 for SGD and LARS. */
export function optimizerSpec(cfg: RunConfig, perEpoch: number): OptimizerSpec {
  const total = cfg.epochs * perEpoch;
  return {
    name: cfg.optimizer, lr: cfg.lr, schedule: 'cosine', warmupSteps: Math.min(cfg.warmupEpochs * perEpoch, Math.floor(total / 10)), totalSteps: total,
    momentum: 0.9, weightDecay: cfg.optimizer === 'adam' ? 0 : 1e-6,
  };
}

/** The default peak learning rate of each optimizer (`wgrad train --lr`'s default). */
export const DEFAULT_LR: Record<OptimizerName, number> = { lars: 1.0, sgd: 0.1, adam: 1e-3 };

/**
 * Keys of a run: model init, data order, encoder steps, the pretrained model's init and steps (IDAA's
 * VAE), and the method's own init (APLR's generator; folded from the pretrained model's, which APLR
 * has none of: the five-way split stays as it was, so runs keep their keys).
 */
export function runKeys(seed: number): { init: Key; data: Key; train: Key; pretrainInit: Key; pretrain: Key; methodInit: Key } {
  const [init, data, train, pretrainInit, pretrain] = split(prngKey(seed), 5);
  return { init, data, train, pretrainInit, pretrain, methodInit: foldIn(pretrainInit, 1) };
}

/**
 * What the method's state and step are built with: the model configuration, the encoder's optimizer,
 * the domain's input box (APLR's x̃, the regularizer's attack: [0, 1] for images, none for
 * standardized tables and log-mels), the regularizer when β > 0 and the pretrained model.
 */
export function methodContext(cfg: RunConfig, modelConfig: ssl.ModelConfig, perEpoch: number, pretrained?: ssl.PretrainedModel): ssl.MethodContext {
  const spec = optimizerSpec(cfg, perEpoch);
  const box = domainBox(cfg.domain);
  const regularizer = cfg.regularizer > 0 ? ssl.regularizerOptions(cfg.regularizerOptions!, cfg.regularizer, box) : undefined;
  return { modelConfig, optimizer: makeOptimizer(spec), optimizerSpec: spec, box, regularizer, pretrained };
}
