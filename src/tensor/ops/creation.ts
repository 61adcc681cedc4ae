/** Creating tensors: from host data, constants (filled on the device), ranges, identity. */
import { WgradError } from '../../core/backend.js';
import type { Backend } from '../../core/backend.js';
import { type DType, storageArray } from '../../core/dtype.js';
import { fmtShape, numel } from '../../core/shape.js';
import { backend, fromStorageArray, runPrim } from '../engine.js';
import { graphAlive, keep } from '../scope.js';
import { type NestedArray, Tensor } from '../tensor.js';
import { broadcastTo } from './movement.js';

export type Data = NestedArray | Float32Array | Int32Array | Uint32Array | Uint8Array | number[];

function inferShape(data: NestedArray): number[] {
  const shape: number[] = [];
  let d: NestedArray = data;
  while (Array.isArray(d)) {
    shape.push(d.length);
    d = d[0];
    if (d === undefined) break;
  }
  return shape;
}

function defaultDType(data: Data): DType {
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Uint32Array) return 'uint32';
  if (data instanceof Uint8Array) return 'bool';
  const first = Array.isArray(data) ? data.flat(Infinity as 1)[0] : data;
  return typeof first === 'boolean' ? 'bool' : 'float32';
}

/**
 * A tensor from nested arrays, a number/boolean, or a flat typed array (with `shape`).
 * Default dtype: float32 for numbers, bool for booleans, else the typed array's own.
 */
export function tensor(data: Data, opts: { dtype?: DType; shape?: readonly number[] } = {}): Tensor {
  const dtype = opts.dtype ?? defaultDType(data);
  let flat: ArrayLike<number | boolean>;
  let shape: readonly number[];
  if (ArrayBuffer.isView(data)) {
    flat = data as ArrayLike<number>;
    shape = opts.shape ?? [flat.length];
  } else {
    shape = opts.shape ?? inferShape(data as NestedArray);
    const nested = Array.isArray(data) ? (data as NestedArray[]).flat(Infinity as 1) : [data];
    flat = nested as ArrayLike<number | boolean>;
    if (!opts.shape) checkRagged(data as NestedArray, shape);
  }
  if (numel(shape) !== flat.length) {
    throw new WgradError('tensor', `${flat.length} values cannot fill shape ${fmtShape(shape)}`);
  }
  const out = storageArray(dtype, flat.length);
  for (let i = 0; i < flat.length; i++) {
    const v = Number(flat[i]);
    out[i] = dtype === 'bool' ? (v !== 0 ? 1 : 0) : v;
  }
  return fromStorageArray(out, shape, dtype);
}

function checkRagged(data: NestedArray, shape: readonly number[], axis = 0): void {
  if (axis === shape.length) {
    if (Array.isArray(data)) throw new WgradError('tensor', `ragged nested array: expected shape ${fmtShape(shape)}`);
    return;
  }
  if (!Array.isArray(data) || data.length !== shape[axis]) {
    throw new WgradError('tensor', `ragged nested array: expected ${shape[axis]} elements on axis ${axis} of shape ${fmtShape(shape)}`);
  }
  for (const d of data) checkRagged(d, shape, axis + 1);
}

// Scalar constants are cached per backend (kept out of every scope) so `mul(x, 2)` uploads nothing.
// The cache is kept in least-recently-used order (a Map iterates in insertion order; a hit moves
// the entry to the end). When full, the older half is disposed — never while a traced graph is
// alive, since its nodes may still read any constant (the cache may then grow past the limit until
// the trace ends), and never the entries just handed out (an op may ask for two in a row).
const constants = new WeakMap<Backend, Map<string, Tensor>>();
const MAX_CONSTANTS = 512;

/** @internal A cached rank-0 constant; do not dispose it. */
export function constant(value: number, dtype: DType): Tensor {
  const b = backend();
  let cache = constants.get(b);
  if (!cache) constants.set(b, (cache = new Map()));
  const key = `${dtype}:${Object.is(value, -0) ? '-0' : value}`;
  let t = cache.get(key);
  if (t && !t.isDisposed) {
    cache.delete(key);
    cache.set(key, t);
    return t;
  }
  cache.delete(key);
  if (cache.size >= MAX_CONSTANTS && !graphAlive()) {
    let evict = cache.size - MAX_CONSTANTS / 2;
    for (const [k, c] of cache) {
      if (evict-- <= 0) break;
      cache.delete(k);
      c.dispose();
    }
  }
  t = keep(tensor(value, { dtype }));
  cache.set(key, t);
  return t;
}

/** A new tensor of `shape` filled with `value` (filled on the device; nothing large is uploaded). */
export function full(shape: readonly number[], value: number, dtype: DType = 'float32'): Tensor {
  checkShape('full', shape);
  const view = broadcastTo(constant(value, dtype), shape);
  const out = runPrim('copy', [view], {}, shape, dtype);
  view.dispose();
  return out;
}
export const zeros = (shape: readonly number[], dtype: DType = 'float32') => full(shape, 0, dtype);
export const ones = (shape: readonly number[], dtype: DType = 'float32') => full(shape, 1, dtype);
export const zerosLike = (x: Tensor) => full(x.shape, 0, x.dtype);
export const onesLike = (x: Tensor) => full(x.shape, 1, x.dtype);
export const fullLike = (x: Tensor, value: number) => full(x.shape, value, x.dtype);

export function checkShape(op: string, shape: readonly number[]): void {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new WgradError(op, `invalid shape ${JSON.stringify(shape)}: expected non-negative integers`);
  }
}

/** Values start, start + step, ... below stop (NumPy's arange). */
export function arange(start: number, stop?: number, step = 1, dtype: DType = 'float32'): Tensor {
  if (stop === undefined) [start, stop] = [0, start];
  if (step === 0) throw new WgradError('arange', 'step must not be 0');
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const out = storageArray(dtype, n);
  for (let i = 0; i < n; i++) out[i] = start + i * step;
  return fromStorageArray(out, [n], dtype);
}

/** `num` evenly spaced values from start to stop inclusive. */
export function linspace(start: number, stop: number, num: number): Tensor {
  if (!Number.isInteger(num) || num < 0) throw new WgradError('linspace', `num must be a non-negative integer, got ${num}`);
  const out = new Float32Array(num);
  const step = num > 1 ? (stop - start) / (num - 1) : 0;
  for (let i = 0; i < num; i++) out[i] = start + i * step;
  if (num > 1) out[num - 1] = stop;
  return fromStorageArray(out, [num], 'float32');
}

/** n×m identity (m defaults to n). */
export function eye(n: number, m = n, dtype: DType = 'float32'): Tensor {
  checkShape('eye', [n, m]);
  const out = storageArray(dtype, n * m);
  for (let i = 0; i < Math.min(n, m); i++) out[i * m + i] = 1;
  return fromStorageArray(out, [n, m], dtype);
}
