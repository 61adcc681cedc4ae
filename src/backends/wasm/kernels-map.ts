/**
 * Elementwise and row-reduction kernels of the wasm backend, over dense operands in the arena:
 *
 *   map_<name>(in0, …, out, n)   out[i] = f(in0[i], …) for i < n rounded up to a multiple of 4:
 *     whole f32x4 / i32x4 vectors only. The arena rounds every allocation up to 16 bytes, so the
 *     last vector reads and writes only padding of the operands' own slots.
 *   reduce_<op>(x, out, rows, len)   out[r] = op over x[r·len, (r+1)·len) (float32):
 *     sum accumulates in f64 in row order and rounds once (the CPU reference's exact result);
 *     max / min start at ∓∞ and propagate NaN (Wasm's f32.max / f32.min, like Math.max / min).
 *
 *   strided(src, dst, n0, …, n5, s0, …, s5, d0, …, d5)   copies the 32-bit words of the 6-axis
 *     view of src with sizes n0…n5 and byte strides s0…s5 (any sign, 0 broadcasts) to the view of
 *     dst with the same sizes and byte strides d0…d5, in one plain loop nest: the strided copy-in
 *     of elementwise.ts and the GEMM's packing (gemm.ts).
 *
 * Each map is bit-exact with the CPU reference rule (elementwise.ts, scalar.ts):
 *   unary    neg abs sqrt reciprocal floor ceil round sign on float32, copy on any dtype: IEEE
 *            single operations (sqrt and 1/x correctly rounded in float32 equal the reference's
 *            double result rounded once; round is ties-to-even, keeping −0); sign passes ±0 and NaN
 *   compare  eq ne lt le gt ge on float32 → bool 0/1 (IEEE: NaN compares unequal; −0 == +0)
 *   where    cond bool (0/1; the only condition dtype the primitive takes) → a's or b's bits
 *   cast     bool/int32 → float32 (nearest), uint32 → float32, float32 → int32/uint32 (truncate,
 *            saturate, NaN → 0), float32/int → bool (≠ 0, NaN → 1)
 */
import { F32, F64, I32, OP, SIMD, V128, type FunctionBuilder, type ModuleBuilder, type SimdOp } from './builder.js';

export const COMPARE = {
  eq: SIMD.f32x4_eq, ne: SIMD.f32x4_ne, lt: SIMD.f32x4_lt, le: SIMD.f32x4_le, gt: SIMD.f32x4_gt, ge: SIMD.f32x4_ge,
} as const satisfies Record<string, SimdOp>;
export type CompareOp = keyof typeof COMPARE;

/** Casts with a kernel, `from>to`; the others run the reference. */
export const CASTS = ['bool>float32', 'int32>float32', 'uint32>float32', 'float32>int32', 'float32>uint32', 'float32>bool', 'int32>bool', 'uint32>bool'] as const;
export type CastKind = (typeof CASTS)[number];

/** Unary ops with a kernel: float32 only, except copy (32-bit words of any dtype). */
export const UNARY = {
  neg: SIMD.f32x4_neg, abs: SIMD.f32x4_abs, sqrt: SIMD.f32x4_sqrt, floor: SIMD.f32x4_floor, ceil: SIMD.f32x4_ceil, round: SIMD.f32x4_nearest,
  reciprocal: null, sign: null, copy: null,
} as const satisfies Record<string, SimdOp | null>;
export type UnaryKind = keyof typeof UNARY;

/** sign(x): 1 where x > 0, −1 where x < 0, else x itself (±0, NaN). */
function emitSign(f: FunctionBuilder, x: number): void {
  f.f32x4Const(1);
  f.f32x4Const(-1).localGet(x).localGet(x).f32x4Const(0).simd(SIMD.f32x4_lt).simd(SIMD.v128_bitselect);
  f.localGet(x).f32x4Const(0).simd(SIMD.f32x4_gt).simd(SIMD.v128_bitselect);
}

function unaryBody(kind: UnaryKind): (f: FunctionBuilder, v: number[]) => void {
  if (kind === 'sign') return (f, [x]) => emitSign(f, x);
  if (kind === 'copy') return (f, [x]) => { f.localGet(x); };
  if (kind === 'reciprocal') return (f, [x]) => { f.f32x4Const(1).localGet(x).simd(SIMD.f32x4_div); };
  const op = UNARY[kind];
  return (f, [x]) => { f.localGet(x).simd(op); };
}

export const REDUCE_OPS = ['sum', 'max', 'min'] as const;
export type ReduceKind = (typeof REDUCE_OPS)[number];

/** Pushes an i32x4 of ones (the bool 1) and ANDs it with the mask on the stack. */
const maskToBool = (f: FunctionBuilder) => f.i32Const(1).simd(SIMD.i32x4_splat).simd(SIMD.v128_and);

/** Emits map_<name>(in0, …, in(arity-1), out, n): `body` gets the loaded input vectors' locals
 *  and leaves the output vector on the stack. */
function emitMap(m: ModuleBuilder, name: string, arity: number, body: (f: FunctionBuilder, v: number[]) => void): void {
  m.function(`map_${name}`, Array(arity + 2).fill(I32), [], (f) => {
    const [out, n] = [arity, arity + 1];
    const [i, end] = [f.local(I32), f.local(I32)];
    const v = Array.from({ length: arity }, () => f.local(V128));
    // end = ((n + 3) & ~3) · 4 bytes; i runs over byte offsets.
    f.localGet(n).i32Const(3).op(OP.i32_add).i32Const(~3).op(OP.i32_and).i32Const(2).op(OP.i32_shl).localSet(end);
    f.forRange(i, 0, end, 16, () => {
      v.forEach((loc, k) => f.localGet(k).localGet(i).op(OP.i32_add).simd(SIMD.v128_load).localSet(loc));
      f.localGet(out).localGet(i).op(OP.i32_add);
      body(f, v);
      f.simd(SIMD.v128_store);
    });
  });
}

function castBody(kind: CastKind): (f: FunctionBuilder, v: number[]) => void {
  const [from, to] = kind.split('>');
  if (to === 'bool') {
    // +0.0 and the integer 0 have the same bits; f32x4.ne treats −0 as 0 and NaN as ≠ 0.
    const ne = from === 'float32' ? SIMD.f32x4_ne : SIMD.i32x4_ne;
    return (f, [x]) => { f.localGet(x).i32Const(0).simd(SIMD.i32x4_splat).simd(ne); maskToBool(f); };
  }
  const op = {
    'bool>float32': SIMD.f32x4_convert_i32x4_s, 'int32>float32': SIMD.f32x4_convert_i32x4_s, 'uint32>float32': SIMD.f32x4_convert_i32x4_u,
    'float32>int32': SIMD.i32x4_trunc_sat_f32x4_s, 'float32>uint32': SIMD.i32x4_trunc_sat_f32x4_u,
  }[kind as Exclude<CastKind, `${string}>bool`>];
  return (f, [x]) => { f.localGet(x).simd(op); };
}

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

/** Emits every map, reduce and copy kernel of this file. */
export function emitMaps(m: ModuleBuilder): void {
  for (const [name, op] of Object.entries(COMPARE)) {
    emitMap(m, `compare_${name}`, 2, (f, [a, b]) => { f.localGet(a).localGet(b).simd(op); maskToBool(f); });
  }
  emitMap(m, 'where', 3, (f, [c, a, b]) => {
    f.localGet(a).localGet(b).localGet(c).i32Const(0).simd(SIMD.i32x4_splat).simd(SIMD.i32x4_ne).simd(SIMD.v128_bitselect);
  });
  for (const kind of Object.keys(UNARY) as UnaryKind[]) emitMap(m, `unary_${kind}`, 1, unaryBody(kind));
  for (const kind of CASTS) emitMap(m, `cast_${kind.replace('>', '_')}`, 1, castBody(kind));
  for (const op of REDUCE_OPS) emitReduce(m, op);
  emitStridedCopy(m);
}

type Fn = (...args: number[]) => void;

export interface MapKernels {
  compare: Record<CompareOp, Fn>;
  unary: Record<UnaryKind, Fn>;
  where: Fn;
  cast: Record<CastKind, Fn>;
  reduce: Record<ReduceKind, Fn>;
  /** The strided copy, sizes and strides in elements, up to COPY_RANK axes. */
  copy(src: number, dst: number, sizes: readonly number[], srcStrides: readonly number[], dstStrides: readonly number[]): void;
}

/** The exports of emitMaps from an instance. */
export function mapKernels(ex: Record<string, Fn>): MapKernels {
  const pick = <K extends string>(keys: readonly K[], name: (k: K) => string) => Object.fromEntries(keys.map((k) => [k, ex[name(k)]])) as Record<K, Fn>;
  return {
    compare: pick(Object.keys(COMPARE) as CompareOp[], (k) => `map_compare_${k}`),
    unary: pick(Object.keys(UNARY) as UnaryKind[], (k) => `map_unary_${k}`),
    where: ex.map_where,
    cast: pick(CASTS, (k) => `map_cast_${k.replace('>', '_')}`),
    reduce: pick(REDUCE_OPS, (k) => `reduce_${k}`),
    copy(src, dst, sizes, srcStrides, dstStrides) {
      const pad = COPY_RANK - sizes.length;
      if (pad < 0) throw new Error(`strided copy: ${sizes.length} axes, more than ${COPY_RANK}`);
      const bytes = (st: readonly number[]) => [...Array(pad).fill(0), ...st.map((x) => 4 * x)];
      ex.strided(src, dst, ...Array(pad).fill(1), ...sizes, ...bytes(srcStrides), ...bytes(dstStrides));
    },
  };
}
