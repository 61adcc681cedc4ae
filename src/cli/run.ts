/**
 * One training run of a self-supervised method, as `wgrad train` and `wgrad compare` drive it: the
 * data order, keys, optimizer, progress, metrics, checkpoints and resume.
 *
 * Determinism (what makes --resume continue bit for bit): every random choice is derived from the
 * seed by folding in counters — the model init from split(key(seed))[0], the data order of epoch e
 * from permutationIndices(foldIn(kData, e), n), the key of step s of epoch e from
 * foldIn(foldIn(kTrain, e), s) (the VAE phase has its own keys). A checkpoint holds everything else
 * that changes: params, BN statistics, optimizer state (whose step count drives the schedule), APLR's
 * generator with its own optimizer state and step count, the completed epochs of each phase and the
 * loss history. It is written atomically after every epoch
 * (io.saveCheckpoint: temporary file + rename), so an interrupted run resumes from its last epoch.
 */
import { existsSync, mkdirSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { WgradError } from '../core/backend.js';
import { loadCheckpoint, saveCheckpoint } from '../io/node.js';
import { foldIn, key as prngKey, split, type Key } from '../random/random.js';
import { permutationIndices } from '../data/batching.js';
import { dispose } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { sync } from '../init.js';
import * as ssl from '../ssl/index.js';
import { batchTensors, type Domain, type HostDataset, type Preprocessing } from './data.js';
import { Progress } from './progress.js';
import { appendEpochLine, appendStepLines, reconcileMetrics } from './metrics.js';
import { checkRunTree, refuseNonFinite } from './run-check.js';

export interface RunConfig {
  method: ssl.MethodName;
  /** β of the robustness regularizer (0: off). */
  regularizer: number;
  data: string;
  /** The data's domain (image, tabular, audio); absent in checkpoints written before tables and audio (images). */
  domain?: Domain;
  trainLimit?: number;
  testLimit?: number;
  epochs: number;
  batch: number;
  /** Attack radius (RoCL: pixels, L∞; IDAA: latent step; APLR: the generator's L∞ noise radius); also the regularizer's ε. */
  eps: number;
  alpha?: number;
  attackSteps?: number;
  regSteps?: number;
  seed: number;
  /** 'mlp' for tables (examples [D]), 'cnn' or 'resnet' for images and spectrograms [C, H, W]. */
  encoder: 'cnn' | 'resnet' | 'mlp';
  width: number;
  /** MLP encoder: hidden widths before the feature layer. */
  hidden?: number[];
  featureDim?: number;
  /** Projection head hidden width (default: the feature dimension). */
  projHidden?: number;
  projDim: number;
  optimizer: ssl.OptimizerSpec['name'];
  lr: number;
  warmupEpochs: number;
  vaeEpochs: number;
  vaeLr: number;
  cropScale: number;
  /** APLR: the generator's Adam learning rate, ascent steps per update, and update every k encoder steps. */
  generatorLr?: number;
  generatorSteps?: number;
  generatorEvery?: number;
  /** APLR: the encoder's objective (L_rec, the default, or −Soft-HGR). */
  aplrObjective?: 'reconstruction' | 'softHgr';
  /** noise: σ of the Gaussian views; mask: the masking probability. */
  noiseStd?: number;
  maskProb?: number;
}

export interface EpochRecord {
  phase: 'vae' | 'encoder';
  epoch: number;
  loss: number;
  parts: Record<string, number>;
  seconds: number;
  imagesPerSec: number;
}

export interface RunCheckpoint {
  format: 'wgrad-ssl-run';
  version: 1;
  config: RunConfig;
  modelConfig: ssl.ModelConfig;
  vaeEpochsDone: number;
  epochsDone: number;
  params: ssl.ModelParams;
  state: ssl.SslState;
  vae?: { params: ssl.VaeParams; state: { model: ssl.VaeState; opt: unknown } };
  history: EpochRecord[];
  /** What the data loader fitted on the training split (absent in older runs); `eval` applies it to its data. */
  preprocessing?: Preprocessing;
}

export interface RunHooks {
  /** Progress and status lines (default stderr). */
  log?: (line: string) => void;
  /** Stop after this many epochs (VAE and encoder together) in this invocation (tests, split runs). */
  stopAfter?: number;
  progressStream?: ConstructorParameters<typeof Progress>[2] extends infer O ? O extends { stream?: infer S } ? S : never : never;
}

export const CHECKPOINT_FILE = 'checkpoint.safetensors';
export const METRICS_FILE = 'metrics.jsonl';

/**
 * Keys of a run: model init, data order, encoder steps, VAE init, VAE steps, and APLR's generator
 * init (folded from the VAE's: APLR has no VAE; the five-way split stays as it was, so runs of the
 * other methods keep their keys).
 */
function runKeys(seed: number): { init: Key; data: Key; train: Key; vaeInit: Key; vae: Key; generatorInit: Key } {
  const [init, data, train, vaeInit, vae] = split(prngKey(seed), 5);
  return { init, data, train, vaeInit, vae, generatorInit: foldIn(vaeInit, 1) };
}

/** Methods that need images in [0, 1] (image augmentations, pixel attacks); the others take any domain. */
export const IMAGE_ONLY_METHODS: readonly ssl.MethodName[] = ['simclr', 'rocl', 'idaa'];

/** The attack box of a domain: pixels in [0, 1]; none for standardized tables and log-mels. */
export function domainBox(domain: Domain | undefined): readonly [number, number] | null {
  return (domain ?? 'image') === 'image' ? [0, 1] : null;
}

/** The encoder for the examples of a dataset: MLP for vectors [D], the configured CNN/ResNet for [C, H, W]. */
export function modelConfigFor(cfg: RunConfig, ds: HostDataset): ssl.ModelConfig {
  const head = { featureDim: cfg.featureDim, projHidden: cfg.projHidden, projDim: cfg.projDim };
  if (cfg.encoder === 'mlp') return ssl.methodModelConfig(cfg.method, { encoder: 'mlp', inputShape: ds.shape, hidden: cfg.hidden, ...head });
  if (ds.shape.length !== 3) throw new WgradError('train', `the ${cfg.encoder} encoder needs examples [C, H, W], but ${ds.description} has examples of shape [${ds.shape.join(', ')}] (use --encoder mlp)`);
  return ssl.methodModelConfig(cfg.method, { encoder: cfg.encoder, inputShape: ds.shape, width: cfg.width, ...head });
}

export function stepsPerEpoch(n: number, batch: number): number {
  const s = Math.floor(n / batch);
  if (s < 1) throw new WgradError('train', `--batch ${batch} is larger than the training set (${n} images)`);
  return s;
}

function optimizerSpec(cfg: RunConfig, perEpoch: number): ssl.OptimizerSpec {
  const total = cfg.epochs * perEpoch;
  return {
    name: cfg.optimizer, lr: cfg.lr, schedule: 'cosine', warmupSteps: Math.min(cfg.warmupEpochs * perEpoch, Math.floor(total / 10)), totalSteps: total,
    momentum: 0.9, weightDecay: cfg.optimizer === 'adam' ? 0 : 1e-6,
  };
}

const vaeOptimizer = (cfg: RunConfig) => ssl.makeOptimizer({ name: 'adam', lr: cfg.vaeLr, schedule: 'constant', warmupSteps: 0, totalSteps: 1 });

/** A fresh run's state (untrained). */
export function freshRun(cfg: RunConfig, ds: HostDataset): RunCheckpoint {
  const keys = runKeys(cfg.seed);
  const modelConfig = modelConfigFor(cfg, ds);
  const { params, state } = ssl.model.init(keys.init, modelConfig);
  const opt = ssl.makeOptimizer(optimizerSpec(cfg, stepsPerEpoch(ds.train.n, cfg.batch)));
  const initial = ssl.methodInitState(settingsOf(cfg), keys.generatorInit, params, state, opt, modelConfig); // APLR: + its generator
  let vae: RunCheckpoint['vae'];
  if (cfg.method === 'idaa') {
    const v = ssl.vae.init(keys.vaeInit, { inChannels: ds.shape[0], imageSize: ds.shape[1] }); // images only (trainCommand checks)
    vae = { params: v.params, state: { model: v.state, opt: vaeOptimizer(cfg).init(v.params) } };
  }
  return { format: 'wgrad-ssl-run', version: 1, config: cfg, modelConfig, vaeEpochsDone: 0, epochsDone: 0, params, state: initial, vae, history: [], preprocessing: ds.preprocessing };
}

/** Settings that must match for --resume (epochs may grow; everything else is fixed by the run). */
const RESUME_FIXED: (keyof RunConfig)[] = [
  'method', 'regularizer', 'data', 'trainLimit', 'batch', 'eps', 'alpha', 'attackSteps', 'regSteps', 'seed', 'encoder', 'width', 'hidden', 'featureDim', 'projHidden', 'projDim',
  'optimizer', 'lr', 'warmupEpochs', 'vaeEpochs', 'vaeLr', 'cropScale', 'generatorLr', 'generatorSteps', 'generatorEvery', 'aplrObjective', 'noiseStd', 'maskProb',
];

/** Whether a setting affects the run (e.g. the attack's steps only matter for RoCL). */
function matters(cfg: RunConfig, k: keyof RunConfig): boolean {
  const reg = cfg.regularizer > 0;
  if (k === 'regSteps') return reg;
  if (k === 'alpha' || k === 'attackSteps') return cfg.method === 'rocl';
  if (k === 'vaeEpochs' || k === 'vaeLr') return cfg.method === 'idaa';
  if (k === 'eps') return reg || !['simclr', 'noise', 'mask'].includes(cfg.method);
  if (k === 'cropScale') return IMAGE_ONLY_METHODS.includes(cfg.method);
  if (k === 'generatorLr' || k === 'generatorSteps' || k === 'generatorEvery' || k === 'aplrObjective') return cfg.method === 'aplr';
  if (k === 'noiseStd') return cfg.method === 'noise';
  if (k === 'maskProb') return cfg.method === 'mask';
  if (k === 'width') return cfg.encoder !== 'mlp';
  if (k === 'hidden') return cfg.encoder === 'mlp';
  return true;
}

export async function loadRun(dir: string): Promise<RunCheckpoint> {
  const path = join(dir, CHECKPOINT_FILE);
  if (!existsSync(path)) throw new WgradError('checkpoint', `no checkpoint in ${dir} (expected ${CHECKPOINT_FILE})`);
  const { tree } = await loadCheckpoint<RunCheckpoint>(path);
  if (tree?.format !== 'wgrad-ssl-run') throw new WgradError('checkpoint', `${path} is not a wgrad training run (format ${JSON.stringify(tree?.format)})`);
  try {
    await checkRunTree(tree, path);
  } catch (e) {
    dispose(tree);
    throw e;
  }
  return tree;
}

async function save(dir: string, run: RunCheckpoint): Promise<void> {
  await saveCheckpoint(join(dir, CHECKPOINT_FILE), run, { metadata: { method: run.config.method } });
}

/** Reads a batch of losses (and parts) back, adds them to `sums`, frees them; returns the losses. */
async function drain(pending: { loss: Tensor; parts: Record<string, Tensor> }[], sums: Record<string, number>): Promise<number[]> {
  const out: number[] = [];
  for (const p of pending.splice(0)) {
    const l = await p.loss.item();
    out.push(l);
    sums.loss = (sums.loss ?? 0) + l;
    for (const [k, t] of Object.entries(p.parts)) sums[k] = (sums[k] ?? 0) + (await t.item());
    dispose([p.loss, p.parts]);
  }
  return out;
}

interface EpochLoop {
  phase: 'vae' | 'encoder';
  epoch: number;
  epochs: number;
  steps: number;
  order: Int32Array;
  step: (x: Tensor, k: Key) => { loss: Tensor; parts: Record<string, Tensor> };
  stepKey: (s: number) => Key;
}

/** Runs one epoch; returns its record. */
async function runEpoch(loop: EpochLoop, ds: HostDataset, batch: number, hooks: RunHooks, onLosses: (first: number, losses: number[]) => Promise<void>): Promise<EpochRecord> {
  const label = `${loop.phase === 'vae' ? 'vae   ' : 'epoch '}${loop.epoch}/${loop.epochs}`;
  const bar = new Progress(label, loop.steps, { imagesPerStep: batch, stream: hooks.progressStream });
  const t0 = performance.now();
  const sums: Record<string, number> = {};
  const pending: { loss: Tensor; parts: Record<string, Tensor> }[] = [];
  let done = 0;
  bar.update(0);
  for (let s = 0; s < loop.steps; s++) {
    const { x } = batchTensors(ds.train, ds.shape, loop.order.subarray(s * batch, (s + 1) * batch));
    try {
      pending.push(loop.step(x, loop.stepKey(s)));
    } finally {
      x.dispose();
    }
    // Read losses back a few steps late, so the device is not idle while the host waits.
    if (pending.length >= 2 || s === loop.steps - 1) {
      const first = done;
      done += pending.length;
      await onLosses(first, await drain(pending, sums));
      bar.update(done, { loss: sums.loss / done });
    }
  }
  await sync();
  const seconds = (performance.now() - t0) / 1000;
  const parts = Object.fromEntries(Object.entries(sums).filter(([k]) => k !== 'loss').map(([k, v]) => [k, v / loop.steps]));
  return { phase: loop.phase, epoch: loop.epoch, loss: sums.loss / loop.steps, parts, seconds, imagesPerSec: (loop.steps * batch) / seconds };
}

/** The run in `dir`: resumed from its checkpoint (settings checked) or fresh. */
async function openRun(cfg: RunConfig, ds: HostDataset, dir: string, resume: boolean, log: (l: string) => void): Promise<RunCheckpoint> {
  mkdirSync(dir, { recursive: true });
  const ckptPath = join(dir, CHECKPOINT_FILE);
  if (!resume || !existsSync(ckptPath)) {
    if (existsSync(ckptPath)) throw new WgradError('train', `${ckptPath} exists: pass --resume to continue it, or choose another --out`);
    await fsp.writeFile(join(dir, METRICS_FILE), '');
    return freshRun(cfg, ds);
  }
  const run = await loadRun(dir);
  const bad = RESUME_FIXED.filter((k) => matters(cfg, k)).find((k) => JSON.stringify(run.config[k]) !== JSON.stringify(cfg[k]));
  const problem = bad ? `the checkpoint in ${dir} was trained with ${bad} = ${JSON.stringify(run.config[bad])}, not ${JSON.stringify(cfg[bad])}`
    : cfg.epochs !== run.config.epochs ? `the run was started with --epochs ${run.config.epochs} (the learning-rate schedule depends on it), got ${cfg.epochs}` : undefined;
  if (problem) {
    dispose(run);
    throw new WgradError('train', `--resume: ${problem}`);
  }
  await reconcileMetrics(join(dir, METRICS_FILE), run, log);
  log(`resuming ${dir}: ${run.vaeEpochsDone}/${cfg.method === 'idaa' ? cfg.vaeEpochs : 0} VAE epochs and ${run.epochsDone}/${cfg.epochs} epochs done`);
  return run;
}

/**
 * Trains (or resumes) the run in `dir`: IDAA's VAE epochs first, then the encoder's. Returns the
 * final checkpoint tree (the caller owns its tensors).
 */
export async function train(cfg: RunConfig, ds: HostDataset, dir: string, resume: boolean, hooks: RunHooks = {}): Promise<RunCheckpoint> {
  const log = hooks.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const run = await openRun(cfg, ds, dir, resume, log);
  const metricsPath = join(dir, METRICS_FILE);
  const keys = runKeys(cfg.seed);
  const perEpoch = stepsPerEpoch(ds.train.n, cfg.batch);
  let budget = hooks.stopAfter ?? Infinity;
  /** Epochs first..last of a phase, each saved and logged when done; false when stopped early. */
  const phase = async (name: EpochRecord['phase'], first: number, last: number, epochLoop: (e: number) => Omit<EpochLoop, 'phase' | 'epoch' | 'epochs' | 'steps'>, done: (e: number) => void) => {
    for (let e = first; e <= last; e++) {
      if (budget-- <= 0) return false;
      const stepLines = (firstStep: number, losses: number[]) => appendStepLines(metricsPath, name, e, firstStep, losses);
      const rec = await runEpoch({ phase: name, epoch: e, epochs: last, steps: perEpoch, ...epochLoop(e) }, ds, cfg.batch, hooks, stepLines);
      done(e);
      run.history.push(rec);
      await refuseNonFinite(run, `${name === 'vae' ? 'VAE ' : ''}epoch ${e}`);
      await save(dir, run);
      await appendEpochLine(metricsPath, rec);
    }
    return true;
  };
  if (cfg.method === 'idaa' && run.vae) {
    const opt = vaeOptimizer(cfg);
    const finished = await phase('vae', run.vaeEpochsDone + 1, cfg.vaeEpochs, (e) => ({
      order: permutationIndices(foldIn(keys.data, 100000 + e), ds.train.n),
      stepKey: (s) => foldIn(foldIn(keys.vae, e), s),
      step: (x, k) => {
        const v = run.vae!;
        const r = ssl.vae.vaeStep(v.params, v.state, x, k, { optimizer: opt });
        dispose(v);
        run.vae = { params: r.params, state: r.state };
        return { loss: r.loss, parts: r.parts };
      },
    }), (e) => { run.vaeEpochsDone = e; });
    if (!finished) return run;
  }
  const step = ssl.methodStep(settingsOf(cfg), ssl.makeOptimizer(optimizerSpec(cfg, perEpoch)), run.vae && { params: run.vae.params, state: run.vae.state.model });
  await phase('encoder', run.epochsDone + 1, cfg.epochs, (e) => ({
    order: permutationIndices(foldIn(keys.data, e), ds.train.n),
    stepKey: (s) => foldIn(foldIn(keys.train, e), s),
    step: (x, k) => {
      const r = step(run.params, run.state, x, k);
      dispose([run.params, run.state]);
      run.params = r.params;
      run.state = r.state;
      return { loss: r.loss, parts: r.parts };
    },
  }), (e) => { run.epochsDone = e; });
  return run;
}

/**
 * The method settings of a run configuration. The input box (APLR's x̃, the regularizer's attack) is
 * the domain's: [0, 1] for images, none for standardized tables and log-mels.
 */
export function settingsOf(cfg: RunConfig): ssl.MethodSettings {
  const box = domainBox(cfg.domain);
  return {
    method: cfg.method, eps: cfg.eps, alpha: cfg.alpha, attackSteps: cfg.attackSteps,
    augment: { crop: { scale: [cfg.cropScale, 1] } },
    regularizer: cfg.regularizer > 0 ? { weight: cfg.regularizer, eps: cfg.eps, steps: cfg.regSteps, box } : undefined,
    box, generatorLr: cfg.generatorLr, generatorSteps: cfg.generatorSteps, generatorEvery: cfg.generatorEvery, objective: cfg.aplrObjective, noiseStd: cfg.noiseStd, maskProb: cfg.maskProb,
  };
}
