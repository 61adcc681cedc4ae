/**
 * Reading strided views. Every CPU rule starts by copying its inputs into contiguous row-major
 * arrays with `readStrided` (optionally broadcast to a larger shape), so the rule bodies are plain
 * loops over flat arrays. Strides are in elements and may be 0 (broadcast) or negative (flips).
 */
import { broadcastStrides, contiguousStrides, numel, type Shape } from '../../core/shape.js';
import { allocLike, type CpuData, type CpuView } from './types.js';

/**
 * The elements of `view`, broadcast (NumPy rules) to `shape`, as a fresh contiguous row-major array
 * of the view's storage array type.
 */
export function readStrided(view: CpuView, shape: Shape = view.shape): CpuData {
  const src = view.storage.data;
  const n = numel(shape);
  const out = allocLike(src, n);
  if (n === 0) return out;
  if (isRowMajor(view, shape)) {
    out.set(src.subarray(view.offset, view.offset + n)); // a memcpy, not the odometer
    return out;
  }
  const strides = broadcastStrides(view.shape, view.strides, shape);
  const rank = shape.length;
  // Odometer walk: `index` is the current multi-index, `pos` its storage position.
  const index = new Array<number>(rank).fill(0);
  let pos = view.offset;
  for (let i = 0; i < n; i++) {
    out[i] = src[pos];
    for (let d = rank - 1; d >= 0; d--) {
      index[d]++;
      pos += strides[d];
      if (index[d] < shape[d]) break;
      pos -= strides[d] * shape[d];
      index[d] = 0;
    }
  }
  return out;
}

/** True where `view`, read as `shape`, is a plain row-major run of its storage (size-1 axes' strides don't matter). */
export function isRowMajor(view: CpuView, shape: Shape = view.shape): boolean {
  if (shape.length !== view.shape.length || shape.some((d, i) => d !== view.shape[i])) return false;
  const dense = contiguousStrides(shape);
  return shape.every((d, i) => d === 1 || view.strides[i] === dense[i]);
}

/**
 * The elements of `view` as a row-major array and the position of its first element there: the
 * storage itself where the view is already row-major (no copy; read only), else a copy.
 */
export function rowMajorSource(view: CpuView): { data: CpuData; base: number } {
  return isRowMajor(view) ? { data: view.storage.data, base: view.offset } : { data: readStrided(view), base: 0 };
}

/** The same elements seen with axes reordered: output axis i is input axis perm[i]. */
export function permuteView(view: CpuView, perm: readonly number[]): CpuView {
  return {
    ...view,
    shape: perm.map((p) => view.shape[p]),
    strides: perm.map((p) => view.strides[p]),
  };
}

/** Product of `shape[from..to)` (1 for an empty range). */
export const prodRange = (shape: Shape, from: number, to: number = shape.length): number =>
  numel(shape.slice(from, to));
