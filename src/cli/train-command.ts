/**
 * `wgrad train`: one self-supervised run on images, tables or audio, with progress, metrics,
 * checkpoints and resume. The encoder follows the data's domain (tables: the MLP; images and log-mel
 * spectrograms: the small CNN); SimCLR, RoCL and IDAA need images (their augmentations and attacks
 * assume pixels in [0, 1]); APLR, noise and mask take every domain.
 */
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import * as ssl from '../ssl/index.js';
import { dispose } from '../tensor/scope.js';
import { type Flags, numberList, type Parsed, UsageError } from './args.js';
import { type HostDataset, loadDataset } from './data.js';
import { lossChart } from './charts.js';
import { IMAGE_ONLY_METHODS, type RunConfig, train } from './run.js';
import { startBackend, BACKEND_FLAG } from './backend.js';
import { normalizeDataSpec } from './paths.js';
import { checkBatch } from './run-check.js';
import { checkOutDir, openOutDir } from './run-dir.js';

/** The flags shared by `train` and `compare` (the run's hyperparameters). */
export const RUN_FLAGS: Flags = {
  data: { kind: 'string', default: 'subset', value: 'subset|fashion-mnist|DIR|FILE.csv', help: 'images: the committed 2,000/1,000 Fashion-MNIST subset, Debian\'s full set, or a directory of IDX files; tabular: a .csv with a label (and split) column, e.g. data/satellite.csv; audio: a directory train|test/<class>/*.wav, e.g. data/spoken-digits' },
  'train-limit': { kind: 'int', min: 1, help: 'use N training examples (tables, audio: a seeded class-stratified sample; images: the first N)' },
  'test-limit': { kind: 'int', min: 1, help: 'use N test examples (chosen as --train-limit\'s)' },
  epochs: { kind: 'int', min: 1, default: 2, help: 'encoder training epochs' },
  batch: { kind: 'int', min: 2, default: 128, help: 'batch size (the last partial batch of an epoch is dropped)' },
  eps: { kind: 'number', min: 0, default: 0.1, help: 'attack radius: RoCL\'s L∞ pixel ε, IDAA\'s latent step, APLR\'s L∞ noise radius, the regularizer\'s L∞ ε; in pixel units on images ([0, 1]), in standard deviations of the standardized features on tables and log-mels (no box)' },
  alpha: { kind: 'number', above: 0, help: 'PGD step size of RoCL\'s attack (default ε/4)' },
  'attack-steps': { kind: 'int', min: 1, default: 7, help: 'PGD steps of RoCL\'s attack' },
  'reg-steps': { kind: 'int', min: 1, default: 5, help: 'PGD steps of the regularizer\'s attack' },
  seed: { kind: 'int', min: 0, default: 0, help: 'seed of the model init, data order, augmentations and attacks' },
  encoder: { kind: 'string', choices: ['cnn', 'resnet', 'mlp'], help: 'small CNN with BatchNorm, CIFAR ResNet-18, or an MLP with BatchNorm (default: mlp for tables, cnn for images and log-mels)' },
  width: { kind: 'int', min: 2, default: 8, help: 'CNN: channels of the first conv (8 keeps the default run to a few minutes on lavapipe); ResNet: first-stage width (ResNet-18: 64)' },
  hidden: { kind: 'list', default: '256', value: 'W1,W2', help: 'MLP encoder: hidden widths before the feature layer' },
  'feature-dim': { kind: 'int', min: 1, help: 'CNN and MLP encoders: feature dimension (default 128)' },
  'proj-hidden': { kind: 'int', min: 1, help: 'projection head hidden width (default: CNN 128; ResNet: RoCL/SimCLR 2048, IDAA 512)' },
  'proj-dim': { kind: 'int', min: 1, help: 'projection head output dimension (default 64; ResNet: RoCL/SimCLR 128, IDAA 64; APLR: its predictor\'s, always the feature dimension)' },
  optimizer: { kind: 'string', choices: ['lars', 'sgd', 'adam'], help: 'default: the method\'s paper (LARS for SimCLR/RoCL, Adam for IDAA); Adam for APLR, noise and mask' },
  lr: { kind: 'number', above: 0, help: 'peak learning rate (default: LARS 1.0, SGD 0.1, Adam 1e-3)' },
  'warmup-epochs': { kind: 'int', min: 0, default: 10, help: 'linear warm-up epochs (at most a tenth of the run), then cosine decay' },
  'vae-epochs': { kind: 'int', min: 1, default: 3, help: 'IDAA: VAE training epochs before the encoder\'s' },
  'vae-lr': { kind: 'number', above: 0, default: 1e-3, help: 'IDAA: VAE learning rate (Adam)' },
  'crop-scale': { kind: 'number', above: 0, max: 1, default: 0.2, help: 'SimCLR, RoCL, IDAA: smallest area fraction of the random resized crop' },
  'generator-lr': { kind: 'number', above: 0, default: ssl.GENERATOR_LR, help: 'APLR: the generator\'s learning rate (Adam, constant)' },
  'generator-steps': { kind: 'int', min: 0, default: ssl.APLR_DEFAULTS.generatorSteps, help: 'APLR: generator ascent steps per update (0 freezes it at its initial δ = 0)' },
  'generator-every': { kind: 'int', min: 1, default: ssl.APLR_DEFAULTS.generatorEvery, value: 'K', help: 'APLR: update the generator every K encoder steps (the step ratio)' },
  'aplr-objective': { kind: 'string', choices: ['reconstruction', 'softHgr'], default: 'reconstruction', help: 'APLR: the encoder\'s objective, L_rec (as specified) or −Soft-HGR between prediction and clean features' },
  'noise-std': { kind: 'number', min: 0, default: ssl.NOISE_DEFAULTS.sigma, value: 'σ', help: 'noise: σ of the Gaussian views (units of the data, as --eps)' },
  'mask-prob': { kind: 'number', min: 0, max: 1, default: ssl.MASK_DEFAULTS.p, value: 'P', help: 'mask: probability that a feature is replaced by another row\'s value (VIME)' },
  backend: BACKEND_FLAG,
};

export const TRAIN_FLAGS: Flags = {
  method: { kind: 'string', choices: ssl.METHOD_NAMES, help: 'the method (required)' },
  regularizer: { kind: 'number', min: 0, default: 0, value: 'β', help: 'add β·R(f), the task-agnostic robustness regularizer (0: off)' },
  ...RUN_FLAGS,
  out: { kind: 'string', value: 'DIR', help: 'run directory (default runs/<method>[-reg])' },
  resume: { kind: 'boolean', help: 'continue the run in --out from its last checkpoint (bit for bit)' },
  'stop-after': { kind: 'int', min: 1, help: 'stop after N epochs (VAE epochs included) in this invocation; continue with --resume' },
};

export const DEFAULT_LR: Record<string, number> = { lars: 1.0, sgd: 0.1, adam: 1e-3 };

/** The domain-agnostic methods train with Adam by default (a reading: APLR's abstract names no optimizer; one optimizer for the three keeps the comparison fair). */
const defaultOptimizer = (method: ssl.MethodName): RunConfig['optimizer'] => (method === 'simclr' || method === 'rocl' ? 'lars' : 'adam');

/**
 * The method and encoder must fit the data: image-only methods on images, the MLP on vectors, the
 * CNN/ResNet on [C, H, W]. Returns the encoder (default: mlp for tables, cnn otherwise).
 */
export function checkDomain(command: string, method: ssl.MethodName, encoder: string | undefined, ds: HostDataset): RunConfig['encoder'] {
  if (ds.domain !== 'image' && IMAGE_ONLY_METHODS.includes(method)) {
    throw new UsageError(`--method ${method} needs images (its augmentations and attacks assume pixels in [0, 1]), but --data is a ${ds.domain} dataset; use aplr, noise or mask`, command);
  }
  const chosen = (encoder ?? (ds.shape.length === 3 ? 'cnn' : 'mlp')) as RunConfig['encoder'];
  if (chosen !== 'mlp' && ds.shape.length !== 3) throw new UsageError(`--encoder ${chosen} needs examples [C, H, W], but the ${ds.domain} examples have shape [${ds.shape.join(', ')}]; use --encoder mlp`, command);
  if (method === 'idaa' && chosen === 'mlp') throw new UsageError('--method idaa needs the cnn or resnet encoder (its VAE works on images)', command);
  return chosen;
}

/** A run configuration from parsed flags, for the dataset `ds` (its domain picks the encoder and the attack box). */
export function runConfig(a: Parsed, method: ssl.MethodName, regularizer: number, ds: HostDataset, command = 'train'): RunConfig {
  const optimizer = (a.optimizer as RunConfig['optimizer'] | undefined) ?? defaultOptimizer(method);
  const encoder = checkDomain(command, method, a.encoder as string | undefined, ds);
  return {
    method, regularizer,
    data: normalizeDataSpec(a.data as string), domain: ds.domain, trainLimit: a['train-limit'] as number | undefined, testLimit: a['test-limit'] as number | undefined,
    epochs: a.epochs as number, batch: a.batch as number, eps: a.eps as number, alpha: a.alpha as number | undefined,
    attackSteps: a['attack-steps'] as number, regSteps: a['reg-steps'] as number, seed: a.seed as number,
    encoder, width: a.width as number, hidden: encoder === 'mlp' ? numberList(command, 'hidden', a.hidden as string[], 1) : undefined,
    featureDim: a['feature-dim'] as number | undefined, ...projectionHead(a, method),
    optimizer, lr: (a.lr as number | undefined) ?? DEFAULT_LR[optimizer], warmupEpochs: a['warmup-epochs'] as number,
    vaeEpochs: a['vae-epochs'] as number, vaeLr: a['vae-lr'] as number, cropScale: a['crop-scale'] as number,
    ...(method === 'aplr' && { generatorLr: a['generator-lr'] as number, generatorSteps: a['generator-steps'] as number, generatorEvery: a['generator-every'] as number, aplrObjective: a['aplr-objective'] as 'reconstruction' | 'softHgr' }),
    ...(method === 'noise' && { noiseStd: a['noise-std'] as number }),
    ...(method === 'mask' && { maskProb: a['mask-prob'] as number }),
  };
}

/** METHODS.md's heads on the ResNet (RoCL 512→2048→128, IDAA 512→512→64); 128→128→64 on the CNN. */
function projectionHead(a: Parsed, method: ssl.MethodName): { projHidden?: number; projDim: number } {
  const resnet = a.encoder === 'resnet';
  const projHidden = (a['proj-hidden'] as number | undefined) ?? (resnet ? (method === 'idaa' ? 512 : 2048) : undefined);
  const projDim = (a['proj-dim'] as number | undefined) ?? (resnet && method !== 'idaa' ? 128 : 64);
  return { projHidden, projDim };
}

export async function trainCommand(a: Parsed): Promise<void> {
  if (a.method === undefined) throw new UsageError(`--method is required (one of ${ssl.METHOD_NAMES.join(', ')})`, 'train');
  const method = a.method as ssl.MethodName;
  const beta = a.regularizer as number;
  const out = (a.out as string | undefined) ?? join('runs', `${method}${beta > 0 ? '-reg' : ''}`);
  checkOutDir(out, '--out', 'train');
  const report = await startBackend(a.backend as string); // before the data: audio features are computed on the device
  const ds = await loadDataset(a.data as string, { trainLimit: a['train-limit'] as number | undefined, testLimit: a['test-limit'] as number | undefined });
  const cfg = runConfig(a, method, beta, ds);
  checkBatch(cfg.batch, ds, 'train');
  const log = (l: string) => process.stderr.write(`${l}\n`);
  log(`wgrad train --method ${method}${beta > 0 ? ` --regularizer ${beta}` : ''} on ${report}`);
  log(`data: ${ds.description}`);
  const size = cfg.encoder === 'mlp' ? `hidden ${cfg.hidden?.join(',')}` : `width ${cfg.width}`;
  log(`model: ${cfg.encoder} encoder (${size}), ${cfg.optimizer} lr ${cfg.lr}, batch ${cfg.batch}, ${cfg.epochs} epochs${method === 'idaa' ? ` after ${cfg.vaeEpochs} VAE epochs` : ''}; run directory ${out}`);
  const release = openOutDir(out, '--out', 'train', log); // locked while this process writes there
  let run: Awaited<ReturnType<typeof train>>;
  try {
    run = await train(cfg, ds, out, a.resume as boolean, { stopAfter: a['stop-after'] as number | undefined });
    writeFileSync(join(out, 'loss.svg'), lossChart(out, `${method}${beta > 0 ? ' + regularizer' : ''}: training loss per step`));
  } finally {
    release();
  }
  const last = run.history.filter((h) => h.phase === 'encoder').at(-1);
  log(`done: ${run.epochsDone}/${cfg.epochs} epochs${last ? `, last epoch loss ${last.loss.toFixed(4)}` : ''}; checkpoint ${join(out, 'checkpoint.safetensors')}, metrics ${join(out, 'metrics.jsonl')}, chart ${join(out, 'loss.svg')}`);
  log(`evaluate with: wgrad eval --checkpoint ${out}`);
  dispose(run);
}
