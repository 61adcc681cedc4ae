/**
 * The Wasm code of each elementwise op the wasm backend computes itself: the second renderer of
 * the ops of src/kernels/elementwise-ops.ts (whose table is WGSL). fused.ts strings these into one
 * f32x4 / i32x4 loop per expression DAG; an op, or dtype, without an entry here runs the CPU
 * reference rule instead.
 *
 * Every entry is bit-exact with the CPU reference (src/backends/cpu/scalar.ts), which computes on
 * doubles and rounds once to float32 — for these ops that equals the single IEEE float32 operation:
 *   binary   add sub mul div maximum minimum on float32 (max / min propagate NaN, like Math.max / min)
 *   unary    neg abs sqrt reciprocal floor ceil round sign on float32, copy on any dtype (sqrt and
 *            1/x correctly rounded in float32 equal the double result rounded once; round is
 *            ties-to-even, keeping −0; sign passes ±0 and NaN)
 *   compare  eq ne lt le gt ge on float32 → bool 0/1 (IEEE: NaN compares unequal; −0 == +0)
 *   where    cond bool (0/1; the only condition dtype the primitive takes) → a's or b's bits
 *   logical  logicalAnd, logicalOr (x != 0 of each operand), logicalNot (x == 0; NaN → 0) → bool
 *   cast     bool/int32 → float32 (nearest), uint32 → float32, float32 → int32/uint32 (truncate,
 *            saturate, NaN → 0), float32/int → bool (≠ 0, NaN → 1), and a dtype to itself
 * except the float32 transcendentals of transcendental.ts, evaluated in float64 lanes: rsqrt
 * bit-exact too; exp and log within 1 ulp, equal to the reference but where the exact value lies
 * within ~2^-50 relative of a float32 rounding midpoint.
 *
 * An entry's emitter gets the locals holding its arguments' vectors and leaves its result vector
 * on the stack.
 */
import type { DType } from '../../core/dtype.js';
import { SIMD, type FunctionBuilder, type SimdOp } from './builder.js';
import { TRANSCENDENTAL } from './transcendental.js';

/** Emits one op: `args` are the V128 locals of its arguments; the result is left on the stack. */
export type OpEmitter = (f: FunctionBuilder, args: readonly number[]) => void;

const BINARY = {
  add: SIMD.f32x4_add, sub: SIMD.f32x4_sub, mul: SIMD.f32x4_mul, div: SIMD.f32x4_div, maximum: SIMD.f32x4_max, minimum: SIMD.f32x4_min,
} as const satisfies Record<string, SimdOp>;

const COMPARE = {
  eq: SIMD.f32x4_eq, ne: SIMD.f32x4_ne, lt: SIMD.f32x4_lt, le: SIMD.f32x4_le, gt: SIMD.f32x4_gt, ge: SIMD.f32x4_ge,
} as const satisfies Record<string, SimdOp>;

const UNARY = {
  neg: SIMD.f32x4_neg, abs: SIMD.f32x4_abs, sqrt: SIMD.f32x4_sqrt, floor: SIMD.f32x4_floor, ceil: SIMD.f32x4_ceil, round: SIMD.f32x4_nearest,
} as const satisfies Record<string, SimdOp>;

/** Casts with code, `from>to` (a dtype to itself is the identity). */
const CASTS = {
  'bool>float32': SIMD.f32x4_convert_i32x4_s, 'int32>float32': SIMD.f32x4_convert_i32x4_s, 'uint32>float32': SIMD.f32x4_convert_i32x4_u,
  'float32>int32': SIMD.i32x4_trunc_sat_f32x4_s, 'float32>uint32': SIMD.i32x4_trunc_sat_f32x4_u,
} as const satisfies Record<string, SimdOp>;

const has = <T extends object>(table: T, key: string): key is Extract<keyof T, string> => Object.hasOwn(table, key);

/** Pushes an i32x4 of ones (the bool 1) and ANDs it with the mask on the stack. */
const maskToBool = (f: FunctionBuilder) => f.i32Const(1).simd(SIMD.i32x4_splat).simd(SIMD.v128_and);

/** sign(x): 1 where x > 0, −1 where x < 0, else x itself (±0, NaN). */
const sign: OpEmitter = (f, [x]) => {
  f.f32x4Const(1);
  f.f32x4Const(-1).localGet(x).localGet(x).f32x4Const(0).simd(SIMD.f32x4_lt).simd(SIMD.v128_bitselect);
  f.localGet(x).f32x4Const(0).simd(SIMD.f32x4_gt).simd(SIMD.v128_bitselect);
};

/** x != 0 as bool: +0.0 and the integer 0 have the same bits; f32x4.ne treats −0 as 0 and NaN as ≠ 0. */
const toBool = (from: DType): OpEmitter => (f, [x]) => {
  f.localGet(x).i32Const(0).simd(SIMD.i32x4_splat).simd(from === 'float32' ? SIMD.f32x4_ne : SIMD.i32x4_ne);
  maskToBool(f);
};

const LOGICAL = new Set(['logicalAnd', 'logicalOr', 'logicalNot']);

/** logicalAnd / logicalOr of the operands' x != 0 (bool 0/1); logicalNot: x == 0 (NaN → 0). */
function logical(name: string, args: readonly DType[]): OpEmitter {
  if (name === 'logicalNot') {
    return (f, [x]) => { f.localGet(x).i32Const(0).simd(SIMD.i32x4_splat).simd(args[0] === 'float32' ? SIMD.f32x4_eq : SIMD.i32x4_eq); maskToBool(f); };
  }
  const combine = name === 'logicalAnd' ? SIMD.v128_and : SIMD.v128_or;
  return (f, [a, b]) => { toBool(args[0])(f, [a]); toBool(args[1])(f, [b]); f.simd(combine); };
}

const simd1 = (op: SimdOp): OpEmitter => (f, [x]) => { f.localGet(x).simd(op); };
const simd2 = (op: SimdOp): OpEmitter => (f, [a, b]) => { f.localGet(a).localGet(b).simd(op); };
const identity: OpEmitter = (f, [x]) => { f.localGet(x); };

function castEmitter(from: DType, to: DType): OpEmitter | null {
  if (from === to) return identity;
  if (to === 'bool') return toBool(from);
  const kind = `${from}>${to}`;
  return has(CASTS, kind) ? simd1(CASTS[kind]) : null;
}

/**
 * The emitter of elementwise op `name` (an ElementwisePrim, or `cast-<dtype>` as elementwise-ops.ts
 * names casts) on arguments of dtypes `args` with an `out` result, or null where this backend has
 * none (the op then runs the CPU reference rule).
 */
export function wasmOp(name: string, args: readonly DType[], out: DType): OpEmitter | null {
  const float = args.every((d) => d === 'float32');
  if (name === 'copy') return identity;
  if (name.startsWith('cast-')) return castEmitter(args[0], out);
  if (name === 'where') {
    return args[0] === 'bool' && args[1] === args[2] && args[1] === out
      ? (f, [c, a, b]) => { f.localGet(a).localGet(b).localGet(c).i32Const(0).simd(SIMD.i32x4_splat).simd(SIMD.i32x4_ne).simd(SIMD.v128_bitselect); }
      : null;
  }
  if (LOGICAL.has(name) && out === 'bool') return logical(name, args);
  if (!float) return null;
  if (has(BINARY, name) && out === 'float32') return simd2(BINARY[name]);
  if (has(COMPARE, name) && out === 'bool') return (f, [a, b]) => { f.localGet(a).localGet(b).simd(COMPARE[name]); maskToBool(f); };
  if (out !== 'float32') return null;
  if (has(UNARY, name)) return simd1(UNARY[name]);
  if (name === 'reciprocal') return (f, [x]) => { f.f32x4Const(1).localGet(x).simd(SIMD.f32x4_div); };
  if (name === 'sign') return sign;
  return has(TRANSCENDENTAL, name) ? TRANSCENDENTAL[name] : null;
}
