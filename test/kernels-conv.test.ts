/**
 * WebGPU conv2d, conv2dInputGrad and conv2dWeightGrad kernels against the CPU reference on fixed
 * and random geometries: stride 1–3, padding 0–2, dilation 1–2, groups 1/2/4, kernels 1–5, odd
 * and even spatial sizes, batch 1–3, random non-contiguous input views, the 1×1 (pointwise) fast
 * path, the forward's im2col path and the input gradient's column path (in batch chunks) beside
 * the implicit GEMMs, the transposed weight gradient, and NaN/±∞/−0 in
 * inputs, weights and output gradients, padded taps included (non-finite results compared exactly,
 * zeros by sign).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { WebGpuBackend } from '../src/backends/webgpu/backend.js';
import type { Conv2dGeometry } from '../src/core/prims.js';
import { convOutSize } from '../src/core/shape.js';
import { setColumnBudget } from '../src/kernels/conv-col2im.js';
import { DEFAULT_MATMUL_CONFIG, setMatmulConfig } from '../src/kernels/matmul.js';
import { checkPrim, contiguousLayout, gens, getGpu, layoutArb, makePair, releasePairs, type Layout } from './helpers/gpu.js';

/** Float32 sums of K products of values in [-4, 4]: the absolute tolerance scales with K. */
const tol = (k: number) => ({ rtol: 1e-4, atol: 1e-4 + 1e-6 * 16 * k });

let gpu: WebGpuBackend;
beforeAll(async () => {
  gpu = await getGpu();
  // A reduced register block keeps LLVM's JIT time per kernel variant short; the generator and the
  // conv loaders are the same as with the production block (kernels-matmul.test.ts covers that).
  setMatmulConfig({ sgR: 8, sgC: 4, sgLargeMacs: Infinity, r: 4, c: 4, tk: 16 });
});
afterAll(() => {
  setMatmulConfig(DEFAULT_MATMUL_CONFIG);
});

interface Case {
  n: number; c: number; h: number; w: number; o: number; kh: number; kw: number;
  geom: Conv2dGeometry;
}

/** Storage-index value generators of the operands (default: finite values in [-4, 4]). */
type Gens = { x?: (i: number) => number; w?: (i: number) => number; gy?: (i: number) => number };

/** Checks all three prims for one geometry (±∞ exactly, NaN as NaN, zeros with their sign). */
async function check(t: Case, seed = 1, layouts: { x?: Layout; w?: Layout; gy?: Layout } = {}, values: Gens = {}): Promise<void> {
  const { n, c, h, w, o, kh, kw, geom } = t;
  const ho = convOutSize(h, kh, geom.stride[0], geom.padding[0], geom.dilation[0]);
  const wo = convOutSize(w, kw, geom.stride[1], geom.padding[1], geom.dilation[1]);
  if (ho <= 0 || wo <= 0) return;
  const xs = [n, c, h, w];
  const ws = [o, c / geom.groups, kh, kw];
  const ys = [n, o, ho, wo];
  const x = makePair(gpu, 'float32', xs, layouts.x ?? contiguousLayout(4), values.x ?? gens.float(seed));
  const wt = makePair(gpu, 'float32', ws, layouts.w ?? contiguousLayout(4), values.w ?? gens.float(seed + 1));
  const gy = makePair(gpu, 'float32', ys, layouts.gy ?? contiguousLayout(4), values.gy ?? gens.float(seed + 2));
  const what = `${JSON.stringify(t)}`;
  const bits = (k: number) => ({ ...tol(k), signedZeros: true });
  try {
    await checkPrim(gpu, 'conv2d', [x, wt], geom, { shape: ys, dtype: 'float32' }, bits((c / geom.groups) * kh * kw), `conv2d ${what}`);
    await checkPrim(gpu, 'conv2dInputGrad', [gy, wt], { ...geom, inputSize: [h, w] }, { shape: xs, dtype: 'float32' }, bits((o / geom.groups) * kh * kw), `inputGrad ${what}`);
    await checkPrim(gpu, 'conv2dWeightGrad', [x, gy], { ...geom, kernelSize: [kh, kw] }, { shape: ws, dtype: 'float32' }, bits(n * ho * wo), `weightGrad ${what}`);
  } finally {
    releasePairs(gpu, [x, wt, gy]);
  }
}

const g = (stride: number[], padding: number[], dilation: number[], groups: number): Conv2dGeometry => ({
  stride: stride as [number, number], padding: padding as [number, number], dilation: dilation as [number, number], groups,
});

describe('conv kernels', () => {
  it('fixed geometries', async () => {
    await check({ n: 2, c: 4, h: 9, w: 9, o: 6, kh: 3, kw: 3, geom: g([2, 2], [1, 1], [1, 1], 2) });
    await check({ n: 1, c: 3, h: 7, w: 5, o: 4, kh: 1, kw: 1, geom: g([1, 1], [0, 0], [1, 1], 1) }); // pointwise
    await check({ n: 3, c: 4, h: 11, w: 8, o: 4, kh: 3, kw: 2, geom: g([2, 3], [2, 1], [2, 1], 4) });
    await check({ n: 1, c: 2, h: 3, w: 3, o: 2, kh: 3, kw: 3, geom: g([3, 3], [0, 0], [1, 1], 1) }); // 1×1 output
  });

  it('non-contiguous input views', async () => {
    const perm: Layout = { perm: [1, 0, 3, 2], steps: [1, 1, 1, 1], broadcast: [false, false, false, false], lead: 3 };
    const flip: Layout = { perm: [0, 1, 2, 3], steps: [1, -1, 2, 1], broadcast: [false, false, false, false], lead: 1 };
    const t = { n: 2, c: 4, h: 7, w: 6, o: 4, kh: 3, kw: 2, geom: g([1, 2], [1, 1], [1, 1], 2) };
    await check(t, 3, { x: perm, w: flip, gy: perm });
    await check({ n: 2, c: 4, h: 5, w: 5, o: 6, kh: 1, kw: 1, geom: g([1, 1], [0, 0], [1, 1], 1) }, 4, { x: perm, w: perm, gy: flip });
  });

  it('production register block', async () => {
    const prev = setMatmulConfig(DEFAULT_MATMUL_CONFIG);
    try {
      await check({ n: 2, c: 8, h: 16, w: 16, o: 16, kh: 3, kw: 3, geom: g([1, 1], [1, 1], [1, 1], 1) });
    } finally {
      setMatmulConfig(prev);
    }
  });

  it('random geometries (even and odd sizes, strided/transposed/flipped input views) against the CPU reference', async () => {
    // Strided views (permuted, flipped, stepped, offset): often for x, now and then for w and gy
    // (each combination of loader modes is a kernel variant for LLVM to compile).
    const viewArb = (contiguous: number) =>
      fc.oneof({ weight: contiguous, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: layoutArb(4, { allowBroadcast: false }) });
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          n: fc.integer({ min: 1, max: 3 }),
          groups: fc.constantFrom(1, 2, 4),
          cg: fc.integer({ min: 1, max: 3 }),
          og: fc.integer({ min: 1, max: 3 }),
          h: fc.integer({ min: 1, max: 13 }),
          w: fc.integer({ min: 1, max: 13 }),
          kh: fc.integer({ min: 1, max: 5 }),
          kw: fc.integer({ min: 1, max: 5 }),
          sh: fc.integer({ min: 1, max: 3 }),
          sw: fc.integer({ min: 1, max: 3 }),
          ph: fc.integer({ min: 0, max: 2 }),
          pw: fc.integer({ min: 0, max: 2 }),
          dh: fc.integer({ min: 1, max: 2 }),
          dw: fc.integer({ min: 1, max: 2 }),
          seed: fc.integer({ min: 1, max: 1000 }),
          views: fc.record({ x: viewArb(1), w: viewArb(4), gy: viewArb(4) }),
        }),
        async (r) => {
          const t: Case = {
            n: r.n, c: r.cg * r.groups, h: r.h, w: r.w, o: r.og * r.groups, kh: r.kh, kw: r.kw,
            geom: g([r.sh, r.sw], [r.ph, r.pw], [r.dh, r.dw], r.groups),
          };
          await check(t, r.seed, r.views);
        },
      ),
      { numRuns: 20 },
    );
  });

  it('weight gradient through the transposed GEMM (few columns Cg·kh·kw, many output channels)', async () => {
    await check({ n: 2, c: 1, h: 9, w: 8, o: 24, kh: 3, kw: 3, geom: g([1, 1], [1, 1], [1, 1], 1) });
    await check({ n: 3, c: 2, h: 7, w: 9, o: 32, kh: 2, kw: 2, geom: g([2, 1], [1, 0], [1, 2], 2) }, 2);
  });

  it('forward through an explicit im2col buffer (long reduction, more channels than a block has rows), in batch chunks', async () => {
    const t = { n: 3, c: 4, h: 7, w: 6, o: 12, kh: 3, kw: 3, geom: g([1, 1], [1, 1], [1, 1], 1) }; // P = 42: scalar columns
    const grouped = { n: 2, c: 8, h: 8, w: 8, o: 20, kh: 3, kw: 3, geom: g([2, 1], [1, 0], [1, 2], 2) }; // P = 16: vec4 columns
    await check(t, 21);
    await check(grouped, 22);
    const prev = setColumnBudget(4 * 9 * 42); // one image of t per chunk: later chunks go through a copy
    try {
      await check(t, 23);
    } finally {
      setColumnBudget(prev);
    }
  });

  it('input gradient: column path in batch chunks, and the implicit transposed-conv GEMM when the columns exceed the budget', async () => {
    const t = { n: 3, c: 2, h: 7, w: 6, o: 4, kh: 3, kw: 3, geom: g([1, 1], [1, 1], [1, 1], 2) };
    const strided = { n: 3, c: 3, h: 9, w: 7, o: 2, kh: 3, kw: 2, geom: g([2, 2], [1, 0], [1, 2], 1) };
    const colsPerImage = (u: Case) => {
      const ho = convOutSize(u.h, u.kh, u.geom.stride[0], u.geom.padding[0], u.geom.dilation[0]);
      const wo = convOutSize(u.w, u.kw, u.geom.stride[1], u.geom.padding[1], u.geom.dilation[1]);
      return u.c * u.kh * u.kw * ho * wo;
    };
    const prev = setColumnBudget(colsPerImage(t));
    try {
      await check(t, 11); // one image per chunk: 3 GEMM + gather rounds into one output
      setColumnBudget(2 * colsPerImage(strided));
      await check(strided, 12); // chunks of 2 and 1 images, strided taps
      setColumnBudget(0);
      await check(t, 13); // implicit GEMM
      await check(strided, 14);
    } finally {
      setColumnBudget(prev);
    }
  });

  it('NaN, ±∞ and −0 in inputs, weights and output gradients: non-finite results as the CPU gives them', async () => {
    // Padded taps must read an exact 0, not a masked load times 0 (∞·0 = NaN): the element a
    // masked-out load falls back to (storage index 0) is ∞, and so are elements on the spatial
    // edges and channel/group boundaries; channel 1 starts with a −0 row.
    // Padded or out-of-range taps still multiply that 0 (as PyTorch's explicit zero padding does):
    // ±∞ weights in the corner taps (which meet the padding) and ±∞ output gradients on the borders
    // give NaN there on both backends (the CPU reference once skipped those taps instead).
    const specialsAt = (seed: number, at: Map<number, number>) => {
      const base = gens.float(seed);
      return (i: number) => (at.has(i) ? at.get(i)! : base(i));
    };
    const cases: Case[] = [
      { n: 2, c: 4, h: 9, w: 8, o: 6, kh: 3, kw: 3, geom: g([1, 1], [1, 1], [1, 1], 2) },
      { n: 1, c: 3, h: 6, w: 7, o: 2, kh: 3, kw: 2, geom: g([2, 1], [1, 1], [2, 1], 1) },
      { n: 2, c: 2, h: 5, w: 5, o: 4, kh: 1, kw: 1, geom: g([1, 1], [0, 0], [1, 1], 1) }, // pointwise
      { n: 2, c: 4, h: 6, w: 5, o: 10, kh: 3, kw: 3, geom: g([1, 1], [1, 1], [1, 1], 1) }, // forward through im2col
    ];
    for (const t of cases) {
      const hw = t.h * t.w;
      const x = new Map<number, number>([[0, Infinity], [hw - 1, NaN], [t.n * t.c * hw - 1, -Infinity], [(t.c - 1) * hw + t.w - 1, -Infinity]]);
      for (let q = 0; q < t.w; q++) x.set(hw + q, -0);
      const pointwise = t.kh === 1 && t.kw === 1;
      const wSize = (t.c / t.geom.groups) * t.kh * t.kw;
      const ho = convOutSize(t.h, t.kh, t.geom.stride[0], t.geom.padding[0], t.geom.dilation[0]);
      const wo = convOutSize(t.w, t.kw, t.geom.stride[1], t.geom.padding[1], t.geom.dilation[1]);
      const gySize = t.n * t.o * ho * wo;
      // Padded: ∞ in the top-left tap of output channel 0, −∞ in the bottom-right tap of the last
      // one; ∞ / −∞ in the first / last output gradient (top-left / bottom-right corners).
      const w = new Map<number, number>(pointwise
        ? [[0, -0], [wSize * (t.o - 1), NaN], [wSize - 1, -Infinity]]
        : [[0, Infinity], [wSize * t.o - 1, -Infinity], [wSize + 1, -0]]);
      const gy = new Map<number, number>(pointwise
        ? [[0, NaN], [3, Infinity], [5, -0]]
        : [[0, Infinity], [gySize - 1, -Infinity], [wo + 1, -0]]);
      // The input gradient's column path (default) and its implicit path (no column budget).
      for (const budget of [Infinity, 0]) {
        const prev = setColumnBudget(budget);
        try {
          await check(t, 5, {}, { x: specialsAt(5, x), w: specialsAt(6, w), gy: specialsAt(7, gy) });
        } finally {
          setColumnBudget(prev);
        }
      }
    }
  });
});
