/**
 * The WGSL function library of the elementwise ops (elementwise-ops.ts names the entries each op
 * needs; reduce.ts calls them too through `libCode`). Each entry is one or more WGSL functions
 * plus the entries they call.
 *
 * Semantics mirror src/backends/cpu/scalar.ts exactly: NaN tests on bits (lavapipe's compiler may
 * fold `x != x`), floor-mod with an exact fmod, C pow special cases, saturating float→int casts,
 * integer floor division with x / 0 = 0 and x mod 0 = 0, range-reduced sin/cos beyond 2^23.
 */
import { WGSL_HELPERS } from './wgsl.js';

/** WGSL function library for the elementwise ops; each entry lists its dependencies. */
const LIB: Record<string, { deps: string[]; code: string }> = {
  // The helpers other kernel families use too come from wgsl.ts, under the same names.
  isNan: { deps: [], code: WGSL_HELPERS.isNan },
  isInf: { deps: [], code: WGSL_HELPERS.isInf },
  nz: { deps: [], code: `fn nzF(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) != 0u; }` },
  nanF: { deps: [], code: WGSL_HELPERS.nanF },
  infF: { deps: [], code: WGSL_HELPERS.infF },
  // sin/cos: the builtins are accurate below 2^23 on lavapipe but not beyond; there every f32 is
  // an integer m·2^e and a Payne–Hanek reduction with 64 bits of 1/(2π) (16-bit limb products)
  // gives the quadrant and a reduced angle in [-π/4, π/4].
  trig: {
    deps: ['nanF'],
    code: `var<private> INV2PI: array<u32, 8> = array<u32, 8>(0x28be60dbu, 0x9391054au, 0x7f09d5f4u, 0x7d4d3770u,
  0x36d8a566u, 0x4f10e410u, 0x7f9458eau, 0xf7aef158u);
fn inv2piWord(q: u32, sh: u32) -> u32 {
  if (sh == 0u) { return INV2PI[q]; }
  return (INV2PI[q] << sh) | (INV2PI[q + 1u] >> (32u - sh));
}
fn trigReduce(x: f32) -> vec2<f32> {
  let bits = bitcast<u32>(x) & 0x7fffffffu;
  let m = (bits & 0x7fffffu) | 0x800000u;
  let s = (bits >> 23u) - 150u;
  let q = s >> 5u;
  let sh = s & 31u;
  let wh = inv2piWord(q, sh);
  let wl = inv2piWord(q + 1u, sh);
  let a3 = wh >> 16u; let a2 = wh & 0xffffu; let a1 = wl >> 16u; let a0 = wl & 0xffffu;
  let m1 = m >> 16u; let m0 = m & 0xffffu;
  let p00 = m0 * a0; let p01 = m0 * a1; let p10 = m1 * a0; let p02 = m0 * a2;
  let p11 = m1 * a1; let p03 = m0 * a3; let p12 = m1 * a2;
  let c0 = p00 & 0xffffu;
  var c1 = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  var c2 = (p01 >> 16u) + (p10 >> 16u) + (p02 & 0xffffu) + (p11 & 0xffffu);
  var c3 = (p02 >> 16u) + (p11 >> 16u) + (p03 & 0xffffu) + (p12 & 0xffffu);
  c2 = c2 + (c1 >> 16u);
  c3 = c3 + (c2 >> 16u);
  let hi = ((c3 & 0xffffu) << 16u) | (c2 & 0xffffu);
  let lo = ((c1 & 0xffffu) << 16u) | c0;
  var k = hi >> 30u;
  var rh = hi & 0x3fffffffu;
  var rl = lo;
  var sg = 1.0;
  if (rh >= 0x20000000u) {
    rl = 0u - lo;
    rh = 0x40000000u - rh - select(0u, 1u, lo != 0u);
    k = k + 1u;
    sg = -1.0;
  }
  let r = f32(rh) * 9.313225746154785e-10 + f32(rl) * 2.168404344971009e-19;
  return vec2<f32>(f32(k & 3u), sg * r * 1.5707963267948966);
}
fn sinF(x: f32) -> f32 {
  if (abs(x) < 8388608.0) { return sin(x); }
  if ((bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u) { return nanF(); }
  let kr = trigReduce(x);
  let a = kr.y;
  var r: f32;
  switch (u32(kr.x)) {
    case 0u: { r = sin(a); }
    case 1u: { r = cos(a); }
    case 2u: { r = -sin(a); }
    default: { r = -cos(a); }
  }
  return select(r, -r, x < 0.0);
}
fn cosF(x: f32) -> f32 {
  if (abs(x) < 8388608.0) { return cos(x); }
  if ((bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u) { return nanF(); }
  let kr = trigReduce(x);
  let a = kr.y;
  switch (u32(kr.x)) {
    case 0u: { return cos(a); }
    case 1u: { return -sin(a); }
    case 2u: { return -cos(a); }
    default: { return sin(a); }
  }
}`,
  },
  // log of a subnormal: scale into the normal range (the builtin loses precision there).
  log: {
    deps: [],
    code: `fn logF(x: f32) -> f32 {
  if (x > 0.0 && x < 1.17549435e-38) { return log(x * 16777216.0) - 16.635532333438686; }
  return log(x);
}`,
  },
  // log1p/expm1: the usual (1+x)-1 tricks are folded away by lavapipe's compiler, so small
  // arguments use series instead: log1p(x) = 2 atanh(x / (2 + x)), expm1 by Taylor.
  log1p: {
    deps: [],
    code: `fn log1pF(x: f32) -> f32 {
  if (abs(x) >= 0.25) { return log(1.0 + x); }
  let s = x / (2.0 + x);
  let s2 = s * s;
  let p = 1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0 + s2 * (1.0 / 11.0 + s2 * (1.0 / 13.0))))));
  return 2.0 * s * p;
}`,
  },
  expm1: {
    deps: [],
    code: `fn expm1F(x: f32) -> f32 {
  if (abs(x) >= 0.5) { return exp(x) - 1.0; }
  let p = 1.0 / 2.0 + x * (1.0 / 6.0 + x * (1.0 / 24.0 + x * (1.0 / 120.0 + x * (1.0 / 720.0 + x * (1.0 / 5040.0
    + x * (1.0 / 40320.0 + x * (1.0 / 362880.0 + x * (1.0 / 3628800.0))))))));
  return x + x * x * p;
}`,
  },
  tanh: {
    deps: ['isNan'],
    // Branch-free (the lanes of a SIMD chunk take every branch anyway on a CPU adapter, so the
    // branchy form ran the chain tanh(1.5x + 0.5)·x slower on lavapipe:
    // docs/benchmarks.md#kernel-work-commit-by-commit): below |x| = 0.55 the
    // odd Taylor series to x^19 (truncation < 1e-9), else sign(x)·(1 − 2 / (e^{2|x|} + 1)) with |x|
    // capped at 10 (tanh(10) rounds to 1 in f32). x · (1 + x²·q) keeps tanh(−0) = −0.
    code: `fn tanhF(x: f32) -> f32 {
  let a = min(abs(x), 10.0);
  let x2 = x * x;
  let q = -1.0 / 3.0 + x2 * (2.0 / 15.0 + x2 * (-17.0 / 315.0 + x2 * (62.0 / 2835.0 + x2 * (-1382.0 / 155925.0
    + x2 * (21844.0 / 6081075.0 + x2 * (-929569.0 / 638512875.0 + x2 * (6404582.0 / 10854718875.0 + x2 * (-443861162.0 / 1856156927625.0))))))));
  let big = 1.0 - 2.0 / (exp(2.0 * a) + 1.0);
  let r = select(select(-big, big, x > 0.0), x * (1.0 + x2 * q), a < 0.55);
  return select(r, x, isNan(x));
}`,
  },
  sign: { deps: [], code: `fn signF(x: f32) -> f32 { if (x > 0.0) { return 1.0; } if (x < 0.0) { return -1.0; } return x; }` },
  maxF: { deps: ['isNan', 'nanF'], code: `fn maxF(a: f32, b: f32) -> f32 { if (isNan(a) || isNan(b)) { return nanF(); } return max(a, b); }` },
  minF: { deps: ['isNan', 'nanF'], code: `fn minF(a: f32, b: f32) -> f32 { if (isNan(a) || isNan(b)) { return nanF(); } return min(a, b); }` },
  // Exact C fmodf (sign of x), after musl: integer long division on the mantissas.
  fmod: {
    deps: ['nanF'],
    code: `// A finite nonzero f32's significand with its implicit bit (subnormals shifted up, their exponent
// lowered to match) and biased exponent, as musl's fmodf normalizes x and y.
struct FmodPart { m: u32, e: i32 }
fn fmodNormalize(bits: u32, e0: i32) -> FmodPart {
  if (e0 != 0) { return FmodPart((bits & (0xffffffffu >> 9u)) | (1u << 23u), e0); }
  var e = e0;
  var i = bits << 9u;
  while ((i >> 31u) == 0u) { e = e - 1; i = i << 1u; }
  return FmodPart(bits << u32(-e + 1), e);
}
fn fmodF(x: f32, y: f32) -> f32 {
  var ux = bitcast<u32>(x);
  var uy = bitcast<u32>(y);
  var ex = i32((ux >> 23u) & 0xffu);
  var ey = i32((uy >> 23u) & 0xffu);
  let sx = ux & 0x80000000u;
  if ((uy << 1u) == 0u || ex == 0xff || ((uy & 0x7fffffffu) > 0x7f800000u)) { return nanF(); }
  if ((ux << 1u) <= (uy << 1u)) {
    if ((ux << 1u) == (uy << 1u)) { return bitcast<f32>(sx); }
    return x;
  }
  let nx = fmodNormalize(ux, ex);
  let ny = fmodNormalize(uy, ey);
  ux = nx.m; ex = nx.e; uy = ny.m; ey = ny.e;
  // x mod y
  loop {
    if (ex <= ey) { break; }
    let d = ux - uy;
    if ((d >> 31u) == 0u) {
      if (d == 0u) { return bitcast<f32>(sx); }
      ux = d;
    }
    ux = ux << 1u;
    ex = ex - 1;
  }
  let d = ux - uy;
  if ((d >> 31u) == 0u) {
    if (d == 0u) { return bitcast<f32>(sx); }
    ux = d;
  }
  while ((ux >> 23u) == 0u) { ux = ux << 1u; ex = ex - 1; }
  // scale result
  if (ex > 0) {
    ux = ux - (1u << 23u);
    ux = ux | (u32(ex) << 23u);
  } else {
    ux = ux >> u32(-ex + 1);
  }
  return bitcast<f32>(ux | sx);
}`,
  },
  modF: {
    deps: ['fmod'],
    code: `fn modF(x: f32, y: f32) -> f32 {
  var r = fmodF(x, y);
  if (r != 0.0 && ((r < 0.0) != (y < 0.0))) { r = r + y; }
  if (r == 0.0) { return 0.0; }
  return r;
}`,
  },
  powF: {
    deps: ['isNan', 'isInf', 'nanF', 'infF'],
    code: `fn powF(x: f32, y: f32) -> f32 {
  if (y == 0.0) { return 1.0; }
  if (isNan(x) || isNan(y)) { return nanF(); }
  let ax = abs(x);
  let inf = infF();
  if (isInf(y)) {
    if (ax == 1.0) { return nanF(); }
    if ((ax > 1.0) == (y > 0.0)) { return inf; }
    return 0.0;
  }
  let yInt = trunc(y) == y;
  let yOdd = yInt && abs(y) < 16777216.0 && (i32(y) & 1) == 1;
  if (ax == 0.0) {
    if (y > 0.0) { if (yOdd) { return x; } return 0.0; }
    if (yOdd) { return select(inf, -inf, (bitcast<u32>(x) >> 31u) == 1u); }
    return inf;
  }
  if (isInf(x)) {
    if (x > 0.0) { return select(0.0, inf, y > 0.0); }
    if (y > 0.0) { return select(inf, -inf, yOdd); }
    return select(0.0, -0.0, yOdd);
  }
  if (x < 0.0 && !yInt) { return nanF(); }
  if (ax == 1.0) { return select(1.0, x, yOdd); }
  if (y == 1.0) { return x; }
  if (y == 2.0) { return x * x; }
  if (y == 0.5) { return sqrt(x); }
  if (y == -1.0) { return 1.0 / x; }
  // Subnormal bases: scale into the normal range first (log2 may flush them).
  let lg = select(log2(ax), log2(ax * 16777216.0) - 24.0, ax < 1.17549435e-38);
  let r = exp2(y * lg);
  return select(r, -r, x < 0.0 && yOdd);
}`,
  },
  // Floor division, consistent with modI: the truncated quotient steps down when the remainder is
  // nonzero and the signs differ. b == -1 is -a (wrapping: WGSL leaves -2^31 / -1 to the driver).
  divI: {
    deps: [],
    code: `fn divI(a: i32, b: i32) -> i32 {
  if (b == 0) { return 0; }
  if (b == -1) { return 0 - a; }
  let q = a / b;
  if ((a % b) != 0 && ((a < 0) != (b < 0))) { return q - 1; }
  return q;
}`,
  },
  divU: { deps: [], code: `fn divU(a: u32, b: u32) -> u32 { if (b == 0u) { return 0u; } return a / b; }` },
  modI: {
    deps: [],
    code: `fn modI(a: i32, b: i32) -> i32 {
  if (b == 0 || b == -1) { return 0; }
  var r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) { r = r + b; }
  return r;
}`,
  },
  modU: { deps: [], code: `fn modU(a: u32, b: u32) -> u32 { if (b == 0u) { return 0u; } return a % b; }` },
  powI: {
    deps: [],
    code: `fn powI(base: i32, e0: i32) -> i32 {
  if (e0 < 0) {
    if (base == 1) { return 1; }
    if (base == -1) { return select(-1, 1, (e0 & 1) == 0); }
    return 0;
  }
  var r = 1;
  var b = base;
  var e = e0;
  while (e > 0) {
    if ((e & 1) == 1) { r = r * b; }
    b = b * b;
    e = e >> 1u;
  }
  return r;
}`,
  },
  powU: {
    deps: [],
    code: `fn powU(base: u32, e0: u32) -> u32 {
  var r = 1u;
  var b = base;
  var e = e0;
  while (e > 0u) {
    if ((e & 1u) == 1u) { r = r * b; }
    b = b * b;
    e = e >> 1u;
  }
  return r;
}`,
  },
  f2i: {
    deps: ['isNan'],
    code: `fn f2i(x: f32) -> i32 {
  if (isNan(x)) { return 0; }
  if (x >= 2147483648.0) { return 2147483647; }
  if (x <= -2147483648.0) { return bitcast<i32>(0x80000000u); }
  return i32(x);
}`,
  },
  f2u: {
    deps: ['isNan'],
    code: `fn f2u(x: f32) -> u32 {
  if (isNan(x) || x <= 0.0) { return 0u; }
  if (x >= 4294967296.0) { return 0xffffffffu; }
  return u32(x);
}`,
  },
};

/**
 * The library functions `names` need, in dependency order; `defined` ones (helpers a kernel
 * already declares, e.g. from wgsl.ts `helpers`) are left out.
 */
export function libCode(names: Set<string>, defined: readonly string[] = []): string {
  const out: string[] = [];
  const seen = new Set<string>(defined);
  const visit = (n: string) => {
    if (seen.has(n)) return;
    seen.add(n);
    for (const d of LIB[n].deps) visit(d);
    out.push(LIB[n].code);
  };
  for (const n of names) visit(n);
  return out.join('\n');
}
