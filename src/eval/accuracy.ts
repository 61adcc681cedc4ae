/**
 * Clean and robust accuracy of a classifier (or encoder + linear head: compose them into one
 * function), batched over a dataset, with a progress line; and feature extraction for the probes.
 *
 * Robust accuracy runs `attack(x, y, key)` on every batch (the key is `foldIn(key, batchIndex)`,
 * so a run is reproducible) and counts the examples still classified correctly at its output.
 * Batches are pipelined: batch b + 1 is queued before batch b's counts are read back. What is
 * refused (./finite.ts) is checked as the counts come back, in this order: non-finite images,
 * labels outside [0, the model's class count), the attack's own checks (x in its box, a finite loss
 * at every step: ../attacks/checks.ts), non-finite logits. An empty dataset (or a `limit` that is
 * not an integer ≥ 1) is an error, and nothing is left allocated when one is thrown.
 *
 * What it computes, per the papers and official code, and the readings chosen: docs/methods.md#robust-accuracy.
 */
import { WgradError } from '../core/backend.js';
import { fmtShape } from '../core/shape.js';
import { Checks, collectChecks } from '../attacks/checks.js';
import { alias } from '../tensor/alias.js';
import { cast, equal } from '../tensor/ops/elementwise.js';
import { concat } from '../tensor/ops/movement.js';
import { argmax, sum } from '../tensor/ops/reduce.js';
import { foldIn, key as makeKey, type Key } from '../random/random.js';
import { dispose, tidy } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';
import { checkBatchSize, evaluatedCount, type LabeledData, type ProgressSetting, progressReporter, takeBatch } from './data.js';
import { checkFiniteRows, checkLabels } from './finite.js';

/** A classifier: inputs [N, ...] → logits [N, C]. */
export type Model = (x: Tensor) => Tensor;
/** An attack bound to its model and options: (x, labels, key) → xAdv. */
export type Attack = (x: Tensor, labels: Tensor, key: Key) => Tensor;

/** Options of `accuracy`: batch size, an optional attack and its key, a limit, progress, per-example hits. */
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
  /** Also return which examples were classified correctly (`hits`), e.g. for a per-example worst case over attacks. */
  perExample?: boolean;
}

/** The fraction and count of correctly classified examples. */
export interface AccuracyResult {
  accuracy: number;
  correct: number;
  total: number;
  /** With `perExample`: 1 where example i was classified correctly, else 0. */
  hits?: Uint8Array;
  seconds: number;
  imagesPerSecond: number;
}

/** Accuracy of `model` on `data`, or robust accuracy at the output of `opts.attack` (see the module header). */
export function accuracy(model: Model, data: LabeledData, opts: AccuracyOptions = {}): Promise<AccuracyResult> {
  return measure(opts.attack ? 'robustAccuracy' : 'accuracy', model, data, opts);
}

/** One queued batch: its hit count (or, per example, its hits) and its checks, on the device until read. */
interface Queued { hits: Tensor; checks: Checks; rows: number }

const release = (q: Queued) => { q.checks.dispose(); q.hits.dispose(); };

async function measure(op: string, model: Model, data: LabeledData, opts: AccuracyOptions): Promise<AccuracyResult> {
  const { batchSize = 256, attack, key = makeKey(0) } = opts;
  checkBatchSize(op, batchSize);
  const total = evaluatedCount(op, data, opts.limit);
  const report = progressReporter(opts.progress, opts.attack ? 'robust accuracy' : 'accuracy', total);
  const t0 = performance.now();
  let correct = 0, done = 0;
  const hits = opts.perExample ? new Uint8Array(total) : undefined;
  const queue: Queued[] = [];
  const collect = async () => {
    const q = queue[0];
    try {
      await q.checks.verify();
      if (hits) {
        const h = await q.hits.data();
        h.forEach((v, i) => { hits[done + i] = v; correct += v; });
      } else correct += await q.hits.item();
    } finally {
      release(q);
      queue.shift();
    }
    done += q.rows;
    report(done);
  };
  try {
    for (let start = 0, b = 0; start < total; start += batchSize, b++) {
      const bound = attack && ((x: Tensor, y: Tensor) => attack(x, y, foldIn(key, b)));
      queue.push(queueBatch(op, model, data, start, Math.min(total, start + batchSize), bound, !!hits));
      if (queue.length > 1) await collect();
    }
    while (queue.length) await collect();
  } finally {
    queue.forEach(release);
  }
  const seconds = (performance.now() - t0) / 1000;
  return { accuracy: correct / total, correct, total, seconds, imagesPerSecond: seconds > 0 ? total / seconds : 0, ...(hits && { hits }) };
}

/** Rows [start, stop): the attack (if any), the model, the hit count (or each row's hit) and the checks, queued on the device. */
function queueBatch(op: string, model: Model, data: LabeledData, start: number, stop: number, attack: ((x: Tensor, y: Tensor) => Tensor) | undefined, perExample: boolean): Queued {
  const batch = takeBatch(data, start, stop);
  const parts: (Checks | undefined)[] = [];
  try {
    const hits = tidy(() => {
      const [x, attackChecks] = attack ? collectChecks(() => attack(batch.images, batch.labels)) : [batch.images, undefined];
      parts[1] = attackChecks;
      const logits = model(x);
      if (!(logits instanceof Tensor) || logits.rank !== 2 || logits.shape[0] !== stop - start) {
        throw new WgradError(op, `the model must map a batch of ${stop - start} to logits [${stop - start}, C], got ${logits instanceof Tensor ? fmtShape(logits.shape) : typeof logits}`);
      }
      parts[0] = collectChecks(() => {
        checkFiniteRows(op, 'the images', batch.images, start);
        checkLabels(op, batch.labels, logits.shape[1], start, "the model's class count");
      })[1];
      parts[2] = collectChecks(() => {
        if (attack) checkFiniteRows(op, "the attack's output", x, start);
        checkFiniteRows(op, "the model's logits", logits, start);
      })[1];
      const hit = cast(equal(argmax(logits, -1), batch.labels), 'int32');
      return perExample ? hit : sum(hit);
    });
    return { hits, checks: Checks.join(parts), rows: stop - start };
  } catch (e) {
    parts.forEach((c) => c?.dispose());
    throw e;
  } finally {
    dispose(batch);
  }
}

/** Robust accuracy: `accuracy` at the attack's output. */
export function robustAccuracy(model: Model, data: LabeledData, attack: Attack, opts: Omit<AccuracyOptions, 'attack'> = {}): Promise<AccuracyResult> {
  return accuracy(model, data, { ...opts, attack });
}

/** Options of feature extraction: batch size, a limit on the examples, progress. */
export interface ExtractOptions {
  batchSize?: number;
  limit?: number;
  progress?: ProgressSetting;
}

/**
 * Features of a frozen encoder over a dataset: { features [N, ...], labels int32 [N] } on the device
 * (the caller owns them). Non-finite images or features are refused (checked every few batches).
 */
export async function extractFeatures(encoder: Model, data: LabeledData, opts: ExtractOptions = {}): Promise<{ features: Tensor; labels: Tensor }> {
  const { batchSize = 256 } = opts;
  checkBatchSize('extractFeatures', batchSize);
  const total = evaluatedCount('extractFeatures', data, opts.limit);
  const report = progressReporter(opts.progress, 'features', total);
  const feats: Tensor[] = [], labels: Tensor[] = [], checks: Checks[] = [];
  try {
    for (let start = 0; start < total; start += batchSize) {
      const stop = Math.min(total, start + batchSize);
      const batch = takeBatch(data, start, stop);
      try {
        const [[f, y], c] = collectChecks(() => tidy(() => {
          const out = encoder(batch.images);
          checkFiniteRows('extractFeatures', 'the images', batch.images, start);
          checkFiniteRows('extractFeatures', "the encoder's features", out, start);
          // An identity encoder returns its input: copy it, so that disposing the batch is safe.
          return [out === batch.images ? alias(out) : out, cast(batch.labels, 'int32')];
        }));
        feats.push(f);
        labels.push(y);
        checks.push(c);
      } finally {
        dispose(batch);
      }
      // Keep the device at most a few batches ahead of the host; read the checks there.
      if (feats.length % 8 === 0) await Checks.join(checks.splice(0)).verify();
      report(stop);
    }
    await Checks.join(checks.splice(0)).verify();
    return tidy(() => ({ features: concat(feats, 0), labels: concat(labels, 0) }));
  } finally {
    checks.forEach((c) => c.dispose());
    dispose([feats, labels]);
  }
}
