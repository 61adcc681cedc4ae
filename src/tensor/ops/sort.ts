/** Sorting along an axis (argsort is the primitive; sort, topk and takeAlongAxis are composed). */
import { WgradError } from '../../core/backend.js';
import { fmtShape, normAxis } from '../../core/shape.js';
import { runPrim } from '../engine.js';
import { tidy } from '../scope.js';
import { checkTensor, type Tensor } from '../tensor.js';
import { arange } from './creation.js';
import { add, clip, greaterEqual, less, logicalAnd, mul, where } from './elementwise.js';
import { reshape, slice, take, takeMode, type TakeOptions, transpose } from './movement.js';

/** Moves `axis` last (a view) so the last-axis primitive can act on it; returns the inverse too. */
function axisLast(x: Tensor, axis: number): [Tensor, (t: Tensor) => Tensor] {
  if (axis === x.rank - 1) return [x, (t) => t];
  const perm = x.shape.map((_, i) => i).filter((i) => i !== axis).concat(axis);
  const inv = perm.map((_, i) => perm.indexOf(i));
  return [transpose(x, perm), (t) => transpose(t, inv)];
}

/** int32 indices that stably sort x along `axis` (default last). */
export function argsort(x: Tensor, axis = -1, opts: { descending?: boolean } = {}): Tensor {
  checkTensor('argsort', x);
  if (x.rank === 0) throw new WgradError('argsort', 'cannot sort a scalar');
  const a = normAxis('argsort', axis, x.rank);
  return tidy(() => {
    const [xl, back] = axisLast(x, a);
    return back(runPrim('argsort', [xl], { descending: !!opts.descending }, xl.shape, 'int32'));
  });
}

/**
 * out[..., i, ...] = x[..., indices[..., i, ...], ...] along `axis`; indices has x's rank. Indices
 * follow take's rule along `axis`: negative ones count from the end, others out of range follow
 * `mode` ('fill' with NaN/fillValue by default, or 'clip'); they never reach a neighbouring row.
 */
export function takeAlongAxis(x: Tensor, indices: Tensor, axis = -1, opts: TakeOptions = {}): Tensor {
  checkTensor('takeAlongAxis', x);
  checkTensor('takeAlongAxis', indices, 'indices');
  const a = normAxis('takeAlongAxis', axis, x.rank);
  if (indices.dtype !== 'int32' || indices.rank !== x.rank || indices.shape.some((d, i) => i !== a && d !== x.shape[i])) {
    throw new WgradError('takeAlongAxis', `indices must be int32 with x's shape ${fmtShape(x.shape)} except on axis ${a}, got ${indices.dtype} ${fmtShape(indices.shape)}`);
  }
  const { mode, fill } = takeMode('takeAlongAxis', x.dtype, opts);
  const n = x.shape[a];
  if (n === 0 && indices.size > 0) return take(x, indices, a, opts); // every index is out of range
  return tidy(() => {
    const [xl, back] = axisLast(x, a);
    const [il] = axisLast(indices, a);
    const rows = xl.size / Math.max(n, 1);
    // Each index is checked against its own row first (take's rule along the axis), then
    // flat index = row · n + index: one gather over the flattened tensor (differentiable in x).
    const local = where(less(il, 0), add(il, n), il);
    const valid = logicalAnd(greaterEqual(local, 0), less(local, n));
    const inRow = mode === 'clip' ? clip(local, 0, n - 1) : where(valid, local, 0);
    const rowBase = reshape(mul(arange(0, rows, 1, 'int32'), n), [...il.shape.slice(0, -1), 1]);
    const flat = reshape(take(reshape(xl, [-1]), reshape(add(inRow, rowBase), [-1]), 0, { mode: 'clip' }), il.shape);
    return back(mode === 'clip' ? flat : where(valid, flat, fill));
  });
}

/** Sorted values along `axis`. */
export function sort(x: Tensor, axis = -1, opts: { descending?: boolean } = {}): Tensor {
  return tidy(() => takeAlongAxis(x, argsort(x, axis, opts), axis, { mode: 'clip' })); // in range
}

/** The k largest values along the last axis and their int32 indices, largest first. */
export function topk(x: Tensor, k: number): [Tensor, Tensor] {
  const n = x.shape[x.rank - 1];
  if (x.rank === 0 || !Number.isInteger(k) || k < 0 || k > n) {
    throw new WgradError('topk', `k = ${k} must be an integer in [0, ${n ?? 0}] for x ${fmtShape(x.shape)}`);
  }
  return tidy(() => {
    const idx = slice(argsort(x, -1, { descending: true }), [...x.shape.slice(0, -1).map(() => ({})), { stop: k }]);
    return [takeAlongAxis(x, idx, -1, { mode: 'clip' }), idx] as [Tensor, Tensor];
  });
}
