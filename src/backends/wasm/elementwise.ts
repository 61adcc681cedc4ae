/**
 * Copy-in and reductions on the wasm backend: operands are copied into the arena dense and
 * broadcast to the output shape (`copyIn`), one kernel runs over them, and the result is a view of
 * the arena in the output dtype's storage type (the caller copies it out).
 *
 * `copyIn` is the copy-in of every kernel call that is not a GEMM (fused.ts's leaves included): the view's axes are broadcast,
 * size-1 axes dropped and mergeable neighbours coalesced; long contiguous or broadcast innermost
 * runs are then copied by JS a run at once (memcpy / fill), anything else (short runs: pooling
 * windows, broadcast pixels, transposes) by the Wasm strided copy's loop nest, with no per-element index
 * arithmetic in either.
 */
import type { OutputSpec } from '../../core/backend.js';
import type { AnyStorageArray, DType } from '../../core/dtype.js';
import { broadcastStrides, contiguousStrides, numel, type Shape } from '../../core/shape.js';
import { permuteView } from '../cpu/strided.js';
import type { CpuView } from '../cpu/types.js';
import type { Arena } from './arena.js';
import { COPY_RANK, REDUCE_RANK, type MapKernels, type ReduceKind } from './kernels-map.js';

type Copy = MapKernels['copy'];

/** The axes `sizes` × `strides` with size-1 axes dropped and mergeable neighbours merged. */
function coalesce(shape: readonly number[], all: readonly number[]): { sizes: number[]; strides: number[] } {
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

/** Sizes and strides of `v` broadcast to `shape`, size-1 axes dropped, mergeable axes merged. */
const runs = (v: CpuView, shape: Shape) => coalesce(shape, broadcastStrides(v.shape, v.strides, shape));

/** Copies `len` elements of `src` from `pos`, `stride` apart, to `dst` from `o`. */
function copyRun(src: AnyStorageArray | Float64Array, pos: number, stride: number, len: number, dst: AnyStorageArray, o: number): void {
  if (stride === 1 && len >= 16) dst.set(src.subarray(pos, pos + len), o);
  else if (stride === 0) dst.fill(src[pos], o, o + len);
  else for (let i = 0, p = pos; i < len; i++, p += stride) dst[o + i] = src[p];
}

/** Innermost runs at least this long (contiguous or broadcast) are copied by JS (memcpy / fill). */
const LONG_RUN = 64;

/**
 * Writes `v` broadcast to `shape`, row-major, into the arena from byte offset `at`: by JS when its
 * innermost runs are long (or it has more than COPY_RANK coalesced axes), else by the Wasm strided
 * copy over a copy of the storage span the view reads.
 */
export function copyIn(arena: Arena, copy: Copy, v: CpuView, shape: Shape, at: number): void {
  if (numel(shape) === 0) return;
  const { sizes, strides } = runs(v, shape);
  const len = sizes.at(-1) ?? 1;
  const stride = strides.at(-1) ?? 0;
  if ((len >= LONG_RUN && (stride === 0 || stride === 1)) || sizes.length > COPY_RANK) {
    copyRuns(v, sizes, strides, arenaArray(arena, v.dtype), at / 4);
    return;
  }
  const mark = arena.mark;
  const src = stage(arena, v, sizes, strides);
  copy(src, at, sizes, strides, contiguousStrides(sizes));
  arena.rewind(mark);
}

/**
 * Copies the span of `v`'s storage that the axes `sizes` × `strides` from v.offset read into the
 * arena; returns the byte offset of v.offset's element there.
 */
export function stage(arena: Arena, v: CpuView, sizes: readonly number[] = v.shape, strides: readonly number[] = v.strides): number {
  let [lo, hi] = [v.offset, v.offset];
  sizes.forEach((d, i) => { if (d > 0 && strides[i] < 0) lo += strides[i] * (d - 1); else if (d > 0) hi += strides[i] * (d - 1); });
  const span = arena.alloc('copy', hi - lo + 1);
  arenaArray(arena, v.dtype).set(v.storage.data.subarray(lo, hi + 1), span / 4);
  return span + 4 * (v.offset - lo);
}

/** copyIn's JS path: the innermost two axes as plain loops, an odometer over the rest. */
function copyRuns(v: CpuView, sizes: number[], strides: number[], dst: AnyStorageArray, at: number): void {
  const src = v.storage.data;
  const n = sizes.reduce((a, d) => a * d, 1);
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
export function arenaArray(arena: Arena, dtype: DType): AnyStorageArray {
  const buf = arena.f32.buffer;
  return dtype === 'float32' ? arena.f32 : dtype === 'int32' ? new Int32Array(buf) : new Uint32Array(buf);
}

/**
 * A float32 reduction over `axes`, read in place by the reduce kernel's loop nest from x's storage
 * staged in the arena — or from `staged`, the byte address of x's storage already in the arena
 * (a fused program's result: backend.ts). Views whose kept or reduced axes do not coalesce into
 * REDUCE_RANK axes are first copied dense with the kept axes first.
 */
export function runReduce(arena: Arena, k: MapKernels, op: ReduceKind, x: CpuView, axes: number[], out: OutputSpec, staged?: number): Float32Array {
  const keptAxes = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const pick = (which: number[]) => coalesce(which.map((i) => x.shape[i]), which.map((i) => x.strides[i]));
  let [kept, reduced] = [pick(keptAxes), pick(axes)];
  const count = numel(out.shape);
  if (staged === undefined) arena.reset();
  let src: number;
  if (kept.sizes.length > REDUCE_RANK || reduced.sizes.length > REDUCE_RANK) {
    const rows = permuteView(x, [...keptAxes, ...axes]);
    const len = count === 0 ? 0 : numel(x.shape) / count;
    src = arena.alloc(op, numel(x.shape));
    copyIn(arena, k.copy, rows, rows.shape, src);
    [kept, reduced] = [{ sizes: [count], strides: [len] }, { sizes: [len], strides: [1] }];
  } else {
    src = staged === undefined ? stage(arena, x) : staged + 4 * x.offset;
  }
  const result = arena.alloc(op, count);
  k.reduce(op, src, result, kept, reduced);
  return arena.f32.subarray(result / 4, result / 4 + count);
}
