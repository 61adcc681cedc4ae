/**
 * The PRNG (src/random): determinism (same key → same numbers; different keys, split and foldIn
 * keys → different ones), the counter-based stream against known Threefry values, and the
 * distributions' moments on 100k samples (fixed keys, so these statistical tests are deterministic;
 * tolerances are ≥ 5 standard errors).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as wg from '../src/index.js';
import { bitsToUniform, threefry2x32 } from '../src/core/random/threefry.js';
import { runs, values } from './helpers/arbitrary.js';

beforeAll(async () => {
  await wg.init({ backend: 'cpu' });
});

const seedArb = fc.nat({ max: Number.MAX_SAFE_INTEGER });
const keyArb = seedArb.map((s) => wg.random.key(s));
const N = 100_000;

const moments = (xs: number[]) => {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length;
  return { mean, variance };
};

describe('keys', () => {
  it('key(seed) holds the seed as two uint32 words', () => {
    expect(wg.random.key(0)).toEqual([0, 0]);
    expect(wg.random.key(42)).toEqual([0, 42]);
    expect(wg.random.key(2 ** 32 + 5)).toEqual([1, 5]);
    expect(wg.random.key(Number.MAX_SAFE_INTEGER)).toEqual([2 ** 21 - 1, 2 ** 32 - 1]);
  });

  it('split and foldIn are deterministic, and their keys are distinct from each other and the parent', async () => {
    await fc.assert(
      fc.asyncProperty(keyArb, fc.integer({ min: 1, max: 16 }), async (k, n) => {
        const a = wg.random.split(k, n);
        expect(wg.random.split(k, n)).toEqual(a);
        // Key i does not depend on how many were asked for.
        expect(wg.random.split(k, n + 3).slice(0, n)).toEqual(a);
        const folded = Array.from({ length: n }, (_, i) => wg.random.foldIn(k, i));
        expect(Array.from({ length: n }, (_, i) => wg.random.foldIn(k, i))).toEqual(folded);
        const all = [k, ...a, ...folded].map((w) => w.join(':'));
        expect(new Set(all).size).toBe(all.length);
        for (const w of [...a, ...folded]) for (const v of w) expect(Number.isInteger(v) && v >= 0 && v < 2 ** 32).toBe(true);
        // Default split gives two keys; split(k, 0) none.
        expect(wg.random.split(k)).toEqual(a.length >= 2 ? a.slice(0, 2) : wg.random.split(k, 2));
        expect(wg.random.split(k, 0)).toEqual([]);
      }),
      runs(40),
    );
  });

  it('split keys follow threefry in counter domain 1, foldIn in domain 2', () => {
    const k = wg.random.key(1234);
    expect(wg.random.split(k, 3)).toEqual([0, 1, 2].map((i) => threefry2x32(k[0], k[1], i, 1)));
    expect(wg.random.foldIn(k, 7)).toEqual(threefry2x32(k[0], k[1], 7, 2));
    expect(wg.random.foldIn(k, -1)).toEqual(threefry2x32(k[0], k[1], 0xffffffff, 2));
  });
});

describe('the bit stream', () => {
  it('threefry2x32 known answers (Random123 test vectors, 20 rounds)', () => {
    expect(threefry2x32(0, 0, 0, 0)).toEqual([0x6b200159, 0x99ba4efe]);
    expect(threefry2x32(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff)).toEqual([0x1cb996fc, 0xbb002be7]);
    expect(threefry2x32(0x13198a2e, 0x03707344, 0x243f6a88, 0x85a308d3)).toEqual([0xc4923a9c, 0x483df7a0]);
  });

  it('bits: element i (row-major) is threefry2x32(k0, k1, i, 0)[0]', async () => {
    await fc.assert(
      fc.asyncProperty(keyArb, fc.array(fc.integer({ min: 1, max: 5 }), { maxLength: 3 }), async (k, shape) => {
        const b = wg.random.bits(k, shape);
        expect(b.dtype).toBe('uint32');
        expect(b.shape).toEqual(shape);
        const n = shape.reduce((a, d) => a * d, 1);
        expect(await values(b)).toEqual(Array.from({ length: n }, (_, i) => threefry2x32(k[0], k[1], i, 0)[0]));
      }),
      runs(30),
    );
    // The zero key's first word is the first known answer above.
    expect(await values(wg.random.bits([0, 0], [1]))).toEqual([0x6b200159]);
  });

  it('uniform is bitsToUniform of the same stream; counter based (prefixes and reshapes agree)', async () => {
    await fc.assert(
      fc.asyncProperty(keyArb, fc.integer({ min: 1, max: 40 }), async (k, n) => {
        const u = await values(wg.random.uniform(k, [n]));
        const b = await values(wg.random.bits(k, [n]));
        expect(u).toEqual(b.map(bitsToUniform));
        expect((await values(wg.random.uniform(k, [n + 7]))).slice(0, n)).toEqual(u);
        if (n % 2 === 0) expect(await values(wg.random.uniform(k, [2, n / 2]))).toEqual(u);
      }),
      runs(30),
    );
  });

  it('bitsToUniform keeps the top 23 bits: 0 ↦ 0, all ones ↦ 1 − 2⁻²³', () => {
    expect(bitsToUniform(0)).toBe(0);
    expect(bitsToUniform(0x1ff)).toBe(0);
    expect(bitsToUniform(0xffffffff)).toBe(1 - 2 ** -23);
    expect(bitsToUniform(0x80000000)).toBe(0.5);
  });
});

describe('determinism', () => {
  const draws: [string, (k: wg.Key) => wg.Tensor][] = [
    ['bits', (k) => wg.random.bits(k, [3, 4])],
    ['uniform', (k) => wg.random.uniform(k, [3, 4])],
    ['uniform [−2, 5)', (k) => wg.random.uniform(k, [7], { minval: -2, maxval: 5 })],
    ['normal', (k) => wg.random.normal(k, [3, 4])],
    ['normal (mean 3, stddev 0.5)', (k) => wg.random.normal(k, [9], { mean: 3, stddev: 0.5 })],
    ['bernoulli', (k) => wg.random.bernoulli(k, 0.5, [16])],
    ['randint', (k) => wg.random.randint(k, [12], -5, 1000)],
    ['permutation', (k) => wg.random.permutation(k, 12)],
  ];
  for (const [name, draw] of draws) {
    it(`${name}: same key → identical numbers; different keys → different numbers`, async () => {
      await fc.assert(
        fc.asyncProperty(seedArb, seedArb, async (s1, s2) => {
          fc.pre(s1 !== s2);
          const k1 = wg.random.key(s1), k2 = wg.random.key(s2);
          const a = await values(wg.tidy(() => draw(k1)));
          expect(await values(wg.tidy(() => draw(k1)))).toEqual(a);
          // Two different keys (or a key and its split) collide only with negligible probability.
          expect(await values(draw(k2))).not.toEqual(a);
          expect(await values(draw(wg.random.split(k1)[0]))).not.toEqual(a);
          expect(await values(draw(wg.random.foldIn(k1, 1)))).not.toEqual(a);
        }),
        runs(10),
      );
    });
  }
});

describe('distributions (100k samples, fixed keys)', () => {
  it('uniform: in [0, 1), mean ≈ 1/2, variance ≈ 1/12, flat histogram', async () => {
    const u = await values(wg.random.uniform(wg.random.key(1), [N]));
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    const { mean, variance } = moments(u);
    expect(Math.abs(mean - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / N));
    expect(Math.abs(variance - 1 / 12)).toBeLessThan(0.0015);
    // Ten bins: chi-square with 9 degrees of freedom far below its 1e-6 quantile (~46).
    const bins = new Array(10).fill(0);
    for (const v of u) bins[Math.floor(v * 10)]++;
    const chi2 = bins.reduce((s, c) => s + (c - N / 10) ** 2 / (N / 10), 0);
    expect(chi2).toBeLessThan(46);
  });

  it('uniform with minval/maxval stays in range', async () => {
    const u = await values(wg.random.uniform(wg.random.key(2), [10_000], { minval: -3, maxval: -1 }));
    expect(Math.min(...u)).toBeGreaterThanOrEqual(-3);
    expect(Math.max(...u)).toBeLessThanOrEqual(-1);
    expect(Math.abs(moments(u).mean + 2)).toBeLessThan(0.03);
  });

  it('normal: mean ≈ 0, std ≈ 1, about 68.27% within one std, kurtosis ≈ 3', async () => {
    const z = await values(wg.random.normal(wg.random.key(3), [N]));
    expect(z.every(Number.isFinite)).toBe(true);
    const { mean, variance } = moments(z);
    expect(Math.abs(mean)).toBeLessThan(5 / Math.sqrt(N));
    expect(Math.abs(Math.sqrt(variance) - 1)).toBeLessThan(5 / Math.sqrt(2 * N));
    const within = z.filter((v) => Math.abs(v) < 1).length / N;
    expect(Math.abs(within - 0.6827)).toBeLessThan(5 * Math.sqrt(0.6827 * 0.3173 / N));
    const kurtosis = z.reduce((s, v) => s + (v - mean) ** 4, 0) / N / variance ** 2;
    expect(Math.abs(kurtosis - 3)).toBeLessThan(0.1);
    const scaled = moments(await values(wg.random.normal(wg.random.key(3), [N], { mean: 10, stddev: 2 })));
    expect(Math.abs(scaled.mean - 10)).toBeLessThan(10 / Math.sqrt(N));
    expect(Math.abs(Math.sqrt(scaled.variance) - 2)).toBeLessThan(10 / Math.sqrt(2 * N));
  });

  it('split keys give uncorrelated streams', async () => {
    const [k1, k2] = wg.random.split(wg.random.key(4));
    const a = await values(wg.random.normal(k1, [N]));
    const b = await values(wg.random.normal(k2, [N]));
    const r = a.reduce((s, v, i) => s + v * b[i], 0) / N;
    expect(Math.abs(r)).toBeLessThan(5 / Math.sqrt(N));
  });

  it('bernoulli: frequency ≈ p (numbers and a broadcast tensor of probabilities); p = 0 and 1 exact', async () => {
    for (const [i, p] of [0.1, 0.5, 0.9].entries()) {
      const b = wg.random.bernoulli(wg.random.key(10 + i), p, [N]);
      expect(b.dtype).toBe('bool');
      const freq = (await values(b)).reduce((s, v) => s + v, 0) / N;
      expect(Math.abs(freq - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / N));
    }
    expect((await values(wg.random.bernoulli(wg.random.key(5), 0, [1000]))).every((v) => v === 0)).toBe(true);
    expect((await values(wg.random.bernoulli(wg.random.key(5), 1, [1000]))).every((v) => v === 1)).toBe(true);
    const probs = wg.tensor([0.2, 0.8]);
    const cols = await values(wg.random.bernoulli(wg.random.key(6), probs, [N / 2, 2]));
    const f0 = cols.filter((_, i) => i % 2 === 0).reduce((s, v) => s + v, 0) / (N / 2);
    const f1 = cols.filter((_, i) => i % 2 === 1).reduce((s, v) => s + v, 0) / (N / 2);
    expect(Math.abs(f0 - 0.2)).toBeLessThan(5 * Math.sqrt(0.16 / (N / 2)));
    expect(Math.abs(f1 - 0.8)).toBeLessThan(5 * Math.sqrt(0.16 / (N / 2)));
  });

  it('randint: integers in [low, high), every value hit, flat counts', async () => {
    const r = wg.random.randint(wg.random.key(7), [N], -3, 7);
    expect(r.dtype).toBe('int32');
    const v = await values(r);
    expect(v.every((x) => Number.isInteger(x) && x >= -3 && x < 7)).toBe(true);
    const counts = new Array(10).fill(0);
    for (const x of v) counts[x + 3]++;
    const chi2 = counts.reduce((s, c) => s + (c - N / 10) ** 2 / (N / 10), 0);
    expect(chi2).toBeLessThan(46);
  });

  it('randint property: any range, any key', async () => {
    await fc.assert(
      fc.asyncProperty(keyArb, fc.integer({ min: -1000, max: 1000 }), fc.integer({ min: 1, max: 5000 }), async (k, low, span) => {
        const v = await values(wg.random.randint(k, [64], low, low + span));
        expect(v.every((x) => Number.isInteger(x) && x >= low && x < low + span)).toBe(true);
      }),
      runs(30),
    );
  });

  it('permutation is a permutation of 0..n−1 (and not always the identity)', async () => {
    await fc.assert(
      fc.asyncProperty(keyArb, fc.integer({ min: 0, max: 64 }), async (k, n) => {
        const p = wg.random.permutation(k, n);
        expect(p.dtype).toBe('int32');
        expect(p.shape).toEqual([n]);
        const v = await values(p);
        expect([...v].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
      }),
      runs(40),
    );
    const big = await values(wg.random.permutation(wg.random.key(8), 50));
    expect(big).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
    // Each position is roughly uniform over values: the mean of p[0] over many keys ≈ (n − 1)/2.
    let total = 0;
    for (let s = 0; s < 400; s++) total += (await values(wg.random.permutation(wg.random.key(1000 + s), 9)))[0];
    expect(Math.abs(total / 400 - 4)).toBeLessThan(5 * Math.sqrt(6.67 / 400));
  });
});
