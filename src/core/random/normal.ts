/**
 * Standard normal samples from two random 32-bit words, computed with integer operations only, so
 * that the CPU reference and every WebGPU device give the same float32 bits. (A float32 Box–Muller
 * through log/cos/sqrt cannot promise that: WGSL lets each device approximate those builtins and
 * fuse a·b + c into an fma.) This file holds the one algorithm twice, side by side: `normalFromBits`
 * in TypeScript (the CPU rule) and `normalWgsl()` (the kernel's function); test/hardening-ops.test.ts
 * compares them bit for bit.
 *
 * Box–Muller, z = √(−2 ln u) · cos(2π v), in fixed point:
 *   u = (w0 | 1) / 2^32 ∈ (0, 1): the midpoints of 2^31 equal bins, never 0 or 1.
 *   −ln u = e·ln 2 + T with e = clz(w0 | 1) and t = u·2^e ∈ [½, 1); T = −ln t by multiplicative
 *     normalization: multiply t (Q32) by factors 1 + 2^−k (a shift and an add), each tried twice,
 *     while the product stays below 1, summing ln(1 + 2^−k) from a table (Q32); the remaining gap
 *     1 − t·Π is added as its first-order log. L = −ln u in Q26 (L ≤ 22.2; error ≈ 2^−26).
 *   r = √(2L): digit-by-digit integer square root of 2L (normalized by an even shift, 16 zero bits
 *     appended) → a 24-bit root and a power-of-two scale.
 *   cos(2π v): v's top 2 bits pick the quadrant; CORDIC (30 rotations, arctangent table in units
 *     of 2^−32 turn) gives cos and sin of the rest in Q30, then Q23 (|c| ≤ 2^23, exact in float32).
 *   z = float32(root · c) (one correctly rounded product of two 24-bit integers) · 2^−scale (an
 *     exponent change, exact).
 * Accuracy: |z − z_exact| ≤ 1.1e-6 over millions of samples (about 2 float32 ulps at |z| ≈ 6), far
 * below the sampling noise; the range is |z| ≤ √(2·32·ln 2) ≈ 6.66.
 */

/** round(ln(1 + 2^−k) · 2^32) for k = 1..31 (index k − 1). */
const LN_Q32 = [
  1741459379, 958394255, 505874286, 260380768, 132163268, 66589974, 33424039, 16744533, 8380427, 4192257,
  2096640, 1048448, 524256, 262136, 131070, 65536, 32768, 16384, 8192, 4096, 2048, 1024, 512, 256, 128, 64,
  32, 16, 8, 4, 2,
];
/** round(atan(2^−k) / 2π · 2^32) for k = 0..29: CORDIC angles in units of 2^−32 turn. */
const ATAN_TURN = [
  536870912, 316933406, 167458907, 85004756, 42667331, 21354465, 10679838, 5340245, 2670163, 1335087,
  667544, 333772, 166886, 83443, 41722, 20861, 10430, 5215, 2608, 1304, 652, 326, 163, 81, 41, 20, 10, 5, 3, 1,
];
/** The CORDIC gain of 30 rotations, Π 1/√(1 + 2^−2k), in Q30. */
const CORDIC_K_Q30 = 652032874;
/** ln 2 · 2^26 = LN2_HI + LN2_LO / 2^16. */
const LN2_HI = 46516319;
const LN2_LO = 57159;

/**
 * −2 ln u for u = (w0 | 1) / 2^32 as [n, h] with −2 ln u ≈ n · 2^−2h: Q32 (h = 16) below 1, where
 * small values need the relative precision, Q26 (h = 13) above.
 */
function negTwoLog(w0: number): [number, number] {
  const u = (w0 | 1) >>> 0;
  const e = Math.clz32(u);
  let y = (u << e) >>> 0; // t · 2^32, t ∈ [½, 1)
  const gap = (0 - y) >>> 0; // (1 − t) · 2^32
  if (e === 0 && gap < 0x100000) {
    // t within 2^−12 of 1: −ln t = g + g²/2 + … with g = 1 − t (the cubic term is below 2^−36).
    const g4 = gap >>> 4;
    return [(2 * (gap + ((g4 * g4) >>> 25))) >>> 0, 16];
  }
  let t = 0; // −ln t in Q32
  for (let k = 1; k <= 31; k++) {
    for (let rep = 0; rep < 2; rep++) {
      const s = y >>> k;
      if (s <= (~y >>> 0)) { // y + s < 2^32: the product stays below 1
        y = (y + s) >>> 0;
        t = (t + LN_Q32[k - 1]) >>> 0;
      }
    }
  }
  t = (t + ((0 - y) >>> 0)) >>> 0; // −ln(y / 2^32) ≈ 1 − y / 2^32
  if (e === 0 && t < 0x80000000) return [(2 * t) >>> 0, 16];
  const l = (e * LN2_HI + ((e * LN2_LO + 32768) >>> 16) + ((t + 32) >>> 6)) >>> 0; // −ln u in Q26 (≤ 22.2)
  return [(2 * l) >>> 0, 13];
}

/** [root, shift] with root ≈ √(n · 2^−2h) · 2^shift and 2^23 ≤ root < 2^24 (root 0 for n = 0). */
function sqrtFixed(n: number, h: number): [number, number] {
  if (n === 0) return [0, 0];
  const j = Math.clz32(n) >>> 1;
  const m = (n << (2 * j)) >>> 0; // ∈ [2^30, 2^32)
  let rem = 0;
  let root = 0;
  for (let i = 0; i < 24; i++) {
    const pair = i < 16 ? (m >>> (30 - 2 * i)) & 3 : 0;
    rem = ((rem << 2) | pair) >>> 0;
    const trial = ((root << 2) | 1) >>> 0;
    if (rem >= trial) {
      rem = (rem - trial) >>> 0;
      root = ((root << 1) | 1) >>> 0;
    } else {
      root = (root << 1) >>> 0;
    }
  }
  // root = ⌊√(m · 2^16)⌋ = ⌊√n · 2^(j + 8)⌋ = ⌊√(n · 2^−2h) · 2^(j + 8 + h)⌋.
  return [root, j + 8 + h];
}

/** cos(2π · w1 / 2^32) in Q23 (an int32 with |c| ≤ 2^23 + a few). */
function cosTurnQ23(w1: number): number {
  const q = w1 >>> 30;
  let z = (w1 & 0x3fffffff) | 0; // angle within the quadrant, units of 2^−32 turn
  let x = CORDIC_K_Q30;
  let y = 0;
  for (let k = 0; k < 30; k++) {
    const xs = x >> k;
    const ys = y >> k;
    if (z >= 0) {
      x = (x - ys) | 0; y = (y + xs) | 0; z = (z - ATAN_TURN[k]) | 0;
    } else {
      x = (x + ys) | 0; y = (y - xs) | 0; z = (z + ATAN_TURN[k]) | 0;
    }
  }
  const c = q === 0 ? x : q === 1 ? -y : q === 2 ? -x : y;
  return (c + 64) >> 7;
}

/** A standard normal float32 value from two random words (the CPU rule of random {dist: 'normal'}). */
export function normalFromBits(w0: number, w1: number): number {
  const [root, shift] = sqrtFixed(...negTwoLog(w0));
  const c = cosTurnQ23(w1);
  const p = Math.fround(root * c); // exact integer product (< 2^48), rounded once to float32
  return p === 0 ? 0 : p * 2 ** -(shift + 23); // an exact power-of-two scale
}

/** The same function in WGSL: `fn normalFromBits(w0: u32, w1: u32) -> f32`. */
export function normalWgsl(): string {
  const arr = (name: string, type: string, xs: number[]) =>
    `var<private> ${name}: array<${type}, ${xs.length}> = array<${type}, ${xs.length}>(${xs.map((v) => `${v}${type === 'u32' ? 'u' : 'i'}`).join(', ')});`;
  return `${arr('LN_Q32', 'u32', LN_Q32)}
${arr('ATAN_TURN', 'i32', ATAN_TURN)}
// −2 ln u as n · 2^−2h (see negTwoLog).
fn negTwoLog(w0: u32) -> vec2<u32> {
  let u = w0 | 1u;
  let e = countLeadingZeros(u);
  var y = u << e;
  let gap = 0u - y;
  if (e == 0u && gap < 0x100000u) {
    let g4 = gap >> 4u;
    return vec2<u32>(2u * (gap + ((g4 * g4) >> 25u)), 16u);
  }
  var t = 0u;
  for (var k = 1u; k <= 31u; k = k + 1u) {
    for (var rep = 0u; rep < 2u; rep = rep + 1u) {
      let s = y >> k;
      if (s <= ~y) { y = y + s; t = t + LN_Q32[k - 1u]; }
    }
  }
  t = t + (0u - y);
  if (e == 0u && t < 0x80000000u) { return vec2<u32>(2u * t, 16u); }
  let l = e * ${LN2_HI}u + ((e * ${LN2_LO}u + 32768u) >> 16u) + ((t + 32u) >> 6u);
  return vec2<u32>(2u * l, 13u);
}
fn normalFromBits(w0: u32, w1: u32) -> f32 {
  let nh = negTwoLog(w0);
  let n = nh.x;
  if (n == 0u) { return 0.0; }
  let j = countLeadingZeros(n) >> 1u;
  let m = n << (2u * j);
  var rem = 0u;
  var root = 0u;
  for (var i = 0u; i < 24u; i = i + 1u) {
    var pair = 0u;
    if (i < 16u) { pair = (m >> (30u - 2u * i)) & 3u; }
    rem = (rem << 2u) | pair;
    let trial = (root << 2u) | 1u;
    if (rem >= trial) { rem = rem - trial; root = (root << 1u) | 1u; } else { root = root << 1u; }
  }
  let shift = j + 8u + nh.y + 23u;
  let q = w1 >> 30u;
  var z = i32(w1 & 0x3fffffffu);
  var x = ${CORDIC_K_Q30}i;
  var y = 0i;
  for (var k = 0u; k < 30u; k = k + 1u) {
    let xs = x >> k;
    let ys = y >> k;
    if (z >= 0i) { x = x - ys; y = y + xs; z = z - ATAN_TURN[k]; } else { x = x + ys; y = y - xs; z = z + ATAN_TURN[k]; }
  }
  var c = y;
  if (q == 0u) { c = x; } else if (q == 1u) { c = -y; } else if (q == 2u) { c = -x; }
  let p = f32(root) * f32((c + 64i) >> 7u);
  if (p == 0.0) { return 0.0; }
  // × 2^−shift: lower the exponent field (|p| ≥ 2^23, so it stays normal).
  return bitcast<f32>(bitcast<u32>(p) - (shift << 23u));
}`;
}
