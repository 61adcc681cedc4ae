/**
 * Elementwise maps and reductions on the wasm backend: operands are copied into the arena dense
 * and broadcast to the output shape (`copyStrided`), one kernel runs over them, and the result is
 * a view of the arena in the output dtype's storage type (the caller copies it out).
 *
 * `copyStrided` is the copy-in of every kernel call that is not a GEMM: the view's axes are
 * broadcast, size-1 axes dropped and mergeable neighbours coalesced, then it walks the outer axes
 * and copies each innermost run at once (a memcpy when it is long and contiguous, a fill when
 * broadcast), with no per-element index arithmetic.
 */
import type { OutputSpec } from '../../core/backend.js';
import type { AnyStorageArray, DType } from '../../core/dtype.js';
import { broadcastStrides, numel, type Shape } from '../../core/shape.js';
import { permuteView } from '../cpu/strided.js';
import type { CpuView } from '../cpu/types.js';
import type { Arena } from './arena.js';
import type { ReduceKind } from './kernels-map.js';

type Kernel = (...args: number[]) => void;

/** Sizes and strides of `v` broadcast to `shape`, size-1 axes dropped, mergeable axes merged. */
function runs(v: CpuView, shape: Shape): { sizes: number[]; strides: number[] } {
  const all = broadcastStrides(v.shape, v.strides, shape);
  const sizes: number[] = [];
  const strides: number[] = [];
  shape.forEach((d, i) => {
    if (d === 1) return;
    const last = sizes.length - 1;
    if (last >= 0 && strides[last] === all[i] * d) {
      sizes[last] *= d;
      strides[last] = all[i];
    } else {
      sizes.push(d);
      strides.push(all[i]);
    }
  });
  return { sizes, strides };
}

/** Copies `len` elements of `src` from `pos`, `stride` apart, to `dst` from `o`. */
function copyRun(src: AnyStorageArray | Float64Array, pos: number, stride: number, len: number, dst: AnyStorageArray, o: number): void {
  if (stride === 1 && len >= 16) dst.set(src.subarray(pos, pos + len), o);
  else if (stride === 0) dst.fill(src[pos], o, o + len);
  else for (let i = 0, p = pos; i < len; i++, p += stride) dst[o + i] = src[p];
}

/** Writes `v` broadcast to `shape`, row-major, into `dst` from index `at`: the innermost two
 *  (coalesced) axes as plain loops, an odometer over the rest. */
export function copyStrided(v: CpuView, shape: Shape, dst: AnyStorageArray, at: number): void {
  const n = numel(shape);
  if (n === 0) return;
  const src = v.storage.data;
  const { sizes, strides } = runs(v, shape);
  while (sizes.length < 2) { sizes.unshift(1); strides.unshift(0); }
  const rank = sizes.length;
  const [rows, len] = sizes.slice(rank - 2);
  const [rowStride, stride] = strides.slice(rank - 2);
  const index = new Array<number>(rank - 2).fill(0);
  let pos = v.offset;
  for (let o = at; o < at + n; o += rows * len) {
    for (let r = 0; r < rows; r++) copyRun(src, pos + r * rowStride, stride, len, dst, o + r * len);
    for (let d = rank - 3; d >= 0; d--) {
      index[d]++;
      pos += strides[d];
      if (index[d] < sizes[d]) break;
      pos -= strides[d] * sizes[d];
      index[d] = 0;
    }
  }
}

/** The arena's memory as the storage array of `dtype` (float32: f32 bits; the rest: 32-bit words). */
function arenaArray(arena: Arena, dtype: DType): AnyStorageArray {
  const buf = arena.f32.buffer;
  return dtype === 'float32' ? arena.f32 : dtype === 'int32' ? new Int32Array(buf) : new Uint32Array(buf);
}

/** `kernel(in0, …, out, n)` over `inputs` broadcast to out.shape; the result as a view of the arena. */
export function runMap(arena: Arena, op: string, kernel: Kernel, inputs: CpuView[], out: OutputSpec): AnyStorageArray {
  const n = numel(out.shape);
  arena.reset();
  const at = inputs.map(() => arena.alloc(op, n));
  const result = arena.alloc(op, n);
  inputs.forEach((v, i) => copyStrided(v, out.shape, arenaArray(arena, v.dtype), at[i] / 4));
  kernel(...at, result, n);
  return arenaArray(arena, out.dtype).subarray(result / 4, result / 4 + n);
}

/** A float32 reduction over `axes`: x read with the kept axes first, then one row per output. */
export function runReduce(arena: Arena, op: ReduceKind, kernel: Kernel, x: CpuView, axes: number[], out: OutputSpec): Float32Array {
  const kept = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const rows = permuteView(x, [...kept, ...axes]);
  const n = numel(x.shape);
  const count = numel(out.shape);
  arena.reset();
  const at = arena.alloc(op, n);
  const result = arena.alloc(op, count);
  copyStrided(rows, rows.shape, arena.f32, at / 4);
  kernel(at, result, count, count === 0 ? 0 : n / count);
  return arena.f32.subarray(result / 4, result / 4 + count);
}
