/**
 * Training IDAA's VAE (./vae.ts) once, before the encoder: IDAA's train_vae.py recipe, run to a
 * convergence criterion instead of a fixed 300 epochs (docs/methods.md, "IDAA VAE").
 *
 *   views      every step trains on one SimCLR-augmented view t(x) per image (`augment`: the views
 *              the VAE is later applied to; IDAA trains it on its `--mode simclr` views).
 *   split      the images are split once (seeded) into a held-out set of `heldOut` images (default
 *              1,000, at most a tenth of the data) and the rest, which the VAE trains on.
 *   input      the per-channel mean and standard deviation of the (un-augmented) training images
 *              normalize the VAE's inputs (a constant channel gets std 1).
 *   optimizer  AdamW, lr 5e-4, β = (0, 0.9), eps 1e-8, weight decay 0 (IDAA's own AdamW class, whose
 *              decay defaults to 0; train_vae.py passes none); the rate decays per epoch as
 *              lr·(1 − e/E), e = 0, 1, … (IDAA's LambdaLR) with E = `maxEpochs`; batch 128; the last
 *              partial batch is dropped (IDAA's drop_last).
 *   stopping   after each epoch, the held-out reconstruction error — the pixel-space MSE of G(μ(x))
 *              against x, eval mode, on the same augmented held-out views every epoch — is compared
 *              with the best before it: training stops ('converged') once it has improved by less
 *              than `tolerance` (relative; default 1 %) in `patience` consecutive epochs (default 5:
 *              an epoch's held-out error moves by a few per cent either way; on the 2,000-image
 *              Fashion-MNIST subset a patience of 2 stopped at epoch 13, RMS 0.159, where 5 went on to
 *              epoch 31, RMS 0.128, and 40 epochs reached 0.124), or after `maxEpochs` (default 60).
 *              The last epoch's VAE is kept.
 *   report     per epoch: the training loss, MSE and KL, the held-out MSE and RMS (pixel units), the
 *              learning rate and the time.
 *
 * Differences from IDAA's code that remain: the stop (IDAA trains 300 epochs and picks a checkpoint,
 * epoch 292 in its README), the statistics computed from the data (IDAA writes CIFAR's constants),
 * the held-out split (IDAA trains on every image), and the sizes (./vae.ts).
 */
import { WgradError } from '../core/backend.js';
import { simclrAugment, type SimclrAugmentOptions } from '../data/augment.js';
import { permutationIndices } from '../data/batching.js';
import { adamw } from '../optim/optimizers.js';
import type { Optimizer } from '../optim/optimizers.js';
import { foldIn, split, type Key } from '../random/random.js';
import { mul, sub } from '../tensor/ops/elementwise.js';
import { sum } from '../tensor/ops/reduce.js';
import { dispose, tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { withDefaults } from './common.js';
import * as vae from './vae.js';

/** The images the VAE trains on: `n` images of `shape` [C, S, S], fetched by row. */
export interface VaeData {
  n: number;
  shape: readonly number[];
  /** The images at `rows` as [rows.length, C, S, S] float32 in [0, 1] (the caller owns nothing after). */
  batch: (rows: Int32Array) => Tensor;
}

/** Options of `trainVae`: the architecture, augmentation, optimizer settings and stopping rule. */
export interface VaeTrainOptions extends Omit<vae.VaeLossOptions, 'training'> {
  /** The architecture (the channels, size, mean and std come from the data). */
  config?: Pick<vae.VaeConfig, 'width' | 'latent' | 'resBlocks'>;
  /** The augmentation t (default simclrAugment's). */
  augment?: SimclrAugmentOptions;
  lr?: number;
  b1?: number;
  b2?: number;
  weightDecay?: number;
  batch?: number;
  maxEpochs?: number;
  /** Stop when the held-out error improved by less than this fraction … */
  tolerance?: number;
  /** … in this many consecutive epochs. */
  patience?: number;
  /** Held-out images (at most a tenth of the data). */
  heldOut?: number;
}

/** Every default of the VAE's training (the loss's from vae.VAE_DEFAULTS). */
export const VAE_TRAIN_DEFAULTS = {
  ...vae.VAE_DEFAULTS, lr: 5e-4, b1: 0, b2: 0.9, weightDecay: 0, batch: 128, maxEpochs: 60, tolerance: 0.01, patience: 5, heldOut: 1000,
};

/** One epoch of `trainVae`: its losses, held-out error and learning rate. */
export interface VaeEpochRecord {
  epoch: number;
  loss: number;
  mse: number;
  kl: number;
  /** Held-out reconstruction error, pixel units: mean squared error and its root. */
  heldOutMse: number;
  heldOutRms: number;
  lr: number;
  seconds: number;
  /** Training images per second. */
  imagesPerSec: number;
}

/** A VAE in training: everything that changes, as one checkpointable tree. */
export interface VaeTraining {
  config: Required<vae.VaeConfig>;
  params: vae.VaeParams;
  state: vae.VaeState;
  opt: unknown;
  epochsDone: number;
  history: VaeEpochRecord[];
  /** Why training stopped; absent while it goes on. */
  stopped?: 'converged' | 'maxEpochs';
}

type Resolved = ReturnType<typeof resolveTrainOptions>;

function resolveTrainOptions(o: VaeTrainOptions, n: number) {
  const r = withDefaults(VAE_TRAIN_DEFAULTS, o);
  const heldOut = Math.min(r.heldOut, Math.floor(n / 10));
  const bad = (what: string) => new WgradError('ssl.trainVae', what);
  for (const k of ['lr', 'batch', 'maxEpochs', 'patience'] as const) if (!(r[k] > 0 && Number.isFinite(r[k]))) throw bad(`${k} must be a positive number, got ${r[k]}`);
  if (!(r.tolerance >= 0 && r.tolerance < 1)) throw bad(`tolerance must be in [0, 1), got ${r.tolerance}`);
  if (!(r.b1 >= 0 && r.b1 < 1 && r.b2 >= 0 && r.b2 < 1)) throw bad(`b1 and b2 must be in [0, 1), got ${r.b1} and ${r.b2}`);
  if (heldOut < 1 || n - heldOut < r.batch) throw bad(`need at least one held-out image and a full batch of ${r.batch} to train on, got ${n} images (held out: ${heldOut})`);
  return { ...r, heldOut, steps: Math.floor((n - heldOut) / r.batch) };
}

/** The keys of the VAE's training, and its held-out / training rows. */
function plan(key: Key, n: number, heldOut: number) {
  const [init, rows, order, steps, views] = split(key, 5);
  const perm = permutationIndices(rows, n);
  return { init, order, steps, views, heldOut: perm.slice(0, heldOut), train: perm.slice(heldOut) };
}

/** IDAA's optimizer for the VAE: AdamW with the learning rate lr·(1 − e/E) in epoch e = 0, 1, … of `steps` steps. */
export function vaeOptimizer(o: { lr: number; b1: number; b2: number; weightDecay: number; maxEpochs: number; steps: number }): Optimizer {
  const rate = (count: number) => o.lr * (1 - Math.floor(count / o.steps) / o.maxEpochs);
  return adamw({ lr: rate, b1: o.b1, b2: o.b2, weightDecay: o.weightDecay }) as Optimizer;
}

/** Per-channel mean and standard deviation of the images at `rows` (un-augmented), in chunks. */
export async function channelStatistics(data: VaeData, rows: Int32Array, chunk = 1000): Promise<{ mean: number[]; std: number[] }> {
  const c = data.shape[0];
  const s1 = new Float64Array(c), s2 = new Float64Array(c);
  for (let i = 0; i < rows.length; i += chunk) {
    const x = data.batch(rows.subarray(i, i + chunk));
    const [a, b] = tidy(() => [sum(x, [0, 2, 3]), sum(mul(x, x), [0, 2, 3])]);
    const [ha, hb] = [await a.data(), await b.data()];
    dispose([x, a, b]);
    for (let k = 0; k < c; k++) { s1[k] += ha[k]; s2[k] += hb[k]; }
  }
  const count = rows.length * data.shape[1] * data.shape[2];
  const mean = Array.from(s1, (v) => v / count);
  const std = Array.from(s2, (v, k) => Math.sqrt(Math.max(v / count - mean[k] ** 2, 0)) || 1);
  return { mean, std };
}

/** A fresh VAE for `data`: its config (with the data's statistics), parameters, BN and optimizer state. */
export async function startVaeTraining(key: Key, data: VaeData, opts: VaeTrainOptions = {}): Promise<VaeTraining> {
  const o = resolveTrainOptions(opts, data.n);
  const [c, h, w] = data.shape;
  if (data.shape.length !== 3 || h !== w) throw new WgradError('ssl.trainVae', `the VAE needs square images [C, S, S], got examples of shape [${data.shape.join(', ')}]`);
  const p = plan(key, data.n, o.heldOut);
  const config = vae.resolveVaeConfig({ ...opts.config, inChannels: c, imageSize: h, ...(await channelStatistics(data, p.train)) });
  const { params, state } = vae.init(p.init, config);
  return { config, params, state, opt: vaeOptimizer(o).init(params), epochsDone: 0, history: [] };
}

/**
 * An untrained VAE for examples of `shape` [C, S, S], with its optimizer state, as a method's step
 * receives a trained one (for memory soaks and tests; the input statistics are the defaults).
 */
export function untrainedVae(key: Key, shape: readonly number[], opts: VaeTrainOptions = {}): { params: vae.VaeParams; state: { model: vae.VaeState; opt: unknown } } {
  const { params, state } = vae.init(key, { ...opts.config, inChannels: shape[0], imageSize: shape[1] });
  return { params, state: { model: state, opt: vaeOptimizer({ ...withDefaults(VAE_TRAIN_DEFAULTS, opts), steps: 1 }).init(params) } };
}

/** Pixel-space MSE of the frozen VAE's reconstruction on the held-out views (fixed by `key`). */
export async function heldOutError(t: Pick<VaeTraining, 'params' | 'state'>, data: VaeData, rows: Int32Array, key: Key, opts: { augment?: SimclrAugmentOptions; batch: number }): Promise<number> {
  let total = 0;
  for (let i = 0; i < rows.length; i += opts.batch) {
    const x = data.batch(rows.subarray(i, i + opts.batch));
    const sq = tidy(() => {
      const view = simclrAugment(foldIn(key, i), x, opts.augment);
      const d = sub(vae.reconstruct(t.params, t.state, view), view);
      return sum(mul(d, d));
    });
    total += await sq.item();
    dispose([x, sq]);
  }
  return total / (rows.length * data.shape.reduce((a, b) => a * b, 1));
}

/**
 * Why training stops after these held-out errors (one per epoch): 'converged' when the last
 * `patience` epochs each improved on the best before them by less than `tolerance` (relative),
 * 'maxEpochs' at the cap, otherwise undefined (go on).
 */
export function vaeStopReason(heldOut: readonly number[], o: { tolerance: number; patience: number; maxEpochs: number }): VaeTraining['stopped'] {
  let best = Infinity, stalled = 0;
  for (const e of heldOut) {
    stalled = best < Infinity && (best - e) / best < o.tolerance ? stalled + 1 : 0;
    best = Math.min(best, e);
  }
  if (stalled >= o.patience) return 'converged';
  return heldOut.length >= o.maxEpochs ? 'maxEpochs' : undefined;
}

export interface VaeHooks {
  /** Called after every step of an epoch (progress). */
  onStep?: (epoch: number, step: number, steps: number, loss: number) => void;
  /** Called after every epoch with the training so far (e.g. to save it). */
  onEpoch?: (t: VaeTraining, record: VaeEpochRecord) => Promise<void> | void;
}

/** One epoch: returns the next training state (the old one is disposed) and the epoch's record. */
async function vaeEpoch(t: VaeTraining, p: ReturnType<typeof plan>, data: VaeData, o: Resolved, hooks: VaeHooks): Promise<VaeTraining> {
  const epoch = t.epochsDone + 1;
  const t0 = performance.now();
  const optimizer = vaeOptimizer(o);
  const order = permutationIndices(foldIn(p.order, epoch), p.train.length);
  const sums = { loss: 0, mse: 0, kl: 0 };
  let { params, state, opt } = t;
  for (let s = 0; s < o.steps; s++) {
    const x = data.batch(Int32Array.from(order.subarray(s * o.batch, (s + 1) * o.batch), (i) => p.train[i]));
    const [kView, kStep] = split(foldIn(foldIn(p.steps, epoch), s));
    const view = simclrAugment(kView, x, o.augment);
    const r = vae.vaeStep(params, { model: state, opt }, view, kStep, { optimizer, beta: o.beta, klNormalization: o.klNormalization });
    dispose([view === x ? [] : view, x, params, state, opt]);
    [params, state, opt] = [r.params, r.state.model, r.state.opt];
    const [loss, mse, kl] = [await r.loss.item(), await r.parts.mse.item(), await r.parts.kl.item()];
    dispose([r.loss, r.parts]);
    if (!Number.isFinite(loss)) throw new WgradError('ssl.trainVae', `the VAE's loss is ${loss} at step ${s + 1} of epoch ${epoch}: training diverged (lower the learning rate)`);
    sums.loss += loss; sums.mse += mse; sums.kl += kl;
    hooks.onStep?.(epoch, s + 1, o.steps, loss);
  }
  const seconds = (performance.now() - t0) / 1000;
  const heldOutMse = await heldOutError({ params, state }, data, p.heldOut, p.views, o);
  if (!Number.isFinite(heldOutMse)) throw new WgradError('ssl.trainVae', `the VAE's held-out reconstruction error is ${heldOutMse} after epoch ${epoch}: training diverged (lower the learning rate)`);
  const record: VaeEpochRecord = {
    epoch, loss: sums.loss / o.steps, mse: sums.mse / o.steps, kl: sums.kl / o.steps, heldOutMse, heldOutRms: Math.sqrt(heldOutMse),
    lr: o.lr * (1 - (epoch - 1) / o.maxEpochs), seconds, imagesPerSec: (o.steps * o.batch) / seconds,
  };
  const history = [...t.history, record];
  return { ...t, params, state, opt, epochsDone: epoch, history, stopped: vaeStopReason(history.map((h) => h.heldOutMse), o) };
}

/**
 * Trains the VAE on `data` until it converges (see the header), from scratch or from `resume` (a
 * VaeTraining saved by onEpoch with the same key, data and options). Returns the final training
 * state; `stopped` says why it ended and `history` holds every epoch's record.
 */
export async function trainVae(key: Key, data: VaeData, opts: VaeTrainOptions = {}, hooks: VaeHooks & { resume?: VaeTraining } = {}): Promise<VaeTraining> {
  const o = resolveTrainOptions(opts, data.n);
  const p = plan(key, data.n, o.heldOut);
  let t = hooks.resume ?? (await startVaeTraining(key, data, opts));
  while (!t.stopped) {
    t = await vaeEpoch(t, p, data, o, hooks);
    await hooks.onEpoch?.(t, t.history[t.history.length - 1]);
  }
  return t;
}
