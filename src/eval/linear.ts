/**
 * Linear evaluation of a frozen representation.
 *
 * `trainLinearHead` fits a linear softmax classifier (nn.linear, PyTorch init) on features with
 * cross-entropy. The schedule, by default (RoCL's linear evaluation, shortened):
 *   SGD, momentum 0.9, lr 0.1, weight decay 5e-4 on the weights (not the bias), batch 256,
 *   30 epochs, the learning rate multiplied by 0.1 after 60 % and again after 80 % of the epochs
 *   (`schedule: 'step'`); reshuffled every epoch from `key`.
 * `optimizer: 'adam'` uses Adam lr 1e-3 (no weight decay) with cosine decay to 0 instead
 * (IDAA's logistic regression is close to this). Every option can be overridden.
 * By default (`standardize: 'global'`) the features are centred with the training mean and divided
 * by one scalar, the root mean per-feature variance: without it a fixed learning rate under-fits
 * encoders whose features are small (an untrained encoder's probe then falls far below its own
 * kNN), and under-fitted heads look robust for the wrong reason (small weights); the measurement:
 * docs/comparisons.md#images-simclr-rocl-idaa-and-the-regularizer. One scalar keeps the feature
 * geometry; `'per-feature'` (scikit-learn's StandardScaler, as in front of IDAA's logistic
 * regression) rescales each feature. The scaling is folded into the returned
 * head (w/σ, b − (μ/σ)·w), so the head applies to raw features and encoder + head stays one model
 * for the attacks. `'none'` is RoCL's linear evaluation as written.
 *
 * Non-finite features or images and labels outside [0, classes) are refused (./finite.ts): a head
 * would otherwise train on them silently.
 *
 * What it computes, per the papers and official code, and the readings chosen: docs/methods.md#linear-probe and docs/methods.md#robust-linear-evaluation.
 */
import { WgradError } from '../core/backend.js';
import { valueAndGrad } from '../autograd/transforms.js';
import { softmaxCrossEntropy } from '../losses/classification.js';
import * as linear from '../nn/linear.js';
import { adam, sgd } from '../optim/optimizers.js';
import { cosineDecaySchedule, piecewiseConstantSchedule } from '../optim/schedules.js';
import { applyUpdates } from '../optim/transforms.js';
import type { Schedule } from '../optim/types.js';
import { permutationIndices, takeRows } from '../data/batching.js';
import { stopGradient } from '../tensor/alias.js';
import { foldIn, key as makeKey, split, type Key } from '../random/random.js';
import { dispose, tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { div, greater, sqrt, sub, where } from '../tensor/ops/elementwise.js';
import { mean as meanOf, variance } from '../tensor/ops/reduce.js';
import { matmul } from '../tensor/ops/linalg.js';
import { broadcastTo, expandDims, reshape } from '../tensor/ops/movement.js';
import { checkFloat32 } from '../core/shape.js';
import { Checks, collectChecks } from '../attacks/checks.js';
import { pgd, type PgdOptions } from '../attacks/pgd.js';
import { crossEntropy } from '../attacks/objectives.js';
import { accuracy, type AccuracyResult, extractFeatures, type Model } from './accuracy.js';
import { checkBatchSize, evaluatedCount, type LabeledData, type ProgressSetting, progressReporter, takeBatch } from './data.js';
import { checkFiniteRows, checkLabels } from './finite.js';

/** Training options of a linear head on frozen features (classes, epochs, batch size, optimizer, ...). */
export interface LinearHeadOptions {
  classes: number;
  /** Default 30. */
  epochs?: number;
  /** Default 256. */
  batchSize?: number;
  /** 'sgd' (default) or 'adam'. */
  optimizer?: 'sgd' | 'adam';
  /** Default 0.1 (SGD) / 1e-3 (Adam). */
  lr?: number;
  /** SGD momentum (default 0.9). */
  momentum?: number;
  /** Default 5e-4 (SGD) / 0 (Adam); weights only. */
  weightDecay?: number;
  /** Default 'step' (SGD) / 'cosine' (Adam). */
  schedule?: 'step' | 'cosine' | 'constant';
  /** Shuffling and initialization (default key(0)). */
  key?: Key;
  /** Centre and scale the features with training statistics, folded into the returned head (default 'global'; robustLinearEval trains on raw features, as RoCL). */
  standardize?: 'global' | 'per-feature' | 'none';
  progress?: ProgressSetting;
}

type ResolvedHead = Required<Omit<LinearHeadOptions, 'progress'>> & { progress?: ProgressSetting };

function resolve(op: string, o: LinearHeadOptions): ResolvedHead {
  const isSgd = (o.optimizer ?? 'sgd') === 'sgd';
  const r: ResolvedHead = {
    epochs: 30, batchSize: 256, optimizer: 'sgd', momentum: 0.9, key: makeKey(0), standardize: 'global',
    lr: isSgd ? 0.1 : 1e-3, weightDecay: isSgd ? 5e-4 : 0, schedule: isSgd ? 'step' : 'cosine', ...o,
  };
  if (!Number.isInteger(r.classes) || r.classes < 2) throw new WgradError(op, `classes must be an integer ≥ 2, got ${r.classes}`);
  if (!Number.isInteger(r.epochs) || r.epochs < 1) throw new WgradError(op, `epochs must be an integer ≥ 1, got ${r.epochs}`);
  if (!(r.lr > 0)) throw new WgradError(op, `lr must be > 0, got ${r.lr}`);
  checkFloat32(op, 'lr', r.lr);
  if (!(r.momentum >= 0 && r.momentum <= 1)) throw new WgradError(op, `momentum must be in [0, 1], got ${r.momentum}`);
  if (!(r.weightDecay >= 0)) throw new WgradError(op, `weightDecay must be ≥ 0, got ${r.weightDecay}`);
  checkFloat32(op, 'weightDecay', r.weightDecay);
  if (!['global', 'per-feature', 'none'].includes(r.standardize)) throw new WgradError(op, `standardize must be 'global', 'per-feature' or 'none', got ${JSON.stringify(r.standardize)}`);
  checkBatchSize(op, r.batchSize);
  return r;
}

function makeOptimizer(o: ResolvedHead, stepsPerEpoch: number) {
  const total = o.epochs * stepsPerEpoch;
  const lr: Schedule | number = o.schedule === 'cosine' ? cosineDecaySchedule(o.lr, total)
    : o.schedule === 'step' ? piecewiseConstantSchedule(o.lr, { [Math.round(0.6 * total)]: 0.1, [Math.round(0.8 * total)]: 0.1 })
    : o.lr;
  const decayWeights = (path: string) => path.endsWith('w');
  return o.optimizer === 'sgd'
    ? sgd({ lr, momentum: o.momentum, weightDecay: o.weightDecay, decayMask: decayWeights })
    : adam({ lr });
}

/** Trains a linear head on features [N, D] with int32 labels [N]; returns its params (caller owns). */
export async function trainLinearHead(features: Tensor, labels: Tensor, opts: LinearHeadOptions): Promise<linear.LinearParams> {
  const o = resolve('trainLinearHead', opts);
  evaluatedCount('trainLinearHead', { images: features, labels }, undefined);
  if (features.rank !== 2) throw new WgradError('trainLinearHead', `features must be [N, D], got rank ${features.rank}`);
  await collectChecks(() => {
    checkFiniteRows('trainLinearHead', 'the features', features);
    checkLabels('trainLinearHead', labels, o.classes, 0, 'classes');
  })[1].verify();
  const scaling = o.standardize === 'none' ? undefined : featureScaling(features, o.standardize === 'global');
  try {
    const x = scaling ? tidy(() => div(sub(features, scaling.mean), scaling.std)) : features;
    try {
      const head = await fitHead(x, labels, o);
      if (!scaling) return head;
      const folded = foldScaling(head, scaling);
      dispose(head);
      return folded;
    } finally {
      if (x !== features) dispose(x);
    }
  } finally {
    if (scaling) dispose([scaling.mean, scaling.std]);
  }
}

/** Per-feature mean; per-feature standard deviation, or one σ = √(mean variance) broadcast (σ ≤ 1e-6 → 1). */
function featureScaling(features: Tensor, global: boolean): { mean: Tensor; std: Tensor } {
  return tidy(() => {
    const mean = meanOf(features, 0);
    const v = variance(features, 0);
    const sd = global ? broadcastTo(sqrt(meanOf(v)), v.shape) : sqrt(v);
    return { mean, std: where(greater(sd, 1e-6), sd, 1) };
  });
}

/** The head on standardized features as a head on raw ones: w/σ and b − (μ/σ)·w. */
function foldScaling(head: linear.LinearParams, s: { mean: Tensor; std: Tensor }): linear.LinearParams {
  return tidy(() => {
    const w = div(head.w, expandDims(s.std, 1));
    const shift = matmul(expandDims(div(s.mean, s.std), 0), head.w);
    const b = head.b ? sub(head.b, reshape(shift, [head.w.shape[1]])) : undefined;
    return b ? { w, b } : { w };
  });
}

async function fitHead(features: Tensor, labels: Tensor, o: ResolvedHead): Promise<linear.LinearParams> {
  const n = features.shape[0];
  const stepsPerEpoch = Math.ceil(n / o.batchSize);
  const [kInit, kShuffle] = split(o.key);
  let head = linear.init(kInit, { inFeatures: features.shape[1], outFeatures: o.classes });
  const opt = makeOptimizer(o, stepsPerEpoch);
  let state = opt.init(head);
  const lossAndGrad = valueAndGrad((p: linear.LinearParams, x: Tensor, y: Tensor) => softmaxCrossEntropy(linear.apply(p, x), y));
  const report = progressReporter(o.progress, 'linear head', o.epochs * n);
  for (let epoch = 0; epoch < o.epochs; epoch++) {
    const order = permutationIndices(foldIn(kShuffle, epoch), n);
    for (let start = 0; start < n; start += o.batchSize) {
      const rows = order.subarray(start, Math.min(n, start + o.batchSize));
      const [nextHead, nextState] = tidy(() => {
        const { x, y } = takeRows({ x: features, y: labels }, rows);
        const [, grads] = lossAndGrad(head, x, y);
        const [updates, s] = opt.update(grads, state, head);
        return [applyUpdates(head, updates), s] as const;
      });
      dispose([head, state]);
      [head, state] = [nextHead, nextState];
    }
    await head.w.data(); // one sync per epoch keeps the queue short
    report((epoch + 1) * n);
  }
  dispose(state);
  return head;
}

/** Options of `linearProbe`: the head's training options and the extraction batch size. */
export interface LinearProbeOptions extends LinearHeadOptions {
  /** Batch size of the feature extraction (default 256). */
  extractBatchSize?: number;
}

/** Features of the frozen encoder on both sets, a head trained on the train features, test accuracy. */
export async function linearProbe(encoder: Model, train: LabeledData, test: LabeledData, opts: LinearProbeOptions): Promise<{ head: linear.LinearParams; accuracy: number; trainAccuracy: number }> {
  const ex = { batchSize: opts.extractBatchSize ?? 256 };
  const tr = await extractFeatures(encoder, train, ex);
  let te: { features: Tensor; labels: Tensor } | undefined;
  try {
    te = await extractFeatures(encoder, test, ex);
    const head = await trainLinearHead(tr.features, tr.labels, opts);
    try {
      const apply = (x: Tensor) => linear.apply(head, x);
      const trainAccuracy = (await accuracy(apply, { images: tr.features, labels: tr.labels })).accuracy;
      const testAccuracy = (await accuracy(apply, { images: te.features, labels: te.labels })).accuracy;
      return { head, accuracy: testAccuracy, trainAccuracy };
    } catch (e) {
      dispose(head);
      throw e;
    }
  } finally {
    dispose([tr, te]);
  }
}

/** Options of `robustLinearEval`: the head's training options and the train and evaluation attacks. */
export interface RobustLinearOptions extends LinearHeadOptions {
  /** PGD used to train the head (RoCL: L∞ ε = 8/255, α = 0.007, 10 steps; box [0, 1], null for none). */
  trainAttack?: { eps?: number; alpha?: number; steps?: number; randomStart?: boolean; box?: readonly [number, number] | null };
  /** PGD used to evaluate (default: PGD-20, ε = 8/255, α = ε/10, random start, box [0, 1]). */
  evalAttack?: { eps?: number; alpha?: number; steps?: number; box?: readonly [number, number] | null };
  /** Evaluate on the first `evalLimit` test examples only. */
  evalLimit?: number;
}

/** The adversarially trained head and its clean and robust accuracy. */
export interface RobustLinearResult {
  head: linear.LinearParams;
  clean: AccuracyResult;
  robust: AccuracyResult;
}

/** RoCL's robust linear evaluation (see the header). */
export async function robustLinearEval(encoder: Model, train: LabeledData, test: LabeledData, opts: RobustLinearOptions): Promise<RobustLinearResult> {
  const o = resolve('robustLinearEval', opts);
  const n = evaluatedCount('robustLinearEval', train, undefined);
  evaluatedCount('robustLinearEval', test, opts.evalLimit, 'evalLimit');
  const ea = { eps: 8 / 255, steps: 20, ...opts.evalAttack };
  const [kInit, kShuffle, kAttack, kEval] = split(o.key, 4);
  const head = await fitRobustHead(encoder, train, n, o, { eps: 8 / 255, alpha: 0.007, steps: 10, ...opts.trainAttack }, [kInit, kShuffle, kAttack]);
  try {
    const model = (x: Tensor) => linear.apply(head, encoder(x));
    const evalOpts = { limit: opts.evalLimit, progress: opts.progress, key: kEval };
    const clean = await accuracy(model, test, evalOpts);
    const robust = await accuracy(model, test, { ...evalOpts, attack: (x, y, k) => pgd(crossEntropy(model, y), x, k, { alpha: ea.eps / 10, ...ea }) });
    return { head, clean, robust };
  } catch (e) {
    dispose(head);
    throw e;
  }
}

/**
 * The head trained on PGD examples through the frozen encoder. Each batch's images and labels, and
 * the attack's own checks, are verified every 8 batches (where the host waits for the device anyway).
 */
async function fitRobustHead(encoder: Model, train: LabeledData, n: number, o: ResolvedHead, ta: PgdOptions, keys: Key[]): Promise<linear.LinearParams> {
  const op = 'robustLinearEval';
  const [kInit, kShuffle, kAttack] = keys;
  // The head's input width, from one example.
  const width = tidy(() => { const b = takeBatch(train, 0, 1); const f = encoder(b.images); dispose(b); return f.shape[1]; });
  let head = linear.init(kInit, { inFeatures: width, outFeatures: o.classes });
  const opt = makeOptimizer(o, Math.ceil(n / o.batchSize));
  let state = opt.init(head);
  const features = (x: Tensor) => stopGradient(encoder(x));
  const lossAndGrad = valueAndGrad((p: linear.LinearParams, f: Tensor, y: Tensor) => softmaxCrossEntropy(linear.apply(p, f), y));
  const report = progressReporter(o.progress, 'robust linear head', o.epochs * n);
  const checks: Checks[] = [];
  try {
    for (let epoch = 0; epoch < o.epochs; epoch++) {
      const order = permutationIndices(foldIn(kShuffle, epoch), n);
      const runStarts = permutationIndices(foldIn(kShuffle, epoch), Math.ceil(n / o.batchSize));
      for (let start = 0, b = 0; start < n; start += o.batchSize, b++) {
        const batch = shuffledBatch(train, order, runStarts[b] * o.batchSize, start, Math.min(n, start + o.batchSize) - start);
        try {
          const [[nextHead, nextState], c] = collectChecks(() => tidy(() => {
            checkFiniteRows(op, `the images of batch ${b + 1} (epoch ${epoch + 1})`, batch.images);
            checkLabels(op, batch.labels, o.classes, 0, 'classes');
            // The attack differentiates through the encoder (a stop-gradient here would zero its input
            // gradient and leave x at the start point); only the head's training stops at the features.
            const model = (x: Tensor) => linear.apply(head, encoder(x));
            const xAdv = pgd(crossEntropy(model, batch.labels), batch.images, foldIn(foldIn(kAttack, epoch), b), ta);
            const [, grads] = lossAndGrad(head, features(xAdv), batch.labels);
            const [updates, s] = opt.update(grads, state, head);
            return [applyUpdates(head, updates), s] as const;
          }));
          checks.push(c);
          dispose([head, state]);
          [head, state] = [nextHead, nextState];
        } finally {
          dispose(batch);
        }
        if (b % 8 === 7) await Checks.join(checks.splice(0)).verify();
      }
      await Checks.join(checks.splice(0)).verify();
      await head.w.data();
      report((epoch + 1) * n);
    }
    return head;
  } catch (e) {
    dispose(head);
    throw e;
  } finally {
    dispose(state);
    checks.forEach((c) => c.dispose());
  }
}

/**
 * Rows order[start, start + count) of device tensors (gathered); a BatchSource gives contiguous
 * batches only, so there it is the run of `count` rows at `runStart` (the epoch's shuffle then
 * picks the order of the runs).
 */
function shuffledBatch(data: LabeledData, order: Int32Array, runStart: number, start: number, count: number): { images: Tensor; labels: Tensor } {
  if (!('size' in data)) return takeRows(data, order.subarray(start, start + count));
  const s0 = Math.min(runStart, data.size - count);
  return data.batch(s0, s0 + count);
}
