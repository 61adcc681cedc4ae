/**
 * WebGPU elementwise kernels (unary, binary, where, cast, copy) against the CPU reference, on random
 * shapes of rank 0–6 (size-0 and size-1 axes included), broadcasting, and strided / transposed /
 * flipped / sliced / broadcast input views built by hand over uploaded storage; and every entry of
 * the one WGSL table (kernels/elementwise-ops.ts) gives the same bits realized at once
 * (`fusion: false`) as inlined in a fused chain.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { WebGpuBackend } from '../src/backends/webgpu/backend.js';
import { DTYPES, storageArray, type DType } from '../src/core/dtype.js';
import {
  BINARY_DOMAIN, BINARY_OPS, COMPARISON_OPS, ELEMENTWISE_PRIMS, inDomain, UNARY_DOMAIN, UNARY_OPS, type BinaryOp, type ComputePrim, type DTypeDomain, type ElementwisePrim,
} from '../src/core/prims.js';
import { broadcastShapes, contiguousStrides } from '../src/core/shape.js';
import { requestWebGpuBackend } from '../src/backends/webgpu/device.js';
import { LazyStorage, type WebStorage } from '../src/backends/webgpu/fusion.js';
import { nodeGpu } from '../src/backends/webgpu/node-gpu.js';
import { gpuRules } from '../src/backends/webgpu/rules.js';
import { WGSL_OPS } from '../src/kernels/elementwise-ops.js';
import { chooseElementwiseShapes, dispatchSize, overrideElementwiseShape } from '../src/kernels/tuning-elementwise.js';
import type { View } from '../src/core/backend.js';
import {
  checkPrim, contiguousLayout, gens, getGpu, layoutArb, makePair, releasePairs, shapeArb, withSpecials, type Layout, type Tolerance,
} from './helpers/gpu.js';

const RUNS = 10;
const TRANSCENDENTAL = new Set<string>(['exp', 'log', 'log1p', 'expm1', 'sin', 'cos', 'tanh', 'pow']);
const BOOL_OUT = new Set<string>([...COMPARISON_OPS, 'logicalNot']);

/** A shape with a layout for it. */
const viewArb = (opts: { maxRank?: number; maxNumel?: number } = {}) =>
  shapeArb(opts).chain((shape) => fc.tuple(fc.constant(shape), layoutArb(shape.length), fc.integer({ min: 1, max: 1e6 })));

/** Output shape plus, per input, a broadcast-compatible shape (leading axes dropped, axes set to 1). */
const broadcastArb = (nInputs: number) =>
  shapeArb({ maxNumel: 3000 }).chain((out) =>
    fc.tuple(
      fc.constant(out),
      fc.array(
        fc.tuple(fc.integer({ min: 0, max: out.length }), fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }))
          .map(([drop, ones]) => out.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d))),
        { minLength: nInputs, maxLength: nInputs },
      ),
    ),
  ).chain(([out, shapes]) =>
    fc.tuple(
      fc.constant(out),
      fc.constant(shapes),
      fc.tuple(...shapes.map((s) => layoutArb(s.length))),
      fc.integer({ min: 1, max: 1e6 }),
    ),
  );

function valueGen(dtype: DType, op: string, seed: number): (i: number) => number {
  if (dtype === 'bool') return gens.bool(seed);
  if (dtype === 'int32') {
    if (op === 'pow') return gens.smallInt(seed);
    return seed % 2 ? gens.int(seed) : gens.smallInt(seed);
  }
  if (dtype === 'uint32') {
    if (op === 'pow') return (i) => Math.abs(gens.smallInt(seed)(i));
    return (i) => (gens.int(seed)(i) >>> 0) % (seed % 2 ? 4294967296 : 13);
  }
  const base = ['log', 'sqrt', 'rsqrt'].includes(op) && seed % 3 !== 0 ? gens.positive(seed) : gens.float(seed);
  // Halves for round, small integers for pow/mod ties, specials sometimes.
  const g = op === 'round' ? (i: number) => Math.round(base(i) * 2) / 2 : op === 'pow' && seed % 2 ? (i: number) => Math.round(base(i)) : base;
  return seed % 4 === 0 ? withSpecials(g, seed) : g;
}

function tolFor(op: string, dtype: DType): Tolerance {
  if (dtype !== 'float32' || BOOL_OUT.has(op)) return { exact: true };
  if (op === 'pow') return { rtol: 2e-5, atol: 1e-6 };
  if (TRANSCENDENTAL.has(op)) return { rtol: 4e-6, atol: 2e-7 };
  if (op === 'mod' || op === 'div' || op === 'reciprocal' || op === 'rsqrt' || op === 'sqrt') return { rtol: 1e-6, atol: 0 };
  return { exact: true };
}

/** The dtypes an op's domain (core's UNARY_DOMAIN / BINARY_DOMAIN) holds. */
const dtypesIn = (domain: DTypeDomain): DType[] => DTYPES.filter((d) => inDomain(domain, d));

describe('elementwise kernels vs CPU', () => {
  let gpu!: WebGpuBackend;
  beforeAll(async () => {
    gpu = await getGpu();
  });

  for (const op of UNARY_OPS) {
    it(`unary ${op}`, async () => {
      await fc.assert(
        fc.asyncProperty(viewArb(), fc.constantFrom(...dtypesIn(UNARY_DOMAIN[op])), async ([shape, layout, seed], dtype) => {
          const x = makePair(gpu, dtype, shape, layout, valueGen(dtype, op, seed));
          const outDtype: DType = op === 'logicalNot' ? 'bool' : dtype;
          await checkPrim(gpu, op, [x], {}, { shape, dtype: outDtype }, tolFor(op, dtype), `${op}<${dtype}>`);
          releasePairs(gpu, [x]);
        }),
        { numRuns: RUNS },
      );
    });
  }

  for (const op of BINARY_OPS) {
    const dtypes = dtypesIn(BINARY_DOMAIN[op]);
    it(`binary ${op}`, async () => {
      await fc.assert(
        fc.asyncProperty(broadcastArb(2), fc.constantFrom(...dtypes), async ([out, shapes, layouts, seed], dtype) => {
          const a = makePair(gpu, dtype, shapes[0], layouts[0] as Layout, valueGen(dtype, op, seed));
          const bgen = op === 'eq' || op === 'ne' || op === 'le' || op === 'ge' ? valueGen(dtype, op, seed) : valueGen(dtype, op, seed + 1);
          const b = makePair(gpu, dtype, shapes[1], layouts[1] as Layout, bgen);
          const outShape = broadcastShapes(op, shapes[0], shapes[1]);
          const outDtype: DType = BOOL_OUT.has(op) ? 'bool' : dtype;
          await checkPrim(gpu, op as BinaryOp, [a, b], {}, { shape: outShape, dtype: outDtype }, tolFor(op, dtype), `${op}<${dtype}>`);
          releasePairs(gpu, [a, b]);
          void out;
        }),
        { numRuns: RUNS + 4 },
      );
    });
  }

  it('where', async () => {
    await fc.assert(
      fc.asyncProperty(broadcastArb(3), fc.constantFrom<DType>('float32', 'int32', 'uint32', 'bool'), async ([, shapes, layouts, seed], dtype) => {
        const c = makePair(gpu, 'bool', shapes[0], layouts[0] as Layout, gens.bool(seed));
        const a = makePair(gpu, dtype, shapes[1], layouts[1] as Layout, valueGen(dtype, 'add', seed));
        const b = makePair(gpu, dtype, shapes[2], layouts[2] as Layout, valueGen(dtype, 'add', seed + 7));
        const outShape = broadcastShapes('where', shapes[0], shapes[1], shapes[2]);
        await checkPrim(gpu, 'where', [c, a, b], {}, { shape: outShape, dtype }, { exact: true }, `where<${dtype}>`);
        releasePairs(gpu, [c, a, b]);
      }),
      { numRuns: RUNS + 6 },
    );
  });

  it('cast between all dtypes (saturation, NaN, reinterpretation)', async () => {
    const all: DType[] = ['float32', 'int32', 'uint32', 'bool'];
    await fc.assert(
      fc.asyncProperty(viewArb({ maxNumel: 2000 }), fc.constantFrom(...all), fc.constantFrom(...all), async ([shape, layout, seed], from, to) => {
        let g = valueGen(from, 'cast', seed);
        if (from === 'float32') {
          const big = [3e9, -3e9, 5e9, 2147483647.5, -2147483649, 4294967295.9, 1e20, -1e20, -0.7, 0.9];
          const base = withSpecials(gens.float(seed), seed);
          g = (i) => (i % 5 === 0 ? big[(i / 5) % big.length] : base(i) * (seed % 2 ? 1e3 : 1));
        }
        const x = makePair(gpu, from, shape, layout, g);
        await checkPrim(gpu, 'cast', [x], { dtype: to }, { shape, dtype: to }, { exact: true }, `cast ${from}→${to}`);
        releasePairs(gpu, [x]);
      }),
      { numRuns: 40 },
    );
  });

  it('special float values in binary ops (NaN, ±inf, ±0, exact mod/pow cases)', async () => {
    const specials = [0, -0, 1, -1, 2, -2, 0.5, -0.5, 3, -3, 2.5, Infinity, -Infinity, NaN, 1e-30, 7, -7, 1e30, 1.5e-39, -4e-42];
    const n = specials.length;
    const shape = [n, n];
    const ident = { perm: [0, 1], steps: [1, 1], broadcast: [false, false], lead: 0 };
    for (const op of BINARY_OPS.filter((o) => inDomain(BINARY_DOMAIN[o], 'float32'))) {
      const a = makePair(gpu, 'float32', shape, ident, (i) => specials[Math.floor(i / n)]);
      const b = makePair(gpu, 'float32', shape, ident, (i) => specials[i % n]);
      const outDtype: DType = BOOL_OUT.has(op) ? 'bool' : 'float32';
      await checkPrim(gpu, op, [a, b], {}, { shape, dtype: outDtype }, op === 'pow' ? { rtol: 2e-5, atol: 0 } : { exact: true }, `${op} specials`);
      releasePairs(gpu, [a, b]);
    }
    for (const op of UNARY_OPS) {
      const x = makePair(gpu, 'float32', [n], { perm: [0], steps: [1], broadcast: [false], lead: 0 }, (i) => specials[i]);
      const outDtype: DType = op === 'logicalNot' ? 'bool' : 'float32';
      await checkPrim(gpu, op, [x], {}, { shape: [n], dtype: outDtype }, tolFor(op, 'float32'), `${op} specials`);
      releasePairs(gpu, [x]);
    }
  });

  it('integer edge cases (division by zero, INT_MIN, wrap-around, negative powers)', async () => {
    const vals = [0, 1, -1, 2, -2, 3, -7, 7, 2147483647, -2147483648, 65536, -65537, 31, 32];
    const n = vals.length;
    const ident = { perm: [0, 1], steps: [1, 1], broadcast: [false, false], lead: 0 };
    for (const dtype of ['int32', 'uint32'] as DType[]) {
      for (const op of BINARY_OPS.filter((o) => inDomain(BINARY_DOMAIN[o], dtype))) {
        const a = makePair(gpu, dtype, [n, n], ident, (i) => vals[Math.floor(i / n)]);
        const b = makePair(gpu, dtype, [n, n], ident, (i) => vals[i % n]);
        const outDtype: DType = BOOL_OUT.has(op) ? 'bool' : dtype;
        await checkPrim(gpu, op, [a, b], {}, { shape: [n, n], dtype: outDtype }, { exact: true }, `${op}<${dtype}> edges`);
        releasePairs(gpu, [a, b]);
      }
    }
  });

  it('tanh is within 3 ulps of float64 across its branch point (|x| = 0.55) and beyond, and keeps −0, ±1 at ±∞ and NaN', async () => {
    const xs = new Float32Array(200_003);
    for (let i = 0; i < 200_000; i++) xs[i] = i < 100_000 ? (i / 100_000 - 0.5) * 1.4 : Math.sinh(((i - 100_000) / 100_000) * 8 - 4) * 4;
    xs.set([-0, Infinity, -Infinity], 200_000);
    const x = makePair(gpu, 'float32', [xs.length], contiguousLayout(1), (i) => xs[i]);
    const out = gpu.run('tanh', [x.gpu], {}, { shape: [xs.length], dtype: 'float32' });
    const got = (await gpu.read({ ...x.gpu, storage: out })) as Float32Array;
    gpu.release(out);
    releasePairs(gpu, [x]);
    let worst = 0;
    for (let i = 0; i < 200_000; i++) {
      const want = Math.tanh(xs[i]);
      worst = Math.max(worst, Math.abs(got[i] - want) / Math.max(Math.abs(Math.fround(want)) * 2 ** -23, 2 ** -149));
    }
    expect(worst).toBeLessThanOrEqual(3);
    expect(Object.is(got[200_000], -0)).toBe(true);
    expect([got[200_001], got[200_002]]).toEqual([1, -1]);
    const nan = makePair(gpu, 'float32', [1], contiguousLayout(1), () => NaN);
    const n = gpu.run('tanh', [nan.gpu], {}, { shape: [1], dtype: 'float32' });
    expect(Number.isNaN(((await gpu.read({ ...nan.gpu, storage: n })) as Float32Array)[0])).toBe(true);
    gpu.release(n);
    releasePairs(gpu, [nan]);
  });

  it('2-D workgroup grids (a backend whose kernels see maxComputeWorkgroupsPerDimension = 3)', async () => {
    const small = await requestWebGpuBackend({ gpu: nodeGpu(), limitOverrides: { maxComputeWorkgroupsPerDimension: 3 } });
    try {
      const n = 4096 * 7 + 300; // 8 workgroups of 4096 elements → a 3 × 3 grid
      const layout = contiguousLayout(1);
      const x = makePair(small, 'float32', [n], layout, gens.float(3));
      const y = makePair(small, 'float32', [n], { ...layout, steps: [-1] }, gens.float(4));
      await checkPrim(small, 'add', [x, y], {}, { shape: [n], dtype: 'float32' }, { exact: true }, 'add on a 2-D grid');
      await checkPrim(small, 'exp', [y], {}, { shape: [n], dtype: 'float32' }, tolFor('exp', 'float32'), 'exp on a 2-D grid');
      const m = makePair(small, 'float32', [40, 300], contiguousLayout(2), gens.float(5));
      await checkPrim(small, 'max', [m], { axes: [1] }, { shape: [40], dtype: 'float32' }, { exact: true }, 'max rows on a 2-D grid');
      await checkPrim(small, 'argsort', [m], { descending: false }, { shape: [40, 300], dtype: 'int32' }, { exact: true }, 'argsort on a 2-D grid');
      releasePairs(small, [x, y, m]);
    } finally {
      small.destroy();
    }
  });

  it('fusion: false realizes each op at once through the same table: the same bits as the op inlined in a fused chain', async () => {
    // One table: every compute primitive has exactly one WGSL source.
    const kernelPrims = Object.keys(gpuRules) as ComputePrim[];
    expect(kernelPrims.filter((p) => (ELEMENTWISE_PRIMS as readonly string[]).includes(p))).toEqual([]);
    expect(Object.keys(WGSL_OPS).sort()).toEqual([...ELEMENTWISE_PRIMS].sort());

    // Fusion off over the same device (so pipelines compiled here serve both).
    const eager = new WebGpuBackend(gpu.runtime, gpu.report, {}, { fusion: false });
    // Inlining converts each value between kinds as a store and reload would: one case per kind
    // pattern (float, int32, bool/uint32 in and out; library calls; kind-changing ops; where with a
    // u32 condition choosing i32 values). Each case compiles two pipelines (~0.5 s each on lavapipe), hence not every op.
    const cases: { prim: ElementwisePrim; ins: DType[]; params?: { dtype: DType }; out: DType }[] = [
      { prim: 'neg', ins: ['int32'], out: 'int32' },
      { prim: 'sin', ins: ['float32'], out: 'float32' },
      { prim: 'logicalNot', ins: ['float32'], out: 'bool' },
      { prim: 'copy', ins: ['bool'], out: 'bool' },
      { prim: 'div', ins: ['int32', 'int32'], out: 'int32' },
      { prim: 'pow', ins: ['float32', 'float32'], out: 'float32' },
      { prim: 'sub', ins: ['uint32', 'uint32'], out: 'uint32' },
      { prim: 'lt', ins: ['float32', 'float32'], out: 'bool' },
      { prim: 'logicalAnd', ins: ['bool', 'bool'], out: 'bool' },
      { prim: 'cast', ins: ['float32'], params: { dtype: 'int32' }, out: 'int32' },
      { prim: 'cast', ins: ['uint32'], params: { dtype: 'int32' }, out: 'int32' },
      { prim: 'cast', ins: ['bool'], params: { dtype: 'float32' }, out: 'float32' },
      { prim: 'where', ins: ['bool', 'int32', 'int32'], out: 'int32' },
    ];
    const shape = [3, 8];
    const view = (storage: WebStorage, dtype: DType): View<WebStorage> => ({ storage, dtype, shape, strides: contiguousStrides(shape), offset: 0 });
    const upload = (b: WebGpuBackend, dtype: DType, values: number[]) => {
      const data = storageArray(dtype, values.length);
      values.forEach((v, i) => { data[i] = v; });
      return view(b.upload(data, dtype), dtype);
    };
    const readBits = async (b: WebGpuBackend, s: WebStorage, dtype: DType) => {
      const r = await b.read(view(s, dtype));
      b.release(s);
      return Array.from(new Uint32Array(r.buffer, r.byteOffset, r.length));
    };
    for (const { prim, ins, params = {}, out: outDtype } of cases) {
      const what = `${prim}(${ins.join(', ')}) ${JSON.stringify(params)}`;
      const out = { shape, dtype: outDtype };
      // Seeds ≡ 0 mod 4: special values (NaN, ±inf, ±0, ties) included.
      const datas = ins.map((d, k) => Array.from({ length: shape[0] * shape[1] }, (_, i) => valueGen(d, prim, 4 * (k + 1))(i)));
      // Realized at once: a buffer, its kernel recorded by the call itself.
      const eagerIns = ins.map((d, k) => upload(eager, d, datas[k]));
      const d0 = eager.runtime.stats.dispatches;
      const y = eager.run(prim, eagerIns, params as never, out);
      expect(y instanceof LazyStorage, what).toBe(false);
      expect(eager.runtime.stats.dispatches - d0, what).toBe(1);
      const want = await readBits(eager, y, outDtype);
      for (const v of eagerIns) eager.release(v.storage);
      // Inlined: copy(op(copy(a), copy(b), ...)) is one fused kernel.
      const fusedIns = ins.map((d, k) => upload(gpu, d, datas[k]));
      await gpu.sync();
      const f0 = gpu.runtime.stats.dispatches;
      const copies = fusedIns.map((v) => view(gpu.run('copy', [v], {}, { shape, dtype: v.dtype }), v.dtype));
      const mid = gpu.run(prim, copies, params as never, out);
      const z = gpu.run('copy', [view(mid, outDtype)], {}, out);
      expect(z instanceof LazyStorage, what).toBe(true);
      const got = await readBits(gpu, z, outDtype);
      expect(gpu.runtime.stats.dispatches - f0, what).toBe(1);
      expect(got, what).toEqual(want);
      for (const v of [...copies, ...fusedIns]) gpu.release(v.storage);
      gpu.release(mid);
    }
  }, 300_000); // a cold lavapipe shader cache compiles 26 pipelines
});

/**
 * Every kernel shape (tuning-elementwise.ts) gives the CPU reference's results: the adapter's own
 * (lavapipe: 8 lanes × 64 units interleaved; a GPU: 256 × 4), consecutive units per invocation, and
 * chunks that divide no size here (4 lanes × 3 units, 16 × 5, 1 × 7). Sizes around multiples of a
 * workgroup's block (vec4s with a partial last unit), rows shorter and longer than a walk's step (index and walked addresses), bias
 * broadcasts, transposes (the gather shape), flips, size-0 and size-1 axes; NaN, ±inf, −0 and
 * integer edge values, exact.
 */
describe('elementwise kernel shapes vs CPU', () => {
  let gpu!: WebGpuBackend;
  beforeAll(async () => {
    gpu = await getGpu();
  });
  const device = () => gpu.runtime.device;
  const SHAPES: { lanes: number; perLane: number; layout: 'blocked' | 'strided' }[] = [
    { lanes: 8, perLane: 64, layout: 'strided' },
    { lanes: 8, perLane: 64, layout: 'blocked' },
    { lanes: 256, perLane: 4, layout: 'strided' },
    { lanes: 4, perLane: 3, layout: 'blocked' },
    { lanes: 16, perLane: 5, layout: 'strided' },
    { lanes: 1, perLane: 7, layout: 'blocked' },
  ];
  const ident = (rank: number): Layout => contiguousLayout(rank);
  const transposed: Layout = { perm: [1, 0], steps: [1, 1], broadcast: [false, false], lead: 0 };
  const flipped: Layout = { perm: [0, 1], steps: [1, -1], broadcast: [false, false], lead: 3 };

  /** Binary cases: [out shape, a shape, a layout, b shape, b layout]. */
  const block = (s: (typeof SHAPES)[number]) => s.lanes * s.perLane * 4;
  const binaryCases = (s: (typeof SHAPES)[number]): [number[], number[], Layout, number[], Layout][] => [
    // Around a workgroup's block (vec4 and scalar paths): one short, exact, one over.
    ...[block(s) - 4, block(s), block(s) + 4, 3 * block(s) + 1, 2 * block(s) - 1].map((n): [number[], number[], Layout, number[], Layout] => [[n], [n], ident(1), [n], ident(1)]),
    // Sizes that are not multiples of 4 on vec4s (a partial last unit): a splat (a broadcast scalar,
    // loaded once per invocation, also at an offset), an aligned offset; an unaligned one runs per element.
    [[3 * block(s) + 3], [3 * block(s) + 3], ident(1), [], ident(0)],
    [[2 * block(s) + 2], [2 * block(s) + 2], { ...ident(1), lead: 4 }, [2 * block(s) + 2], { ...ident(1), lead: 1 }],
    [[block(s) + 1], [block(s) + 1], { ...ident(1), lead: 8 }, [1], { ...ident(1), lead: 5 }],
    // Bias rows: multiples of 4 shorter and longer than the walk's step, and odd rows.
    ...[4, 12, 36, 100, 1028, 7, 33].map((c): [number[], number[], Layout, number[], Layout] => [[37, c], [37, c], ident(2), [c], ident(1)]),
    // Column broadcast, a transposed and a flipped operand (the gather shape; wraps every row).
    [[45, 64], [45, 64], ident(2), [45, 1], ident(2)],
    [[40, 33], [40, 33], transposed, [40, 33], ident(2)],
    [[64, 64], [64, 64], transposed, [64, 64], flipped],
    [[12, 36], [12, 36], flipped, [36], ident(1)],
    // Rank 4 and 5 broadcasts, size-1 and size-0 axes, a scalar.
    [[3, 5, 4, 36], [3, 5, 4, 36], ident(4), [5, 1, 36], ident(3)],
    [[2, 3, 2, 5, 8], [2, 3, 2, 5, 8], ident(5), [3, 1, 5, 1], ident(4)],
    [[1, 7, 1, 40], [1, 7, 1, 40], ident(4), [40], ident(1)],
    [[6, 0, 8], [6, 0, 8], ident(3), [8], ident(1)],
    [[], [], ident(0), [], ident(0)],
  ];

  for (const s of SHAPES) {
    it(`${s.lanes} lanes × ${s.perLane} ${s.layout}`, async () => {
      overrideElementwiseShape(device(), s);
      try {
        const floats = withSpecials(gens.float(4), 4);
        for (const [out, as, al, bs, bl] of binaryCases(s)) {
          for (const [op, dtype] of [['mul', 'float32'], ['div', 'int32']] as const) {
            const ga = dtype === 'float32' ? floats : gens.int(5);
            const gb = dtype === 'float32' ? withSpecials(gens.float(6), 6) : gens.smallInt(7);
            const a = makePair(gpu, dtype, as, al, ga);
            const b = makePair(gpu, dtype, bs, bl, gb);
            await checkPrim(gpu, op, [a, b], {}, { shape: out, dtype }, { exact: true, signedZeros: true }, `${op}<${dtype}> ${JSON.stringify([as, bs])}`);
            releasePairs(gpu, [a, b]);
          }
        }
        // Random strided views (permuted, flipped, stepped, broadcast) of random shapes.
        await fc.assert(
          fc.asyncProperty(viewArb({ maxNumel: 3000 }), async ([shape, layout, seed]) => {
            const x = makePair(gpu, 'float32', shape, layout, withSpecials(gens.float(seed), seed));
            await checkPrim(gpu, 'neg', [x], {}, { shape, dtype: 'float32' }, { exact: true, signedZeros: true }, 'neg');
            releasePairs(gpu, [x]);
          }),
          { numRuns: 12 },
        );
      } finally {
        overrideElementwiseShape(device(), undefined);
      }
    }, 120_000);
  }

  it('the tuned shapes: software adapters get SIMD-wide workgroups, GPUs wide ones; always within the limits', () => {
    const limits = { maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupSizeX: 256, maxComputeWorkgroupStorageSize: 16384, maxComputeWorkgroupsPerDimension: 65535 };
    const sw = chooseElementwiseShapes('software', 8, limits);
    expect(sw.dense).toMatchObject({ lanes: 8, perLane: 64 });
    expect(chooseElementwiseShapes('software', 16, limits).dense.lanes).toBe(16);
    expect(chooseElementwiseShapes('gpu', undefined, limits).dense.lanes).toBe(256);
    fc.assert(
      fc.property(fc.constantFrom<'software' | 'gpu'>('software', 'gpu'), fc.integer({ min: 1, max: 1024 }), fc.integer({ min: 1, max: 1024 }), fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 0, max: 1e7 }),
        (kind, inv, x, perDim, units) => {
          const l = { ...limits, maxComputeInvocationsPerWorkgroup: inv, maxComputeWorkgroupSizeX: x, maxComputeWorkgroupsPerDimension: perDim };
          for (const sh of Object.values(chooseElementwiseShapes(kind, 8, l))) {
            expect(sh.lanes).toBeLessThanOrEqual(Math.min(inv, x));
            expect(Number.isInteger(Math.log2(sh.lanes))).toBe(true);
            const d = dispatchSize(sh, units);
            // Every unit is covered, and no workgroup is empty.
            expect(d.workgroups * sh.lanes * d.perLane).toBeGreaterThanOrEqual(units);
            expect((d.workgroups - 1) * sh.lanes * d.perLane).toBeLessThan(Math.max(units, 1));
            expect(d.perLane).toBeLessThanOrEqual(sh.perLane);
          }
        }),
    );
  });
});
