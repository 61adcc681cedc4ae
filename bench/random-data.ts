/** Reproducible benchmark inputs: n floats uniform in [lo, hi) from a 32-bit LCG (no dependency, same on every run). */
export function rand(n: number, seed: number, lo = -0.5, hi = 0.5): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    a[i] = lo + (s / 4294967296) * (hi - lo);
  }
  return a;
}
