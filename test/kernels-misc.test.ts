/**
 * WebGPU gather / scatterAdd / pad / concat / random / argsort kernels against the CPU reference
 * (random shapes, strided / transposed / flipped / broadcast views, all applicable dtypes), plus the
 * runtime's contracts: buffer pool and memory() accounting, batching, the queue-ordering hazard of
 * released buffers, asynchronous error reporting, device loss and adapter selection.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { WebGpuBackend } from '../src/backends/webgpu/backend.js';
import type { WebStorage } from '../src/backends/webgpu/fusion.js';
import { requestWebGpuBackend } from '../src/backends/webgpu/device.js';
import { nodeGpu } from '../src/backends/webgpu/node-gpu.js';
import { WgradError } from '../src/core/backend.js';
import type { DType } from '../src/core/dtype.js';
import { contiguousStrides, numel } from '../src/core/shape.js';
import { bitsToUniform, threefry2x32 } from '../src/core/random/threefry.js';
import {
  checkPrim, contiguousLayout, cpuOnly, gens, getCpu, getGpu, layoutArb, makePair, releasePairs, shapeArb, withSpecials,
  type Layout,
} from './helpers/gpu.js';

const RUNS = 16;
const DTYPES: DType[] = ['float32', 'int32', 'uint32', 'bool'];

function gen(dtype: DType, seed: number): (i: number) => number {
  if (dtype === 'bool') return gens.bool(seed);
  if (dtype === 'int32') return gens.int(seed);
  if (dtype === 'uint32') return (i) => gens.int(seed)(i) >>> 0;
  return seed % 4 === 0 ? withSpecials(gens.float(seed), seed) : gens.float(seed);
}

describe('misc kernels vs CPU', () => {
  let gpu!: WebGpuBackend;
  beforeAll(async () => {
    gpu = await getGpu();
  });

  it('gather (any axis, any index shape, out-of-range → 0)', async () => {
    const arb = shapeArb({ minRank: 1, maxRank: 4, maxNumel: 2000 }).chain((xs) =>
      fc.tuple(
        fc.constant(xs),
        layoutArb(xs.length),
        fc.integer({ min: 0, max: xs.length - 1 }),
        shapeArb({ maxRank: 3, maxNumel: 60 }).chain((is) => fc.tuple(fc.constant(is), layoutArb(is.length))),
        fc.constantFrom(...DTYPES),
        fc.integer({ min: 1, max: 1e6 }),
      ),
    );
    await fc.assert(
      fc.asyncProperty(arb, async ([xs, xl, axis, [is, il], dtype, seed]) => {
        const dim = xs[axis];
        const x = makePair(gpu, dtype, xs, xl, gen(dtype, seed));
        const idx = makePair(gpu, 'int32', is, il, (i) => (gens.smallInt(seed)(i) + 5) % (dim + 4) - 2);
        const outShape = [...xs.slice(0, axis), ...is, ...xs.slice(axis + 1)];
        await checkPrim(gpu, 'gather', [x, idx], { axis }, { shape: outShape, dtype }, { exact: true }, `gather axis ${axis}`);
        releasePairs(gpu, [x, idx]);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('scatterAdd (duplicates, out-of-range ignored; scan and sorted-segment paths)', async () => {
    const arb = fc.tuple(
      shapeArb({ maxRank: 2, maxNumel: 8 }), // prefix
      shapeArb({ maxRank: 3, maxNumel: 300 }), // indices shape
      shapeArb({ maxRank: 2, maxNumel: 8 }), // suffix
      fc.integer({ min: 0, max: 40 }), // size
      fc.constantFrom<DType>('float32', 'float32', 'int32', 'uint32'),
      fc.integer({ min: 1, max: 1e6 }),
    ).chain(([pre, is, suf, size, dtype, seed]) =>
      fc.tuple(fc.constant([pre, is, suf, size, dtype, seed] as const), layoutArb(pre.length + is.length + suf.length), layoutArb(is.length)),
    );
    await fc.assert(
      fc.asyncProperty(arb, async ([[pre, is, suf, size, dtype, seed], ul, il]) => {
        const us = [...pre, ...is, ...suf];
        const upd = makePair(gpu, dtype, us, ul as Layout, dtype === 'float32' ? gens.float(seed) : gens.smallInt(seed));
        const idx = makePair(gpu, 'int32', is, il as Layout, (i) => (Math.abs(gens.int(seed)(i)) % (size + 3)) - 1);
        const outShape = [...pre, size, ...suf];
        const out = { shape: outShape, dtype };
        const params = { axis: pre.length, size };
        let tol = {};
        if (dtype === 'float32') {
          // f64 (CPU) vs f32 (GPU) accumulation: scale by the sum of |updates| per output element.
          const abs = await cpuOnly('abs', [upd.cpu], {}, { shape: us, dtype });
          const cpu = getCpu();
          const s = cpu.upload(abs as Float32Array, dtype);
          const scale = await cpuOnly('scatterAdd', [{ storage: s, dtype, shape: us, strides: contiguousStrides(us), offset: 0 }, idx.cpu], params, out);
          cpu.release(s);
          tol = { rtol: 0, atol: 0, scale, stol: 1e-6 * Math.sqrt(numel(is) + 1) };
        } else {
          tol = { exact: true };
        }
        await checkPrim(gpu, 'scatterAdd', [upd, idx], params, out, tol, `scatterAdd [${pre}|${is}|${suf}] size ${size}`);
        releasePairs(gpu, [upd, idx]);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('scatterAdd is deterministic (bitwise identical on repeated runs)', async () => {
    const K = 3000;
    const upd = makePair(gpu, 'float32', [K, 4], contiguousLayout(2), (i) => Math.sin(i) * 1000);
    const idx = makePair(gpu, 'int32', [K], contiguousLayout(1), (i) => (i * 7) % 13);
    const out = { shape: [13, 4], dtype: 'float32' as DType };
    const runs: Float32Array[] = [];
    for (let r = 0; r < 3; r++) {
      const s = gpu.run('scatterAdd', [upd.gpu, idx.gpu], { axis: 0, size: 13 }, out);
      runs.push((await gpu.read({ storage: s, dtype: 'float32', shape: [13, 4], strides: [4, 1], offset: 0 })) as Float32Array);
      gpu.release(s);
    }
    expect(Array.from(runs[1])).toEqual(Array.from(runs[0]));
    expect(Array.from(runs[2])).toEqual(Array.from(runs[0]));
    releasePairs(gpu, [upd, idx]);
  });

  it('pad (value converted to the dtype)', async () => {
    const arb = shapeArb({ maxRank: 5, maxNumel: 1500 }).chain((s) =>
      fc.tuple(
        fc.constant(s),
        layoutArb(s.length),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 })), { minLength: s.length, maxLength: s.length }),
        fc.constantFrom(0, 1, -2.5, 7.75, 3e9, NaN),
        fc.constantFrom(...DTYPES),
        fc.integer({ min: 1, max: 1e6 }),
      ),
    );
    await fc.assert(
      fc.asyncProperty(arb, async ([shape, layout, widths, value, dtype, seed]) => {
        const x = makePair(gpu, dtype, shape, layout, gen(dtype, seed));
        const outShape = shape.map((d, i) => d + widths[i][0] + widths[i][1]);
        await checkPrim(gpu, 'pad', [x], { widths: widths as [number, number][], value }, { shape: outShape, dtype }, { exact: true }, `pad ${JSON.stringify(widths)} ${value}`);
        releasePairs(gpu, [x]);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('concat (1–4 strided inputs, any axis, empty inputs)', async () => {
    const arb = shapeArb({ minRank: 1, maxRank: 4, maxNumel: 600 }).chain((s) =>
      fc.tuple(
        fc.constant(s),
        fc.integer({ min: 0, max: s.length - 1 }),
        fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 4 }),
        fc.array(layoutArb(s.length), { minLength: 4, maxLength: 4 }),
        fc.constantFrom(...DTYPES),
        fc.integer({ min: 1, max: 1e6 }),
      ),
    );
    await fc.assert(
      fc.asyncProperty(arb, async ([shape, axis, sizes, layouts, dtype, seed]) => {
        const inputs = sizes.map((d, k) => {
          const s = shape.map((v, i) => (i === axis ? d : v));
          return makePair(gpu, dtype, s, layouts[k], gen(dtype, seed + k));
        });
        const outShape = shape.map((v, i) => (i === axis ? sizes.reduce((a, b) => a + b, 0) : v));
        await checkPrim(gpu, 'concat', inputs, { axis }, { shape: outShape, dtype }, { exact: true }, `concat axis ${axis} sizes ${sizes}`);
        releasePairs(gpu, inputs);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('random bits and uniforms match threefry2x32 exactly', async () => {
    await fc.assert(
      fc.asyncProperty(
        shapeArb({ maxRank: 4, maxNumel: 5000 }),
        fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff })),
        fc.constantFrom<'bits' | 'uniform'>('bits', 'uniform'),
        async (shape, key, dist) => {
          const dtype: DType = dist === 'bits' ? 'uint32' : 'float32';
          await checkPrim(gpu, 'random', [], { key, shape, dist }, { shape, dtype }, { exact: true }, `random ${dist}`);
        },
      ),
      { numRuns: RUNS },
    );
    // Spot check against the reference function directly, on a 2-D grid sized output.
    const n = 65536 * 256 + 10;
    const s = gpu.run('random', [], { key: [42, 7], shape: [n], dist: 'uniform' }, { shape: [n], dtype: 'float32' });
    const got = await gpu.read({ storage: s, dtype: 'float32', shape: [n], strides: [1], offset: 0 });
    for (const i of [0, 1, 12345, 65535 * 256, n - 1]) {
      expect(got[i]).toBe(Math.fround(bitsToUniform(threefry2x32(42, 7, i, 0)[0])));
    }
    gpu.release(s);
  });

  it('argsort (stable, NaN last ascending / first descending, all dtypes)', async () => {
    const arb = shapeArb({ maxRank: 4, maxNumel: 3000 }).chain((s) =>
      fc.tuple(fc.constant(s), layoutArb(s.length), fc.constantFrom(...DTYPES), fc.boolean(), fc.integer({ min: 1, max: 1e6 })),
    );
    await fc.assert(
      fc.asyncProperty(arb, async ([shape, layout, dtype, descending, seed]) => {
        // Few distinct values so that ties (and stability) matter.
        const g = dtype === 'float32'
          ? (seed % 2 ? withSpecials((i: number) => Math.round(gens.float(seed)(i)), seed) : gens.float(seed))
          : dtype === 'int32' ? gens.smallInt(seed) : dtype === 'uint32' ? (i: number) => gens.int(seed)(i) >>> (seed % 2 ? 29 : 0) : gens.bool(seed);
        const x = makePair(gpu, dtype, shape, layout, g);
        await checkPrim(gpu, 'argsort', [x], { descending }, { shape, dtype: 'int32' }, { exact: true }, `argsort ${descending ? 'desc' : 'asc'} <${dtype}>`);
        releasePairs(gpu, [x]);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('argsort of long rows (global bitonic passes)', async () => {
    for (const [shape, dtype, descending] of [
      [[5000], 'float32', false],
      [[2, 4097], 'int32', true],
      [[3, 2049], 'float32', true],
      [[20000], 'uint32', false],
    ] as [number[], DType, boolean][]) {
      const g = dtype === 'float32' ? (i: number) => Math.round(gens.float(9)(i) * 20) / 4 : dtype === 'int32' ? gens.smallInt(3) : (i: number) => gens.int(4)(i) >>> 20;
      const layout: Layout = { perm: [...shape.keys()], steps: shape.map((_, i) => (i === shape.length - 1 ? -1 : 1)), broadcast: shape.map(() => false), lead: 1 };
      const x = makePair(gpu, dtype, shape, layout, g);
      await checkPrim(gpu, 'argsort', [x], { descending }, { shape, dtype: 'int32' }, { exact: true }, `argsort [${shape}]`);
      releasePairs(gpu, [x]);
    }
  });
});

describe('WebGPU runtime', () => {
  let gpu!: WebGpuBackend;
  beforeAll(async () => {
    gpu = await getGpu();
  });

  it('memory(): allocating and releasing keeps live buffers flat and reuses the pool', async () => {
    gpu.flush();
    const before = gpu.memory();
    const v = (s: WebStorage, n: number) => ({ storage: s, dtype: 'float32' as DType, shape: [n], strides: [1], offset: 0 });
    let created = 0;
    for (let round = 0; round < 6; round++) {
      const held = [];
      for (let i = 0; i < 40; i++) {
        const n = 100 + ((i * 37) % 900);
        const x = gpu.upload(new Float32Array(n).fill(i), 'float32');
        const y = gpu.run('exp', [v(x, n)], {}, { shape: [n], dtype: 'float32' });
        const z = gpu.run('add', [v(x, n), v(y, n)], {}, { shape: [n], dtype: 'float32' });
        gpu.release(x);
        gpu.release(y);
        held.push(z);
      }
      const mid = gpu.memory();
      expect(mid.liveBuffers).toBe(before.liveBuffers + 40);
      const last = held[held.length - 1];
      await gpu.read({ storage: last, dtype: 'float32', shape: [100], strides: [1], offset: 0 });
      for (const z of held) gpu.release(z);
      const after = gpu.memory();
      expect(after.liveBuffers).toBe(before.liveBuffers);
      expect(after.liveBytes).toBe(before.liveBytes);
      if (round === 1) created = gpu.runtime.stats.buffersCreated;
      if (round > 1) expect(gpu.runtime.stats.buffersCreated).toBe(created);
    }
    const m = gpu.memory();
    expect(m.pooledBuffers).toBeGreaterThan(0);
    expect(m.pooledBytes).toBeGreaterThan(0);
    expect(() => gpu.release(gpu.upload(new Float32Array(4), 'float32'))).not.toThrow();
    const x = gpu.upload(new Float32Array(4), 'float32');
    gpu.release(x);
    expect(() => gpu.release(x)).toThrow(WgradError);
  });

  it('batches dispatches into few submits', async () => {
    gpu.flush();
    const s0 = gpu.runtime.stats.submits;
    let x: WebStorage = gpu.upload(new Float32Array([1, 2, 3]), 'float32');
    for (let i = 0; i < 300; i++) {
      const y: WebStorage = gpu.run('add', [{ storage: x, dtype: 'float32', shape: [3], strides: [1], offset: 0 }, { storage: x, dtype: 'float32', shape: [], strides: [], offset: 0 }], {}, { shape: [3], dtype: 'float32' });
      gpu.release(x);
      x = y;
    }
    const r = await gpu.read({ storage: x, dtype: 'float32', shape: [3], strides: [1], offset: 0 });
    expect(gpu.runtime.stats.submits - s0).toBeLessThanOrEqual(2);
    // x_{i+1} = x_i + x_i[0]: the first element doubles each step.
    expect(r[0]).toBe(2 ** 300 > 3.4e38 ? Infinity : 2 ** 300);
    gpu.release(x);
  });

  it('a buffer released while the pending batch still reads it is not overwritten by a later upload', async () => {
    const n = 1000;
    const a = gpu.upload(new Float32Array(n).fill(3), 'float32');
    const y = gpu.run('neg', [{ storage: a, dtype: 'float32', shape: [n], strides: [1], offset: 0 }], {}, { shape: [n], dtype: 'float32' });
    gpu.release(a); // still referenced by the unsubmitted dispatch
    const b = gpu.upload(new Float32Array(n).fill(7), 'float32'); // same size bucket
    const yv = await gpu.read({ storage: y, dtype: 'float32', shape: [n], strides: [1], offset: 0 });
    const bv = await gpu.read({ storage: b, dtype: 'float32', shape: [n], strides: [1], offset: 0 });
    expect(Array.from(new Set(yv))).toEqual([-3]);
    expect(Array.from(new Set(bv))).toEqual([7]);
    gpu.release(y);
    gpu.release(b);
  });

  it('reads strided views (materialized by a copy kernel) and rank-0 views', async () => {
    const x = gpu.upload(new Int32Array([0, 1, 2, 3, 4, 5]), 'int32');
    expect(Array.from(await gpu.read({ storage: x, dtype: 'int32', shape: [3, 2], strides: [1, 3], offset: 0 }))).toEqual([0, 3, 1, 4, 2, 5]);
    expect(Array.from(await gpu.read({ storage: x, dtype: 'int32', shape: [], strides: [], offset: 4 }))).toEqual([4]);
    expect(Array.from(await gpu.read({ storage: x, dtype: 'int32', shape: [2], strides: [1], offset: 3 }))).toEqual([3, 4]);
    expect(Array.from(await gpu.read({ storage: x, dtype: 'int32', shape: [0, 4], strides: [4, 1], offset: 0 }))).toEqual([]);
    gpu.release(x);
    expect(gpu.memory().liveBuffers).toBeGreaterThanOrEqual(0);
  });

  it('reports a kernel error with its key at the next flush', async () => {
    const rt = gpu.runtime;
    const out = rt.alloc(4);
    rt.dispatch({ key: 'test:broken', code: () => 'this is not wgsl', uniforms: new ArrayBuffer(0), readOnly: 0, workgroups: [1, 1, 1] }, [out]);
    let err: unknown;
    try {
      gpu.flush();
      await gpu.sync();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WgradError);
    expect(String(err)).toContain('test:broken');
    rt.release(out);
    // The backend keeps working afterwards.
    const x = gpu.upload(new Float32Array([2]), 'float32');
    const y = gpu.run('neg', [{ storage: x, dtype: 'float32', shape: [], strides: [], offset: 0 }], {}, { shape: [], dtype: 'float32' });
    expect(Array.from(await gpu.read({ storage: y, dtype: 'float32', shape: [], strides: [], offset: 0 }))).toEqual([-2]);
    gpu.release(x);
    gpu.release(y);
  });

  it('device loss makes every op throw a WgradError that says to call init() again', async () => {
    const b = await requestWebGpuBackend({ gpu: nodeGpu() });
    const x = b.upload(new Float32Array([1]), 'float32');
    b.device.destroy();
    await b.device.lost;
    await new Promise((r) => setTimeout(r, 0));
    expect(() => b.run('neg', [{ storage: x, dtype: 'float32', shape: [], strides: [], offset: 0 }], {}, { shape: [], dtype: 'float32' })).toThrow(/neg.*lost.*init\(\)/);
    expect(() => b.upload(new Float32Array([1]), 'float32')).toThrow(WgradError);
    await expect(b.read({ storage: x, dtype: 'float32', shape: [], strides: [], offset: 0 })).rejects.toThrow(/init\(\)/);
  });

  it('adapter selection and report', async () => {
    const r = gpu.report;
    expect(r.backend).toBe('webgpu');
    expect(r.limits.maxStorageBuffersPerShaderStage).toBeGreaterThanOrEqual(8);
    const name = [r.vendor, r.architecture, r.device, r.description].join(' ');
    const word = name.split(/\s+/).find((w) => w.length > 2) ?? '';
    if (word) {
      const b = await requestWebGpuBackend({ gpu: nodeGpu(), adapter: word.toUpperCase() });
      expect(b.report.description).toBe(r.description);
      b.destroy();
    }
    await expect(requestWebGpuBackend({ gpu: nodeGpu(), adapter: 'no-such-adapter-xyz' })).rejects.toThrow(/no WebGPU adapter matches/);
  });
});
