/** Shape and stride arithmetic shared by the front end and both backends. */
import { WgradError } from './backend.js';

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

/** Normalizes a possibly negative axis; throws naming `op` when out of range. */
export function normAxis(op: string, axis: number, rank: number): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= Math.max(rank, 1) || (rank === 0 && axis !== 0 && axis !== -1)) {
    throw new WgradError(op, `axis ${axis} is out of range for a tensor of rank ${rank} (expected an integer in [${-rank}, ${rank - 1}])`);
  }
  return axis < 0 ? axis + rank : axis;
}

/** Normalizes, sorts and de-duplicates axes (undefined = all axes). */
export function normAxes(op: string, axes: number | readonly number[] | undefined, rank: number): number[] {
  if (axes === undefined) return Array.from({ length: rank }, (_, i) => i);
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
