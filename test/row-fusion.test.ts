/**
 * Row fusion (src/kernels/row-fused.ts, src/backends/webgpu/fusion.ts): reductions over the last
 * axis stay unrealized and are computed inside the elementwise kernel that reads them broadcast
 * along the rows. Random programs of softmax, log-softmax, layer norm, per-row statistics, views
 * and reductions of such values match the CPU reference; softmax and layer norm are one dispatch;
 * NaN propagates; what cannot be read by rows falls back to the reduce kernel; memory stays flat.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { WebGpuBackend } from '../src/backends/webgpu/backend.js';
import { CpuBackend } from '../src/backends/cpu/backend.js';
import * as wg from '../src/index.js';
import { withBackend } from '../src/tensor/engine.js';
import { mulberry32 } from '../src/core/random/mulberry.js';
import { fusedAndUnfused, tidyOn as on, withDispatchKeys } from './helpers/gpu.js';

type T = wg.Tensor;

const layerNorm = (x: T, g: T, b: T) => {
  const mu = wg.mean(x, -1, { keepdims: true });
  const v = wg.variance(x, -1, { keepdims: true });
  return wg.add(wg.mul(wg.mul(wg.sub(x, mu), wg.rsqrt(wg.add(v, 1e-5))), g), b);
};
const logSoftmax = (x: T) => {
  const m = wg.max(x, -1, { keepdims: true });
  return wg.sub(wg.sub(x, m), wg.log(wg.sum(wg.exp(wg.sub(x, m)), -1, { keepdims: true })));
};

/** Steps of a program over values of shape [a, b, L]; each combines live values x, y (and a row vector g). */
const STEPS: ((x: T, y: T, g: T, shape: number[]) => T)[] = [
  (x) => wg.nn.softmax(x, -1),
  (x) => logSoftmax(x),
  (x, y, g) => layerNorm(x, g, wg.mul(g, 0.5)),
  (x, y) => wg.mul(x, wg.mean(y, -1, { keepdims: true })),
  (x, y) => wg.div(x, wg.add(wg.sqrt(wg.variance(y, -1, { keepdims: true })), 1)),
  // A row reduction of a value that itself reads row reductions.
  (x) => wg.mul(x, wg.max(wg.nn.softmax(x, -1), -1, { keepdims: true })),
  (x, y) => wg.sub(x, wg.min(wg.mul(y, wg.sum(x, -1, { keepdims: true })), -1, { keepdims: true })),
  // Through a reshape: rows of [a·b, L] are the rows of [a, b, L].
  (x, y, _g, [a, b, L]) => wg.reshape(wg.mul(wg.reshape(x, [a * b, L]), wg.max(wg.reshape(y, [a * b, L]), -1, { keepdims: true })), [a, b, L]),
  // A per-row value read flipped (not broadcast along the rows in order): realized, then read.
  (x, y, _g, [a, b]) => wg.mul(x, wg.reshape(wg.flip(wg.mean(y, -1), [1]), [a, b, 1])),
  // A full sum of a row-fused value, and a product along rows.
  (x, y) => wg.add(x, wg.mul(wg.sum(wg.nn.softmax(y, -1)), 1e-3)),
  (x) => wg.mul(x, wg.prod(wg.add(wg.mul(wg.tanh(x), 0.1), 1), -1, { keepdims: true })),
  // A row softmax of a transposed value (its leaves are not read by rows of the output: fallback).
  (x, _y, _g, [a, b, L]) => (b === L ? wg.nn.softmax(wg.transpose(x, [0, 2, 1]), -1) : wg.tanh(x)),
  // Argmax of a fused value (not a row op: the reduce kernel).
  (x) => wg.add(x, wg.cast(wg.argmax(wg.nn.softmax(x, -1), -1, { keepdims: true }), 'float32')),
];

function runProgram(shape: number[], data: Float32Array[], gamma: Float32Array, steps: number[][]): T {
  const vals: T[] = data.map((d) => wg.tensor(d, { shape }));
  const g = wg.tensor(gamma);
  for (const [k, i, j] of steps) vals.push(STEPS[k % STEPS.length](vals[i % vals.length], vals[j % vals.length], g, shape));
  return vals[vals.length - 1];
}

describe('row fusion on WebGPU', () => {
  let gpu: WebGpuBackend;
  let unfused: WebGpuBackend;
  const cpu = new CpuBackend();
  beforeAll(async () => {
    ({ gpu, unfused } = await fusedAndUnfused());
  });

  /** Dispatch keys recorded while `f` runs on the GPU (and its result is read). */
  async function keysOf(f: () => T): Promise<{ keys: string[]; data: Float32Array }> {
    await gpu.sync();
    return withDispatchKeys(gpu, async (keys) => {
      const y = on(gpu, f);
      const data = (await y.data()) as Float32Array;
      y.dispose();
      return { keys, data };
    });
  }

  it('random programs of row reductions, per-row values and views match the CPU reference', async () => {
    const arb = fc.tuple(
      fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 6, max: 12 }), fc.oneof(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 13, max: 70 }))),
      fc.integer({ min: 1, max: 1e6 }),
      fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat()), { minLength: 1, maxLength: 6 }),
    );
    await fc.assert(
      fc.asyncProperty(arb, async ([shape, seed, steps]) => {
        const n = shape[0] * shape[1] * shape[2];
        const rand = mulberry32(seed);
        const data = [0, 1].map(() => Float32Array.from({ length: n }, () => rand() * 4 - 2));
        const gamma = Float32Array.from({ length: shape[2] }, () => rand() + 0.5);
        const want = await on(cpu, () => runProgram(shape, data, gamma, steps)).data();
        const y = on(gpu, () => runProgram(shape, data, gamma, steps));
        const got = await y.data();
        y.dispose();
        for (let q = 0; q < n; q++) {
          const ok = Number.isNaN(want[q]) ? Number.isNaN(got[q]) : Math.abs(got[q] - want[q]) <= 2e-4 * Math.max(1, Math.abs(want[q]));
          if (!ok) expect.fail(`${JSON.stringify(shape)} steps ${JSON.stringify(steps)} output[${q}]: WebGPU ${got[q]}, CPU ${want[q]}`);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('softmax, log-softmax and layer norm are one row-fused dispatch each, and agree with fusion off', async () => {
    const rand = mulberry32(5);
    const xs = Float32Array.from({ length: 96 * 301 }, () => rand() * 10 - 5);
    const gs = Float32Array.from({ length: 300 }, () => rand() + 0.5);
    const cases: [string, () => T][] = [
      ['softmax', () => wg.nn.softmax(wg.tensor(xs.subarray(0, 96 * 300), { shape: [96, 300] }), -1)],
      ['log-softmax', () => logSoftmax(wg.tensor(xs.subarray(0, 96 * 300), { shape: [2, 48, 300] }))],
      ['layer norm', () => layerNorm(wg.tensor(xs.subarray(0, 96 * 300), { shape: [96, 300] }), wg.tensor(gs), wg.tensor(gs.subarray(0, 1)))],
      // Rows of odd length (scalar loads) and a row offset that is not 4-aligned.
      ['softmax, odd rows', () => wg.nn.softmax(wg.slice(wg.tensor(xs, { shape: [96, 301] }), [{}, { start: 1 }]), -1)],
    ];
    for (const [name, f] of cases) {
      const { keys, data } = await keysOf(f);
      expect(keys.filter((k) => !k.startsWith('copy')), name).toHaveLength(1);
      expect(keys.some((k) => k.startsWith('row:')), name).toBe(true);
      const want = await on(unfused, f).data();
      for (let q = 0; q < want.length; q++) expect(Math.abs(data[q] - want[q]), `${name}[${q}]`).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want[q])));
    }
    // vec4 loads where rows are 4-aligned, scalar ones where not.
    expect((await keysOf(cases[0][1])).keys[0]).toMatch(/^row:w4/);
    expect((await keysOf(cases[3][1])).keys.find((k) => k.startsWith('row:'))).toMatch(/^row:w1/);
  });

  it('NaN in a row propagates through max, sum and the output like the reduce kernels', async () => {
    const xs = Float32Array.from({ length: 64 * 8 }, (_, i) => Math.sin(i));
    xs[8 * 5 + 3] = NaN;
    const f = () => {
      const x = wg.tensor(xs, { shape: [64, 8] });
      return wg.concat([wg.nn.softmax(x, -1), wg.mul(x, wg.min(x, -1, { keepdims: true }))], 1);
    };
    const want = await on(cpu, f).data();
    const got = await on(gpu, f).data();
    for (let q = 0; q < want.length; q++) {
      if (Number.isNaN(want[q])) expect(Number.isNaN(got[q]), `[${q}]`).toBe(true);
      else expect(Math.abs(got[q] - want[q]), `[${q}]`).toBeLessThanOrEqual(1e-5);
    }
    expect(Array.from(got.subarray(5 * 16, 5 * 16 + 8)).every(Number.isNaN)).toBe(true);
  });

  it('few rows, long rows, integer values and other axes use the reduce kernel as before', async () => {
    const xs = Float32Array.from({ length: 16 * 9000 }, (_, i) => Math.cos(i));
    const cases: [string, () => T][] = [
      ['few rows', () => wg.nn.softmax(wg.tensor(xs.subarray(0, 16 * 300), { shape: [16, 300] }), -1)],
      ['long rows', () => wg.nn.softmax(wg.tensor(xs.subarray(0, 16 * 9000), { shape: [16, 9000] }), -1)],
      ['int32', () => wg.cast(wg.mul(wg.cast(wg.tensor(xs.subarray(0, 64 * 30), { shape: [64, 30] }), 'int32'), wg.sum(wg.cast(wg.tensor(xs.subarray(0, 64 * 30), { shape: [64, 30] }), 'int32'), -1, { keepdims: true })), 'float32')],
      ['axis 0', () => wg.nn.softmax(wg.tensor(xs.subarray(0, 64 * 30), { shape: [64, 30] }), 0)],
    ];
    for (const [name, f] of cases) {
      const { keys, data } = await keysOf(f);
      expect(keys.some((k) => k.startsWith('row:')), name).toBe(false);
      expect(keys.some((k) => k.startsWith('red:')), name).toBe(true);
      const want = await on(cpu, f).data();
      for (let q = 0; q < want.length; q++) expect(Math.abs(data[q] - want[q]), `${name}[${q}]`).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want[q])));
    }
  });

  it('a lazy row reduction keeps what it reads alive until used; a loop of layer norms and their gradients holds memory flat', async () => {
    withBackend(gpu, () => wg.tidy(() => void wg.mul(wg.tensor([0]), 2)));
    await gpu.sync();
    const before = gpu.memory().liveBuffers;
    const s = on(gpu, () => {
      const x = wg.tensor(Float32Array.from({ length: 64 * 16 }, (_, i) => i % 7), { shape: [64, 16] });
      const r = wg.sum(x, -1, { keepdims: true });
      x.dispose(); // r still reads x's buffer
      return r;
    });
    expect((await s.data())[1]).toBe([16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31].reduce((t, i) => t + (i % 7), 0));
    s.dispose();
    expect(gpu.memory().liveBuffers).toBe(before);
    const x = withBackend(gpu, () => wg.tensor(Float32Array.from({ length: 128 * 64 }, (_, i) => Math.sin(i)), { shape: [128, 64] }));
    const g = withBackend(gpu, () => wg.tensor(Float32Array.from({ length: 64 }, (_, i) => 1 + i / 64)));
    const loss = (p: T) => wg.sum(wg.mul(layerNorm(x, p, p), wg.nn.softmax(x, -1)));
    const counts: number[] = [];
    for (let i = 0; i < 12; i++) {
      const [l, dg] = withBackend(gpu, () => wg.valueAndGrad(loss)(g));
      await l.data();
      await dg.data();
      wg.dispose([l, dg]);
      await gpu.sync();
      counts.push(gpu.memory().liveBuffers);
    }
    expect(counts[11]).toBe(counts[3]);
    wg.dispose([x, g]);
  });
});
