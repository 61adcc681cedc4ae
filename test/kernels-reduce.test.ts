/**
 * WebGPU reductions (sum, prod, max, min, argmax, argmin) against the CPU reference: random shapes
 * of rank 1–6 (size-0 and size-1 axes included), random axis subsets, strided / transposed /
 * flipped / broadcast input views, all dtypes, and shapes that exercise every strategy (one
 * invocation per row, one workgroup per row, and the two-pass split for few very long rows), under
 * the shapes tuned for this adapter and under the other kind of adapter's (kernels/tuning.ts).
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { WebGpuBackend } from '../src/backends/webgpu/backend.js';
import type { DType } from '../src/core/dtype.js';
import type { ReduceOp } from '../src/core/prims.js';
import { contiguousStrides } from '../src/core/shape.js';
import { overrideReduceShapes, reduceShapesFor } from '../src/kernels/tuning.js';
import {
  checkPrim, contiguousLayout, cpuOnly, gens, getCpu, getGpu, layoutArb, makePair, releasePairs, shapeArb, withDispatchKeys, withSpecials,
  type Layout, type Pair, type Tolerance,
} from './helpers/gpu.js';

const RUNS = 14;

/** Shape (rank ≥ 1), layout, a non-empty sorted axis subset, and a seed. */
const caseArb = (opts: { maxNumel?: number; oneAxis?: boolean } = {}) =>
  shapeArb({ minRank: 1, maxRank: 6, maxNumel: opts.maxNumel ?? 3000 }).chain((shape) =>
    fc.tuple(
      fc.constant(shape),
      layoutArb(shape.length),
      opts.oneAxis
        ? fc.integer({ min: 0, max: shape.length - 1 }).map((a) => [a])
        : fc.subarray(Array.from({ length: shape.length }, (_, i) => i), { minLength: 1 }),
      fc.integer({ min: 1, max: 1e6 }),
    ),
  );

function gen(dtype: DType, op: ReduceOp, seed: number): (i: number) => number {
  if (dtype === 'bool') return gens.bool(seed);
  if (dtype === 'int32') return seed % 2 ? gens.int(seed) : gens.smallInt(seed);
  if (dtype === 'uint32') return (i) => (gens.int(seed)(i) >>> 0) % (seed % 2 ? 4294967296 : 7);
  if (op === 'prod') {
    const g = gens.float(seed);
    return (i) => 1 + g(i) / 40;
  }
  // Small integers give ties for argmax/argmin; specials (NaN, ±inf, ±0) now and then.
  const base = op.startsWith('arg') && seed % 2 ? (i: number) => Math.round(gens.float(seed)(i)) : gens.float(seed);
  return seed % 5 === 0 ? withSpecials(base, seed) : base;
}

const outDtype = (op: ReduceOp, dtype: DType): DType =>
  op === 'argmax' || op === 'argmin' ? 'int32' : op === 'sum' && dtype === 'bool' ? 'int32' : dtype;

async function tolerance(op: ReduceOp, x: Pair, axes: number[], out: { shape: number[]; dtype: DType }): Promise<Tolerance> {
  if (x.cpu.dtype !== 'float32' || !(op === 'sum' || op === 'prod')) return { exact: true };
  const R = axes.reduce((a, ax) => a * x.cpu.shape[ax], 1);
  if (op === 'prod') return { rtol: 2e-6 * Math.sqrt(R + 1) + 1e-6, atol: 1e-6 };
  // Sums: the error scales with the sum of |terms|.
  const cpu = getCpu();
  const abs = await cpuOnly('abs', [x.cpu], {}, { shape: x.cpu.shape, dtype: 'float32' });
  const s = cpu.upload(abs as Float32Array, 'float32');
  const scale = await cpuOnly('sum', [{ storage: s, dtype: 'float32', shape: x.cpu.shape, strides: contiguousStrides(x.cpu.shape), offset: 0 }], { axes }, out);
  cpu.release(s);
  return { rtol: 1e-6, atol: 1e-6, scale, stol: 1e-6 * Math.sqrt(R + 1) + 1e-6 };
}

async function check(gpu: WebGpuBackend, op: ReduceOp, dtype: DType, shape: number[], layout: Layout, axes: number[], seed: number) {
  const x = makePair(gpu, dtype, shape, layout, gen(dtype, op, seed));
  const out = { shape: shape.filter((_, i) => !axes.includes(i)), dtype: outDtype(op, dtype) };
  await checkPrim(gpu, op, [x], { axes }, out, await tolerance(op, x, axes, out), `${op}<${dtype}> axes [${axes}] of [${shape}]`);
  releasePairs(gpu, [x]);
}

describe('reduction kernels vs CPU', () => {
  let gpu!: WebGpuBackend;
  beforeAll(async () => {
    gpu = await getGpu();
  });

  for (const op of ['sum', 'prod', 'max', 'min'] as ReduceOp[]) {
    it(`${op} over random axes`, async () => {
      await fc.assert(
        fc.asyncProperty(caseArb(), fc.constantFrom<DType>('float32', 'float32', 'int32', 'uint32', 'bool'), async ([shape, layout, axes, seed], dtype) => {
          await check(gpu, op, dtype, shape, layout, axes, seed);
        }),
        { numRuns: RUNS },
      );
    });
  }

  for (const op of ['argmax', 'argmin'] as ReduceOp[]) {
    it(`${op} along one axis (first extreme, first NaN)`, async () => {
      await fc.assert(
        fc.asyncProperty(caseArb({ oneAxis: true }), fc.constantFrom<DType>('float32', 'float32', 'int32', 'uint32', 'bool'), async ([shape, layout, axes, seed], dtype) => {
          await check(gpu, op, dtype, shape, layout, axes, seed);
        }),
        { numRuns: RUNS },
      );
    });
  }

  it('long rows: one workgroup per row, and the two-pass split', async () => {
    const cases: [ReduceOp, DType, number[], number[]][] = [
      ['sum', 'float32', [3, 50000], [1]],
      ['max', 'float32', [2, 40001], [1]],
      ['min', 'int32', [70001], [0]],
      ['prod', 'int32', [5, 20000], [1]],
      ['sum', 'bool', [1, 33333], [1]],
      ['sum', 'float32', [40, 3000], [1]],
      ['argmax', 'float32', [3, 30000], [1]],
      ['argmin', 'int32', [50, 700], [1]],
      ['sum', 'float32', [300, 20, 30], [0, 2]],
      ['max', 'float32', [5000, 70], [1]],
      ['argmax', 'float32', [5000, 70], [0]],
      ['sum', 'uint32', [8, 9, 10, 11], [0, 1, 3]],
    ];
    for (const [op, dtype, shape, axes] of cases) {
      await check(gpu, op, dtype, shape, contiguousLayout(shape.length), axes, shape.length + 3);
      // Also through a transposed, flipped view.
      const layout: Layout = { perm: [...shape.keys()].reverse(), steps: shape.map((_, i) => (i === 0 ? -1 : 1)), broadcast: shape.map(() => false), lead: 2 };
      await check(gpu, op, dtype, shape, layout, axes, shape.length + 11);
    }
  });

  // Shapes whose sizes are not multiples of the tuned chunks: vec4 segments over several reduced
  // axes (bias gradients), chunks that straddle rows, split rows of 4097 vec4s, several short rows
  // per invocation (2×2 pooling tiles, rows of 3), size-1 and size-0 axes, vec4 columns.
  const tunedCases: [ReduceOp, DType, number[], number[]][] = [
    ['sum', 'float32', [16, 8, 30, 36], [0, 2, 3]],
    ['max', 'float32', [7, 3, 4104], [0, 2]],
    ['sum', 'float32', [5, 16388], [1]],
    ['min', 'int32', [2, 6, 20484], [0, 2]],
    ['prod', 'float32', [3, 2, 4, 1032], [0, 3]],
    ['sum', 'float32', [1, 1, 16384], [0, 1, 2]],
    ['sum', 'float32', [1, 20000, 1], [1]],
    ['sum', 'float32', [4097, 1, 4], [1, 2]],
    ['max', 'float32', [8, 16, 14, 2, 14, 2], [3, 5]],
    ['sum', 'float32', [9001, 3], [1]],
    ['sum', 'uint32', [9001, 3], [1]],
    ['argmax', 'float32', [4099, 5], [1]],
    ['sum', 'float32', [0, 16], [1]],
    ['max', 'float32', [5, 0, 8], [1, 2]],
    ['sum', 'float32', [3, 1, 1], [1, 2]],
    // Columns: 4 adjacent outputs per vec4 (linear bias gradients), chunks of rows, two strided axes.
    ['sum', 'float32', [4099, 12], [0]],
    ['max', 'float32', [37, 5, 64], [0, 1]],
    ['sum', 'float32', [3, 4100, 8], [1]],
    ['min', 'int32', [6, 7, 12], [0, 1]],
    ['prod', 'float32', [2, 9, 3, 4], [1, 2]],
  ];
  const otherKind = { software: { rowLanes: 256, groupLanes: 64, vec4PerLane: 2, minWorkgroups: 2048 }, gpu: { rowLanes: 8, groupLanes: 8, vec4PerLane: 64, minWorkgroups: 256 } };
  for (const which of ['tuned for this adapter', 'of the other kind of adapter'] as const) {
    it(`shapes ${which}: chunks, segments and rows per lane that do not divide the sizes`, async () => {
      const device = gpu.device;
      if (which !== 'tuned for this adapter') overrideReduceShapes(device, otherKind[reduceShapesFor(gpu.runtime).kind]);
      try {
        for (const [i, [op, dtype, shape, axes]] of tunedCases.entries()) {
          await check(gpu, op, dtype, shape, contiguousLayout(shape.length), axes, i + 1);
          const layout: Layout = { perm: [...shape.keys()], steps: shape.map((_, d) => (d === 0 ? -1 : 1)), broadcast: shape.map(() => false), lead: 4 };
          await check(gpu, op, dtype, shape, layout, axes, i + 21);
        }
      } finally {
        overrideReduceShapes(device, undefined);
      }
    });
  }

  it('pooling windows (rows of 2 side by side: 2×2, 3×2 and 1×2 tiles) take the pairs4 path and match the CPU', async () => {
    // Few workgroups: each invocation walks several pairs, across the ends of kept rows.
    overrideReduceShapes(gpu.device, { rowLanes: 2, minWorkgroups: 1, vec4PerLane: 64 });
    try {
      await withDispatchKeys(gpu, (keys) => fc.assert(
        fc.asyncProperty(
          fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 6 })),
          fc.constantFrom<ReduceOp>('sum', 'prod', 'max', 'min'),
          fc.constantFrom<DType>('float32', 'float32', 'int32'),
          fc.integer({ min: 1, max: 1e6 }),
          async ([n, c, ho, kh, wo], op, dtype, seed) => {
            keys.length = 0;
            await check(gpu, op, dtype, [n, c, ho, kh, wo, 2], contiguousLayout(6), [3, 5], seed);
            if (wo % 2 === 0) expect(keys.some((k) => k.includes(':pairs4:')), `[${n},${c},${ho},${kh},${wo},2] ${keys}`).toBe(true);
          },
        ),
        { numRuns: 30 },
      ));
    } finally {
      overrideReduceShapes(gpu.device, undefined);
    }
  });

  it('NaN positions: max/min propagate, argmax/argmin pick the first NaN', async () => {
    const rows = [
      [1, NaN, 3, NaN],
      [NaN, 5, 5, 1],
      [2, 2, 2, 2],
      [-Infinity, -Infinity, -1, Infinity],
      [0, -0, 0, -0],
    ];
    const flat = rows.flat();
    const ident = contiguousLayout(2);
    for (const op of ['max', 'min', 'argmax', 'argmin'] as ReduceOp[]) {
      const x = makePair(gpu, 'float32', [5, 4], ident, (i) => flat[i]);
      await checkPrim(gpu, op, [x], { axes: [1] }, { shape: [5], dtype: outDtype(op, 'float32') }, { exact: true }, `${op} NaN rows`);
      releasePairs(gpu, [x]);
    }
  });

  it('empty reductions give the identities (sum 0, prod 1, max -inf, argmax 0)', async () => {
    for (const op of ['sum', 'prod', 'max', 'min', 'argmax', 'argmin'] as ReduceOp[]) {
      for (const dtype of ['float32', 'int32', 'uint32'] as DType[]) {
        const x = makePair(gpu, dtype, [3, 0], contiguousLayout(2), () => 0);
        await checkPrim(gpu, op, [x], { axes: [1] }, { shape: [3], dtype: outDtype(op, dtype) }, { exact: true }, `${op}<${dtype}> empty`);
        releasePairs(gpu, [x]);
      }
    }
  });
});
