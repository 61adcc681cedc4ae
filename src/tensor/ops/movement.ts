/**
 * Movement ops. reshape, transpose/permute, broadcastTo, slice (with steps, negative steps flip) are
 * views: they change shape/strides/offset over the same storage and cost no kernel. pad and concat
 * write new storage. gather/scatterAdd and oneHot index along an axis.
 */
import { WgradError } from '../../core/backend.js';
import type { DType } from '../../core/dtype.js';
import { broadcastShapes, checkInt, checkShape, contiguousStrides, fmtShape, fmtValue, normAxes, normAxis, numel } from '../../core/shape.js';
import { runPrim, viewPrim } from '../engine.js';
import { checkTensor, Tensor } from '../tensor.js';
import { tidy } from '../scope.js';
import { add, cast, clip, contiguous, copy, equal, greaterEqual, less, logicalAnd, where } from './elementwise.js';
import { arange, checkValue } from './creation.js';

/** New shape over the same elements; one dimension may be -1. Copies first if x is not contiguous. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  checkTensor('reshape', x);
  const target = resolveShape(x, shape);
  const src = x.isContiguous ? x : copy(x);
  const out = viewPrim('reshape', src, { shape: target }, target, contiguousStrides(target), src._offset);
  if (src !== x) src.dispose(); // the view holds its own reference to the copy's storage
  return out;
}

function resolveShape(x: Tensor, shape: readonly number[]): number[] {
  if (!Array.isArray(shape)) throw new WgradError('reshape', `shape must be an array of integers, got ${fmtValue(shape)}`);
  const unknown = shape.filter((d) => d === -1).length;
  const known = numel(shape.filter((d) => d !== -1));
  if (unknown > 1 || shape.some((d) => !Number.isInteger(d) || d < -1)) {
    throw new WgradError('reshape', `invalid target shape ${shape.every((d) => typeof d === 'number') ? fmtShape(shape) : fmtValue(shape)}: expected non-negative integers and at most one -1`);
  }
  const out = shape.map((d) => (d === -1 ? (known === 0 ? 0 : x.size / known) : d));
  if (numel(out) !== x.size || out.some((d) => !Number.isInteger(d))) {
    throw new WgradError('reshape', `cannot reshape ${fmtShape(x.shape)} (${x.size} elements) into ${fmtShape(shape)}`);
  }
  return out;
}

/** Output axis i is input axis perm[i]; default reverses the axes. */
export function transpose(x: Tensor, perm?: readonly number[]): Tensor {
  checkTensor('transpose', x);
  const p = perm ? perm.map((a) => normAxis('transpose', a, x.rank)) : x.shape.map((_, i) => x.rank - 1 - i);
  if (p.length !== x.rank || new Set(p).size !== p.length) {
    throw new WgradError('transpose', `perm [${perm}] is not a permutation of the ${x.rank} axes of ${fmtShape(x.shape)}`);
  }
  return viewPrim('permute', x, { perm: p }, p.map((a) => x.shape[a]), p.map((a) => x._strides[a]), x._offset);
}
export const permute = transpose;

/** Swaps the last two axes (matrix transpose of a batch). */
export function mT(x: Tensor): Tensor {
  if (x.rank < 2) throw new WgradError('mT', `expected rank ≥ 2, got ${fmtShape(x.shape)}`);
  const perm = x.shape.map((_, i) => i);
  [perm[x.rank - 2], perm[x.rank - 1]] = [perm[x.rank - 1], perm[x.rank - 2]];
  return transpose(x, perm);
}

/** Broadcasts x to `shape` (NumPy rules) as a view with stride 0 on broadcast axes. */
export function broadcastTo(x: Tensor, shape: readonly number[]): Tensor {
  checkTensor('broadcastTo', x);
  const target = checkShape('broadcastTo', shape);
  const result = broadcastShapes('broadcastTo', x.shape, target);
  if (result.length !== target.length || result.some((d, i) => d !== target[i])) {
    throw new WgradError('broadcastTo', `cannot broadcast ${fmtShape(x.shape)} to ${fmtShape(shape)}`);
  }
  const lead = target.length - x.rank;
  const strides = target.map((d, i) => (i < lead || x.shape[i - lead] !== d ? 0 : x._strides[i - lead]));
  return viewPrim('expand', x, { shape: target }, target, strides, x._offset);
}

/** x with a new axis of size 1 at `axis`. */
export function expandDims(x: Tensor, axis: number): Tensor {
  const a = normAxis('expandDims', axis, x.rank + 1);
  const shape = [...x.shape];
  shape.splice(a, 0, 1);
  return reshape(x, shape);
}

/** Removes size-1 axes (all of them, or those given). */
export function squeeze(x: Tensor, axes?: number | readonly number[]): Tensor {
  const ax = axes === undefined ? x.shape.flatMap((d, i) => (d === 1 ? [i] : [])) : normAxes('squeeze', axes, x.rank);
  for (const a of ax) {
    if (x.shape[a] !== 1) throw new WgradError('squeeze', `axis ${a} of ${fmtShape(x.shape)} has size ${x.shape[a]}, not 1`);
  }
  return reshape(x, x.shape.filter((_, i) => !ax.includes(i)));
}

/** One axis of a slice: start, stop and step, as in Python. */
export interface SliceSpec {
  start?: number;
  stop?: number;
  step?: number;
}

/**
 * Python-style slicing per axis: `slice(x, [{ start: 1 }, { step: -1 }])`. Missing axes are taken
 * whole; negative indices count from the end; out-of-range bounds are clipped like Python's.
 */
export function slice(x: Tensor, specs: readonly (SliceSpec | number | undefined)[]): Tensor {
  checkTensor('slice', x);
  if (!Array.isArray(specs as unknown)) throw new WgradError('slice', `expected an array of slice specs (one per axis), got ${fmtValue(specs)}`);
  if (specs.length > x.rank) {
    throw new WgradError('slice', `${specs.length} slice specs for a tensor of rank ${x.rank} ${fmtShape(x.shape)}`);
  }
  const starts: number[] = [], stops: number[] = [], steps: number[] = [];
  const shape: number[] = [], strides: number[] = [];
  let offset = x._offset;
  x.shape.forEach((dim, i) => {
    const raw = specs[i];
    if (typeof raw === 'number' && (!Number.isInteger(raw) || raw < -dim || raw >= dim)) {
      throw new WgradError('slice', `index ${raw} is out of range for axis ${i} of size ${dim} in ${fmtShape(x.shape)}`);
    }
    // An integer index keeps its axis with size 1; normalize it first (−1 must not become stop 0).
    const at = typeof raw === 'number' && raw < 0 ? raw + dim : raw;
    const spec: SliceSpec = typeof at === 'number' ? { start: at, stop: at + 1 } : at ?? {};
    if (typeof spec !== 'object') throw new WgradError('slice', `spec ${i} must be an integer index or { start, stop, step }, got ${fmtValue(spec)}`);
    for (const key of ['start', 'stop'] as const) {
      const v = spec[key];
      if (v !== undefined && (typeof v !== 'number' || !Number.isSafeInteger(v))) {
        throw new WgradError('slice', `${key} of axis ${i} must be an integer (or undefined), got ${fmtValue(v)}`);
      }
    }
    const step = spec.step ?? 1;
    if (typeof step !== 'number' || !Number.isSafeInteger(step) || step === 0) throw new WgradError('slice', `step of axis ${i} must be a non-zero integer, got ${fmtValue(step)}`);
    const norm = (v: number | undefined, dflt: number, lo: number, hi: number) =>
      v === undefined ? dflt : Math.min(Math.max(v < 0 ? v + dim : v, lo), hi);
    const start = step > 0 ? norm(spec.start, 0, 0, dim) : norm(spec.start, dim - 1, -1, dim - 1);
    const stop = step > 0 ? norm(spec.stop, dim, 0, dim) : norm(spec.stop, -1, -1, dim - 1);
    const len = Math.max(0, Math.ceil((stop - start) / step));
    starts.push(start); stops.push(stop); steps.push(step);
    shape.push(len);
    strides.push(x._strides[i] * step);
    if (len > 0) offset += start * x._strides[i];
  });
  return viewPrim('slice', x, { starts, stops, steps }, shape, strides, offset);
}

/** Reverses the order of elements along the given axes (a view with negative strides). */
export function flip(x: Tensor, axes?: number | readonly number[]): Tensor {
  const ax = normAxes('flip', axes, x.rank);
  return slice(x, x.shape.map((_, i) => (ax.includes(i) ? { step: -1 } : {})));
}

/** Pads with a constant: `widths[i] = [before, after]` for each axis (missing trailing axes: none). */
export function pad(x: Tensor, widths: readonly (readonly [number, number])[], value = 0): Tensor {
  checkTensor('pad', x);
  if (!Array.isArray(widths as unknown) || widths.length > x.rank || widths.some((w) => !Array.isArray(w) || w.length !== 2) || widths.flat().some((w) => !Number.isSafeInteger(w) || w < 0)) {
    throw new WgradError('pad', `widths ${JSON.stringify(widths)} must be non-negative integer [before, after] pairs for ≤ ${x.rank} axes of ${fmtShape(x.shape)}`);
  }
  if (typeof value !== 'number') throw new WgradError('pad', `value must be a number, got ${fmtValue(value)}`);
  const full: [number, number][] = x.shape.map((_, i) => [widths[i]?.[0] ?? 0, widths[i]?.[1] ?? 0]);
  const shape = x.shape.map((d, i) => d + full[i][0] + full[i][1]);
  return runPrim('pad', [x], { widths: full, value }, shape, x.dtype);
}

/** Joins tensors along an existing axis. */
export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  if (!Array.isArray(xs as unknown)) throw new WgradError('concat', `expected an array of tensors, got ${fmtValue(xs)}`);
  if (xs.length === 0) throw new WgradError('concat', 'expected at least one tensor');
  const first = xs[0];
  const a = normAxis('concat', axis, first.rank);
  for (const t of xs) {
    checkTensor('concat', t);
    if (t.dtype !== first.dtype || t.rank !== first.rank || t.shape.some((d, i) => i !== a && d !== first.shape[i])) {
      throw new WgradError('concat', `along axis ${a}, all tensors need one dtype and equal other dims: got ${xs.map((u) => `${u.dtype} ${fmtShape(u.shape)}`).join(', ')}`);
    }
  }
  const shape = [...first.shape];
  shape[a] = xs.reduce((s, t) => s + t.shape[a], 0);
  return runPrim('concat', [...xs], { axis: a }, shape, first.dtype);
}

/** Joins tensors along a new axis. */
export function stack(xs: readonly Tensor[], axis = 0): Tensor {
  if (!Array.isArray(xs as unknown)) throw new WgradError('stack', `expected an array of tensors, got ${fmtValue(xs)}`);
  if (xs.length === 0) throw new WgradError('stack', 'expected at least one tensor');
  const a = normAxis('stack', axis, xs[0].rank + 1);
  const expanded = xs.map((t) => expandDims(t, a));
  const out = concat(expanded, a);
  for (const t of expanded) t.dispose();
  return out;
}

/**
 * Index rule of take and scatterAdd (NumPy/JAX; README "Semantics"): an index i < 0 counts from the
 * end (i + dim); an index still outside [0, dim) follows `mode`:
 *   take:       'fill' (default, JAX's): that output is `fillValue` (default NaN for float32, the
 *               most negative int32, the largest uint32, true for bool); 'clip': clamped to [0, dim).
 *   scatterAdd: 'drop' (default, the adjoint of 'fill'): the update is dropped; 'clip': clamped.
 * There is no 'raise' mode: checking would need a device round trip. The gather/scatterAdd
 * primitives only ever see in-range indices (masked, not dropped, values are where-selected), so
 * every gradient follows the same rule as the forward pass.
 */
export interface TakeOptions {
  mode?: 'fill' | 'clip';
  /** The value of out-of-range positions in 'fill' mode (must be a value of x's dtype). */
  fillValue?: number;
}
/** Options of `scatterAdd`: indices out of range are dropped or clipped. */
export interface ScatterAddOptions {
  mode?: 'drop' | 'clip';
}

const DEFAULT_FILL = { float32: NaN, int32: -(2 ** 31), uint32: 2 ** 32 - 1, bool: 1 } as const;

function checkIndices(op: string, indices: Tensor): void {
  checkTensor(op, indices, 'indices');
  if (indices.dtype !== 'int32') throw new WgradError(op, `indices must be int32, got ${indices.dtype} ${fmtShape(indices.shape)}`);
}

function checkMode<M extends string>(op: string, mode: unknown, modes: readonly M[]): M {
  if (!modes.includes(mode as M)) throw new WgradError(op, `mode must be one of ${modes.map((m) => `'${m}'`).join(', ')}, got ${fmtValue(mode)}`);
  return mode as M;
}

/** @internal Checks take's options for an x of `dtype`: the mode and the fill value (as where takes it). */
export function takeMode(op: string, dtype: DType, opts: TakeOptions): { mode: 'fill' | 'clip'; fill: number } {
  const mode = checkMode(op, opts.mode ?? 'fill', ['fill', 'clip'] as const);
  const fill = opts.fillValue ?? DEFAULT_FILL[dtype];
  checkValue(op, fill, dtype);
  return { mode, fill: dtype === 'bool' ? Number(fill !== 0) : fill };
}

/** Negative indices + dim. */
const wrapNegative = (idx: Tensor, dim: number) => where(less(idx, 0), add(idx, dim), idx);
const inRange = (idx: Tensor, dim: number) => logicalAnd(greaterEqual(idx, 0), less(idx, dim));
/** `mask` (indices' shape) reshaped to broadcast over an operand whose index axes start at `axis`. */
const alignMask = (mask: Tensor, axis: number, rank: number) =>
  reshape(mask, [...new Array<number>(axis).fill(1), ...mask.shape, ...new Array<number>(rank - axis - mask.rank).fill(1)]);

function clipIndices(op: string, idx: Tensor, dim: number): Tensor {
  if (dim === 0 && idx.size > 0) throw new WgradError(op, `mode 'clip' cannot index an axis of size 0`);
  return clip(idx, 0, Math.max(dim - 1, 0));
}

/** Picks entries along `axis` by int32 `indices`: out.shape = x.shape[:axis] + indices.shape + x.shape[axis+1:]. */
export function take(x: Tensor, indices: Tensor, axis = 0, opts: TakeOptions = {}): Tensor {
  checkTensor('take', x);
  checkIndices('take', indices);
  const a = normAxis('take', axis, x.rank);
  const { mode, fill } = takeMode('take', x.dtype, opts);
  const dim = x.shape[a];
  const shape = [...x.shape.slice(0, a), ...indices.shape, ...x.shape.slice(a + 1)];
  return tidy(() => {
    const idx = wrapNegative(indices, dim);
    if (mode === 'clip') return runPrim('gather', [x, clipIndices('take', idx, dim)], { axis: a }, shape, x.dtype);
    const valid = inRange(idx, dim);
    const gathered = runPrim('gather', [x, where(valid, idx, 0)], { axis: a }, shape, x.dtype);
    return where(alignMask(valid, a, shape.length), gathered, fill);
  });
}

/**
 * Adjoint of `take`: zeros with dim `axis` = `size`, rows of `updates` added at `indices`
 * (negative indices count from the end; out-of-range ones follow `mode`, see above).
 */
export function scatterAdd(updates: Tensor, indices: Tensor, axis: number, size: number, opts: ScatterAddOptions = {}): Tensor {
  checkTensor('scatterAdd', updates);
  checkIndices('scatterAdd', indices);
  checkInt('scatterAdd', 'size', size);
  const a = normAxis('scatterAdd', axis, updates.rank - indices.rank + 1);
  const mode = checkMode('scatterAdd', opts.mode ?? 'drop', ['drop', 'clip'] as const);
  const mid = updates.shape.slice(a, a + indices.rank);
  if (mid.length !== indices.rank || mid.some((d, i) => d !== indices.shape[i])) {
    throw new WgradError('scatterAdd', `updates ${fmtShape(updates.shape)} must have indices' shape ${fmtShape(indices.shape)} at axis ${a}`);
  }
  const shape = [...updates.shape.slice(0, a), size, ...updates.shape.slice(a + indices.rank)];
  return tidy(() => {
    const idx = wrapNegative(indices, size);
    if (mode === 'clip') return runPrim('scatterAdd', [updates, clipIndices('scatterAdd', idx, size)], { axis: a, size }, shape, updates.dtype);
    const valid = inRange(idx, size);
    const kept = where(alignMask(valid, a, updates.rank), updates, 0);
    return runPrim('scatterAdd', [kept, where(valid, idx, 0)], { axis: a, size }, shape, updates.dtype);
  });
}

/** One-hot float32 encoding of int32 labels: shape labels.shape + [depth]; a label outside [0, depth) gives a zero row. */
export function oneHot(labels: Tensor, depth: number): Tensor {
  checkIndices('oneHot', labels);
  checkInt('oneHot', 'depth', depth);
  const classes = arange(0, depth, 1, 'int32');
  const column = expandDims(labels, -1);
  const eq = equal(column, classes);
  const hot = cast(eq, 'float32');
  for (const t of [classes, column, eq]) t.dispose();
  return hot;
}

export { contiguous };
