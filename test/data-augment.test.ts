/**
 * Batched augmentations: shapes, range [0, 1], determinism under a key, per-sample independence
 * (identical images get different augmentations; sample i depends only on key, i and x[i]), exact
 * crop/resample and colour formulas, gradients; CPU backend, then WebGPU against CPU when available.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { init, memoryStats } from '../src/init.js';
import { init as nodeInit } from '../src/node.js';
import * as data from '../src/data/index.js';
import * as random from '../src/random/random.js';
import { checkGrads } from '../src/autograd/check.js';
import { grad } from '../src/autograd/transforms.js';
import { sum } from '../src/tensor/ops/reduce.js';
import { fromStorageArray } from '../src/tensor/engine.js';
import { full, tensor } from '../src/tensor/ops/creation.js';
import { broadcastTo, slice } from '../src/tensor/ops/movement.js';

import { mul } from '../src/tensor/ops/elementwise.js';
import { dispose, tidy } from '../src/tensor/scope.js';
import type { Tensor } from '../src/tensor/tensor.js';
import { skipUnlessCi } from './helpers/ci.js';

beforeAll(async () => {
  await init({ backend: 'cpu' });
});

/** A deterministic batch [n, c, h, w] of values in [0, 1] with structure (gradients + noise). */
function images(n: number, c: number, h: number, w: number, seed = 1): Tensor {
  const v = Float32Array.from({ length: n * c * h * w }, (_, i) => {
    const r = Math.sin(seed * 12.9898 + i * 78.233) * 43758.5453;
    return Math.min(1, Math.max(0, 0.5 * (r - Math.floor(r)) + 0.5 * (((i % w) / w + Math.floor(i / w) % h / h) / 2)));
  });
  return fromStorageArray(v, [n, c, h, w], 'float32');
}

/** The same image repeated n times. */
function repeated(n: number, c: number, h: number, w: number): Tensor {
  return tidy(() => mul(broadcastTo(images(1, c, h, w, 7), [n, c, h, w]), 1));
}

const per = (t: Tensor, d: ArrayLike<number>) => {
  const size = t.size / t.shape[0];
  return Array.from({ length: t.shape[0] }, (_, i) => Array.from(d).slice(i * size, (i + 1) * size));
};
const f32 = async (t: Tensor) => (await t.data()) as Float32Array;
/** Reads a result and disposes it. */
const take = async (t: Tensor) => {
  const d = await f32(t);
  t.dispose();
  return d;
};

async function expectInUnitRange(t: Tensor, tol = 1e-6) {
  const d = await t.data();
  let lo = Infinity, hi = -Infinity;
  for (const v of d) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  expect(lo).toBeGreaterThanOrEqual(-tol);
  expect(hi).toBeLessThanOrEqual(1 + tol);
  expect(d.every(Number.isFinite)).toBe(true);
}

type Aug = [string, (k: random.Key, x: Tensor) => Tensor];
const augs: Aug[] = [
  ['randomResizedCrop', (k, x) => data.randomResizedCrop(k, x)],
  ['randomResizedCrop to 8×6', (k, x) => data.randomResizedCrop(k, x, { size: [8, 6] })],
  ['randomHorizontalFlip', (k, x) => data.randomHorizontalFlip(k, x)],
  ['colorJitter', (k, x) => data.colorJitter(k, x)],
  ['randomGrayscale', (k, x) => data.randomGrayscale(k, x, { p: 0.5 })],
  ['gaussianNoise', (k, x) => data.gaussianNoise(k, x, { std: 0.1 })],
  ['simclrAugment', (k, x) => data.simclrAugment(k, x)],
];

describe('augmentations (common properties)', () => {
  it.each(augs)('%s: shape, range, determinism, independence, no leaks', async (name, f) => {
    const n = 12;
    const x = repeated(n, 3, 12, 10);
    const k = random.key(5);
    f(k, x).dispose(); // warm the scalar-constant cache
    const before = memoryStats().tensors;
    const y = f(k, x);
    expect(memoryStats().tensors).toBe(before + 1);
    const wantShape = name.includes('8×6') ? [n, 3, 8, 6] : [n, 3, 12, 10];
    expect(y.shape).toEqual(wantShape);
    expect(y.dtype).toBe('float32');
    await expectInUnitRange(y);
    const d = await y.data();
    // Determinism: same key, same bits; another key, another result.
    const y2 = f(k, x);
    expect(Array.from(await y2.data())).toEqual(Array.from(d));
    const y3 = f(random.key(6), x);
    expect(Array.from(await y3.data())).not.toEqual(Array.from(d));
    // Independence: identical inputs get different augmentations.
    const distinct = new Set(per(y, d).map((s) => s.join(','))).size;
    expect(distinct).toBeGreaterThan(1);
    // Sample i depends only on (key, i, x[i]): a prefix of the batch gives the prefix of the output.
    const xs = slice(x, [{ stop: 5 }]);
    const ys = f(k, xs);
    expect(Array.from(await ys.data())).toEqual(Array.from(d.subarray(0, ys.size)));
    dispose([x, y, y2, y3, xs, ys]);
    expect(memoryStats().tensors).toBe(before - 1);
  });
});

describe('crops', () => {
  it('full-image crop is the identity; a box is resampled bilinearly', async () => {
    const x = images(2, 3, 6, 5);
    const id = data.randomResizedCrop(random.key(1), x, { scale: [1, 1], ratio: [5 / 6, 5 / 6] });
    expect(Array.from(await id.data())).toEqual(Array.from(await x.data()));
    // An integer box resized to its own size is the slice.
    const box = { top: tensor([1, 0]), left: tensor([2, 1]), height: tensor([2, 2]), width: tensor([2, 2]) };
    const crop = data.cropAndResize(x, box, 2, 2);
    const xd = await x.array() as number[][][][];
    const cd = await crop.array() as number[][][][];
    for (let c = 0; c < 3; c++) {
      expect(cd[0][c]).toEqual([[xd[0][c][1][2], xd[0][c][1][3]], [xd[0][c][2][2], xd[0][c][2][3]]]);
      expect(cd[1][c]).toEqual([[xd[1][c][0][1], xd[1][c][0][2]], [xd[1][c][1][1], xd[1][c][1][2]]]);
    }
    // Upsampling a horizontal ramp 0, 1, 2, 3 (width 4) ×2 with half-pixel centres.
    const ramp = fromStorageArray(Float32Array.from([0, 1, 2, 3]), [1, 1, 1, 4], 'float32');
    const up = data.cropAndResize(ramp, { top: tensor([0]), left: tensor([0]), height: tensor([1]), width: tensor([4]) }, 1, 8);
    const got = Array.from(await up.data());
    [0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3].forEach((v, i) => expect(got[i]).toBeCloseTo(v, 6));
    dispose([x, id, box, crop, ramp, up]);
  });

  it('boxes follow torchvision: integer, inside the image, area and ratio in range', async () => {
    const [h, w] = [32, 24];
    const b = data.sampleCropBoxes(random.key(9), 500, h, w, { scale: [0.08, 1], ratio: [3 / 4, 4 / 3] });
    const [top, left, bh, bw] = await Promise.all([b.top.data(), b.left.data(), b.height.data(), b.width.data()]);
    let small = 0;
    for (let i = 0; i < 500; i++) {
      for (const v of [top[i], left[i], bh[i], bw[i]]) expect(Number.isInteger(v)).toBe(true);
      expect(bh[i]).toBeGreaterThan(0);
      expect(bw[i]).toBeGreaterThan(0);
      expect(top[i] + bh[i]).toBeLessThanOrEqual(h);
      expect(left[i] + bw[i]).toBeLessThanOrEqual(w);
      const area = (bh[i] * bw[i]) / (h * w);
      expect(area).toBeGreaterThan(0.05);
      expect(bw[i] / bh[i]).toBeGreaterThan(0.6);
      expect(bw[i] / bh[i]).toBeLessThan(1.6);
      if (area < 0.5) small++;
    }
    expect(small).toBeGreaterThan(200); // area ~ U(0.08, 1): about half below 0.5
    // No attempt can fit: torchvision's central-crop fallback.
    const f = data.sampleCropBoxes(random.key(1), 3, 10, 40, { scale: [1, 1], ratio: [1, 1] });
    expect(Array.from(await f.width.data())).toEqual([10, 10, 10]);
    expect(Array.from(await f.left.data())).toEqual([15, 15, 15]);
    dispose([b, f]);
  });

  it('gradients flow through crop, flip and grayscale', async () => {
    const x = images(2, 3, 5, 4);
    const k = random.key(3);
    await checkGrads((t) => data.simclrAugment(k, t, { colorJitter: false, grayscale: { p: 0.5 }, crop: { scale: [0.3, 0.8] } }), [x]);
    x.dispose();
  });
});

describe('gradients of the composed augmentations', () => {
  /** RGB pixels in [0.25, 0.75] whose channels differ by ≥ 0.1 (no ties for hue's max/min branches). */
  function distinctRgb(n: number, h: number, w: number): Tensor {
    const px = h * w;
    const v = new Float32Array(n * 3 * px);
    for (let s = 0; s < n; s++) {
      for (let q = 0; q < px; q++) {
        const base = 0.25 + 0.3 * (((s * px + q) * 0.618) % 1);
        const order = [[0, 1, 2], [1, 2, 0], [2, 0, 1], [0, 2, 1], [1, 0, 2], [2, 1, 0]][(s * px + q) % 6];
        order.forEach((c, rank) => (v[(s * 3 + c) * px + q] = base + 0.1 * rank));
      }
    }
    return fromStorageArray(v, [n, 3, h, w], 'float32');
  }

  it('cropAndResize: gradients in the images and in the (non-integer) box coordinates', async () => {
    const x = images(2, 2, 5, 6);
    // Box edges and sample coordinates away from integers (the tent weights' kinks) and from the clamps' ties.
    const box = [tensor([1.3, 0.45]), tensor([0.7, 1.15]), tensor([2.6, 3.35]), tensor([3.4, 2.7])];
    await checkGrads((t, top, left, height, width) => data.cropAndResize(t, { top, left, height, width }, 3, 4), [x, ...box]);
    dispose([x, ...box]);
  });

  it('colour adjustments: gradients in the images and the per-sample factors (inside the clamp)', async () => {
    const x = distinctRgb(2, 3, 2);
    const f = tensor([0.85, 1.15]);
    await checkGrads((t, s) => data.adjustBrightness(t, s), [x, f]);
    await checkGrads((t, s) => data.adjustContrast(t, s), [x, f]);
    await checkGrads((t, s) => data.adjustSaturation(t, s), [x, f]);
    await checkGrads((t, s) => data.adjustHue(t, s), [x, tensor([0.03, -0.04])]);
    await checkGrads((t) => data.rgbToGrayscale(t), [x]);
    dispose([x, f]);
  });

  it('gaussianNoise with a fixed key: identity gradient inside the clamp, zero where it clips', async () => {
    const k = random.key(11);
    const x = distinctRgb(2, 3, 3);
    await checkGrads((t) => data.gaussianNoise(k, t, { std: 0.05 }), [x]);
    await checkGrads((t) => data.gaussianNoise(k, t, { std: 0.5, clip: false }), [x]);
    // With a large std some pixels clip: their gradient is 0, the others' 1.
    const g = await grad((t: Tensor) => sum(data.gaussianNoise(k, t, { std: 0.5 })))(x).data();
    const y = await data.gaussianNoise(k, x, { std: 0.5 }).data();
    y.forEach((v, i) => expect(g[i]).toBe(v > 0 && v < 1 ? 1 : 0));
    expect(Array.from(g).some((v) => v === 0)).toBe(true);
    x.dispose();
  });
});

describe('flip, grayscale, colour', () => {
  it('flips about half of the samples, each exactly mirrored', async () => {
    const n = 200;
    const x = images(n, 1, 2, 3);
    const y = data.randomHorizontalFlip(random.key(2), x);
    const xd = per(x, await x.data()), yd = per(y, await y.data());
    let flipped = 0;
    for (let i = 0; i < n; i++) {
      const mirrored = [xd[i][2], xd[i][1], xd[i][0], xd[i][5], xd[i][4], xd[i][3]];
      if (yd[i].join() === xd[i].join()) continue;
      expect(yd[i]).toEqual(mirrored);
      flipped++;
    }
    expect(flipped).toBeGreaterThan(70);
    expect(flipped).toBeLessThan(130);
    dispose([x, y]);
  });

  it('grayscale: luma weights, with probability p', async () => {
    const x = images(100, 3, 2, 2);
    const g = data.randomGrayscale(random.key(4), x, { p: 0.2 });
    const xd = per(x, await x.data()), gd = per(g, await g.data());
    let gray = 0;
    for (let i = 0; i < 100; i++) {
      if (gd[i].join() === xd[i].join()) continue;
      gray++;
      for (let p = 0; p < 4; p++) {
        const l = 0.2989 * xd[i][p] + 0.587 * xd[i][4 + p] + 0.114 * xd[i][8 + p];
        for (let c = 0; c < 3; c++) expect(gd[i][c * 4 + p]).toBeCloseTo(l, 6);
      }
    }
    expect(gray).toBeGreaterThan(8);
    expect(gray).toBeLessThan(35);
    dispose([x, g]);
  });

  it('brightness, contrast, saturation and hue match their formulas', async () => {
    const x = images(3, 3, 4, 4, 3);
    const xd = await x.data();
    const f = tensor([0.5, 1, 1.5]);
    const b = await take(data.adjustBrightness(x, f));
    for (let i = 0; i < xd.length; i++) expect(b[i]).toBeCloseTo(Math.min(1, xd[i] * [0.5, 1, 1.5][Math.floor(i / 48)]), 6);
    const s0 = await take(data.adjustSaturation(x, 0));
    const g = await take(data.rgbToGrayscale(x));
    for (let i = 0; i < xd.length; i++) expect(s0[i]).toBeCloseTo(g[Math.floor(i / 48) * 16 + (i % 16)], 6);
    const c0 = await take(data.adjustContrast(x, 0));
    const m = (n: number) => g.subarray(n * 16, n * 16 + 16).reduce((a, v) => a + v, 0) / 16;
    for (let i = 0; i < xd.length; i++) expect(c0[i]).toBeCloseTo(m(Math.floor(i / 48)), 5);
    // Hue: shift 0 is the identity; a host HSV rotation agrees for any shift.
    const h0 = await take(data.adjustHue(x, 0));
    for (let i = 0; i < xd.length; i++) expect(h0[i]).toBeCloseTo(xd[i], 5);
    const shifts = [0.1, -0.3, 0.45];
    const shiftT = tensor(shifts);
    const h = await take(data.adjustHue(x, shiftT));
    for (let n = 0; n < 3; n++) {
      for (let p = 0; p < 16; p++) {
        const at = (c: number) => n * 48 + c * 16 + p;
        const want = hostHue([xd[at(0)], xd[at(1)], xd[at(2)]], shifts[n]);
        for (let c = 0; c < 3; c++) expect(h[at(c)]).toBeCloseTo(want[c], 5);
      }
    }
    // Pure red rotated by 1/3 turn is pure green.
    const red = fromStorageArray(Float32Array.from([1, 0, 0]), [1, 3, 1, 1], 'float32');
    const green = await take(data.adjustHue(red, 1 / 3));
    expect(Array.from(green).map((v) => Math.round(v * 1e5) / 1e5)).toEqual([0, 1, 0]);
    dispose([x, f, red, shiftT]);
  });

  it('colour jitter: p = 0 is the identity; 1-channel images skip saturation and hue', async () => {
    const x = images(4, 3, 3, 3);
    const id = data.colorJitter(random.key(1), x, { p: 0 });
    expect(Array.from(await id.data())).toEqual(Array.from(await x.data()));
    const fixed = data.colorJitter(random.key(1), x, { randomOrder: false, brightness: [1.2, 1.2], contrast: 0, saturation: 0, hue: 0 });
    const want = data.adjustBrightness(x, 1.2);
    expect(Array.from(await fixed.data())).toEqual(Array.from(await want.data()));
    const gray = images(4, 1, 3, 3);
    const j = data.colorJitter(random.key(2), gray);
    expect(j.shape).toEqual([4, 1, 3, 3]);
    await expectInUnitRange(j);
    expect(() => data.colorJitter(random.key(1), x, { hue: 0.7 })).toThrow(/bad hue range/);
    dispose([x, id, fixed, want, gray, j]);
  });

  it('rejects non-batches', () => {
    const t = full([3, 4], 0.5);
    expect(() => data.simclrAugment(random.key(0), t)).toThrow(/expected a float32 batch \[N, C, H, W\], got float32 \[3, 4\]/);
    t.dispose();
  });
});

describe('WebGPU', () => {
  it('simclrAugment on WebGPU gives the CPU result', async (ctx) => {
    const x = images(8, 3, 16, 16);
    const xd = await f32(x);
    const k = random.key(77);
    const cpuOut = data.simclrAugment(k, x);
    const want = await cpuOut.data();
    dispose([x, cpuOut]);
    try {
      await nodeInit({ backend: 'webgpu' });
    } catch (e) {
      skipUnlessCi(ctx, `no WebGPU adapter: ${(e as Error).message}`);
    }
    try {
      const gx = fromStorageArray(xd, [8, 3, 16, 16], 'float32');
      const out = data.simclrAugment(k, gx);
      const got = await out.data();
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
      expect(worst).toBeLessThan(1e-4);
      await expectInUnitRange(out);
      dispose([gx, out]);
    } finally {
      await init({ backend: 'cpu' });
    }
  });
});

/** torchvision's adjust_hue on one pixel, via HSV (colorsys-style). */
function hostHue([r, g, b]: number[], shift: number): number[] {
  const mx = Math.max(r, g, b), mn = Math.min(r, g, b);
  const v = mx;
  const s = mx === mn ? 0 : (mx - mn) / mx;
  let h = 0;
  if (mx !== mn) {
    const d = mx - mn;
    if (mx === r) h = (g - b) / d;
    else if (mx === g) h = 2 + (b - r) / d;
    else h = 4 + (r - g) / d;
    h = (((h / 6) % 1) + 1) % 1;
  }
  h = (((h + shift) % 1) + 1) % 1;
  const i = Math.floor(h * 6), f = h * 6 - i;
  const p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
  return [[v, t, p], [q, v, p], [p, v, t], [p, q, v], [t, p, v], [v, p, q]][i % 6];
}

