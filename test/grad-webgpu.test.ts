/**
 * Backward passes on WebGPU against the CPU reference: the gradients of conv2d, matmul, layer norm, softmax /
 * logSoftmax, take / scatterAdd and max / average pooling, on random shapes and geometries, with a
 * random cotangent. The kernel tests compare each forward primitive; these compare what `grad`
 * builds from them on the device (the VJP rules' transposes, broadcasts, un-broadcasts and the
 * gradient primitives) with the same computation on the CPU.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import * as wg from '../src/index.js';
import type { Backend } from '../src/core/backend.js';
import { withBackend } from '../src/tensor/engine.js';
import { DEFAULT_MATMUL_CONFIG, setMatmulConfig } from '../src/kernels/matmul.js';
import { mulberry32 } from '../src/core/random/mulberry.js';
import { convCaseArb, distinctArb, numel, type Shape } from './helpers/arbitrary.js';
import { compareArrays, getCpu, getGpu } from './helpers/gpu.js';

let gpu: Backend;
beforeAll(async () => {
  gpu = await getGpu();
  // The reduced register block of the kernel tests (same generator; LLVM compiles it faster).
  setMatmulConfig({ sgR: 8, sgC: 4, sgLargeMacs: Infinity, r: 4, c: 4, tk: 16 });
});
afterAll(() => {
  setMatmulConfig(DEFAULT_MATMUL_CONFIG);
});

interface Input { shape: Shape; data: Float32Array; int?: boolean }
const floats = (shape: Shape, seed: number): Input => {
  const r = mulberry32(seed);
  return { shape, data: Float32Array.from({ length: numel(shape) }, () => r() * 4 - 2) };
};

/**
 * Gradients of L = Σ f(x…) ⊙ v on backend `b` with respect to the float inputs (int inputs are
 * passed through). v is a fixed pseudo-random cotangent of f's output shape.
 */
async function gradsOn(b: Backend, f: (...xs: wg.Tensor[]) => wg.Tensor, inputs: Input[]): Promise<Float32Array[]> {
  const argnums = inputs.flatMap((x, i) => (x.int ? [] : [i]));
  const gs = withBackend(b, () =>
    wg.tidy(() => {
      const xs = inputs.map((x) => (x.int ? wg.tensor(Int32Array.from(x.data), { shape: x.shape }) : wg.tensor(x.data, { shape: x.shape })));
      const loss = (...ys: wg.Tensor[]) => {
        const y = f(...ys);
        const r = mulberry32(99);
        return wg.sum(wg.mul(y, wg.tensor(Float32Array.from({ length: y.size }, () => r() * 2 - 1), { shape: y.shape })));
      };
      return wg.grad(loss, { argnums })(...xs) as wg.Tensor[];
    }),
  );
  const out = await Promise.all(gs.map(async (g) => (await g.data()) as Float32Array));
  wg.dispose(gs);
  return out;
}

/** The WebGPU gradients equal the CPU ones up to float32 rounding of sums of `terms` products. */
async function compareGrads(what: string, f: (...xs: wg.Tensor[]) => wg.Tensor, inputs: Input[], terms = 16): Promise<void> {
  const want = await gradsOn(getCpu(), f, inputs);
  const got = await gradsOn(gpu, f, inputs);
  want.forEach((w, i) => {
    const scale = Math.max(1, ...Array.from(w, Math.abs));
    compareArrays(got[i], w, { rtol: 1e-4, atol: 2e-6 * terms * scale }, `${what}: gradient ${i}`);
  });
}

describe('WebGPU gradients match the CPU reference', () => {
  it('conv2d (input and weight gradients), random geometry', async () => {
    await fc.assert(
      fc.asyncProperty(convCaseArb(), fc.nat(1000), async (t, seed) => {
        const conv = (x: wg.Tensor, w: wg.Tensor) => wg.conv2d(x, w, { stride: t.stride, padding: t.padding, dilation: t.dilation, groups: t.groups });
        const inputs = [floats([t.n, t.c, t.h, t.w], seed), floats([t.o, t.c / t.groups, t.kh, t.kw], seed + 1)];
        await compareGrads(`conv2d ${JSON.stringify(t)}`, conv, inputs, t.n * t.h * t.w + t.o * t.kh * t.kw);
      }),
      { numRuns: 3 },
    );
  });

  it('matmul with broadcast batch dims and transposed operands', async () => {
    const arb = fc.record({
      m: fc.integer({ min: 2, max: 40 }), k: fc.integer({ min: 2, max: 40 }), n: fc.integer({ min: 2, max: 40 }),
      batch: fc.constantFrom<[Shape, Shape]>([[], []], [[2], []], [[], [3]], [[2, 1], [3]], [[2], [2]]),
      tA: fc.boolean(), tB: fc.boolean(), seed: fc.nat(1000),
    });
    await fc.assert(
      fc.asyncProperty(arb, async ({ m, k, n, batch: [ba, bb], tA, tB, seed }) => {
        // A transposed operand is stored [.., k, m] and used through mT (a strided view).
        const a = floats(tA ? [...ba, k, m] : [...ba, m, k], seed);
        const b = floats(tB ? [...bb, n, k] : [...bb, k, n], seed + 1);
        const f = (x: wg.Tensor, y: wg.Tensor) => wg.matmul(tA ? wg.mT(x) : x, tB ? wg.mT(y) : y);
        await compareGrads(`matmul ${JSON.stringify({ m, k, n, ba, bb, tA, tB })}`, f, [a, b], Math.max(m, k, n) * 6);
      }),
      { numRuns: 3 },
    );
  });

  it('softmax and logSoftmax along a random axis', async () => {
    // Rank 2 (rows or columns; long rows take the split reduction): each reduction layout compiles
    // its own kernels, so the variety is in the sizes.
    const arb = fc
      .tuple(fc.oneof(fc.integer({ min: 2, max: 5 }), fc.integer({ min: 6, max: 300 })), fc.oneof(fc.integer({ min: 2, max: 5 }), fc.integer({ min: 6, max: 3000 })))
      .map((s) => (numel(s) > 30000 ? [Math.min(s[0], 8), s[1]] : s))
      .chain((s) => fc.tuple(fc.constant(s), fc.constantFrom(-1, 0), fc.nat(1000)));
    await fc.assert(
      fc.asyncProperty(arb, async ([shape, axis, seed]) => {
        const x = floats(shape, seed);
        await compareGrads(`softmax ${JSON.stringify(shape)} axis ${axis}`, (t) => wg.nn.softmax(wg.mul(t, 2), axis), [x]);
        await compareGrads(`logSoftmax ${JSON.stringify(shape)} axis ${axis}`, (t) => wg.nn.logSoftmax(t, axis), [x], shape[axis < 0 ? axis + shape.length : axis]);
      }),
      { numRuns: 3 },
    );
  });

  it('layer norm over the last axis with γ and β (row-fused forward and backward), random shapes', async () => {
    const arb = fc.tuple(fc.integer({ min: 1, max: 80 }), fc.oneof(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 8, max: 300 })), fc.nat(1000));
    await fc.assert(
      fc.asyncProperty(arb, async ([rows, cols, seed]) => {
        const layerNorm = (x: wg.Tensor, g: wg.Tensor, b: wg.Tensor) => {
          const mu = wg.mean(x, -1, { keepdims: true });
          const v = wg.variance(x, -1, { keepdims: true });
          return wg.add(wg.mul(wg.mul(wg.sub(x, mu), wg.rsqrt(wg.add(v, 1e-5))), g), b);
        };
        await compareGrads(`layer norm [${rows}, ${cols}]`, layerNorm, [floats([rows, cols], seed), floats([cols], seed + 1), floats([cols], seed + 2)], cols);
      }),
      { numRuns: 6 },
    );
  });

  it('take (gradient: scatterAdd, repeated indices) and scatterAdd (gradient: take)', async () => {
    const arb = fc
      .record({
        shape: fc.array(fc.integer({ min: 2, max: 9 }), { minLength: 1, maxLength: 3 }),
        axisPick: fc.nat(),
        idxShape: fc.array(fc.integer({ min: 2, max: 7 }), { minLength: 1, maxLength: 2 }),
        seed: fc.nat(1000),
      })
      .map((r) => ({ ...r, axis: r.axisPick % r.shape.length }));
    await fc.assert(
      fc.asyncProperty(arb, async ({ shape, axis, idxShape, seed }) => {
        const dim = shape[axis];
        const rand = mulberry32(seed + 5);
        // In-range indices, negative ones included, with repeats (few distinct values).
        const idx: Input = { shape: idxShape, data: Float32Array.from({ length: numel(idxShape) }, () => Math.floor(rand() * 2 * dim) - dim), int: true };
        await compareGrads(`take ${JSON.stringify({ shape, axis, idxShape })}`, (x, i) => wg.take(x, i, axis), [floats(shape, seed), idx], numel(idxShape));
        const updShape = [...shape.slice(0, axis), ...idxShape, ...shape.slice(axis + 1)];
        await compareGrads(`scatterAdd ${JSON.stringify({ shape, axis, idxShape })}`, (u, i) => wg.scatterAdd(u, i, axis, dim), [floats(updShape, seed + 1), idx]);
      }),
      { numRuns: 3 },
    );
  });

  it('maxPool2d (distinct values) and avgPool2d: tiles and overlapping padded windows, random sizes', async () => {
    // Two window geometries, 2×2 tiles (max and mean of a [.., ho, 2, wo, 2] view) and overlapping
    // 2×2 windows with stride 1 and padding 1 (a chain of maximum over shifted views). Overlapping
    // average pooling is a depthwise conv2d, whose gradients the conv2d property compares; its
    // kernels would add tens of seconds of LLVM JIT on lavapipe.
    const arb = fc
      .record({
        n: fc.integer({ min: 1, max: 2 }), c: fc.integer({ min: 2, max: 3 }), h: fc.integer({ min: 3, max: 12 }), w: fc.integer({ min: 3, max: 12 }),
        overlap: fc.boolean(),
      })
      .chain((r) => fc.tuple(fc.constant(r), distinctArb(r.n * r.c * r.h * r.w)));
    await fc.assert(
      fc.asyncProperty(arb, async ([r, values]) => {
        const opts = r.overlap ? { kernel: [2, 2] as [number, number], stride: [1, 1] as [number, number], padding: [1, 1] as [number, number] } : { kernel: [2, 2] as [number, number] };
        const x: Input = { shape: [r.n, r.c, r.h, r.w], data: Float32Array.from(values) };
        await compareGrads(`maxPool2d ${JSON.stringify(r)}`, (t) => wg.nn.maxPool2d(t, opts), [x]);
        if (!r.overlap) await compareGrads(`avgPool2d ${JSON.stringify(r)}`, (t) => wg.nn.avgPool2d(t, opts), [x]);
      }),
      { numRuns: 4 },
    );
  });
});
