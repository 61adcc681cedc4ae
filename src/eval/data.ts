/**
 * The data the evaluations take, batch by batch, and the progress line they print.
 *
 * A dataset is either device tensors `{ images [N, ...], labels int32 [N] }` (batches are views), or
 * a `BatchSource` that makes each batch on demand — for sets kept on the host because they exceed
 * the device's storage-binding limit (60,000 Fashion-MNIST images are 188 MB as float32).
 */
import { WgradError } from '../core/backend.js';
import { fmtShape } from '../core/shape.js';
import { takeRows } from '../data/batching.js';
import { concat, slice } from '../tensor/ops/movement.js';
import { dispose } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';

export interface Batch { images: Tensor; labels: Tensor }

export interface BatchSource {
  size: number;
  /** Rows [start, stop) as fresh tensors the caller disposes. */
  batch(start: number, stop: number): Batch;
}

export type LabeledData = Batch | BatchSource;

export const datasetSize = (data: LabeledData): number => ('size' in data ? data.size : data.images.shape[0]);

/** Checks the dataset's shapes once (labels int32 [N] beside images [N, ...]). */
export function checkDataset(op: string, data: LabeledData): number {
  if ('size' in data) {
    if (!Number.isInteger(data.size) || data.size < 0) throw new WgradError(op, `a BatchSource needs an integer size ≥ 0, got ${data.size}`);
    return data.size;
  }
  const { images, labels } = data;
  if (!(images instanceof Tensor) || !(labels instanceof Tensor)) throw new WgradError(op, 'the dataset must be { images, labels } tensors or a BatchSource');
  if (labels.dtype !== 'int32' || labels.rank !== 1 || images.rank < 1 || images.shape[0] !== labels.shape[0]) {
    throw new WgradError(op, `expected images [N, ...] and int32 labels [N], got ${images.dtype} ${fmtShape(images.shape)} and ${labels.dtype} ${fmtShape(labels.shape)}`);
  }
  return labels.shape[0];
}

/** Batch [start, stop): views of device tensors, or the source's fresh tensors. */
export function takeBatch(data: LabeledData, start: number, stop: number): Batch {
  if ('size' in data) return data.batch(start, stop);
  return { images: slice(data.images, [{ start, stop }]), labels: slice(data.labels, [{ start, stop }]) };
}

/**
 * The examples at `indices` (increasing) as a BatchSource: each batch gathers its rows from the
 * source's contiguous runs, so a subset of a few scattered examples reads only those.
 */
export function subsetOf(data: LabeledData, indices: Int32Array): BatchSource {
  return {
    size: indices.length,
    batch(start: number, stop: number): Batch {
      const rows = indices.subarray(start, stop);
      if (!('size' in data)) return takeRows(data, rows);
      const parts: Batch[] = [];
      for (let i = 0; i < rows.length;) {
        let j = i + 1;
        while (j < rows.length && rows[j] === rows[j - 1] + 1) j++;
        parts.push(data.batch(rows[i], rows[j - 1] + 1));
        i = j;
      }
      if (parts.length === 1) return parts[0];
      const out = { images: concat(parts.map((p) => p.images), 0), labels: concat(parts.map((p) => p.labels), 0) };
      dispose(parts);
      return out;
    },
  };
}

export function checkBatchSize(op: string, batchSize: number): void {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new WgradError(op, `batchSize must be a positive integer, got ${batchSize}`);
}

/**
 * How many examples an evaluation takes: the dataset's size, or the first `limit` (an integer ≥ 1,
 * or Infinity for all). An empty result is an error: an accuracy of 0 / 0 is not a number to report.
 */
export function evaluatedCount(op: string, data: LabeledData, limit: number | undefined, name = 'limit'): number {
  const size = checkDataset(op, data);
  if (limit !== undefined && !(limit === Infinity || (Number.isSafeInteger(limit) && limit >= 1))) {
    throw new WgradError(op, `${name} must be an integer ≥ 1 (or Infinity for all examples), got ${limit}`);
  }
  if (size === 0) throw new WgradError(op, 'the dataset is empty');
  return Math.min(size, limit ?? Infinity);
}

export interface ProgressOptions {
  /** Printed first (default: the evaluation's name). */
  label?: string;
  /** Where lines go (default console.log). */
  log?: (line: string) => void;
  /** Seconds between lines (default 10; the last line is always printed). */
  every?: number;
}

/** `true` for the defaults, `false`/undefined for silence. */
export type ProgressSetting = boolean | ProgressOptions | undefined;

const fmtTime = (s: number) => (s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
  : s >= 60 ? `${Math.floor(s / 60)}m${String(Math.floor(s % 60)).padStart(2, '0')}s` : `${s.toFixed(0)}s`);

/** The progress line: "label 1200/10000 (12.0%)  85.3 images/s  ETA 1m43s". */
export function progressLine(label: string, done: number, total: number, seconds: number): string {
  const rate = seconds > 0 ? done / seconds : 0;
  const eta = rate > 0 ? fmtTime((total - done) / rate) : '?';
  const pct = total > 0 ? ((100 * done) / total).toFixed(1) : '100.0';
  return `${label} ${done}/${total} (${pct}%)  ${rate.toFixed(1)} images/s  ${done >= total ? `done in ${fmtTime(seconds)}` : `ETA ${eta}`}`;
}

/** A reporter: call with the number done so far; prints at most every `every` seconds, and at the end. */
export function progressReporter(setting: ProgressSetting, defaultLabel: string, total: number): (done: number) => void {
  if (!setting) return () => {};
  const o = setting === true ? {} : setting;
  const { label = defaultLabel, log = (l: string) => console.log(l), every = 10 } = o;
  const t0 = performance.now();
  let last = -Infinity;
  return (done) => {
    const now = performance.now();
    if (done < total && (now - last) / 1000 < every) return;
    last = now;
    log(progressLine(label, done, total, (now - t0) / 1000));
  };
}
