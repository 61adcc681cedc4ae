/**
 * Scalar semantics of the elementwise primitives, per value kind. This file IS the specification
 * the WGSL elementwise kernels mirror; every deliberate choice is listed here.
 *
 * Floats (computed on JS doubles; the caller's Float32Array store rounds once to float32):
 *   sign(x)      1 if x > 0, -1 if x < 0, else x (so ±0 and NaN pass through).
 *   round(x)     half to even (IEEE roundTiesToEven, like WGSL round / NumPy): 0.5 → 0, 1.5 → 2,
 *                -0.5 → -0; a negative input that rounds to zero gives -0 (as floor/ceil do).
 *   rsqrt(x)     1 / sqrt(x); reciprocal(x) 1 / x.
 *   logicalNot   x == 0 ? 1 : 0 (NaN → 0), output bool.
 *   pow(x, y)    JS Math.pow = C pow: pow(x, 0) = 1 (also for x = 0 or NaN); x < 0 with integer y
 *                is sign-correct (pow(-2, 3) = -8); x < 0 with non-integer y is NaN. (Math.pow's
 *                only deviation from C: pow(±1, ±Inf) and pow(1, NaN) are NaN.)
 *   mod(x, y)    floor-mod, result has the sign of y (NumPy / Python): r = fmod(x, y) (exact), then
 *                r += y if r != 0 and sign(r) != sign(y). mod(x, 0) = NaN. A zero result is +0.
 *   maximum / minimum propagate NaN (NumPy). Comparisons are IEEE (NaN: ne → 1, others → 0).
 * int32 / uint32 (bool computes as uint32):
 *   add sub mul neg abs wrap modulo 2^32 (mul via Math.imul; abs(-2^31) = -2^31).
 *   div          floors (NumPy/JAX floor_divide), so x = y·(x div y) + (x mod y) for every y ≠ 0;
 *                x / 0 = 0 (NumPy's result); int32 -2^31 / -1 = -2^31 (wraps).
 *   mod          floor-mod (sign of the divisor); x mod 0 = 0 (NumPy's result); -2^31 mod -1 = 0.
 *   pow          repeated multiplication with wrap-around; for a negative exponent the result is
 *                1 for base 1, ±1 for base -1 (by exponent parity), and 0 otherwise (also base 0).
 *   sign         -1 / 0 / 1; logicalNot, comparisons, logical ops output 0/1.
 *   logicalAnd / logicalOr (bool operands only): (a != 0) op (b != 0).
 *   floor, ceil, round are the identity (the result keeps the integer dtype, as in jax.numpy).
 * Which dtypes each op takes is declared once, by core's UNARY_DOMAIN / BINARY_DOMAIN
 * (src/core/prims.ts), checked before these run; the tables' types follow it: a float-only op has a
 * float function alone, every other op one per kind.
 */
import { WgradError } from '../../core/errors.js';
import type { BinaryOp, FloatOnlyOp, UnaryOp } from '../../core/prims.js';
import type { ValueKind } from './types.js';

export type UnaryFn = (x: number) => number;
export type BinaryFn = (a: number, b: number) => number;

const wrapInt32 = (x: number) => x | 0;
const wrapUint32 = (x: number) => x >>> 0;

/** Round half to even on a double; keeps -0 for negative inputs that round to zero. */
export function roundHalfEven(x: number): number {
  if (!Number.isFinite(x)) return x;
  const floor = Math.floor(x);
  const frac = x - floor; // exact for doubles
  let r = frac < 0.5 ? floor : frac > 0.5 ? floor + 1 : floor % 2 === 0 ? floor : floor + 1;
  if (r === 0 && (x < 0 || Object.is(x, -0))) r = -0;
  return r;
}

/** Float floor-mod (sign of the divisor). */
export function floatMod(x: number, y: number): number {
  let r = x % y; // C fmod: exact, sign of x; NaN when y == 0 or x infinite
  if (r !== 0 && r < 0 !== y < 0) r += y;
  return r === 0 ? 0 : r;
}

/** Integer floor-mod (sign of the divisor); x mod 0 = 0. Inputs are int32 or uint32 values. */
export function intMod(x: number, y: number): number {
  if (y === 0) return 0;
  let r = x % y; // exact for 32-bit integers
  if (r !== 0 && r < 0 !== y < 0) r += y;
  return r === 0 ? 0 : r;
}

/** Integer floor division (consistent with intMod); x / 0 = 0. The truncated quotient is exact for
 *  32-bit inputs (its distance from the next integer is ≥ 2^-32 relative, far above double
 *  precision); the remainder decides the step down. */
export function intDiv(x: number, y: number): number {
  if (y === 0) return 0;
  const q = Math.trunc(x / y);
  return x % y !== 0 && x < 0 !== y < 0 ? q - 1 : q;
}

/** Integer power by square-and-multiply, wrapping like repeated multiplication. */
export function intPow(base: number, exponent: number, wrap: (x: number) => number): number {
  if (exponent < 0) {
    if (base === 1) return 1;
    if (base === -1) return exponent % 2 === 0 ? 1 : -1;
    return 0;
  }
  let result = 1;
  let b = base;
  let e = exponent;
  while (e > 0) {
    if (e % 2 === 1) result = wrap(Math.imul(result, b));
    b = wrap(Math.imul(b, b));
    e = Math.floor(e / 2);
  }
  return wrap(result);
}

const floatSign: UnaryFn = (x) => (x > 0 ? 1 : x < 0 ? -1 : x);
const intSign: UnaryFn = (x) => (x > 0 ? 1 : x < 0 ? -1 : 0);
const isZero: UnaryFn = (x) => (x === 0 ? 1 : 0);
const identity: UnaryFn = (x) => x;

type PerKind<F> = { float: F; int32: F; uint32: F };

export const UNARY_FNS: { [op in UnaryOp]: op extends FloatOnlyOp ? { float: UnaryFn } : PerKind<UnaryFn> } = {
  neg: { float: (x) => -x, int32: (x) => wrapInt32(-x), uint32: (x) => wrapUint32(-x) },
  abs: { float: Math.abs, int32: (x) => wrapInt32(Math.abs(x)), uint32: identity },
  sign: { float: floatSign, int32: intSign, uint32: intSign },
  exp: { float: Math.exp },
  log: { float: Math.log },
  log1p: { float: Math.log1p },
  expm1: { float: Math.expm1 },
  sqrt: { float: Math.sqrt },
  rsqrt: { float: (x) => 1 / Math.sqrt(x) },
  reciprocal: { float: (x) => 1 / x },
  sin: { float: Math.sin },
  cos: { float: Math.cos },
  tanh: { float: Math.tanh },
  floor: { float: Math.floor, int32: identity, uint32: identity },
  ceil: { float: Math.ceil, int32: identity, uint32: identity },
  round: { float: roundHalfEven, int32: identity, uint32: identity },
  logicalNot: { float: isZero, int32: isZero, uint32: isZero },
  copy: { float: identity, int32: identity, uint32: identity },
};

const cmp = (f: (a: number, b: number) => boolean): BinaryFn => (a, b) => (f(a, b) ? 1 : 0);
const comparisons = (f: (a: number, b: number) => boolean): PerKind<BinaryFn> => ({
  float: cmp(f), int32: cmp(f), uint32: cmp(f),
});

export const BINARY_FNS: { [op in BinaryOp]: PerKind<BinaryFn> } = {
  add: { float: (a, b) => a + b, int32: (a, b) => wrapInt32(a + b), uint32: (a, b) => wrapUint32(a + b) },
  sub: { float: (a, b) => a - b, int32: (a, b) => wrapInt32(a - b), uint32: (a, b) => wrapUint32(a - b) },
  mul: {
    float: (a, b) => a * b,
    int32: (a, b) => wrapInt32(Math.imul(a, b)),
    uint32: (a, b) => wrapUint32(Math.imul(a, b)),
  },
  div: {
    float: (a, b) => a / b,
    int32: (a, b) => wrapInt32(intDiv(a, b)),
    uint32: (a, b) => wrapUint32(intDiv(a, b)),
  },
  pow: {
    float: Math.pow,
    int32: (a, b) => intPow(a, b, wrapInt32),
    uint32: (a, b) => wrapUint32(intPow(a, b, wrapUint32)),
  },
  mod: { float: floatMod, int32: intMod, uint32: intMod },
  // Math.max / Math.min propagate NaN.
  maximum: { float: Math.max, int32: Math.max, uint32: Math.max },
  minimum: { float: Math.min, int32: Math.min, uint32: Math.min },
  eq: comparisons((a, b) => a === b),
  ne: comparisons((a, b) => a !== b),
  lt: comparisons((a, b) => a < b),
  le: comparisons((a, b) => a <= b),
  gt: comparisons((a, b) => a > b),
  ge: comparisons((a, b) => a >= b),
  logicalAnd: comparisons((a, b) => a !== 0 && b !== 0),
  logicalOr: comparisons((a, b) => a !== 0 || b !== 0),
};

/** The scalar function of `op` for `kind`; the op's domain, checked first, guarantees there is one. */
export function scalarFn<F>(op: UnaryOp | BinaryOp, table: Partial<PerKind<F>>, kind: ValueKind): F {
  const fn = table[kind];
  if (!fn) throw new WgradError(op, `no CPU function for ${kind} values: its dtype domain in core/prims.ts and the CPU's table disagree`);
  return fn;
}
