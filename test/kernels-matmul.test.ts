/**
 * WebGPU matmul kernel against the CPU reference: fixed edge cases (1×1×1, size-0 dims, K = 0,
 * tile-aligned and ragged shapes, split-K, batch broadcasting, transposed / sliced / broadcast
 * views) and random shapes up to 300×517×129 with ranks 2–4, broadcast batch dims and transposed
 * input views; NaN, ±∞ and −0 at tile and k-step edges and sprinkled over random shapes (±∞ must
 * match exactly, NaN be NaN, zeros keep their sign), on the 'sg' kernel lavapipe picks and on the
 * tiled workgroup-memory kernel real GPUs get (forced with `kind: 'tiled'`), which also runs on
 * random shapes.
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

/** Storage-index value generators of the two operands (default: finite values in [-4, 4]). */
interface Gens { a?: (i: number) => number; b?: (i: number) => number }

async function check(aShape: number[], bShape: number[], aLayout?: Layout, bLayout?: Layout, seed = 1, values: Gens = {}): Promise<void> {
  const batch = broadcastShapes('matmul', aShape.slice(0, -2), bShape.slice(0, -2));
  const out = [...batch, aShape[aShape.length - 2], bShape[bShape.length - 1]];
  const a = makePair(gpu, 'float32', aShape, aLayout ?? contiguousLayout(aShape.length), values.a ?? gens.float(seed));
  const b = makePair(gpu, 'float32', bShape, bLayout ?? contiguousLayout(bShape.length), values.b ?? gens.float(seed + 7));
  try {
    const t = { ...tol(aShape[aShape.length - 1]), signedZeros: true };
    await checkPrim(gpu, 'matmul', [a, b], {}, { shape: out, dtype: 'float32' }, t, `matmul ${JSON.stringify(aShape)}@${JSON.stringify(bShape)}`);
  } finally {
    releasePairs(gpu, [a, b]);
  }
}

/** Special values for the kernels' edges. */
const SPECIALS = [Infinity, -Infinity, NaN, -0];

/**
 * Finite values except at the listed [row, column] positions of a contiguous [rows, cols] matrix.
 * Rows and columns on tile and k-step edges get ±∞, NaN and −0, so a kernel that reads one element
 * past a row (an off-by-one bound) picks up the next row's special and turns a finite row into NaN.
 */
function edgeSpecials(seed: number, cols: number, at: [number, number, number][]): (i: number) => number {
  const special = new Map(at.map(([r, c, v]) => [r * cols + c, v]));
  const base = gens.float(seed);
  return (i) => (special.has(i) ? special.get(i)! : base(i));
}

/**
 * Specials at tile edges of an M×K @ K×N product for tile height tm, width tn and k step tk: A gets
 * them in its first and last columns on rows next to tile edges (the rows just before stay
 * finite), and at k-step edges; B in its first and last rows on column-tile edges and at k-step
 * edges; one A row and one B column are all −0.
 */
function tileEdgeCase(M: number, K: number, N: number, tm: number, tn: number, tk: number, seed: number): Gens {
  const rows = [...new Set([1, tm, 2 * tm, M - 1].filter((r) => r > 0 && r < M))];
  const aAt: [number, number, number][] = rows.flatMap((r, i) => [[r, 0, SPECIALS[i % 4]], [r, K - 1, SPECIALS[(i + 1) % 4]]] as [number, number, number][]);
  for (const k of [tk - 1, tk, 2 * tk - 1]) if (k < K && tm + 3 < M) aAt.push([tm + 3, k, SPECIALS[k % 3]]);
  const negZeroRow = Math.min(M - 1, tm - 2 > 0 ? tm - 2 : 0);
  for (let k = 0; k < K; k++) if (!aAt.some(([r]) => r === negZeroRow)) aAt.push([negZeroRow, k, -0]);
  const cols = [...new Set([0, tn - 1, tn, N - 1].filter((c) => c >= 0 && c < N))];
  const bAt: [number, number, number][] = cols.flatMap((c, i) => [[0, c, SPECIALS[(i + 2) % 4]], [K - 1, c, SPECIALS[(i + 3) % 4]]] as [number, number, number][]);
  for (const k of [tk - 1, tk]) if (k < K && N > 5) bAt.push([k, 5, SPECIALS[k % 2]]);
  const negZeroCol = Math.min(N - 1, 3);
  for (let k = 0; k < K; k++) if (!bAt.some(([, c]) => c === negZeroCol)) bAt.push([k, negZeroCol, -0]);
  return { a: edgeSpecials(seed, K, aAt), b: edgeSpecials(seed + 7, N, bAt) };
}

/** Sparse specials anywhere (about 1 in 40 storage elements), for random shapes and layouts. */
const sparseSpecials = (seed: number) => {
  const base = gens.float(seed);
  return (i: number) => {
    const r = Math.sin(seed * 7.3 + i * 31.1) * 43758.5453;
    const f = r - Math.floor(r);
    return f < 0.025 ? SPECIALS[Math.floor(f * 160) % 4] : base(i);
  };
};

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

  it('NaN, ±∞ and −0 at tile edges: non-finite results and signed zeros as the CPU gives them (sg, production, tiled)', async () => {
    // A ragged shape (the checked loaders; K = 37 takes the scalar loads) and an aligned one, on the
    // variants the other tests compile anyway (LLVM's JIT takes seconds per kernel variant).
    const configs: [Partial<MatmulConfig>, number, number, number][] = [
      [REDUCED, 8, 32, 4], // sg, reduced block: 8-row tiles, 32 columns, k step 4
      [DEFAULT_MATMUL_CONFIG, 16, 32, 4], // sg, production block
      [{ ...REDUCED, kind: 'tiled' }, 32, 32, 16], // tiled: 4×4 per invocation in an 8×8 workgroup, k tile 16
    ];
    for (const [cfg, tm, tn, tk] of configs) {
      await withConfig(cfg, async () => {
        for (const [M, K, N] of [[33, 37, 65], [64, 32, 64]]) await check([M, K], [K, N], undefined, undefined, 1, tileEdgeCase(M, K, N, tm, tn, tk, M + K));
      });
    }
    // Batched, with split-K (long K, small output).
    await check([2, 7, 300], [300, 5], undefined, undefined, 1, { a: sparseSpecials(3), b: sparseSpecials(4) });
  });

  it('random shapes and layouts with sparse NaN/±∞/−0 (sg and tiled kernels)', async () => {
    const arb = fc.record({
      m: fc.integer({ min: 1, max: 70 }),
      k: fc.integer({ min: 1, max: 70 }),
      n: fc.integer({ min: 1, max: 70 }),
      tA: fc.boolean(),
      tB: fc.boolean(),
      tiled: fc.boolean(),
      seed: fc.integer({ min: 1, max: 1000 }),
    });
    await fc.assert(
      fc.asyncProperty(arb, async ({ m, k, n, tA, tB, tiled, seed }) => {
        await withConfig(tiled ? { ...REDUCED, kind: 'tiled' } : REDUCED, () =>
          check([m, k], [k, n], tA ? transposedLayout(2) : undefined, tB ? transposedLayout(2) : undefined, seed, { a: sparseSpecials(seed), b: sparseSpecials(seed + 1) }),
        );
      }),
      { numRuns: 8 },
    );
  });

  it('tiled workgroup-memory kernel on random shapes, batches and layouts', async () => {
    const arb = fc.record({
      m: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 41, max: 140 })),
      k: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 41, max: 300 })),
      n: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 41, max: 140 })),
      batch: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 1 }),
      tA: fc.boolean(),
      tB: fc.boolean(),
      seed: fc.integer({ min: 1, max: 1000 }),
    });
    await withConfig({ ...REDUCED, kind: 'tiled' }, () =>
      fc.assert(
        fc.asyncProperty(arb, async ({ m, k, n, batch, tA, tB, seed }) => {
          const aShape = [...batch, m, k];
          await check(aShape, [k, n], tA ? transposedLayout(aShape.length) : undefined, tB ? transposedLayout(2) : undefined, seed);
        }),
        { numRuns: 4 },
      ),
    );
  });
});
