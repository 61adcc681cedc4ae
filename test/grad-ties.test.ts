/**
 * Gradients at ties, on generated inputs drawn from a few values (so ties are everywhere), checked
 * exactly against a host computation of the documented split:
 * - maximum/minimum: a tie gives each operand half of the cotangent (broadcast operands sum it);
 * - max/min reductions: the cotangent is shared evenly by every entry equal to the extremum;
 * - maxPool2d: every geometry (non-overlapping tiles, overlapping or padded windows) shares the
 *   cotangent of a window evenly between its tied entries, as the max reduction does (three tied
 *   entries get ⅓ each; a chain of `maximum` would give ½, ¼, ¼).
 * Cotangents are dyadic (±½, ±1, ±1.5, 2, 3), so every expected sum is exact in float32; maxPool2d's
 * are also multiplied by 2520 = lcm(1, …, 9), so that any share of a 3×3 window is exact too.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import * as wg from '../src/index.js';
import { axesArb, broadcast, broadcastShapesArb, numel, poolGeometryArb, runs, shapeArb, type Shape } from './helpers/arbitrary.js';

beforeAll(async () => {
  await wg.init({ backend: 'cpu' });
});

const tiedValues = (n: number) => fc.array(fc.constantFrom(-1, 0, 0, 1), { minLength: n, maxLength: n });
const dyadic = (n: number) => fc.array(fc.constantFrom(-2, -1, -0.5, 0.5, 1, 1.5, 2, 3), { minLength: n, maxLength: n });
const strides = (s: Shape) => s.map((_, i) => numel(s.slice(i + 1)));
const unravel = (flat: number, s: Shape) => s.map((d, i) => Math.floor(flat / numel(s.slice(i + 1))) % d);
/** Flat index into `s` of the broadcast position `pos` of a result of rank pos.length. */
function broadcastIndex(pos: number[], s: Shape): number {
  const lead = pos.length - s.length;
  const st = strides(s);
  return s.reduce((acc, d, i) => acc + (d === 1 ? 0 : pos[lead + i] * st[i]), 0);
}
const f32 = (data: number[], shape: Shape) => wg.tensor(Float32Array.from(data), { shape });
const read = async (t: wg.Tensor) => Array.from((await t.data()) as Float32Array, (g) => g + 0); // + 0: −0 → 0

describe('maximum / minimum split ties evenly', () => {
  for (const [name, op, wins] of [
    ['maximum', wg.maximum, (a: number, b: number) => a > b],
    ['minimum', wg.minimum, (a: number, b: number) => a < b],
  ] as const) {
    it(`${name}: exact gradients of both broadcast operands`, async () => {
      const arb = broadcastShapesArb(2).chain(([sa, sb]) => {
        const out = broadcast(sa, sb);
        return fc.tuple(fc.constant(sa), fc.constant(sb), tiedValues(numel(sa)), tiedValues(numel(sb)), dyadic(numel(out)));
      });
      await fc.assert(
        fc.asyncProperty(arb, async ([sa, sb, a, b, v]) => {
          const out = broadcast(sa, sb);
          const ga = new Array<number>(a.length).fill(0);
          const gb = new Array<number>(b.length).fill(0);
          for (let q = 0; q < numel(out); q++) {
            const pos = unravel(q, out);
            const ia = broadcastIndex(pos, sa), ib = broadcastIndex(pos, sb);
            const wa = wins(a[ia], b[ib]) ? 1 : a[ia] === b[ib] ? 0.5 : 0;
            ga[ia] += v[q] * wa;
            gb[ib] += v[q] * (1 - wa);
          }
          const [gotA, gotB] = wg.grad((x: wg.Tensor, y: wg.Tensor) => wg.sum(wg.mul(op(x, y), f32(v, out))), { argnums: [0, 1] })(f32(a, sa), f32(b, sb));
          expect(await read(gotA)).toEqual(ga.map((g) => g + 0));
          expect(await read(gotB)).toEqual(gb.map((g) => g + 0));
        }),
        runs(40),
      );
    });
  }
});

describe('max / min reductions share the cotangent between tied extrema', () => {
  for (const [name, op, pick] of [['max', wg.max, Math.max], ['min', wg.min, Math.min]] as const) {
    it(`${name} over random axes (keepdims or not)`, async () => {
      const arb = shapeArb({ minRank: 1, maxRank: 3, maxDim: 4 }).chain((s) =>
        fc.tuple(fc.constant(s), tiedValues(numel(s)), axesArb(s.length, { minLength: 1 }), fc.boolean(), dyadic(numel(s))),
      );
      await fc.assert(
        fc.asyncProperty(arb, async ([s, x, axesIn, keepdims, vAll]) => {
          const axes = axesIn.map((a) => (a < 0 ? a + s.length : a));
          const kept = s.map((d, i) => (axes.includes(i) ? 1 : d));
          const outShape = keepdims ? kept : s.filter((_, i) => !axes.includes(i));
          const v = vAll.slice(0, numel(kept));
          // Host: each lane's extremum, its tie count, then each hit gets fround(v / count).
          const lane = (q: number) => broadcastIndex(unravel(q, s), kept);
          const ext = new Array<number>(numel(kept)).fill(NaN);
          const count = new Array<number>(numel(kept)).fill(0);
          x.forEach((xi, q) => (ext[lane(q)] = Number.isNaN(ext[lane(q)]) ? xi : pick(ext[lane(q)], xi)));
          x.forEach((xi, q) => { if (xi === ext[lane(q)]) count[lane(q)]++; });
          const want = x.map((xi, q) => (xi === ext[lane(q)] ? Math.fround(v[lane(q)] / count[lane(q)]) : 0) + 0);
          const g = wg.grad((t: wg.Tensor) => wg.sum(wg.mul(op(t, axesIn, { keepdims }), f32(v, outShape))))(f32(x, s));
          expect(await read(g)).toEqual(want);
        }),
        runs(40),
      );
    });
  }
});

describe('maxPool2d at ties', () => {
  /** Host gradient of Σ v ⊙ maxPool2d(x) for one [n, c, h, w] input: each window's ties share evenly. */
  function hostMaxPoolGrad(x: number[], [n, c, h, w]: Shape, k: [number, number], s: [number, number], p: [number, number], v: number[]): number[] {
    const ho = Math.floor((h + 2 * p[0] - k[0]) / s[0]) + 1;
    const wo = Math.floor((w + 2 * p[1] - k[1]) / s[1]) + 1;
    const gx = new Array<number>(x.length).fill(0);
    for (let b = 0; b < n * c; b++) {
      for (let oy = 0; oy < ho; oy++) {
        for (let ox = 0; ox < wo; ox++) {
          const g = v[(b * ho + oy) * wo + ox];
          // The window's entries; padded positions hold −∞ (never a maximum of these inputs).
          const win: [number, number][] = [];
          for (let i = 0; i < k[0]; i++) {
            for (let j = 0; j < k[1]; j++) {
              const y = oy * s[0] + i - p[0], xx = ox * s[1] + j - p[1];
              const inside = y >= 0 && y < h && xx >= 0 && xx < w;
              win.push(inside ? [x[(b * h + y) * w + xx], (b * h + y) * w + xx] : [-Infinity, -1]);
            }
          }
          const m = Math.max(...win.map(([val]) => val));
          const hits = win.filter(([val]) => val === m);
          for (const [, idx] of hits) gx[idx] += Math.fround(g / hits.length);
        }
      }
    }
    return gx.map((g) => g + 0);
  }

  const poolArb = poolGeometryArb({ maxSize: 6, maxStride: 3 })
    .chain((r) => fc.tuple(fc.constant(r), tiedValues(r.n * r.c * r.h * r.w), dyadic(r.n * r.c * (r.h + 2) * (r.w + 2))));

  it('random geometries (tiles and overlapping or padded windows) with tied inputs', async () => {
    await fc.assert(
      fc.asyncProperty(poolArb, async ([r, x, vAll]) => {
        const opts = { kernel: r.k, stride: r.s, padding: r.p };
        const shape = [r.n, r.c, r.h, r.w];
        const y = wg.nn.maxPool2d(f32(x, shape), opts);
        const v = vAll.slice(0, y.size).map((d) => d * 2520);
        const g = wg.grad((t: wg.Tensor) => wg.sum(wg.mul(wg.nn.maxPool2d(t, opts), f32(v, [...y.shape]))))(f32(x, shape));
        expect(await read(g)).toEqual(hostMaxPoolGrad(x, shape, r.k, r.s ?? r.k, r.p, v));
      }),
      runs(40),
    );
  });

  it('a 2×2 tile of four equal values gives each a quarter; three tied entries get a third on every path', async () => {
    const tile = wg.grad((t: wg.Tensor) => wg.sum(wg.nn.maxPool2d(t, { kernel: [2, 2] })))(f32([5, 5, 5, 5], [1, 1, 2, 2]));
    expect(await read(tile)).toEqual([0.25, 0.25, 0.25, 0.25]);
    const third = Math.fround(1 / 3);
    const three = f32([5, 5, 5], [1, 1, 1, 3]);
    for (const opts of [{ kernel: [1, 3] }, { kernel: [1, 3], stride: [1, 1] }, { kernel: [1, 3], stride: [1, 2] }] as Parameters<typeof wg.nn.maxPool2d>[1][]) {
      const g = wg.grad((t: wg.Tensor) => wg.sum(wg.nn.maxPool2d(t, opts)))(three);
      expect(await read(g), JSON.stringify(opts)).toEqual([third, third, third]);
    }
    // kernel 2, stride 1 over [5, 5, 5]: windows (5, 5) and (5, 5), each split in halves.
    const pairs = wg.grad((t: wg.Tensor) => wg.sum(wg.nn.maxPool2d(t, { kernel: [1, 2], stride: [1, 1] })))(three);
    expect(await read(pairs)).toEqual([0.5, 1, 0.5]);
    // kernel 3, padding 1 over [5, 5]: windows (−∞, 5, 5) and (5, 5, −∞), halves again.
    const padded = wg.grad((t: wg.Tensor) => wg.sum(wg.nn.maxPool2d(t, { kernel: [1, 3], stride: [1, 1], padding: [0, 1] })))(f32([5, 5], [1, 1, 1, 2]));
    expect(await read(padded)).toEqual([1, 1]);
  });
});
