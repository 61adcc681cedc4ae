/**
 * Row reductions and the strided copy of the wasm backend, over operands in the arena (the
 * elementwise ops are compiled per expression: ops.ts, fused.ts):
 *
 *   reduce_<op>(src, out, k0…k3, ks0…ks3, r0…r3, rs0…rs3)   out, row-major over the kept axes
 *     (sizes k, byte strides ks), = op over the reduced axes (sizes r, byte strides rs) of the float32
 *     view at src: a loop nest that reads the view in place, so a reduction needs no dense,
 *     permuted copy of its input (a max-pool's 2 × 2 windows are read straight from the image).
 *     The reduced axes are walked in row-major order, so sum accumulates in f64 in the reference's
 *     order and rounds once (its exact result); max / min start at ∓∞ and propagate NaN (Wasm's
 *     f32.max / f32.min, like Math.max / min).
 *
 *   strided(src, dst, n0, …, n5, s0, …, s5, d0, …, d5)   copies the 32-bit words of the 6-axis
 *     view of src with sizes n0…n5 and byte strides s0…s5 (any sign, 0 broadcasts) to the view of
 *     dst with the same sizes and byte strides d0…d5, in one plain loop nest: the strided copy-in
 *     of elementwise.ts and the GEMM's packing (gemm.ts).
 */
import { F32, F64, I32, OP, type ModuleBuilder } from './builder.js';
import { emitWindows, windowCall } from './pool.js';

export const REDUCE_OPS = ['sum', 'max', 'min'] as const;
export type ReduceKind = (typeof REDUCE_OPS)[number];

/** Coalesced axes of each group (kept, reduced) of a reduction's loop nest. */
export const REDUCE_RANK = 4;

/** Emits reduce_<op> (see the header). */
function emitReduce(m: ModuleBuilder, op: ReduceKind): void {
  m.function(`reduce_${op}`, Array(2 + 4 * REDUCE_RANK).fill(I32), [], (f) => {
    const [src, out] = [0, 1];
    const param = (group: number, d: number) => 2 + group * REDUCE_RANK + d; // groups: kept sizes, kept strides, reduced sizes, reduced strides
    const i = Array.from({ length: 2 * REDUCE_RANK }, () => f.local(I32));
    const p = Array.from({ length: 2 * REDUCE_RANK + 1 }, () => f.local(I32));
    const acc = f.local(op === 'sum' ? F64 : F32);
    const q = f.local(I32);
    // Level d < REDUCE_RANK walks kept axis d, the rest reduced axis d − REDUCE_RANK; p[d] is the
    // address at the start of level d's current iteration.
    const level = (d: number): void => {
      if (d === REDUCE_RANK) {
        if (op === 'sum') f.f64Const(0).localSet(acc);
        else f.f32Const(op === 'max' ? -Infinity : Infinity).localSet(acc);
      }
      if (d === 2 * REDUCE_RANK) {
        f.localGet(acc).localGet(p[d]).mem(OP.f32_load);
        if (op === 'sum') f.op(OP.f64_promote_f32, OP.f64_add);
        else f.op(op === 'max' ? OP.f32_max : OP.f32_min);
        f.localSet(acc);
      } else {
        const [size, stride] = d < REDUCE_RANK ? [param(0, d), param(1, d)] : [param(2, d - REDUCE_RANK), param(3, d - REDUCE_RANK)];
        f.localGet(p[d]).localSet(p[d + 1]);
        f.forRange(i[d], 0, size, 1, () => {
          level(d + 1);
          f.localGet(p[d + 1]).localGet(stride).op(OP.i32_add).localSet(p[d + 1]);
        });
      }
      if (d === REDUCE_RANK) {
        f.localGet(q).localGet(acc);
        if (op === 'sum') f.op(OP.f32_demote_f64);
        f.mem(OP.f32_store);
        f.localGet(q).i32Const(4).op(OP.i32_add).localSet(q);
      }
    };
    f.localGet(src).localSet(p[0]).localGet(out).localSet(q);
    level(0);
  });
}

/** Axes of the strided copy's loop nest. */
export const COPY_RANK = 6;

/** Emits strided (see the header). */
function emitStridedCopy(m: ModuleBuilder): void {
  m.function('strided', Array(2 + 3 * COPY_RANK).fill(I32), [], (f) => {
    const [src, dst] = [0, 1];
    const size = (d: number) => 2 + d;
    const sStride = (d: number) => 2 + COPY_RANK + d;
    const dStride = (d: number) => 2 + 2 * COPY_RANK + d;
    const i = Array.from({ length: COPY_RANK }, () => f.local(I32));
    const p = Array.from({ length: COPY_RANK }, () => f.local(I32));
    const q = Array.from({ length: COPY_RANK }, () => f.local(I32));
    const level = (d: number): void => {
      f.forRange(i[d], 0, size(d), 1, () => {
        if (d < COPY_RANK - 1) {
          f.localGet(p[d]).localSet(p[d + 1]).localGet(q[d]).localSet(q[d + 1]);
          level(d + 1);
        } else {
          f.localGet(q[d]).localGet(p[d]).mem(OP.i32_load).mem(OP.i32_store);
        }
        f.localGet(p[d]).localGet(sStride(d)).op(OP.i32_add).localSet(p[d]);
        f.localGet(q[d]).localGet(dStride(d)).op(OP.i32_add).localSet(q[d]);
      });
    };
    f.localGet(src).localSet(p[0]).localGet(dst).localSet(q[0]);
    level(0);
  });
}

/** Emits the reduce and copy kernels of this file and the 2 × 2 window kernels (pool.ts). */
export function emitMaps(m: ModuleBuilder): void {
  for (const op of REDUCE_OPS) emitReduce(m, op);
  emitWindows(m);
  emitStridedCopy(m);
}

type Fn = (...args: number[]) => void;

/** Sizes and element strides of a group of axes. */
export interface Axes { sizes: readonly number[]; strides: readonly number[] }

export interface MapKernels {
  /** reduce_<op> over kept axes (sizes, strides) and reduced axes (sizes, strides), strides in
   *  elements, up to REDUCE_RANK axes each (2 × 2 windows of max / min: pool.ts's kernel). */
  reduce(op: ReduceKind, src: number, out: number, kept: Axes, reduced: Axes): void;
  /** The strided copy, sizes and strides in elements, up to COPY_RANK axes. */
  copy(src: number, dst: number, sizes: readonly number[], srcStrides: readonly number[], dstStrides: readonly number[]): void;
}

/** The exports of emitMaps from an instance. */
export function mapKernels(ex: Record<string, Fn>): MapKernels {
  return {
    reduce(op, src, out, kept, reduced) {
      const window = op === 'sum' ? null : windowCall(kept, reduced);
      if (window) return void ex[`window2_${op}`](src, out, ...window);
      const pad = (a: Axes) => {
        const n = REDUCE_RANK - a.sizes.length;
        if (n < 0) throw new Error(`reduce: ${a.sizes.length} axes, more than ${REDUCE_RANK}`);
        return [[...Array(n).fill(1), ...a.sizes], [...Array(n).fill(0), ...a.strides.map((x) => 4 * x)]];
      };
      ex[`reduce_${op}`](src, out, ...pad(kept).flat(), ...pad(reduced).flat());
    },
    copy(src, dst, sizes, srcStrides, dstStrides) {
      const pad = COPY_RANK - sizes.length;
      if (pad < 0) throw new Error(`strided copy: ${sizes.length} axes, more than ${COPY_RANK}`);
      const bytes = (st: readonly number[]) => [...Array(pad).fill(0), ...st.map((x) => 4 * x)];
      ex.strided(src, dst, ...Array(pad).fill(1), ...sizes, ...bytes(srcStrides), ...bytes(dstStrides));
    },
  };
}
