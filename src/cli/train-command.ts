/**
 * `wgrad train`: one self-supervised run on images, with progress, metrics, checkpoints and resume.
 */
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import * as ssl from '../ssl/index.js';
import { dispose } from '../tensor/scope.js';
import { type Flags, type Parsed, UsageError } from './args.js';
import { loadDataset } from './data.js';
import { lossChart } from './charts.js';
import { type RunConfig, train } from './run.js';
import { startBackend, BACKEND_FLAG } from './backend.js';

/** The flags shared by `train` and `compare` (the run's hyperparameters). */
export const RUN_FLAGS: Flags = {
  data: { kind: 'string', default: 'subset', value: 'subset|fashion-mnist|DIR', help: 'the committed 2,000/1,000 Fashion-MNIST subset, Debian\'s full set, or a directory of IDX files' },
  'train-limit': { kind: 'int', min: 1, help: 'use only the first N training images' },
  'test-limit': { kind: 'int', min: 1, help: 'use only the first N test images' },
  epochs: { kind: 'int', min: 1, default: 2, help: 'encoder training epochs' },
  batch: { kind: 'int', min: 2, default: 128, help: 'batch size (the last partial batch of an epoch is dropped)' },
  eps: { kind: 'number', min: 0, default: 0.1, help: 'attack radius: RoCL\'s L∞ pixel ε, IDAA\'s latent step, the regularizer\'s L∞ ε' },
  alpha: { kind: 'number', above: 0, help: 'PGD step size of RoCL\'s attack (default ε/4)' },
  'attack-steps': { kind: 'int', min: 1, default: 7, help: 'PGD steps of RoCL\'s attack' },
  'reg-steps': { kind: 'int', min: 1, default: 5, help: 'PGD steps of the regularizer\'s attack' },
  seed: { kind: 'int', min: 0, default: 0, help: 'seed of the model init, data order, augmentations and attacks' },
  encoder: { kind: 'string', choices: ['cnn', 'resnet'], default: 'cnn', help: 'small CNN with BatchNorm, or CIFAR ResNet-18' },
  width: { kind: 'int', min: 2, default: 8, help: 'CNN: channels of the first conv (8 keeps the default run to a few minutes on lavapipe); ResNet: first-stage width (ResNet-18: 64)' },
  'proj-hidden': { kind: 'int', min: 1, help: 'projection head hidden width (default: CNN 128; ResNet: RoCL/SimCLR 2048, IDAA 512)' },
  'proj-dim': { kind: 'int', min: 1, help: 'projection head output dimension (default 64; ResNet: RoCL/SimCLR 128, IDAA 64)' },
  optimizer: { kind: 'string', choices: ['lars', 'sgd', 'adam'], help: 'default: the method\'s paper (LARS for SimCLR/RoCL, Adam for IDAA)' },
  lr: { kind: 'number', above: 0, help: 'peak learning rate (default: LARS 1.0, SGD 0.1, Adam 1e-3)' },
  'warmup-epochs': { kind: 'int', min: 0, default: 10, help: 'linear warm-up epochs (at most a tenth of the run), then cosine decay' },
  'vae-epochs': { kind: 'int', min: 1, default: 3, help: 'IDAA: VAE training epochs before the encoder\'s' },
  'vae-lr': { kind: 'number', above: 0, default: 1e-3, help: 'IDAA: VAE learning rate (Adam)' },
  'crop-scale': { kind: 'number', above: 0, max: 1, default: 0.2, help: 'smallest area fraction of the random resized crop' },
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

/** A run configuration from parsed flags. */
export function runConfig(a: Parsed, method: ssl.MethodName, regularizer: number): RunConfig {
  const optimizer = (a.optimizer as RunConfig['optimizer'] | undefined) ?? (method === 'idaa' ? 'adam' : 'lars');
  return {
    method, regularizer,
    data: a.data as string, trainLimit: a['train-limit'] as number | undefined, testLimit: a['test-limit'] as number | undefined,
    epochs: a.epochs as number, batch: a.batch as number, eps: a.eps as number, alpha: a.alpha as number | undefined,
    attackSteps: a['attack-steps'] as number, regSteps: a['reg-steps'] as number, seed: a.seed as number,
    encoder: a.encoder as 'cnn' | 'resnet', width: a.width as number, ...projectionHead(a, method),
    optimizer, lr: (a.lr as number | undefined) ?? DEFAULT_LR[optimizer], warmupEpochs: a['warmup-epochs'] as number,
    vaeEpochs: a['vae-epochs'] as number, vaeLr: a['vae-lr'] as number, cropScale: a['crop-scale'] as number,
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
  const cfg = runConfig(a, method, beta);
  const report = await startBackend(a.backend as string); // before the data: audio features are computed on the device
  const ds = await loadDataset(cfg.data, { trainLimit: cfg.trainLimit, testLimit: cfg.testLimit });
  const log = (l: string) => process.stderr.write(`${l}\n`);
  log(`wgrad train --method ${method}${beta > 0 ? ` --regularizer ${beta}` : ''} on ${report}`);
  log(`data: ${ds.description}`);
  log(`model: ${cfg.encoder} encoder (width ${cfg.width}), ${cfg.optimizer} lr ${cfg.lr}, batch ${cfg.batch}, ${cfg.epochs} epochs${method === 'idaa' ? ` after ${cfg.vaeEpochs} VAE epochs` : ''}; run directory ${out}`);
  const run = await train(cfg, ds, out, a.resume as boolean, { stopAfter: a['stop-after'] as number | undefined });
  writeFileSync(join(out, 'loss.svg'), lossChart(out, `${method}${beta > 0 ? ' + regularizer' : ''}: training loss per step`));
  const last = run.history.filter((h) => h.phase === 'encoder').at(-1);
  log(`done: ${run.epochsDone}/${cfg.epochs} epochs${last ? `, last epoch loss ${last.loss.toFixed(4)}` : ''}; checkpoint ${join(out, 'checkpoint.safetensors')}, metrics ${join(out, 'metrics.jsonl')}, chart ${join(out, 'loss.svg')}`);
  log(`evaluate with: wgrad eval --checkpoint ${out}`);
  dispose(run);
}
