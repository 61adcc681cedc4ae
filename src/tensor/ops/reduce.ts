/** Reductions over any set of axes, with keepdims; mean and variance are composed from sum. */
import { WgradError } from '../../core/backend.js';
import type { DType } from '../../core/dtype.js';
import type { ReduceOp } from '../../core/prims.js';
import { checkFinite, fmtShape, normAxes, normAxis } from '../../core/shape.js';
import { runPrim } from '../engine.js';
import { checkTensor, type Tensor } from '../tensor.js';
import { cast, div, mul, sub } from './elementwise.js';
import { reshape } from './movement.js';

/** Options of the reductions: keep the reduced axes as size 1. */
export interface ReduceOptions {
  keepdims?: boolean;
}
type Axes = number | readonly number[] | undefined;

/** The shape with reduced axes kept as size 1. */
export function keptShape(shape: readonly number[], axes: readonly number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

function reduce(op: ReduceOp, x: Tensor, axes: Axes, opts: ReduceOptions, dtype: DType): Tensor {
  checkTensor(op, x);
  const ax = normAxes(op, axes, x.rank);
  if ((op === 'max' || op === 'min' || op === 'argmax' || op === 'argmin') && ax.some((a) => x.shape[a] === 0)) {
    throw new WgradError(op, `cannot reduce an empty axis of ${fmtShape(x.shape)}: ${op} has no identity`);
  }
  let out: Tensor;
  if (ax.length === 0) {
    out = cast(x, dtype); // nothing to reduce (a scalar, or axes = [])
  } else {
    const shape = x.shape.filter((_, i) => !ax.includes(i));
    out = runPrim(op, [x], { axes: ax }, shape, dtype);
  }
  if (!opts.keepdims) return out;
  const kept = reshape(out, keptShape(x.shape, ax));
  out.dispose();
  return kept;
}

function numeric(op: string, x: Tensor): Tensor {
  checkTensor(op, x);
  // Summing booleans counts them, as in NumPy.
  return x.dtype === 'bool' ? cast(x, 'int32') : x;
}

/** Runs `fn` on `y` and disposes `y` when it is a temporary made from `x`. */
function using(x: Tensor, y: Tensor, fn: (y: Tensor) => Tensor): Tensor {
  const out = fn(y);
  if (y !== x) y.dispose();
  return out;
}

/** Sum over `axes` (default all); booleans are counted as int32. */
export const sum = (x: Tensor, axes?: Axes, opts: ReduceOptions = {}) =>
  using(x, numeric('sum', x), (y) => reduce('sum', y, axes, opts, y.dtype));
/** Product over `axes` (default all); booleans as int32. */
export const prod = (x: Tensor, axes?: Axes, opts: ReduceOptions = {}) =>
  using(x, numeric('prod', x), (y) => reduce('prod', y, axes, opts, y.dtype));
/** Maximum over `axes` (default all); an empty axis is an error. */
export const max = (x: Tensor, axes?: Axes, opts: ReduceOptions = {}) => reduce('max', x, axes, opts, x.dtype);
/** Minimum over `axes` (default all); an empty axis is an error. */
export const min = (x: Tensor, axes?: Axes, opts: ReduceOptions = {}) => reduce('min', x, axes, opts, x.dtype);

/** int32 index of the first maximum along one axis (default: the flattened tensor). */
export function argmax(x: Tensor, axis?: number, opts: ReduceOptions = {}): Tensor {
  return argReduce('argmax', x, axis, opts);
}
/** int32 index of the first minimum along one axis (default: the flattened tensor). */
export function argmin(x: Tensor, axis?: number, opts: ReduceOptions = {}): Tensor {
  return argReduce('argmin', x, axis, opts);
}
function argReduce(op: 'argmax' | 'argmin', x: Tensor, axis: number | undefined, opts: ReduceOptions): Tensor {
  if (axis === undefined) return using(x, reshape(x, [-1]), (flat) => reduce(op, flat, [0], {}, 'int32'));
  return reduce(op, x, [normAxis(op, axis, x.rank)], opts, 'int32');
}

/** Number of elements reduced over `axes`. */
function count(x: Tensor, axes: Axes): number {
  return normAxes('mean', axes, x.rank).reduce((n, a) => n * x.shape[a], 1);
}

/** Mean over `axes` (default all), in float32. */
export function mean(x: Tensor, axes?: Axes, opts: ReduceOptions = {}): Tensor {
  checkTensor('mean', x);
  normAxes('mean', axes, x.rank); // validate here so errors name mean, not the sum inside
  return using(x, x.dtype === 'float32' ? x : cast(x, 'float32'), (xf) => {
    const s = sum(xf, axes, opts);
    const m = div(s, count(x, axes));
    s.dispose();
    return m;
  });
}

/** Variance with `ddof` delta degrees of freedom (0: population variance). */
export function variance(x: Tensor, axes?: Axes, opts: ReduceOptions & { ddof?: number } = {}): Tensor {
  checkTensor('variance', x);
  normAxes('variance', axes, x.rank);
  if (opts.ddof !== undefined) checkFinite('variance', 'ddof', opts.ddof);
  return using(x, x.dtype === 'float32' ? x : cast(x, 'float32'), (xf) => {
    const mu = mean(xf, axes, { keepdims: true });
    const d = sub(xf, mu);
    const d2 = mul(d, d);
    const s = sum(d2, axes, opts);
    const v = div(s, Math.max(count(x, axes) - (opts.ddof ?? 0), 0));
    for (const t of [mu, d, d2, s]) t.dispose();
    return v;
  });
}
