/**
 * Row reductions and the strided copy of the wasm backend, over operands in the arena (the
 * elementwise ops are compiled per expression: ops.ts, fused.ts):
 *
 *   reduce_<op>(x, out, rows, len)   out[r] = op over x[r·len, (r+1)·len) (float32):
 *     sum accumulates in f64 in row order and rounds once (the CPU reference's exact result);
 *     max / min start at ∓∞ and propagate NaN (Wasm's f32.max / f32.min, like Math.max / min).
 *
 *   strided(src, dst, n0, …, n5, s0, …, s5, d0, …, d5)   copies the 32-bit words of the 6-axis
 *     view of src with sizes n0…n5 and byte strides s0…s5 (any sign, 0 broadcasts) to the view of
 *     dst with the same sizes and byte strides d0…d5, in one plain loop nest: the strided copy-in
 *     of elementwise.ts and the GEMM's packing (gemm.ts).
 */
import { F32, F64, I32, OP, type ModuleBuilder } from './builder.js';

export const REDUCE_OPS = ['sum', 'max', 'min'] as const;
export type ReduceKind = (typeof REDUCE_OPS)[number];

/** Emits reduce_<op>(x, out, rows, len) (see the header). */
function emitReduce(m: ModuleBuilder, op: ReduceKind): void {
  m.function(`reduce_${op}`, [I32, I32, I32, I32], [], (f) => {
    const [x, out, rows, len] = [0, 1, 2, 3];
    const [r, k, p] = [f.local(I32), f.local(I32), f.local(I32)];
    const acc = f.local(op === 'sum' ? F64 : F32);
    f.localGet(x).localSet(p);
    f.forRange(r, 0, rows, 1, () => {
      if (op === 'sum') f.f64Const(0).localSet(acc);
      else f.f32Const(op === 'max' ? -Infinity : Infinity).localSet(acc);
      f.forRange(k, 0, len, 1, () => {
        f.localGet(acc).localGet(p).mem(OP.f32_load);
        if (op === 'sum') f.op(OP.f64_promote_f32, OP.f64_add);
        else f.op(op === 'max' ? OP.f32_max : OP.f32_min);
        f.localSet(acc);
        f.localGet(p).i32Const(4).op(OP.i32_add).localSet(p);
      });
      f.localGet(out).localGet(r).i32Const(2).op(OP.i32_shl).op(OP.i32_add).localGet(acc);
      if (op === 'sum') f.op(OP.f32_demote_f64);
      f.mem(OP.f32_store);
    });
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

/** Emits the reduce and copy kernels of this file. */
export function emitMaps(m: ModuleBuilder): void {
  for (const op of REDUCE_OPS) emitReduce(m, op);
  emitStridedCopy(m);
}

type Fn = (...args: number[]) => void;

export interface MapKernels {
  reduce: Record<ReduceKind, Fn>;
  /** The strided copy, sizes and strides in elements, up to COPY_RANK axes. */
  copy(src: number, dst: number, sizes: readonly number[], srcStrides: readonly number[], dstStrides: readonly number[]): void;
}

/** The exports of emitMaps from an instance. */
export function mapKernels(ex: Record<string, Fn>): MapKernels {
  const pick = <K extends string>(keys: readonly K[], name: (k: K) => string) => Object.fromEntries(keys.map((k) => [k, ex[name(k)]])) as Record<K, Fn>;
  return {
    reduce: pick(REDUCE_OPS, (k) => `reduce_${k}`),
    copy(src, dst, sizes, srcStrides, dstStrides) {
      const pad = COPY_RANK - sizes.length;
      if (pad < 0) throw new Error(`strided copy: ${sizes.length} axes, more than ${COPY_RANK}`);
      const bytes = (st: readonly number[]) => [...Array(pad).fill(0), ...st.map((x) => 4 * x)];
      ex.strided(src, dst, ...Array(pad).fill(1), ...sizes, ...bytes(srcStrides), ...bytes(dstStrides));
    },
  };
}
