/**
 * Weighted k-nearest-neighbour classification on L2-normalized features (InstDisc's monitor, as
 * solo-learn and IDAA use it): for a query q, the k bank features with the highest cosine
 * similarity sᵢ vote for their labels with weight exp(sᵢ/T); the class with the largest total wins.
 *
 * The weights are computed as exp((sᵢ − s₁)/T), s₁ the row's top similarity: every weight of a row
 * is divided by the same exp(s₁/T), so the vote is the same, but nothing overflows (exp(s/T)
 * exceeds float32 for T < 1/88.7 ≈ 0.0113, and ∞·0 in the vote is NaN).
 *
 * k. InstDisc, IDAA and solo-learn use k = 200 on CIFAR's 50,000-image bank. On a small bank 200
 * is a large share of it (on 2,000 images of 10 classes, a whole class) and the vote drifts toward
 * the class prior. The default scales k with the bank size N: k = min(200, max(1, round(√N))), the
 * k = √N rule of thumb (Duda, Hart & Stork, Pattern Classification, ch. 4), which meets Stone's
 * (1977) consistency conditions k → ∞, k/N → 0; it gives the papers' 200 from N = 39,801 up (CIFAR)
 * and 45 at N = 2,000. An explicit k wins (capped at N).
 *
 * Features. kNN runs on the features it is given (`features: 'encoder'`, the default) or, with
 * `features: 'projection'`, on `projection` of them (e.g. an SSL method's projection head applied
 * to its encoder features) for both the bank and the queries: IDAA's paper runs kNN on the
 * normalized projection (the vote normalizes it). T = 0.5 by default (IDAA). Queries are processed
 * in batches (the similarity matrix is [batch, N]). Non-finite features and labels outside
 * [0, classes) are refused (./finite.ts).
 *
 * What it computes, per the papers and official code, and the readings chosen: docs/methods.md#weighted-knn.
 */
import { WgradError } from '../core/backend.js';
import { fmtShape } from '../core/shape.js';
import { collectChecks } from '../attacks/checks.js';
import { checkTemperature } from '../attacks/common.js';
import { cast, equal, exp, mul, sub } from '../tensor/ops/elementwise.js';
import { matmul } from '../tensor/ops/linalg.js';
import { concat, expandDims, oneHot, slice, take, transpose } from '../tensor/ops/movement.js';
import { l2Normalize } from '../tensor/ops/nn.js';
import { argmax, sum } from '../tensor/ops/reduce.js';
import { topk } from '../tensor/ops/sort.js';
import { dispose, tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Model } from './accuracy.js';
import { checkBatchSize, type ProgressSetting, progressReporter } from './data.js';
import { checkFiniteRows, checkLabels } from './finite.js';

/** What kNN runs on: the features as given (an encoder's), or their projection (see the header). */
export type KnnFeatures = 'encoder' | 'projection';

/** Options of the k-NN evaluation: the class count, k, the temperature, the features used and the batch size. */
export interface KnnOptions {
  classes: number;
  /** Neighbours (default knnDefaultK(bank size): √N, at most 200; capped at the bank size). */
  k?: number;
  /** Temperature T of the weights exp(s/T) (default 0.5). */
  temperature?: number;
  /** 'encoder' (default): the features as given; 'projection': `projection` of them. */
  features?: KnnFeatures;
  /** Features [B, D] → projection [B, P], used when `features` is 'projection'. */
  projection?: Model;
  /** Queries (and bank rows projected) per batch (default 256). */
  batchSize?: number;
  progress?: ProgressSetting;
}

/** Features [N, D] and their labels [N]. */
export interface FeatureSet { features: Tensor; labels: Tensor }

/** The default k for a bank of n examples: min(200, max(1, round(√n))) (see the header). */
export const knnDefaultK = (n: number): number => Math.min(200, Math.max(1, Math.round(Math.sqrt(n))));

interface Resolved { classes: number; k: number; temperature: number; batchSize: number; projection?: Model }

function check(op: string, s: FeatureSet, what: string): void {
  if (s.features.rank !== 2 || s.labels.dtype !== 'int32' || s.labels.rank !== 1 || s.labels.shape[0] !== s.features.shape[0]) {
    throw new WgradError(op, `${what}: expected features [N, D] and int32 labels [N], got ${fmtShape(s.features.shape)} and ${s.labels.dtype} ${fmtShape(s.labels.shape)}`);
  }
  if (s.features.shape[0] === 0) throw new WgradError(op, `${what}: the set is empty`);
}

function resolve(op: string, bank: FeatureSet, opts: KnnOptions): Resolved {
  check(op, bank, 'bank');
  const { classes, temperature = 0.5, features = 'encoder', batchSize = 256 } = opts;
  const n = bank.features.shape[0];
  if (!(Number.isInteger(classes) && classes >= 2)) throw new WgradError(op, `classes must be an integer ≥ 2, got ${classes}`);
  if (opts.k !== undefined && !(Number.isInteger(opts.k) && opts.k >= 1)) throw new WgradError(op, `k must be an integer ≥ 1, got ${opts.k}`);
  checkTemperature(op, 'temperature', temperature);
  checkBatchSize(op, batchSize);
  if (features !== 'encoder' && features !== 'projection') throw new WgradError(op, `features must be 'encoder' or 'projection', got ${JSON.stringify(features)}`);
  if (features === 'projection' && typeof opts.projection !== 'function') {
    throw new WgradError(op, "features: 'projection' needs the projection function (projection: features → projection)");
  }
  const k = Math.min(opts.k ?? knnDefaultK(n), n);
  return { classes, k, temperature, batchSize, projection: features === 'projection' ? opts.projection : undefined };
}

/** Features as kNN compares them: projected if asked (in batches), L2-normalized; checked finite. */
function prepare(op: string, what: string, f: Tensor, o: Resolved, rowOffset = 0): Tensor {
  checkFiniteRows(op, what, f, rowOffset);
  return tidy(() => {
    if (!o.projection) return l2Normalize(f, -1);
    const parts: Tensor[] = [];
    for (let start = 0; start < f.shape[0]; start += o.batchSize) parts.push(o.projection(slice(f, [{ start, stop: Math.min(f.shape[0], start + o.batchSize) }])));
    const p = parts.length === 1 ? parts[0] : concat(parts, 0);
    checkFiniteRows(op, `the projection of ${what}`, p, rowOffset);
    return l2Normalize(p, -1);
  });
}

/** The bank, prepared once for many query batches (caller disposes `features`). */
function prepareBank(op: string, bank: FeatureSet, o: Resolved): FeatureSet {
  checkLabels(op, bank.labels, o.classes, 0, 'classes', "the bank's labels");
  return { features: prepare(op, "the bank's features", bank.features, o), labels: bank.labels };
}

/** Predicted classes int32 [B] of prepared queries against a prepared bank. */
function vote(bank: FeatureSet, queries: Tensor, o: Resolved): Tensor {
  return tidy(() => {
    const sims = matmul(queries, transpose(bank.features)); // [B, N]
    const [values, indices] = topk(sims, o.k); // [B, k], largest first
    const weights = exp(mul(sub(values, slice(values, [{}, { start: 0, stop: 1 }])), 1 / o.temperature));
    const neighbourLabels = take(bank.labels, indices, 0); // [B, k]
    return argmax(sum(mul(oneHot(neighbourLabels, o.classes), expandDims(weights, -1)), 1), -1); // votes [B, C]
  });
}

/** Predicted classes int32 [B] for queries [B, D]; refuses non-finite features and bank labels outside [0, classes). */
export async function knnPredict(bank: FeatureSet, queries: Tensor, opts: KnnOptions): Promise<Tensor> {
  const o = resolve('knnPredict', bank, opts);
  if (queries.rank !== 2 || queries.shape[1] !== bank.features.shape[1]) {
    throw new WgradError('knnPredict', `queries must be [B, ${bank.features.shape[1]}], got ${fmtShape(queries.shape)}`);
  }
  const [pred, checks] = collectChecks(() => tidy(() => {
    const b = prepareBank('knnPredict', bank, o);
    return vote(b, prepare('knnPredict', 'the queries', queries, o), o);
  }));
  try {
    await checks.verify();
  } catch (e) {
    pred.dispose();
    throw e;
  }
  return pred;
}

/** kNN accuracy of `test` against the bank `train` (labels of both in [0, classes)). */
export async function knnAccuracy(train: FeatureSet, test: FeatureSet, opts: KnnOptions): Promise<{ accuracy: number; correct: number; total: number; k: number }> {
  const o = resolve('knnAccuracy', train, opts);
  check('knnAccuracy', test, 'test');
  if (test.features.shape[1] !== train.features.shape[1]) {
    throw new WgradError('knnAccuracy', `test features must be [N, ${train.features.shape[1]}] like the bank's, got ${fmtShape(test.features.shape)}`);
  }
  const n = test.features.shape[0];
  const report = progressReporter(opts.progress, 'kNN', n);
  const [bank, bankChecks] = collectChecks(() => prepareBank('knnAccuracy', train, o));
  let correct = 0;
  try {
    await bankChecks.verify();
    for (let start = 0; start < n; start += o.batchSize) {
      const stop = Math.min(n, start + o.batchSize);
      const [hits, checks] = collectChecks(() => tidy(() => {
        const labels = slice(test.labels, [{ start, stop }]);
        checkLabels('knnAccuracy', labels, o.classes, start, 'classes', 'the test labels');
        const pred = vote(bank, prepare('knnAccuracy', 'the test features', slice(test.features, [{ start, stop }]), o, start), o);
        return sum(cast(equal(pred, labels), 'int32'));
      }));
      try {
        await checks.verify();
        correct += await hits.item();
      } finally {
        dispose(hits);
      }
      report(stop);
    }
  } finally {
    bankChecks.dispose();
    dispose(bank.features);
  }
  return { accuracy: correct / n, correct, total: n, k: o.k };
}

