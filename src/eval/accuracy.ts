/**
 * Clean and robust accuracy of a classifier (or encoder + linear head: compose them into one
 * function), batched over a dataset, with a progress line; and feature extraction for the probes.
 *
 * Robust accuracy runs `attack(x, y, key)` on every batch (the key is `foldIn(key, batchIndex)`,
 * so a run is reproducible) and counts the examples still classified correctly at its output.
 * Batches are pipelined: batch b + 1 is queued before batch b's counts are read back. Label values
 * are checked against the class count as the counts come back (an out-of-range label is an error).
 */
import { WgradError } from '../core/backend.js';
import { cast, equal } from '../tensor/ops/elementwise.js';
import { concat, stack } from '../tensor/ops/movement.js';
import { argmax, max, min, sum } from '../tensor/ops/reduce.js';
import { foldIn, key as makeKey, type Key } from '../random/random.js';
import { dispose, keep, tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { checkBatchSize, checkDataset, type LabeledData, type ProgressSetting, progressReporter, takeBatch } from './data.js';

/** A classifier: inputs [N, ...] → logits [N, C]. */
export type Model = (x: Tensor) => Tensor;
/** An attack bound to its model and options: (x, labels, key) → xAdv. */
export type Attack = (x: Tensor, labels: Tensor, key: Key) => Tensor;

export interface AccuracyOptions {
  /** Default 256. */
  batchSize?: number;
  /** Evaluate at attack(x, y, key) instead of x (robust accuracy). */
  attack?: Attack;
  /** Key of the attack's randomness (default key(0)). */
  key?: Key;
  /** Only the first `limit` examples. */
  limit?: number;
  progress?: ProgressSetting;
}

export interface AccuracyResult {
  accuracy: number;
  correct: number;
  total: number;
  seconds: number;
  imagesPerSecond: number;
}

export async function accuracy(model: Model, data: LabeledData, opts: AccuracyOptions = {}): Promise<AccuracyResult> {
  const { batchSize = 256, attack, key = makeKey(0) } = opts;
  checkBatchSize('accuracy', batchSize);
  const total = Math.min(checkDataset('accuracy', data), opts.limit ?? Infinity);
  const report = progressReporter(opts.progress, attack ? 'robust accuracy' : 'accuracy', total);
  const t0 = performance.now();
  let correct = 0, done = 0, b = 0;
  let pending: { counts: Tensor; rows: number; classes: number } | undefined;
  const collect = async () => {
    if (!pending) return;
    const [hits, lo, hi] = Array.from(await pending.counts.data() as Int32Array);
    pending.counts.dispose();
    if (lo < 0 || hi >= pending.classes) {
      throw new WgradError('accuracy', `labels must be in [0, ${pending.classes}) (the model's class count), got a label ${lo < 0 ? lo : hi}`);
    }
    correct += hits;
    done += pending.rows;
    pending = undefined;
    report(done);
  };
  for (let start = 0; start < total; start += batchSize, b++) {
    const stop = Math.min(total, start + batchSize);
    const batch = takeBatch(data, start, stop);
    const next = tidy(() => {
      const x = attack ? attack(batch.images, batch.labels, foldIn(key, b)) : batch.images;
      const logits = model(x);
      const hits = sum(cast(equal(argmax(logits, -1), batch.labels), 'int32'));
      return { counts: keep(stack([hits, min(batch.labels), max(batch.labels)])), rows: stop - start, classes: logits.shape[logits.rank - 1] };
    });
    dispose(batch);
    await collect();
    pending = next;
  }
  await collect();
  const seconds = (performance.now() - t0) / 1000;
  return { accuracy: total ? correct / total : 0, correct, total, seconds, imagesPerSecond: seconds > 0 ? total / seconds : 0 };
}

/** Robust accuracy: `accuracy` at the attack's output. */
export function robustAccuracy(model: Model, data: LabeledData, attack: Attack, opts: Omit<AccuracyOptions, 'attack'> = {}): Promise<AccuracyResult> {
  return accuracy(model, data, { ...opts, attack });
}

export interface ExtractOptions {
  batchSize?: number;
  limit?: number;
  progress?: ProgressSetting;
}

/**
 * Features of a frozen encoder over a dataset: { features [N, ...], labels int32 [N] } on the device
 * (the caller owns them).
 */
export async function extractFeatures(encoder: Model, data: LabeledData, opts: ExtractOptions = {}): Promise<{ features: Tensor; labels: Tensor }> {
  const { batchSize = 256 } = opts;
  checkBatchSize('extractFeatures', batchSize);
  const total = Math.min(checkDataset('extractFeatures', data), opts.limit ?? Infinity);
  if (total === 0) throw new WgradError('extractFeatures', 'the dataset is empty');
  const report = progressReporter(opts.progress, 'features', total);
  const feats: Tensor[] = [], labels: Tensor[] = [];
  for (let start = 0; start < total; start += batchSize) {
    const stop = Math.min(total, start + batchSize);
    const batch = takeBatch(data, start, stop);
    const [f, y] = tidy(() => [encoder(batch.images), cast(batch.labels, 'int32')]);
    dispose([f === batch.images ? [] : batch.images, batch.labels]); // an identity encoder returns its input
    feats.push(f);
    labels.push(y);
    // Keep the device at most a few batches ahead of the host.
    if (feats.length % 8 === 0) await f.data();
    report(stop);
  }
  const out = tidy(() => ({ features: concat(feats, 0), labels: concat(labels, 0) }));
  dispose([feats, labels]);
  return out;
}
