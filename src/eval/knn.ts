/**
 * Weighted k-nearest-neighbour classification on L2-normalized features (InstDisc's monitor, as
 * solo-learn and IDAA use it): for a query q, the k training features with the highest cosine
 * similarity sᵢ vote for their labels with weight exp(sᵢ/T); the class with the largest total wins.
 * IDAA's values are the defaults: k = 200, T = 0.5. Queries are processed in batches (the
 * similarity matrix is [batch, Ntrain]).
 */
import { WgradError } from '../core/backend.js';
import { fmtShape } from '../core/shape.js';
import { cast, equal, exp, mul } from '../tensor/ops/elementwise.js';
import { matmul } from '../tensor/ops/linalg.js';
import { expandDims, oneHot, slice, take, transpose } from '../tensor/ops/movement.js';
import { l2Normalize } from '../tensor/ops/nn.js';
import { argmax, sum } from '../tensor/ops/reduce.js';
import { topk } from '../tensor/ops/sort.js';
import { dispose, keep, tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { checkBatchSize, type ProgressSetting, progressReporter } from './data.js';

export interface KnnOptions {
  classes: number;
  /** Neighbours (default 200, at most the training set size). */
  k?: number;
  /** Temperature T of the weights exp(s/T) (default 0.5). */
  temperature?: number;
  /** Queries per batch (default 256). */
  batchSize?: number;
  progress?: ProgressSetting;
}

export interface FeatureSet { features: Tensor; labels: Tensor }

function check(op: string, s: FeatureSet, what: string): void {
  if (s.features.rank !== 2 || s.labels.dtype !== 'int32' || s.labels.rank !== 1 || s.labels.shape[0] !== s.features.shape[0]) {
    throw new WgradError(op, `${what}: expected features [N, D] and int32 labels [N], got ${fmtShape(s.features.shape)} and ${s.labels.dtype} ${fmtShape(s.labels.shape)}`);
  }
}

/** Predicted classes int32 [B] for queries [B, D] (the bank's features are normalized here). */
export function knnPredict(bank: FeatureSet, queries: Tensor, opts: KnnOptions): Tensor {
  check('knnPredict', bank, 'bank');
  const { classes, temperature = 0.5 } = opts;
  const k = Math.min(opts.k ?? 200, bank.features.shape[0]);
  if (!(k >= 1)) throw new WgradError('knnPredict', `k must be ≥ 1, got ${opts.k}`);
  if (!(temperature > 0)) throw new WgradError('knnPredict', `temperature must be > 0, got ${temperature}`);
  if (queries.rank !== 2 || queries.shape[1] !== bank.features.shape[1]) {
    throw new WgradError('knnPredict', `queries must be [B, ${bank.features.shape[1]}], got ${fmtShape(queries.shape)}`);
  }
  return tidy(() => {
    const sims = matmul(l2Normalize(queries, -1), transpose(l2Normalize(bank.features, -1))); // [B, N]
    const [values, indices] = topk(sims, k); // [B, k]
    const neighbourLabels = take(bank.labels, indices, 0); // [B, k]
    const votes = sum(mul(oneHot(neighbourLabels, classes), expandDims(exp(mul(values, 1 / temperature)), -1)), 1); // [B, C]
    return argmax(votes, -1);
  });
}

/** kNN accuracy of `test` against the bank `train`. */
export async function knnAccuracy(train: FeatureSet, test: FeatureSet, opts: KnnOptions): Promise<{ accuracy: number; correct: number; total: number }> {
  check('knnAccuracy', test, 'test');
  const { batchSize = 256 } = opts;
  checkBatchSize('knnAccuracy', batchSize);
  const n = test.features.shape[0];
  const report = progressReporter(opts.progress, 'kNN', n);
  let correct = 0;
  for (let start = 0; start < n; start += batchSize) {
    const stop = Math.min(n, start + batchSize);
    const hits = tidy(() => {
      const pred = knnPredict(train, slice(test.features, [{ start, stop }]), opts);
      return keep(sum(cast(equal(pred, slice(test.labels, [{ start, stop }])), 'int32')));
    });
    correct += await hits.item();
    dispose(hits);
    report(stop);
  }
  return { accuracy: n ? correct / n : 0, correct, total: n };
}
