/**
 * `wgrad train`: one self-supervised run on images, tables or audio, with progress, metrics,
 * checkpoints and resume. The encoder follows the data's domain (tables: the MLP; images and log-mel
 * spectrograms: the small CNN). Everything method-specific — its flags and their bounds and
 * defaults, the domains and encoders it takes, its default optimizer and projection head — comes
 * from the method's record (src/ssl/methods.ts); the run's own settings are RUN_FLAGS.
 */
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import * as ssl from '../ssl/index.js';
import { dispose } from '../tensor/scope.js';
import { type Flags, type Parsed, UsageError } from './args.js';
import { OPTIMIZER_NAMES } from '../optim/spec.js';
import { type FlagSource, optionsFrom, refuseUnused, sourceFlags } from './record-flags.js';
import { type HostDataset, loadDataset } from './data.js';
import { lossChart } from './charts.js';
import { type RunConfig, train } from './run.js';
import { DEFAULT_LR, REGULARIZER_SOURCE } from './run-config.js';
import { startBackend, BACKEND_FLAG } from './backend.js';
import { normalizeDataSpec } from './paths.js';
import { checkBatch } from './run-check.js';
import { checkOutDir, openOutDir } from './run-dir.js';

/** The largest layer width the flags accept (a sane bound: wider layers exhaust memory or run for hours). */
const MAX_WIDTH = 16384;

/** The flags shared by `train` and `compare`: the run's settings (each method's own come from its record: methodFlags). */
export const RUN_FLAGS: Flags = {
  data: { kind: 'string', default: 'subset', value: 'subset|fashion-mnist|DIR|FILE.csv', help: 'images: the committed 2,000/1,000 Fashion-MNIST subset, Debian\'s full set, or a directory of IDX files; tabular: a .csv with a label (and split) column, e.g. data/satellite.csv; audio: a directory train|test/<class>/*.wav, e.g. data/spoken-digits' },
  'train-limit': { kind: 'int', min: 1, help: 'use N training examples (tables, audio: a seeded class-stratified sample; images: the first N)' },
  'test-limit': { kind: 'int', min: 1, help: 'use N test examples (chosen as --train-limit\'s)' },
  epochs: { kind: 'int', min: 1, max: 100000, default: 2, help: 'encoder training epochs' },
  batch: { kind: 'int', min: 2, max: 65536, default: 128, help: 'batch size (the last partial batch of an epoch is dropped)' },
  seed: { kind: 'int', min: 0, max: 4294967295, default: 0, help: 'seed of the model init, data order, augmentations and attacks (0 to 2^32 − 1, as NumPy\'s)' },
  encoder: { kind: 'string', choices: ['cnn', 'resnet', 'mlp'], help: 'small CNN with BatchNorm, CIFAR ResNet-18, or an MLP with BatchNorm (default: mlp for tables, cnn for images and log-mels)' },
  width: { kind: 'int', min: 2, max: 1024, default: 8, help: 'CNN: channels of the first conv (8 keeps the default run to a few minutes on lavapipe); ResNet: first-stage width (ResNet-18: 64)' },
  hidden: { kind: 'ints', min: 1, max: MAX_WIDTH, default: '256', value: 'W1,W2', help: 'MLP encoder: hidden widths before the feature layer' },
  'feature-dim': { kind: 'int', min: 1, max: MAX_WIDTH, help: 'CNN and MLP encoders: feature dimension (default 128)' },
  'proj-hidden': { kind: 'int', min: 1, max: MAX_WIDTH, help: 'projection head hidden width (default: the feature dimension; ResNet: the method\'s, SimCLR/RoCL 2048, IDAA 512)' },
  'proj-dim': { kind: 'int', min: 1, max: MAX_WIDTH, help: 'projection head output dimension (default 64; ResNet: the method\'s, SimCLR/RoCL 128, IDAA 64; APLR: its predictor\'s, always the feature dimension)' },
  optimizer: { kind: 'string', choices: OPTIMIZER_NAMES, help: 'default: the method\'s (the methods list below)' },
  lr: { kind: 'number', above: 0, help: 'peak learning rate (default: LARS 1.0, SGD 0.1, Adam 1e-3)' },
  'warmup-epochs': { kind: 'int', min: 0, max: 100000, default: 10, help: 'linear warm-up epochs (at most a tenth of the run), then cosine decay' },
  backend: BACKEND_FLAG,
};

/** The records whose options are flags: every method and the regularizer (an option group any method takes). */
export const methodSources = (): FlagSource[] => [...ssl.methods(), REGULARIZER_SOURCE];

/** The flags of the methods and of the regularizer, merged by name (record-flags.ts). */
export function methodFlags(reserved: Flags): Flags {
  return sourceFlags(methodSources(), reserved);
}

export function trainFlags(): Flags {
  const own: Flags = {
    method: { kind: 'string', choices: ssl.methodNames(), help: 'the method (required; the methods list below)' },
    regularizer: { kind: 'number', min: 0, default: 0, value: 'β', help: 'add β·R(f), the task-agnostic robustness regularizer (0: off)' },
    out: { kind: 'string', value: 'DIR', help: 'run directory (default runs/<method>[-reg])' },
    resume: { kind: 'boolean', help: 'continue the run in --out from its last checkpoint (bit for bit)' },
    'stop-after': { kind: 'int', min: 1, help: 'stop after N epochs (a pretrained model\'s training, e.g. IDAA\'s VAE, counts as one) in this invocation; continue with --resume' },
  };
  const { method, regularizer, ...rest } = own;
  return { method, regularizer, ...RUN_FLAGS, ...methodFlags({ ...RUN_FLAGS, ...own }), ...rest };
}

const DOMAIN_WORDS: Record<string, string> = { image: 'images', tabular: 'tables', audio: 'audio' };

/** The methods for --help: name, summary, data, default optimizer. */
export function methodsHelp(): string[] {
  const width = Math.max(...ssl.methodNames().map((n) => n.length)) + 2;
  return ssl.methods().map((m) => `  ${m.name.padEnd(width)}${m.summary} (${m.domains.map((d) => DOMAIN_WORDS[d]).join(', ')}; ${m.optimizer})`);
}


const orList = (xs: string[]) => (xs.length < 2 ? xs.join('') : `${xs.slice(0, -1).join(', ')} or ${xs.at(-1)}`);

/** The method named by --method (a UsageError listing the methods when it is missing). */
export function methodOf(a: Parsed, command = 'train'): ssl.AnyMethod {
  if (a.method === undefined) throw new UsageError(`--method is required (one of ${ssl.methodNames().join(', ')})`, command);
  return ssl.methodRecord(a.method as string);
}

/**
 * The method and encoder must fit the data: the method's domains and encoders, the MLP on vectors,
 * the CNN/ResNet on [C, H, W]. Returns the encoder (default: mlp for tables, cnn otherwise).
 */
export function checkDomain(command: string, method: ssl.AnyMethod, encoder: string | undefined, ds: HostDataset): RunConfig['encoder'] {
  if (!method.domains.includes(ds.domain)) {
    const others = ssl.methods().filter((m) => m.domains.includes(ds.domain)).map((m) => m.name);
    const why = method.domainReason ? ` (${method.domainReason})` : '';
    throw new UsageError(`--method ${method.name} needs ${orList(method.domains.map((d: string) => DOMAIN_WORDS[d]))}${why}, but --data is a ${ds.domain} dataset${others.length ? `; use ${orList(others)}` : ''}`, command);
  }
  const chosen = (encoder ?? (ds.shape.length === 3 ? 'cnn' : 'mlp')) as RunConfig['encoder'];
  if (chosen !== 'mlp' && ds.shape.length !== 3) throw new UsageError(`--encoder ${chosen} needs examples [C, H, W], but the ${ds.domain} examples have shape [${ds.shape.join(', ')}]; use --encoder mlp`, command);
  if (method.encoders && !method.encoders.includes(chosen)) throw new UsageError(`--method ${method.name} needs the ${orList([...method.encoders])} encoder, not ${chosen}`, command);
  return chosen;
}

/** The method's and (β > 0) the regularizer's options from the flags, each checked against its own bounds (a UsageError naming the flag). */
export function runOptions(a: Parsed, method: ssl.AnyMethod, regularizer: number, command: string): Pick<RunConfig, 'options' | 'regularizerOptions'> {
  return {
    options: optionsFrom<Record<string, unknown>>(command, method, a),
    regularizerOptions: regularizer > 0 ? optionsFrom(command, REGULARIZER_SOURCE, a) : undefined,
  };
}

/** A run configuration from parsed flags, for the dataset `ds` (its domain picks the encoder and the attack box). */
export function runConfig(a: Parsed, method: ssl.AnyMethod, regularizer: number, ds: HostDataset, command = 'train'): RunConfig {
  const optimizer = (a.optimizer as RunConfig['optimizer'] | undefined) ?? method.optimizer;
  const encoder = checkDomain(command, method, a.encoder as string | undefined, ds);
  return {
    method: method.name, methodVersion: method.version, regularizer,
    data: normalizeDataSpec(a.data as string), domain: ds.domain, trainLimit: a['train-limit'] as number | undefined, testLimit: a['test-limit'] as number | undefined,
    epochs: a.epochs as number, batch: a.batch as number, seed: a.seed as number,
    encoder, width: a.width as number, hidden: encoder === 'mlp' ? (a.hidden as number[]) : undefined,
    featureDim: a['feature-dim'] as number | undefined, ...projectionHead(a, method, ds, command),
    optimizer, lr: (a.lr as number | undefined) ?? DEFAULT_LR[optimizer], warmupEpochs: a['warmup-epochs'] as number,
    ...runOptions(a, method, regularizer, command),
  };
}

/**
 * The method's projection head on the ResNet (docs/methods.md: RoCL 512→2048→128, IDAA 512→512→64);
 * 128→128→64 on the CNN. A supervised reference's head is its classifier: one output per class
 * (train refuses another --proj-dim; compare's --proj-dim is the other rows').
 */
function projectionHead(a: Parsed, method: ssl.AnyMethod, ds: HostDataset, command: string): { projHidden?: number; projDim: number } {
  if (method.supervised) {
    const classes = Math.max(ds.classes, 2);
    if (command === 'train' && a['proj-dim'] !== undefined && a['proj-dim'] !== classes) throw new UsageError(`--proj-dim ${a['proj-dim'] as number}: --method ${method.name} classifies with its projection head, whose output is the data's ${classes} classes`, command);
    return { projHidden: a['proj-hidden'] as number | undefined, projDim: classes };
  }
  const resnet = a.encoder === 'resnet' ? method.resnetHead ?? ssl.RESNET_HEAD : undefined;
  return { projHidden: (a['proj-hidden'] as number | undefined) ?? resnet?.projHidden, projDim: (a['proj-dim'] as number | undefined) ?? resnet?.projDim ?? 64 };
}

export async function trainCommand(a: Parsed): Promise<void> {
  const record = methodOf(a);
  const method = record.name;
  const beta = a.regularizer as number;
  // Every method flag is checked before any work: one the method does not take, or a value outside its bounds.
  refuseUnused('train', a, methodSources(), beta > 0 ? [record, REGULARIZER_SOURCE] : [record], `--method ${method}${beta > 0 ? ' with the regularizer' : ''}`);
  runOptions(a, record, beta, 'train');
  const out = (a.out as string | undefined) ?? join('runs', `${method}${beta > 0 ? '-reg' : ''}`);
  checkOutDir(out, '--out', 'train');
  const report = await startBackend(a.backend as string); // before the data: audio features are computed on the device
  const ds = await loadDataset(a.data as string, { trainLimit: a['train-limit'] as number | undefined, testLimit: a['test-limit'] as number | undefined });
  const cfg = runConfig(a, record, beta, ds);
  checkBatch(cfg.batch, ds, 'train');
  const log = (l: string) => process.stderr.write(`${l}\n`);
  log(`wgrad train --method ${method}${beta > 0 ? ` --regularizer ${beta}` : ''} on ${report}`);
  log(`data: ${ds.description}`);
  const size = cfg.encoder === 'mlp' ? `hidden ${cfg.hidden?.join(',')}` : `width ${cfg.width}`;
  log(`model: ${cfg.encoder} encoder (${size}), ${cfg.optimizer} lr ${cfg.lr}, batch ${cfg.batch}, ${cfg.epochs} epochs${record.pretrain ? ` after its ${record.pretrain.phase}'s training` : ''}; run directory ${out}`);
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
