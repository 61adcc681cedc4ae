/** Creating tensors: from host data, constants (filled on the device), ranges, identity. */
import { WgradError } from '../../core/backend.js';
import type { Backend } from '../../core/backend.js';
import { checkDType, type DType, storageArray } from '../../core/dtype.js';
import { checkFinite, checkInt, checkShape, fmtShape, numel } from '../../core/shape.js';
import { backend, fromStorageArray, runPrim, viewPrim } from '../engine.js';
import { graphAlive } from '../lifetime.js';
import { keep } from '../scope.js';
import { type NestedArray, Tensor } from '../tensor.js';

/** What `tensor` accepts: nested arrays, a number or boolean, or a flat typed array. */
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

const INT_RANGE: Partial<Record<DType, [number, number]>> = { int32: [-(2 ** 31), 2 ** 31 - 1], uint32: [0, 2 ** 32 - 1] };

/**
 * Stores host values into a dtype's storage, checking each one (see README "Semantics"): elements
 * are all numbers or all booleans (booleans store as 0/1); int32/uint32 take only integers in their
 * range — never a silent truncation or wrap-around (`cast` truncates and saturates on request);
 * float32 rounds to nearest; bool is v ≠ 0.
 */
function toStorage(flat: ArrayLike<unknown>, dtype: DType, typed: boolean): ReturnType<typeof storageArray> {
  const out = storageArray(dtype, flat.length);
  const range = INT_RANGE[dtype];
  const kind = typed || flat.length === 0 ? 'number' : typeof flat[0];
  for (let i = 0; i < flat.length; i++) {
    const raw = flat[i];
    if (!typed && (typeof raw !== kind || (kind !== 'number' && kind !== 'boolean'))) {
      const what = raw === null ? 'null' : typeof raw === 'string' ? `the string ${JSON.stringify(raw)}` : typeof raw;
      throw new WgradError('tensor', kind === 'number' || kind === 'boolean'
        ? `element ${i} is ${what === 'number' || what === 'boolean' ? `${what} ${String(raw)}` : what} but element 0 is a ${kind}: the data must be all numbers or all booleans`
        : `element ${i} is ${what}: expected numbers or booleans`);
    }
    const v = Number(raw);
    if (range && !(Number.isInteger(v) && v >= range[0] && v <= range[1])) {
      throw new WgradError('tensor', `element ${i} (${v}) is not an integer in the ${dtype} range [${range[0]}, ${range[1]}]; use cast(tensor(data), '${dtype}') to truncate and saturate`);
    }
    out[i] = dtype === 'bool' ? (v !== 0 ? 1 : 0) : v;
  }
  return out;
}

/**
 * A tensor from nested arrays, a number/boolean, or a flat typed array (with `shape`).
 * Default dtype: float32 for numbers, bool for booleans, else the typed array's own.
 */
export function tensor(data: Data, opts: { dtype?: DType; shape?: readonly number[] } = {}): Tensor {
  const isTyped = ArrayBuffer.isView(data);
  if (!isTyped && !Array.isArray(data) && typeof data !== 'number' && typeof data !== 'boolean') {
    throw new WgradError('tensor', `expected nested arrays of numbers or booleans, a number, a boolean or a typed array, got ${data === null ? 'null' : typeof data}`);
  }
  const dtype = opts.dtype === undefined ? defaultDType(data) : checkDType('tensor', opts.dtype);
  const given = opts.shape === undefined ? undefined : checkShape('tensor', opts.shape);
  let flat: ArrayLike<unknown>;
  let shape: readonly number[];
  if (isTyped) {
    flat = data as ArrayLike<number>;
    shape = given ?? [flat.length];
  } else {
    shape = given ?? inferShape(data as NestedArray);
    flat = Array.isArray(data) ? (data as NestedArray[]).flat(Infinity as 1) : [data];
    if (!given) checkRagged(data as NestedArray, shape);
  }
  if (numel(shape) !== flat.length) {
    throw new WgradError('tensor', `${flat.length} values cannot fill shape ${fmtShape(shape)}`);
  }
  return fromStorageArray(toStorage(flat, dtype, isTyped), shape, dtype);
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
const constants = new WeakMap<Backend, Map<string, Tensor>>();
const MAX_CONSTANTS = 512;

/**
 * @internal `make()` cached per backend under `key` in `caches`, kept out of every scope; do not
 * dispose it. Each cache is kept in least-recently-used order (a Map iterates in insertion order; a
 * hit moves the entry to the end). When it holds `max`, the older half is disposed — never while a
 * traced graph is alive, since its nodes may still read any entry (the cache may then grow past the
 * limit until the trace ends), and never the entries just handed out (an op may ask for two in a row).
 */
export function cachedTensor(caches: WeakMap<Backend, Map<string, Tensor>>, key: string, max: number, make: () => Tensor): Tensor {
  const b = backend();
  let cache = caches.get(b);
  if (!cache) caches.set(b, (cache = new Map()));
  let t = cache.get(key);
  if (t && !t.isDisposed) {
    cache.delete(key);
    cache.set(key, t);
    return t;
  }
  cache.delete(key);
  if (cache.size >= max && !graphAlive()) {
    let evict = cache.size - max / 2;
    for (const [k, c] of cache) {
      if (evict-- <= 0) break;
      cache.delete(k);
      c.dispose();
    }
  }
  t = keep(make());
  cache.set(key, t);
  return t;
}

/** @internal A cached rank-0 constant; do not dispose it. */
export function constant(value: number, dtype: DType): Tensor {
  return cachedTensor(constants, `${dtype}:${Object.is(value, -0) ? '-0' : value}`, MAX_CONSTANTS, () => tensor(value, { dtype }));
}

/** @internal The value of `t` if it is a cached scalar constant (a graph printout shows it as a literal). */
export function constantValue(t: Tensor): number | undefined {
  for (const [key, c] of constants.get(t.backend) ?? []) if (c === t) return Number(key.slice(key.indexOf(':') + 1));
  return undefined;
}

/** A new tensor of `shape` filled with `value` (filled on the device; nothing large is uploaded). */
export function full(shape: readonly number[], value: number, dtype: DType = 'float32'): Tensor {
  const target = checkShape('full', shape);
  checkDType('full', dtype);
  checkValue('full', value, dtype);
  // The rank-0 constant viewed with `target`'s shape, stride 0 everywhere (broadcastTo's view, made
  // here so that creation imports nothing from movement).
  const c = constant(value, dtype);
  const view = viewPrim('expand', c, { shape: [...target] }, target, target.map(() => 0), c._offset);
  const out = runPrim('copy', [view], {}, target, dtype);
  view.dispose();
  return out;
}
/** A new tensor of `shape` filled with 0. */
export const zeros = (shape: readonly number[], dtype: DType = 'float32') => full(shape, 0, dtype);
/** A new tensor of `shape` filled with 1. */
export const ones = (shape: readonly number[], dtype: DType = 'float32') => full(shape, 1, dtype);
/** Zeros with x's shape and dtype. */
export const zerosLike = (x: Tensor) => full(x.shape, 0, x.dtype);
/** Ones with x's shape and dtype. */
export const onesLike = (x: Tensor) => full(x.shape, 1, x.dtype);
/** `value` with x's shape and dtype. */
export const fullLike = (x: Tensor, value: number) => full(x.shape, value, x.dtype);

/** Checks a fill value for `dtype`: any number for float32 and bool, an in-range integer otherwise. */
export function checkValue(op: string, value: unknown, dtype: DType): void {
  if (typeof value !== 'number') throw new WgradError(op, `value must be a number, got ${value === null ? 'null' : typeof value}`);
  const range = INT_RANGE[dtype];
  if (range && !(Number.isInteger(value) && value >= range[0] && value <= range[1])) {
    throw new WgradError(op, `value ${value} is not an integer in the ${dtype} range [${range[0]}, ${range[1]}]`);
  }
}

/**
 * Values start, start + step, ... below stop (NumPy's arange). Bounds and step must be finite (and
 * integers for an integer dtype); the length must be a valid size.
 */
export function arange(start: number, stop?: number, step = 1, dtype: DType = 'float32'): Tensor {
  if (stop === undefined) [start, stop] = [0, start];
  checkDType('arange', dtype);
  for (const [name, v] of [['start', start], ['stop', stop], ['step', step]] as const) {
    checkFinite('arange', name, v);
    if (dtype !== 'float32' && dtype !== 'bool' && !Number.isSafeInteger(v)) {
      throw new WgradError('arange', `${name} must be an integer for dtype ${dtype}, got ${v}`);
    }
  }
  if (step === 0) throw new WgradError('arange', 'step must not be 0');
  const n = checkInt('arange', `the length ⌈(stop − start) / step⌉ for [${start}, ${stop}) by ${step}`, Math.max(0, Math.ceil((stop - start) / step)));
  const values = new Array<number>(n);
  for (let i = 0; i < n; i++) values[i] = start + i * step;
  return fromStorageArray(toStorage(values, dtype, false), [n], dtype);
}

/** `num` evenly spaced values from start to stop inclusive. */
export function linspace(start: number, stop: number, num: number): Tensor {
  checkInt('linspace', 'num', num);
  const out = new Float32Array(num);
  const step = num > 1 ? (stop - start) / (num - 1) : 0;
  for (let i = 0; i < num; i++) out[i] = start + i * step;
  if (num > 1) out[num - 1] = stop;
  return fromStorageArray(out, [num], 'float32');
}

/** n×m identity (m defaults to n). */
export function eye(n: number, m = n, dtype: DType = 'float32'): Tensor {
  checkShape('eye', [n, m], '[n, m]');
  checkDType('eye', dtype);
  const out = storageArray(dtype, n * m);
  for (let i = 0; i < Math.min(n, m); i++) out[i * m + i] = 1;
  return fromStorageArray(out, [n, m], dtype);
}
