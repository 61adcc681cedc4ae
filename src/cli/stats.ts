/**
 * The statistics of the pre-registered study (docs/results.md, Part 1): mean and sample standard
 * deviation over seeds, Student's t quantile (computed from the t distribution's CDF, so any number
 * of seeds n ≥ 2 works, not a table), the two-sided interval of a mean paired difference and the
 * decision rule that turns it into a verdict. Plain numbers, no tensors.
 */

/** The arithmetic mean (NaN for no values). */
export function mean(xs: readonly number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN;
}

/** The sample standard deviation (n − 1 in the denominator, as NumPy's std(ddof=1)); NaN below two values. */
export function sampleSd(xs: readonly number[]): number {
  if (xs.length < 2) return Number.NaN;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}

/** ln Γ(x) for x > 0 (Lanczos, g = 7, nine coefficients: about 15 significant digits). */
function logGamma(x: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let a = c[0];
  for (let i = 1; i < 9; i++) a += c[i] / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** The continued fraction of the incomplete beta function (modified Lentz). */
function betaFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  let c = 1, d = 1 - ((a + b) * x) / (a + 1);
  d = 1 / (Math.abs(d) < tiny ? tiny : d);
  let h = d;
  for (let m = 1; m <= 300; m++) {
    for (const num of [(m * (b - m) * x) / ((a + 2 * m - 1) * (a + 2 * m)), (-(a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1))]) {
      d = 1 + num * d;
      d = 1 / (Math.abs(d) < tiny ? tiny : d);
      c = 1 + num / c;
      if (Math.abs(c) < tiny) c = tiny;
      h *= d * c;
    }
    if (Math.abs(d * c - 1) < 1e-15) break;
  }
  return h;
}

/** The regularized incomplete beta function I_x(a, b). */
function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  // The fraction converges fast on this side of the mean; use the symmetry I_x(a, b) = 1 − I_{1−x}(b, a) on the other.
  return x < (a + 1) / (a + b + 2) ? (front * betaFraction(a, b, x)) / a : 1 - (front * betaFraction(b, a, 1 - x)) / b;
}

/** P(T ≤ t) for Student's t with `df` degrees of freedom. */
export function tCdf(t: number, df: number): number {
  const tail = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

/** The p-quantile of Student's t with `df` > 0 degrees of freedom (0 < p < 1), by bisection on the CDF. */
export function tQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`tQuantile: p must be in (0, 1), got ${p}`);
  if (!(df > 0)) throw new RangeError(`tQuantile: df must be > 0, got ${df}`);
  if (p < 0.5) return -tQuantile(1 - p, df);
  let lo = 0, hi = 1;
  while (tCdf(hi, df) < p) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-13 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (tCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** The mean paired difference over seeds and its two-sided Student-t interval. */
export interface PairedInterval {
  n: number;
  mean: number;
  sd: number;
  /** t_{1−(1−level)/2, n−1}; NaN below two seeds. */
  t: number;
  lo: number;
  hi: number;
  level: number;
}

/** mean(d) ± t_{(1+level)/2, n−1} · sd(d)/√n (docs/results.md's statistic); lo = hi = NaN below two differences. */
export function pairedInterval(d: readonly number[], level = 0.95): PairedInterval {
  const n = d.length, m = mean(d), sd = sampleSd(d);
  if (n < 2) return { n, mean: m, sd, t: Number.NaN, lo: Number.NaN, hi: Number.NaN, level };
  const t = tQuantile((1 + level) / 2, n - 1);
  const half = (t * sd) / Math.sqrt(n);
  return { n, mean: m, sd, t, lo: m - half, hi: m + half, level };
}

export type Verdict = 'holds' | 'contradicted' | 'not shown';

/**
 * The decision rule: "holds" where the interval's lower end is above 0, "contradicted" where its
 * upper end is below 0, otherwise (an interval containing 0, or none: fewer than two seeds) "not shown".
 */
export function verdict(i: PairedInterval): Verdict {
  if (i.lo > 0) return 'holds';
  if (i.hi < 0) return 'contradicted';
  return 'not shown';
}
