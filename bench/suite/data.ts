/**
 * Host-side data shared by both libraries (so that their results can be compared): a seeded PRNG,
 * He-initialized weights, and layout conversions between wgrad (NCHW, conv weights OIHW) and
 * TF.js (NHWC, conv weights HWIO).
 */

/** The seeded host PRNG (mulberry32) that wgrad's gradient checker uses too. */
import { mulberry32 as rng } from '../../src/core/random/mulberry.js';
export { rng };

export function uniform(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

export function normal(n: number, seed: number, std = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(r(), 1e-12), v = r();
    const m = Math.sqrt(-2 * Math.log(u)) * std;
    out[i] = m * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = m * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/** He-normal weights for a layer with `fanIn` inputs. */
export const he = (n: number, fanIn: number, seed: number) => normal(n, seed, Math.sqrt(2 / fanIn));

/** Random class labels in [0, k). */
export function labels(n: number, k: number, seed: number): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: n }, () => Math.floor(r() * k));
}

/** One-hot rows [n, k]. */
export function oneHot(y: Int32Array, k: number): Float32Array {
  const out = new Float32Array(y.length * k);
  y.forEach((c, i) => (out[i * k + c] = 1));
  return out;
}

/** [N, C, H, W] → [N, H, W, C]. */
export function nchwToNhwc(x: ArrayLike<number>, n: number, c: number, h: number, w: number): Float32Array {
  const out = new Float32Array(n * c * h * w);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let i = 0; i < h; i++)
        for (let j = 0; j < w; j++) out[((b * h + i) * w + j) * c + ch] = x[((b * c + ch) * h + i) * w + j];
  return out;
}

/** [N, H, W, C] → [N, C, H, W]. */
export function nhwcToNchw(x: ArrayLike<number>, n: number, c: number, h: number, w: number): Float32Array {
  const out = new Float32Array(n * c * h * w);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let i = 0; i < h; i++)
        for (let j = 0; j < w; j++) out[((b * c + ch) * h + i) * w + j] = x[((b * h + i) * w + j) * c + ch];
  return out;
}

/** Conv weights [O, I, kh, kw] → [kh, kw, I, O]. */
export function oihwToHwio(x: ArrayLike<number>, o: number, i: number, kh: number, kw: number): Float32Array {
  const out = new Float32Array(o * i * kh * kw);
  for (let a = 0; a < o; a++)
    for (let b = 0; b < i; b++)
      for (let y = 0; y < kh; y++)
        for (let z = 0; z < kw; z++) out[((y * kw + z) * i + b) * o + a] = x[((a * i + b) * kh + y) * kw + z];
  return out;
}

/** Conv weights [kh, kw, I, O] → [O, I, kh, kw]. */
export function hwioToOihw(x: ArrayLike<number>, o: number, i: number, kh: number, kw: number): Float32Array {
  const out = new Float32Array(o * i * kh * kw);
  for (let a = 0; a < o; a++)
    for (let b = 0; b < i; b++)
      for (let y = 0; y < kh; y++)
        for (let z = 0; z < kw; z++) out[((a * i + b) * kh + y) * kw + z] = x[((y * kw + z) * i + b) * o + a];
  return out;
}

/**
 * The first dense layer after a flatten: rows indexed (c, h, w) for wgrad's NCHW flatten become
 * rows indexed (h, w, c) for TF.js's NHWC flatten. `x` is [c·h·w, out].
 */
export function flattenRowsChwToHwc(x: ArrayLike<number>, c: number, h: number, w: number, out: number): Float32Array {
  const r = new Float32Array(c * h * w * out);
  for (let ch = 0; ch < c; ch++)
    for (let i = 0; i < h; i++)
      for (let j = 0; j < w; j++) {
        const src = ((ch * h + i) * w + j) * out, dst = ((i * w + j) * c + ch) * out;
        for (let k = 0; k < out; k++) r[dst + k] = x[src + k];
      }
  return r;
}

export function concatArrays(parts: ArrayLike<number>[]): Float32Array {
  const n = parts.reduce((s, p) => s + p.length, 0);
  const out = new Float32Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p as ArrayLike<number>, o);
    o += p.length;
  }
  return out;
}
