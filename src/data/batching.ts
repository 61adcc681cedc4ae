/**
 * Splits and mini-batches. Shuffling is seeded by explicit keys (`wg.random.key(seed)`; fold in the
 * epoch with `wg.random.foldIn(key, epoch)` for a new order every epoch).
 *
 * `permutationIndices(key, n)` computes on the host exactly the permutation that
 * `wg.random.permutation(key, n)` computes on the device (a stable argsort of the Threefry bits
 * `threefry2x32(key, [i, 0])[0]`), so index arrays for splits need no device round trip.
 */
import { WgradError } from '../core/backend.js';
import { treeLeaves, treeMap } from '../tensor/tree.js';
import { threefry2x32 } from '../core/random/threefry.js';
import { foldIn, permutation, type Key } from '../random/random.js';
import { fromStorageArray } from '../tensor/engine.js';
import { slice, take } from '../tensor/ops/movement.js';
import { keep, tidy } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';

/** A random permutation of 0..n−1 on the host, identical to `wg.random.permutation(key, n)`. */
export function permutationIndices(key: Key, n: number): Int32Array {
  checkCount('permutationIndices', n);
  const bits = new Uint32Array(n);
  for (let i = 0; i < n; i++) bits[i] = threefry2x32(key[0], key[1], i, 0)[0];
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => bits[a] - bits[b] || a - b);
  return Int32Array.from(order);
}

/**
 * Splits 0..n−1 at random into training and test indices: the test set is the first
 * round(n · testFraction) entries of `permutationIndices(key, n)`, the training set the rest (each
 * in that random order; sort them if you need ascending order).
 */
export function trainTestSplit(key: Key, n: number, testFraction: number): { train: Int32Array; test: Int32Array } {
  checkCount('trainTestSplit', n);
  if (!(testFraction >= 0 && testFraction <= 1)) {
    throw new WgradError('trainTestSplit', `testFraction must be in [0, 1], got ${testFraction}`);
  }
  const perm = permutationIndices(key, n);
  const nTest = Math.round(n * testFraction);
  return { train: perm.slice(nTest), test: perm.slice(0, nTest) };
}

/**
 * A seeded sample of `n` rows, stratified by class: the row indices (ascending) of a subset in which
 * each class keeps about its share. `classes[i]` is row i's class (any values compared with `===`,
 * e.g. class indices or names). The rule, deterministic for a key:
 *   - class c (of N_c rows, N rows in all) gets ⌊n·N_c/N⌋ rows; the rows left over go one each to
 *     the classes with the largest remainders n·N_c/N − ⌊n·N_c/N⌋ (ties: the class seen first);
 *   - when n ≥ the number of classes, a class left with none takes one row from the class with the
 *     most (ties: the class seen first), so every class is present;
 *   - a class's rows are the first of the permutation `permutationIndices(foldIn(key, c), N_c)` of
 *     its rows in order, c numbering the classes by first appearance.
 * n ≥ N keeps every row. Unlike the first n rows, the sample does not depend on the file's order
 * (a file sorted by class would otherwise lose its last classes).
 */
export function stratifiedSample(classes: ArrayLike<unknown>, n: number, key: Key): Int32Array {
  checkCount('stratifiedSample', n);
  const total = classes.length;
  if (n >= total) return Int32Array.from({ length: total }, (_, i) => i);
  const rowsOf = new Map<unknown, number[]>();
  for (let i = 0; i < total; i++) {
    const rows = rowsOf.get(classes[i]);
    if (rows) rows.push(i);
    else rowsOf.set(classes[i], [i]);
  }
  const groups = [...rowsOf.values()];
  const quota = classQuotas(groups.map((g) => g.length), n);
  const out: number[] = [];
  groups.forEach((rows, c) => {
    const perm = permutationIndices(foldIn(key, c), rows.length);
    for (let j = 0; j < quota[c]; j++) out.push(rows[perm[j]]);
  });
  return Int32Array.from(out.sort((a, b) => a - b));
}

/** Rows per class for `stratifiedSample`: largest remainders, then at least one each where n allows. */
function classQuotas(sizes: number[], n: number): number[] {
  const total = sizes.reduce((a, b) => a + b, 0);
  const share = sizes.map((size) => (n * size) / total);
  const quota = share.map(Math.floor);
  const byRemainder = sizes.map((_, c) => c).sort((a, b) => share[b] - quota[b] - (share[a] - quota[a]) || a - b);
  for (let left = n - quota.reduce((a, b) => a + b, 0), i = 0; left > 0; left--, i++) quota[byRemainder[i]]++;
  if (n < sizes.length) return quota;
  for (let c = 0; c < sizes.length; c++) {
    if (quota[c] > 0) continue;
    const richest = quota.reduce((best, q, j) => (q > quota[best] ? j : best), 0);
    quota[richest]--;
    quota[c]++;
  }
  return quota;
}

/** The rows `indices` (host array or int32 tensor) of every tensor in a pytree, along axis 0. */
export function takeRows<T>(data: T, indices: Int32Array | readonly number[] | Tensor): T {
  return tidy(() => {
    const idx = indices instanceof Tensor ? indices : fromStorageArray(Int32Array.from(indices), [indices.length], 'int32');
    return treeMap(data, (t) => take(t, idx, 0));
  });
}

/** How many batches `batches` yields. */
export function numBatches(n: number, batchSize: number, dropLast = false): number {
  checkCount('numBatches', n);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new WgradError('batches', `batchSize must be a positive integer, got ${batchSize}`);
  return dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
}

export interface BatchOptions {
  batchSize: number;
  /** Shuffle with this key (a device permutation, `wg.random.permutation`); no key: in order. */
  key?: Key;
  /** Leave out the last, smaller batch. Default false. */
  dropLast?: boolean;
}

/**
 * Mini-batches of a pytree of tensors that share their first dimension (e.g. `{ x, y }`): each batch
 * is the same tree with `batchSize` rows (the last may be smaller unless `dropLast`). Shuffled rows
 * are gathered with `wg.take`; unshuffled batches are views (slices).
 *
 * Ownership: a batch belongs to the scope open when it is produced (the caller's `tidy`), or to the
 * caller outside any scope: dispose it when done. The shuffled order is released when the loop ends
 * (also on `break`).
 *
 *   for (const { x, y } of data.batches({ x: X, y: Y }, { batchSize: 128, key: wg.random.foldIn(k, epoch) })) {
 *     params = step(params, x, y);
 *     wg.dispose([x, y]);
 *   }
 */
export function* batches<T>(data: T, opts: BatchOptions): Generator<T, void, undefined> {
  const leaves = treeLeaves(data);
  if (leaves.length === 0) throw new WgradError('batches', 'the data holds no tensors');
  const n = leaves[0][1].shape[0];
  for (const [path, t] of leaves) {
    if (t.rank === 0 || t.shape[0] !== n) {
      throw new WgradError('batches', `every tensor needs the same first dimension: ${leaves[0][0] || '(root)'} has ${n} rows, ${path || '(root)'} has shape [${t.shape.join(', ')}]`);
    }
  }
  const count = numBatches(n, opts.batchSize, opts.dropLast);
  let perm: Tensor | undefined;
  try {
    if (opts.key !== undefined) perm = keep(permutation(opts.key, n));
    for (let b = 0; b < count; b++) {
      const start = b * opts.batchSize;
      const stop = Math.min(n, start + opts.batchSize);
      yield tidy(() => {
        if (!perm) return treeMap(data, (t) => slice(t, [{ start, stop }]));
        const idx = slice(perm, [{ start, stop }]);
        return treeMap(data, (t) => take(t, idx, 0));
      });
    }
  } finally {
    perm?.dispose();
  }
}

function checkCount(op: string, n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new WgradError(op, `n must be a non-negative integer, got ${n}`);
}

