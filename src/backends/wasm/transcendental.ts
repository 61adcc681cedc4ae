/**
 * exp, log and rsqrt on float32 for the wasm backend's fused programs (ops.ts), evaluated in
 * float64 lanes: each f32x4 is promoted to two f64x2 halves, the function is computed in double,
 * and each result is rounded once to float32 (f32x4.demote_f64x2_zero) — the CPU reference's own
 * recipe (Math.exp / Math.log / 1 / Math.sqrt on doubles, rounded to float32 on store).
 *
 * Why float64: a float32 polynomial is 1–2 ulp off the reference everywhere; computed in double to
 * about 1e-16 relative, the single rounding to float32 gives the reference's float32 except where
 * the exact value lies within ~2^-50 relative of a midpoint between two floats, and there at most
 * 1 ulp off. Subnormal float32 inputs are normal doubles, so no input needs a slow path.
 *
 *   rsqrt(x) = 1 / sqrt(x): f64x2.sqrt and f64x2.div are correctly rounded, exactly the
 *     reference's two double operations, so rsqrt is bit-exact.
 *   exp(x): x clamped to [−104, 89] (beyond, the float32 result is 0 or +∞ anyway); k = round(x /
 *     ln 2), r = x − k·ln2_hi − k·ln2_lo (Cody–Waite: k·ln2_hi is exact), |r| ≤ ln 2 / 2; e^r by
 *     its Taylor series to r^13/13! (truncation < 2e-16); times 2^k built from k's exponent bits.
 *   log(x): x = m·2^e with m ∈ [√½, √2) from the double's bits; log m = 2·atanh(s) with
 *     s = (m − 1)/(m + 1), |s| ≤ 0.1716, by its series to s^21/21 (truncation < 1e-17); plus
 *     e·ln2_hi + e·ln2_lo. x = 0 → −∞, x < 0 → NaN, +∞ → +∞, NaN → NaN (as Math.log).
 */
import { SIMD, V128, type FunctionBuilder } from './builder.js';

/** ln 2 split so that k·LN2_HI is exact for |k| < 2^20 (fdlibm's constants). */
const LN2_HI = 6.93147180369123816490e-01;
const LN2_LO = 1.90821492927058770002e-10;

/** Pushes Σ c[i]·t^i (Horner) for the f64x2 in local `t`. */
function horner(f: FunctionBuilder, t: number, c: readonly number[]): void {
  f.f64x2Const(c[c.length - 1]);
  for (let i = c.length - 2; i >= 0; i--) f.localGet(t).simd(SIMD.f64x2_mul).f64x2Const(c[i]).simd(SIMD.f64x2_add);
}

/** 1/n! for n = 0 … 13. */
const EXP_TAYLOR = Array.from({ length: 14 }, (_, n) => 1 / Array.from({ length: n }, (_, i) => i + 1).reduce((a, b) => a * b, 1));
/** 1/(2i + 1) for i = 0 … 10: atanh(s)/s = Σ z^i/(2i + 1), z = s². */
const ATANH_SERIES = Array.from({ length: 11 }, (_, i) => 1 / (2 * i + 1));

/** Leaves exp of the f64x2 in local `d` on the stack. */
function exp64(f: FunctionBuilder, d: number): void {
  const [c, k, r] = [f.local(V128), f.local(V128), f.local(V128)];
  f.localGet(d).f64x2Const(-104).simd(SIMD.f64x2_max).f64x2Const(89).simd(SIMD.f64x2_min).localSet(c);
  f.localGet(c).f64x2Const(1 / Math.LN2).simd(SIMD.f64x2_mul).simd(SIMD.f64x2_nearest).localSet(k);
  f.localGet(c).localGet(k).f64x2Const(LN2_HI).simd(SIMD.f64x2_mul).simd(SIMD.f64x2_sub)
    .localGet(k).f64x2Const(LN2_LO).simd(SIMD.f64x2_mul).simd(SIMD.f64x2_sub).localSet(r);
  horner(f, r, EXP_TAYLOR);
  // 2^k: the bits (k + 1023) << 52 (k ∈ [−150, 129], so the exponent stays normal).
  f.localGet(k).simd(SIMD.i32x4_trunc_sat_f64x2_s_zero).simd(SIMD.i64x2_extend_low_i32x4_s)
    .i64x2Const(1023n).simd(SIMD.i64x2_add).i32Const(52).simd(SIMD.i64x2_shl);
  f.simd(SIMD.f64x2_mul);
}

/** Leaves log of the f64x2 in local `d` on the stack. */
function log64(f: FunctionBuilder, d: number): void {
  const [m, e, big, s, z, res] = Array.from({ length: 6 }, () => f.local(V128));
  // m = the mantissa with exponent 0, in [1, 2); e = the unbiased exponent, as a double (the
  // exponent field OR 2^52's bits is 2^52 + field exactly).
  f.localGet(d).i64x2Const(0x000fffffffffffffn).simd(SIMD.v128_and).i64x2Const(0x3ff0000000000000n).simd(SIMD.v128_or).localSet(m);
  f.localGet(d).i32Const(52).simd(SIMD.i64x2_shr_u).i64x2Const(0x4330000000000000n).simd(SIMD.v128_or)
    .f64x2Const(2 ** 52 + 1023).simd(SIMD.f64x2_sub).localSet(e);
  // m > √2: halve m, add 1 to e.
  f.localGet(m).f64x2Const(Math.SQRT2).simd(SIMD.f64x2_gt).localSet(big);
  f.localGet(m).f64x2Const(0.5).simd(SIMD.f64x2_mul).localGet(m).localGet(big).simd(SIMD.v128_bitselect).localSet(m);
  f.localGet(e).f64x2Const(1).localGet(big).simd(SIMD.v128_and).simd(SIMD.f64x2_add).localSet(e);
  f.localGet(m).f64x2Const(1).simd(SIMD.f64x2_sub).localGet(m).f64x2Const(1).simd(SIMD.f64x2_add).simd(SIMD.f64x2_div).localSet(s);
  f.localGet(s).localGet(s).simd(SIMD.f64x2_mul).localSet(z);
  // log m = 2s · Σ z^i/(2i + 1) = 2s + 2s·z·Σ z^i/(2i + 3)
  f.localGet(s).localGet(s).simd(SIMD.f64x2_add);
  f.localGet(s).localGet(s).simd(SIMD.f64x2_add).localGet(z).simd(SIMD.f64x2_mul);
  horner(f, z, ATANH_SERIES.slice(1));
  f.simd(SIMD.f64x2_mul);
  f.localGet(e).f64x2Const(LN2_LO).simd(SIMD.f64x2_mul).simd(SIMD.f64x2_add).simd(SIMD.f64x2_add);
  f.localGet(e).f64x2Const(LN2_HI).simd(SIMD.f64x2_mul).simd(SIMD.f64x2_add).localSet(res);
  // Specials, in order: 0 → −∞, negative → NaN, +∞ → +∞, NaN → itself.
  const pick = (value: () => void, mask: () => void) => { value(); f.localGet(res); mask(); f.simd(SIMD.v128_bitselect).localSet(res); };
  pick(() => f.f64x2Const(-Infinity), () => f.localGet(d).f64x2Const(0).simd(SIMD.f64x2_eq));
  pick(() => f.f64x2Const(NaN), () => f.localGet(d).f64x2Const(0).simd(SIMD.f64x2_lt));
  pick(() => f.f64x2Const(Infinity), () => f.localGet(d).f64x2Const(Infinity).simd(SIMD.f64x2_eq));
  pick(() => f.localGet(d), () => f.localGet(d).localGet(d).simd(SIMD.f64x2_ne));
  f.localGet(res);
}

/** Leaves 1 / sqrt of the f64x2 in local `d` on the stack. */
function rsqrt64(f: FunctionBuilder, d: number): void {
  f.f64x2Const(1).localGet(d).simd(SIMD.f64x2_sqrt).simd(SIMD.f64x2_div);
}

const LOW_HALF = [0, 1, 2, 3, 4, 5, 6, 7];
/** Bytes 8–15 of the first vector, twice: its float lanes 2 and 3 moved to lanes 0 and 1. */
const HIGH_TO_LOW = [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15];

/** An op's emitter, as ops.ts calls it: the V128 locals of its arguments; its result on the stack. */
type Emitter = (f: FunctionBuilder, args: readonly number[]) => void;

/** An f32x4 op computed as `half` on each f64x2 half of its argument, each result rounded once. */
const viaFloat64 = (half: (f: FunctionBuilder, d: number) => void): Emitter => (f, [x]) => {
  const [d, lo] = [f.local(V128), f.local(V128)];
  f.localGet(x).simd(SIMD.f64x2_promote_low_f32x4).localSet(d);
  half(f, d);
  f.simd(SIMD.f32x4_demote_f64x2_zero).localSet(lo);
  f.localGet(x).localGet(x).shuffle(HIGH_TO_LOW).simd(SIMD.f64x2_promote_low_f32x4).localSet(d);
  f.localGet(lo);
  half(f, d);
  f.simd(SIMD.f32x4_demote_f64x2_zero);
  // lanes 0, 1 of lo, then lanes 0, 1 of the high half's result
  f.shuffle([...LOW_HALF, ...LOW_HALF.map((b) => b + 16)]);
};

/** The float32 transcendental ops with Wasm code (see the header). */
export const TRANSCENDENTAL: Readonly<Record<string, Emitter>> = {
  exp: viaFloat64(exp64),
  log: viaFloat64(log64),
  rsqrt: viaFloat64(rsqrt64),
};
