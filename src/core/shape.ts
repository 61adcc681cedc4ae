/** Shape and stride arithmetic shared by the front end and both backends. */
import { FLOAT32_MAX } from './dtype.js';
import { WgradError } from './errors.js';

export type Shape = readonly number[];

export const numel = (shape: Shape): number => shape.reduce((a, b) => a * b, 1);
export const fmtShape = (shape: Shape): string => `[${shape.join(', ')}]`;

/** Row-major strides of a contiguous tensor. */
export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

/** True when a view with these strides/offset reads its storage as a plain row-major array. */
export function isContiguous(shape: Shape, strides: readonly number[], offset: number, storageSize?: number): boolean {
  if (offset !== 0) return false;
  if (storageSize !== undefined && storageSize !== numel(shape)) return false;
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && strides[i] !== s) return false;
    s *= shape[i];
  }
  return true;
}

/** NumPy broadcasting of several shapes; throws naming `op` and the shapes when incompatible. */
export function broadcastShapes(op: string, ...shapes: Shape[]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const j = rank - s.length + i;
      const d = s[i];
      if (out[j] === 1) out[j] = d;
      else if (d !== 1 && d !== out[j]) {
        throw new WgradError(op, `shapes ${shapes.map(fmtShape).join(' and ')} cannot be broadcast together (axis ${j - rank}: ${out[j]} vs ${d})`);
      }
    }
  }
  return out;
}

/** Strides that read a view of `shape`/`strides` as if broadcast to `target` (0 on broadcast axes). */
export function broadcastStrides(shape: Shape, strides: readonly number[], target: Shape): number[] {
  const out = new Array<number>(target.length).fill(0);
  for (let i = 0; i < shape.length; i++) {
    const j = target.length - shape.length + i;
    out[j] = shape[i] === 1 && target[j] !== 1 ? 0 : strides[i];
  }
  return out;
}

// ---- argument validation: every shape, size, axis and offset argument of the API is checked here,
// once, so that a bad value (non-integer, negative, NaN, Infinity, a string) raises a WgradError
// naming the op and the argument instead of a wrong shape, a NaN or a backend error later. ----

/** A value as an error message shows it (strings quoted, so '0' is told apart from 0). */
export const fmtValue = (v: unknown): string =>
  typeof v === 'string' ? JSON.stringify(v) : Array.isArray(v) ? `[${v.map(fmtValue).join(',')}]` : String(v);

/** Largest element count a shape may have (so that sizes stay exact integers). */
const MAX_SIZE = Number.MAX_SAFE_INTEGER;

/** Checks that `v` is an integer ≥ `min` (a size, count or offset argument named `name`); returns it. */
export function checkInt(op: string, name: string, v: unknown, min = 0): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw new WgradError(op, `${name} must be an integer ≥ ${min}, got ${fmtValue(v)}${typeof v === 'number' ? '' : ` (${typeof v})`}`);
  }
  return v;
}

/** Checks that `v` is a finite number (a range bound or step named `name`); returns it. */
export function checkFinite(op: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new WgradError(op, `${name} must be a finite number, got ${fmtValue(v)}${typeof v === 'number' ? '' : ` (${typeof v})`}`);
  }
  return v;
}

/**
 * Checks that `v` is a number that stays finite as a float32 tensor value, with |v| ≤ `max`
 * (default FLOAT32_MAX: 1e39 passes Number.isFinite but becomes ∞ on the device; pass a tighter
 * bound where arithmetic on the value must stay finite too); returns it.
 */
export function checkFloat32(op: string, name: string, v: unknown, max = FLOAT32_MAX): number {
  if (typeof v !== 'number' || !(Math.abs(v) <= max)) {
    const range = max === FLOAT32_MAX ? 'the float32 range (|v| ≤ 3.4e38)' : `[−${max.toPrecision(2)}, ${max.toPrecision(2)}]`;
    throw new WgradError(op, `${name} must be a finite number in ${range}, got ${fmtValue(v)}${typeof v === 'number' ? '' : ` (${typeof v})`}`);
  }
  return v;
}

/** Checks a shape argument (an array of non-negative integers); returns a plain copy. */
export function checkShape(op: string, shape: unknown, name = 'shape'): number[] {
  if (!Array.isArray(shape)) throw new WgradError(op, `${name} must be an array of non-negative integers, got ${fmtValue(shape)}`);
  const bad = shape.findIndex((d) => typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0);
  if (bad >= 0) {
    throw new WgradError(op, `invalid ${name} ${fmtValue(shape)}: dimension ${bad} is ${fmtValue(shape[bad])}, expected a non-negative integer`);
  }
  if (numel(shape) > MAX_SIZE) throw new WgradError(op, `${name} ${fmtValue(shape)} has more than 2^53 elements`);
  return [...shape] as number[];
}

/** Normalizes a possibly negative axis; throws naming `op` when out of range. */
export function normAxis(op: string, axis: number, rank: number): number {
  if (typeof axis !== 'number' || !Number.isInteger(axis)) {
    throw new WgradError(op, `axis ${fmtValue(axis)} must be an integer${typeof axis === 'number' ? '' : `, got a ${typeof axis}`} (for a tensor of rank ${rank})`);
  }
  if (axis < -rank || axis >= Math.max(rank, 1) || (rank === 0 && axis !== 0 && axis !== -1)) {
    throw new WgradError(op, `axis ${axis} is out of range for a tensor of rank ${rank} (expected an integer in [${-rank}, ${rank - 1}])`);
  }
  return axis < 0 ? axis + rank : axis;
}

/** Normalizes, sorts and de-duplicates axes (undefined = all axes). */
export function normAxes(op: string, axes: number | readonly number[] | undefined, rank: number): number[] {
  if (axes === undefined) return Array.from({ length: rank }, (_, i) => i);
  if (typeof axes !== 'number' && !Array.isArray(axes)) {
    throw new WgradError(op, `axes must be an integer or an array of integers, got ${fmtValue(axes)} (${typeof axes})`);
  }
  const list = typeof axes === 'number' ? [axes] : axes;
  const out = [...new Set(list.map((a) => normAxis(op, a, rank)))].sort((a, b) => a - b);
  if (out.length !== list.length) throw new WgradError(op, `repeated axis in [${list.join(', ')}]`);
  return out;
}

/** Unravels a flat row-major index into a multi-index (used by CPU loops). */
export function unravel(flat: number, shape: Shape, out: number[]): number[] {
  for (let i = shape.length - 1; i >= 0; i--) {
    const d = shape[i];
    out[i] = d === 0 ? 0 : flat % d;
    flat = d === 0 ? 0 : Math.floor(flat / d);
  }
  return out;
}

/** Output size of a convolution along one spatial axis. */
export function convOutSize(inSize: number, kernel: number, stride: number, pad: number, dilation: number): number {
  return Math.floor((inSize + 2 * pad - dilation * (kernel - 1) - 1) / stride) + 1;
}
