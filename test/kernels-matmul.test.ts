/**
 * WebGPU matmul kernel against the CPU reference: fixed edge cases (1×1×1, size-0 dims, K = 0,
 * tile-aligned and ragged shapes, split-K, batch broadcasting, transposed / sliced / broadcast
 * views) and random shapes up to 300×517×129 with ranks 2–4, broadcast batch dims and transposed
 * input views.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { WebGpuBackend } from '../src/backends/webgpu/backend.js';
import { broadcastShapes } from '../src/core/shape.js';
import { DEFAULT_MATMUL_CONFIG, setMatmulConfig, type MatmulConfig } from '../src/kernels/matmul.js';
import { checkPrim, contiguousLayout, gens, getGpu, makePair, releasePairs, type Layout } from './helpers/gpu.js';

/** Float32 sums of K products of values in [-4, 4]: absolute error grows with K (the CPU reference
 *  accumulates in float64), so the absolute tolerance scales with K. */
const tol = (k: number) => ({ rtol: 1e-4, atol: 1e-4 + 1e-6 * 16 * k });

/** Layout with the last two axes swapped in storage (a transposed view), optionally flipped / strided. */
function transposedLayout(rank: number, step = 1): Layout {
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
  return { perm, steps: perm.map((_, i) => (i === rank - 1 ? step : 1)), broadcast: new Array(rank).fill(false), lead: 3 };
}

/**
 * Each kernel variant is JIT-compiled by LLVM on first use (seconds for the production 32×4 block),
 * so most cases run on a reduced register block (8 rows; same generator, same code paths) and a
 * separate group runs representative cases on the production configuration and on the tiled
 * (workgroup-memory) kernel used by non-CPU adapters.
 */
const REDUCED: Partial<MatmulConfig> = { sgR: 8, sgC: 4, sgLargeMacs: Infinity, r: 4, c: 4, tk: 16 };

let gpu: WebGpuBackend;
beforeAll(async () => {
  gpu = await getGpu();
  setMatmulConfig(REDUCED);
});
afterAll(() => {
  setMatmulConfig(DEFAULT_MATMUL_CONFIG);
});

async function withConfig(cfg: Partial<MatmulConfig>, f: () => Promise<void>): Promise<void> {
  const prev = setMatmulConfig(cfg);
  try {
    await f();
  } finally {
    setMatmulConfig(prev);
  }
}

async function check(aShape: number[], bShape: number[], aLayout?: Layout, bLayout?: Layout, seed = 1): Promise<void> {
  const batch = broadcastShapes('matmul', aShape.slice(0, -2), bShape.slice(0, -2));
  const out = [...batch, aShape[aShape.length - 2], bShape[bShape.length - 1]];
  const a = makePair(gpu, 'float32', aShape, aLayout ?? contiguousLayout(aShape.length), gens.float(seed));
  const b = makePair(gpu, 'float32', bShape, bLayout ?? contiguousLayout(bShape.length), gens.float(seed + 7));
  try {
    await checkPrim(gpu, 'matmul', [a, b], {}, { shape: out, dtype: 'float32' }, tol(aShape[aShape.length - 1]), `matmul ${JSON.stringify(aShape)}@${JSON.stringify(bShape)}`);
  } finally {
    releasePairs(gpu, [a, b]);
  }
}

describe('matmul kernel', () => {
  it('small and degenerate shapes', async () => {
    await check([1, 1], [1, 1]);
    await check([1, 5], [5, 1]);
    await check([5, 1], [1, 7]);
    await check([3, 0], [0, 4]); // K = 0 → zeros
    await check([0, 3], [3, 4]);
    await check([3, 4], [4, 0]);
    await check([2, 0, 3], [3, 5]);
    await check([7, 9], [9, 13]);
  });

  it('tile-aligned and ragged shapes, vec4 and scalar paths', async () => {
    await check([64, 16], [16, 64]);
    await check([128, 32], [32, 64]);
    await check([65, 17], [17, 63]);
    await check([64, 30], [30, 66]);
    await check([33, 47], [47, 5]);
  });

  it('split-K (small output, long K)', async () => {
    await check([8, 2000], [2000, 8]);
    await check([3, 1027], [1027, 5]);
    await check([2, 4, 640], [640, 6]);
  });

  it('batch broadcasting', async () => {
    await check([2, 3, 4, 5], [5, 6]);
    await check([4, 5], [3, 5, 6]);
    await check([2, 1, 4, 5], [3, 5, 6]);
    await check([1, 3, 4, 5], [2, 1, 5, 6]);
  });

  it('transposed, strided and broadcast views without a copy', async () => {
    await check([37, 29], [29, 41], transposedLayout(2), undefined);
    await check([37, 29], [29, 41], undefined, transposedLayout(2));
    await check([64, 32], [32, 64], transposedLayout(2), transposedLayout(2));
    await check([2, 20, 12], [2, 12, 16], transposedLayout(3, 2), transposedLayout(3));
    // Stride-0 batch axis (a broadcast view of a single matrix).
    const bc: Layout = { perm: [0, 1, 2], steps: [1, 1, 1], broadcast: [true, false, false], lead: 0 };
    await check([3, 9, 10], [3, 10, 11], bc, undefined);
    // Flipped rows.
    const flip: Layout = { perm: [0, 1], steps: [-1, 1], broadcast: [false, false], lead: 2 };
    await check([12, 8], [8, 9], flip, flip);
  });

  it('grids beyond 65,535 workgroups per dimension', async () => {
    await check([2, 3], [3, 2_100_000]); // 65,625 column tiles of 32
  });

  it('many unmergeable batch axes (copy fallback)', async () => {
    await check([2, 1, 3, 1, 4, 5], [1, 2, 1, 3, 5, 3]);
  });

  it('random shapes against the CPU reference', async () => {
    const dimArb = fc.oneof(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 10, max: 80 }), fc.integer({ min: 81, max: 300 }));
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          m: dimArb,
          k: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 41, max: 517 })),
          n: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 21, max: 129 })),
          batchA: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }),
          batchB: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }),
          tA: fc.boolean(),
          tB: fc.boolean(),
          seed: fc.integer({ min: 1, max: 1000 }),
        }),
        async ({ m, k, n, batchA, batchB, tA, tB, seed }) => {
          // Make the batch dims broadcast-compatible: per aligned axis, one side is 1 or they match.
          const rank = Math.max(batchA.length, batchB.length);
          const bA = [...batchA];
          const bB = [...batchB];
          for (let i = 0; i < rank; i++) {
            const ia = bA.length - rank + i;
            const ib = bB.length - rank + i;
            if (ia >= 0 && ib >= 0 && bA[ia] !== 1 && bB[ib] !== 1) bB[ib] = bA[ia];
          }
          // Keep the work bounded on a software rasterizer.
          const batch = Math.max(1, ...broadcastShapes('matmul', bA, bB));
          const mm = Math.max(1, Math.min(m, Math.floor(400000 / Math.max(1, k * batch))));
          const aShape = [...bA, mm, k];
          const bShape = [...bB, k, n];
          await check(aShape, bShape, tA ? transposedLayout(aShape.length) : undefined, tB ? transposedLayout(bShape.length) : undefined, seed);
        },
      ),
      { numRuns: 25, seed: 42 },
    );
  });

  it('a 300×517×129 product', async () => {
    await check([300, 517], [517, 129]);
  });

  it('production configuration: aligned fast path, ragged checked path, transposed operands', async () => {
    await withConfig(DEFAULT_MATMUL_CONFIG, async () => {
      await check([64, 32], [32, 64]);
      await check([300, 517], [517, 129]);
      await check([2, 45, 70], [70, 33], transposedLayout(3), transposedLayout(2));
      await check([5, 600], [600, 7]); // 8-row block + split-K
    });
    // The large-product block (32 rows × 8 columns per lane), forced on a small ragged product.
    await withConfig({ ...DEFAULT_MATMUL_CONFIG, sgLargeMacs: 0 }, async () => {
      await check([70, 40], [40, 72]);
    });
  });

  it('tiled workgroup-memory kernel (non-CPU adapters)', async () => {
    await withConfig({ ...REDUCED, kind: 'tiled' }, async () => {
      await check([64, 32], [32, 64]);
      await check([37, 29], [29, 41], transposedLayout(2), transposedLayout(2));
    });
  });
});
