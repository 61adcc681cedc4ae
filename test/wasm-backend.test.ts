/**
 * The wasm backend (src/backends/wasm) against the CPU reference, primitive by primitive, with the
 * WebGPU kernel tests' generators (test/helpers/gpu.ts): matmul on random shapes (ranks 2–4,
 * broadcast batch axes, transposed / flipped / strided / broadcast views, dims that are not
 * multiples of the 4 × 8 tile, K beyond one k block, M beyond one row block), NaN / ±∞ / −0, with
 * and without relaxed-SIMD FMA; conv2d, conv2dWeightGrad (im2col + GEMM) and conv2dInputGrad (GEMM + col2im) on random
 * geometry with groups, size-0 batches and specials; the SIMD binary ops bit-exact on broadcast and strided operands
 * with specials; a delegated primitive; selection through init / WGRAD_BACKEND; flat memory in a
 * loop.
 */
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import type { CpuStorage } from '../src/backends/cpu/backend.js';
import { WasmBackend } from '../src/backends/wasm/backend.js';
import { LazyValue } from '../src/backends/wasm/fusion.js';
import { hasRelaxedSimd } from '../src/backends/wasm/kernels.js';
import type { OutputSpec, View } from '../src/core/backend.js';
import { storageArray, type DType } from '../src/core/dtype.js';
import type { ComputePrim, PrimParams } from '../src/core/prims.js';
import { broadcastShapes, contiguousStrides, convOutSize } from '../src/core/shape.js';
import * as wg from '../src/index.js';
import { init } from '../src/init.js';
import { BACKEND_FLAG, startBackend } from '../src/cli/backend.js';
import {
  buildStrided, compareArrays, contiguousLayout, gens, getCpu, layoutArb, shapeArb, withSpecials, type Layout, type Tolerance,
} from './helpers/gpu.js';

const wasm = new WasmBackend();
/** Every runKernel call's result: null where the primitive went to the CPU reference. */
const kernelRuns = vi.spyOn(WasmBackend.prototype as unknown as { runKernel: (prim: string) => unknown }, 'runKernel');
const wasmMulAdd = new WasmBackend({ relaxedSimd: false });

/** One logical view laid out as `layout`, uploaded to the CPU reference and to `b`. */
function pair(b: WasmBackend, shape: number[], layout: Layout, gen: (i: number) => number, dtype: DType = 'float32') {
  const { base, strides, offset } = buildStrided(shape, layout, gen);
  const data = storageArray(dtype, base.length);
  data.set(base);
  const view = (storage: CpuStorage): View<CpuStorage> => ({ storage, dtype, shape, strides, offset });
  return { cpu: view(getCpu().upload(data, dtype)), wasm: view(b.upload(data, dtype)) };
}

/** `prim` on `b` against the CPU reference; unless `delegated`, it must have run a Wasm kernel. */
async function check<P extends ComputePrim>(b: WasmBackend, prim: P, inputs: ReturnType<typeof pair>[], params: PrimParams[P], out: OutputSpec, tol: Tolerance, what: string, delegated = false) {
  const full = { dtype: out.dtype, shape: out.shape, strides: contiguousStrides(out.shape), offset: 0 };
  const cpuResult = getCpu().run(prim, inputs.map((p) => p.cpu), params, out);
  const want = await getCpu().read({ storage: cpuResult, ...full });
  getCpu().release(cpuResult);
  const kernelCalls = kernelRuns.mock.calls.length;
  const result = b.run(prim, inputs.map((p) => p.wasm), params, out);
  // A Wasm computation: a fused program (a pending value) or a kernel (runKernel gave a result).
  const ranWasm = result instanceof LazyValue || (kernelRuns.mock.calls.length > kernelCalls && kernelRuns.mock.results.at(-1)?.value !== null);
  const got = await b.read({ storage: result, ...full });
  b.release(result);
  expect(!ranWasm, `${what}: ran on the CPU reference`).toBe(delegated);
  for (const p of inputs) { getCpu().release(p.cpu.storage); b.release(p.wasm.storage); }
  compareArrays(got, want, tol, `${what} ${JSON.stringify(out.shape)}`);
}

/** float32 sums of K products of values in [-4, 4] against the reference's doubles. */
const matmulTol = (K: number): Tolerance => ({ rtol: 1e-4, atol: 1e-4 + 1e-6 * 16 * K, signedZeros: true });

async function checkMatmul(b: WasmBackend, aShape: number[], bShape: number[], la?: Layout, lb?: Layout, ga = gens.float(1), gb = gens.float(8)) {
  const batch = broadcastShapes('matmul', aShape.slice(0, -2), bShape.slice(0, -2));
  const out = { shape: [...batch, aShape[aShape.length - 2], bShape[bShape.length - 1]], dtype: 'float32' as const };
  const a = pair(b, aShape, la ?? contiguousLayout(aShape.length), ga);
  const bb = pair(b, bShape, lb ?? contiguousLayout(bShape.length), gb);
  await check(b, 'matmul', [a, bb], {}, out, matmulTol(aShape[aShape.length - 1]), `matmul ${JSON.stringify(aShape)}@${JSON.stringify(bShape)}`);
}

const specials = (seed: number) => withSpecials(gens.float(seed), seed);

describe('wasm matmul', () => {
  for (const [name, b] of [['default', wasm], ['mul + add', wasmMulAdd]] as const) {
    it(`edge shapes (${name})`, async () => {
      for (const [M, K, N] of [[1, 1, 1], [0, 3, 4], [3, 0, 4], [3, 4, 0], [4, 5, 8], [5, 7, 9], [3, 257, 11], [131, 20, 17], [9, 300, 33]]) {
        await checkMatmul(b, [M, K], [K, N]);
      }
      await checkMatmul(b, [2, 1, 5, 6], [3, 6, 7]); // broadcast batch axes
      await checkMatmul(b, [7, 6], [2, 6, 9]);
    });
  }

  it('random shapes, layouts and broadcast batches', async () => {
    const dims = fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 70 }), fc.integer({ min: 1, max: 40 }));
    await fc.assert(fc.asyncProperty(dims, shapeArb({ minRank: 0, maxRank: 2, maxNumel: 6, allowZero: false }), fc.nat(), fc.integer({ min: 0, max: 1 }), async ([extra, M, K, N], batch, seed, useMulAdd) => {
      const aShape = [...batch.map((d, i) => (i === extra % (batch.length + 1) ? 1 : d)), M, K];
      const bShape = [...batch, K, N];
      const [la, lb] = fc.sample(fc.tuple(layoutArb(aShape.length), layoutArb(bShape.length)), { seed, numRuns: 1 })[0];
      await checkMatmul(useMulAdd ? wasmMulAdd : wasm, aShape, bShape, la, lb, gens.float(seed), gens.float(seed + 3));
    }), { numRuns: 40 });
  });

  it('NaN, ±∞ and −0 (kept exactly; padding never leaks into kept elements)', async () => {
    for (const [M, K, N] of [[5, 3, 9], [4, 8, 8], [13, 260, 10]]) {
      await checkMatmul(wasm, [M, K], [K, N], undefined, undefined, specials(2), specials(5));
      await checkMatmul(wasmMulAdd, [M, K], [K, N], undefined, undefined, specials(3), specials(6));
    }
    // A row of −0 against finite B sums to +0, as in the reference.
    await checkMatmul(wasm, [3, 4], [4, 5], undefined, undefined, () => -0, gens.float(1));
  });

  it('reports relaxed-SIMD FMA exactly when the engine validates it', () => {
    expect(wasm.report.backend).toBe('wasm');
    expect(wasm.report.features.includes('relaxed-simd')).toBe(hasRelaxedSimd());
    expect(wasmMulAdd.report.features).toEqual(['simd128']);
  });
});

describe('wasm conv2d', () => {
  const geometry = fc.record({
    N: fc.integer({ min: 0, max: 2 }), groups: fc.integer({ min: 1, max: 2 }), Cg: fc.integer({ min: 1, max: 3 }), Og: fc.integer({ min: 1, max: 9 }),
    H: fc.integer({ min: 1, max: 8 }), W: fc.integer({ min: 1, max: 8 }), kh: fc.integer({ min: 1, max: 3 }), kw: fc.integer({ min: 1, max: 3 }),
    sh: fc.integer({ min: 1, max: 2 }), sw: fc.integer({ min: 1, max: 2 }), ph: fc.integer({ min: 0, max: 2 }), pw: fc.integer({ min: 0, max: 2 }),
    dh: fc.integer({ min: 1, max: 2 }), dw: fc.integer({ min: 1, max: 2 }), seed: fc.nat(), special: fc.boolean(),
  });

  type Case = typeof geometry extends fc.Arbitrary<infer T> ? T : never;
  type ConvPrim = 'conv2d' | 'conv2dWeightGrad' | 'conv2dInputGrad';
  /** Operands (x, w) for conv2d, (x, gy) for conv2dWeightGrad, (gy, w) for conv2dInputGrad, each laid out at random. */
  async function checkConv(prim: ConvPrim, p: Case): Promise<void> {
    const Ho = convOutSize(p.H, p.kh, p.sh, p.ph, p.dh);
    const Wo = convOutSize(p.W, p.kw, p.sw, p.pw, p.dw);
    fc.pre(Ho > 0 && Wo > 0);
    const shapes = { x: [p.N, p.Cg * p.groups, p.H, p.W], w: [p.Og * p.groups, p.Cg, p.kh, p.kw], y: [p.N, p.Og * p.groups, Ho, Wo] };
    const [ins, outShape, K] = {
      conv2d: [['x', 'w'], shapes.y, p.Cg * p.kh * p.kw],
      conv2dWeightGrad: [['x', 'y'], shapes.w, p.N * Ho * Wo],
      conv2dInputGrad: [['y', 'w'], shapes.x, p.Og * p.kh * p.kw],
    }[prim] as [('x' | 'w' | 'y')[], number[], number];
    const layouts = fc.sample(fc.tuple(layoutArb(4), layoutArb(4)), { seed: p.seed, numRuns: 1 })[0];
    const gen = (s: number) => (p.special ? specials(s) : gens.float(s));
    const operands = ins.map((name, i) => pair(wasm, shapes[name], layouts[i], gen(p.seed + i)));
    const g = { stride: [p.sh, p.sw] as [number, number], padding: [p.ph, p.pw] as [number, number], dilation: [p.dh, p.dw] as [number, number], groups: p.groups };
    const params = { ...g, kernelSize: [p.kh, p.kw] as [number, number], inputSize: [p.H, p.W] as [number, number] };
    await check(wasm, prim, operands, params, { shape: outShape, dtype: 'float32' }, matmulTol(K), `${prim} ${JSON.stringify(p)}`);
  }

  for (const prim of ['conv2d', 'conv2dWeightGrad', 'conv2dInputGrad'] as const) {
    it(`${prim} matches the reference on random geometry, groups, strided views and specials`, async () => {
      await fc.assert(fc.asyncProperty(geometry, (p) => checkConv(prim, p)), { numRuns: 60 });
    });
  }

  it('conv2dInputGrad: a non-finite weight gives NaN exactly at the pixels its tap reaches no output from', async () => {
    // Stride 2 leaves every other pixel unreached by each tap; padding 0 leaves the border unreached.
    const base: Case = { N: 1, groups: 1, Cg: 1, Og: 2, H: 5, W: 6, kh: 2, kw: 3, sh: 2, sw: 2, ph: 0, pw: 1, dh: 1, dw: 1, seed: 0, special: false };
    for (const bad of [Infinity, -Infinity, NaN]) {
      const Ho = convOutSize(base.H, base.kh, base.sh, base.ph, base.dh);
      const Wo = convOutSize(base.W, base.kw, base.sw, base.pw, base.dw);
      const gy = pair(wasm, [1, 2, Ho, Wo], contiguousLayout(4), gens.float(3));
      const w = pair(wasm, [2, 1, 2, 3], contiguousLayout(4), (i) => (i === 4 ? bad : 0.5 + i / 8));
      const params = { stride: [2, 2] as [number, number], padding: [0, 1] as [number, number], dilation: [1, 1] as [number, number], groups: 1, inputSize: [5, 6] as [number, number] };
      await check(wasm, 'conv2dInputGrad', [gy, w], params, { shape: [1, 1, 5, 6], dtype: 'float32' }, matmulTol(12), `bad weight ${bad}`);
    }
  });

  it('conv2d and conv2dInputGrad split a large batch into column chunks', async () => {
    // 57 images × 8 channels × 3·3 taps × 32·32 pixels of columns exceed one chunk of 4 Mi floats.
    const p: Case = { N: 57, groups: 1, Cg: 8, Og: 1, H: 32, W: 32, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1, dh: 1, dw: 1, seed: 7, special: false };
    await checkConv('conv2d', p);
    await checkConv('conv2dInputGrad', p);
  });

  it('size-0 batch and channels', async () => {
    for (const prim of ['conv2d', 'conv2dWeightGrad', 'conv2dInputGrad'] as const) {
      await checkConv(prim, { N: 0, groups: 1, Cg: 2, Og: 3, H: 4, W: 5, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1, dh: 1, dw: 1, seed: 1, special: false });
    }
  });
});

describe('wasm elementwise', () => {
  it('add sub mul div maximum minimum are bit-exact on broadcast and strided operands with specials', async () => {
    const ops = ['add', 'sub', 'mul', 'div', 'maximum', 'minimum'] as const;
    const shapes = shapeArb({ maxRank: 4, maxNumel: 600 }).chain((s) => fc.tuple(fc.constant(s), fc.array(fc.boolean(), { minLength: s.length, maxLength: s.length })));
    await fc.assert(fc.asyncProperty(fc.constantFrom(...ops), shapes, fc.nat(), async (op, [shape, ones], seed) => {
      const bShape = shape.map((d, i) => (ones[i] ? 1 : d)).slice(seed % 2);
      const [la, lb] = fc.sample(fc.tuple(layoutArb(shape.length), layoutArb(bShape.length)), { seed, numRuns: 1 })[0];
      const a = pair(wasm, shape, la, specials(seed));
      const b = pair(wasm, bShape, lb, specials(seed + 1));
      await check(wasm, op, [a, b], {}, { shape, dtype: 'float32' }, { exact: true, signedZeros: true }, op);
    }), { numRuns: 60 });
  });

  /** A shape, a broadcastable shape of it (some axes 1, maybe fewer axes), and layouts for both. */
  const operandShapes = shapeArb({ maxRank: 4, maxNumel: 600 }).chain((shape) => fc.tuple(
    fc.constant(shape), fc.array(fc.boolean(), { minLength: shape.length, maxLength: shape.length }), fc.nat(),
  ).map(([, ones, seed]) => {
    const small = shape.map((d, i) => (ones[i] ? 1 : d)).slice(seed % 2);
    return { shape, small, seed };
  }));
  /** Values of every magnitude, including huge ones (casts saturate) and specials. */
  const wide = (seed: number) => withSpecials((i) => gens.float(seed)(i) * 10 ** ((i * 7 + seed) % 12), seed);

  it('eq ne lt le gt ge (float32 → bool) are bit-exact with specials', async () => {
    await fc.assert(fc.asyncProperty(fc.constantFrom('eq', 'ne', 'lt', 'le', 'gt', 'ge' as const), operandShapes, async (op, { shape, small, seed }) => {
      const [la, lb] = fc.sample(fc.tuple(layoutArb(shape.length), layoutArb(small.length)), { seed, numRuns: 1 })[0];
      // Few distinct values, so that equal operands are common.
      const few = (s: number) => withSpecials((i) => Math.round(gens.float(s)(i)), s);
      const a = pair(wasm, shape, la, few(seed));
      const b = pair(wasm, small, lb, few(seed + 1));
      await check(wasm, op, seed % 3 ? [a, b] : [b, a], {}, { shape, dtype: 'bool' }, { exact: true }, op);
    }), { numRuns: 40 });
  });

  it('where picks the exact bits of float32 and int32 values', async () => {
    await fc.assert(fc.asyncProperty(fc.constantFrom<DType>('float32', 'int32'), operandShapes, async (valueType, { shape, small, seed }) => {
      const [lc, la, lb] = fc.sample(fc.tuple(layoutArb(small.length), layoutArb(shape.length), layoutArb(small.length)), { seed, numRuns: 1 })[0];
      const values = (s: number) => (valueType === 'float32' ? specials(s) : gens.int(s));
      const c = pair(wasm, small, lc, gens.bool(seed), 'bool');
      const a = pair(wasm, shape, la, values(seed + 1), valueType);
      const b = pair(wasm, small, lb, values(seed + 2), valueType);
      await check(wasm, 'where', [c, a, b], {}, { shape, dtype: valueType }, { exact: true, signedZeros: true }, `where ${valueType}`);
    }), { numRuns: 40 });
  });

  it('neg abs sqrt reciprocal floor ceil round sign copy are bit-exact (specials, halves, subnormals, huge values)', async () => {
    const ops = ['neg', 'abs', 'sqrt', 'reciprocal', 'floor', 'ceil', 'round', 'sign', 'copy'] as const;
    const subnormalOrWide = (seed: number) => (i: number) => (i % 5 === 0 ? gens.float(seed)(i) * 1e-40 : wide(seed)(i));
    await fc.assert(fc.asyncProperty(fc.constantFrom(...ops), operandShapes, async (op, { shape, seed }) => {
      const x = pair(wasm, shape, fc.sample(layoutArb(shape.length), { seed, numRuns: 1 })[0], seed % 2 ? subnormalOrWide(seed) : specials(seed));
      await check(wasm, op, [x], {}, { shape, dtype: 'float32' }, { exact: true, signedZeros: true }, op);
    }), { numRuns: 60 });
    const ints = pair(wasm, [9], contiguousLayout(1), gens.int(3), 'int32');
    await check(wasm, 'copy', [ints], {}, { shape: [9], dtype: 'int32' }, { exact: true }, 'copy int32');
  });

  it('exp, log and rsqrt (float64 lanes) equal the reference on strided views with specials, subnormals and huge values', async () => {
    const subnormalOrWide = (seed: number) => (i: number) => (i % 5 === 0 ? gens.float(seed)(i) * 1e-40 : wide(seed)(i));
    await fc.assert(fc.asyncProperty(fc.constantFrom('exp', 'log', 'rsqrt' as const), operandShapes, async (op, { shape, seed }) => {
      const magnitude = (s: number) => (op === 'exp' ? withSpecials((i) => gens.float(s)(i) * 30, s) : seed % 2 ? subnormalOrWide(s) : specials(s));
      const x = pair(wasm, shape, fc.sample(layoutArb(shape.length), { seed, numRuns: 1 })[0], magnitude(seed));
      await check(wasm, op, [x], {}, { shape, dtype: 'float32' }, { exact: true, signedZeros: true }, op);
    }), { numRuns: 40 });
  });

  it('exp, log and rsqrt over sweeps of float32 (every 4096th bit pattern; dense where results are finite) are the reference\'s float32', async () => {
    const n = 2 ** 19;
    const bits = new Float32Array(Uint32Array.from({ length: n }, (_, i) => i * 8192 + (i % 4093)).buffer);
    const dense = (lo: number, hi: number) => Float32Array.from({ length: n }, (_, i) => lo + ((hi - lo) * i) / n);
    const sweeps = { exp: dense(-104, 89), log: dense(0.25, 4), rsqrt: dense(0.25, 4) };
    for (const op of ['exp', 'log', 'rsqrt'] as const) {
      const x = new Float32Array(2 * n);
      x.set(bits);
      x.set(sweeps[op], n);
      const v = pair(wasm, [x.length], contiguousLayout(1), (i) => x[i]);
      await check(wasm, op, [v], {}, { shape: [x.length], dtype: 'float32' }, { exact: true, signedZeros: true }, `${op} sweep`);
    }
  });

  it('logicalAnd, logicalOr (bool) and logicalNot (any dtype: NaN → 0, −0 → 1) match the reference', async () => {
    await fc.assert(fc.asyncProperty(fc.constantFrom('logicalAnd', 'logicalOr' as const), operandShapes, async (op, { shape, small, seed }) => {
      const [la, lb] = fc.sample(fc.tuple(layoutArb(shape.length), layoutArb(small.length)), { seed, numRuns: 1 })[0];
      const a = pair(wasm, shape, la, gens.bool(seed), 'bool');
      const b = pair(wasm, small, lb, gens.bool(seed + 1), 'bool');
      await check(wasm, op, seed % 2 ? [a, b] : [b, a], {}, { shape, dtype: 'bool' }, { exact: true }, op);
    }), { numRuns: 30 });
    await fc.assert(fc.asyncProperty(fc.constantFrom<DType>('float32', 'int32', 'bool'), operandShapes, async (dtype, { shape, seed }) => {
      const gen = dtype === 'float32' ? withSpecials((i) => (i % 3 ? 0 : gens.float(seed)(i)), seed) : dtype === 'bool' ? gens.bool(seed) : (i: number) => (i % 3 ? 0 : gens.int(seed)(i));
      const x = pair(wasm, shape, fc.sample(layoutArb(shape.length), { seed, numRuns: 1 })[0], gen, dtype);
      await check(wasm, 'logicalNot', [x], {}, { shape, dtype: 'bool' }, { exact: true }, `logicalNot ${dtype}`);
    }), { numRuns: 30 });
  });

  it('casts between float32, int32, uint32 and bool are bit-exact (saturation, NaN → 0, −0)', async () => {
    const kinds = [['bool', 'float32'], ['int32', 'float32'], ['uint32', 'float32'], ['float32', 'int32'], ['float32', 'uint32'], ['float32', 'bool'], ['int32', 'bool'], ['uint32', 'bool']] as const;
    await fc.assert(fc.asyncProperty(fc.constantFrom(...kinds), operandShapes, async ([from, to], { shape, seed }) => {
      const gen = from === 'float32' ? wide(seed) : from === 'bool' ? gens.bool(seed) : (i: number) => (i % 3 ? gens.int(seed)(i) : gens.smallInt(seed)(i));
      const x = pair(wasm, shape, fc.sample(layoutArb(shape.length), { seed, numRuns: 1 })[0], gen, from);
      await check(wasm, 'cast', [x], { dtype: to }, { shape, dtype: to }, { exact: true, signedZeros: true }, `cast ${from}→${to}`);
    }), { numRuns: 50 });
  });

  it('sum, max and min over any axes are bit-exact with the reference (float64 sums, NaN, −0, empty rows)', async () => {
    const cases = shapeArb({ maxRank: 4, maxNumel: 2000 }).chain((shape) => fc.tuple(fc.constant(shape), fc.subarray(shape.map((_, i) => i)), fc.nat()));
    await fc.assert(fc.asyncProperty(fc.constantFrom('sum', 'max', 'min' as const), cases, async (op, [shape, axes, seed]) => {
      fc.pre(op === 'sum' || axes.every((a) => shape[a] > 0));
      const x = pair(wasm, shape, fc.sample(layoutArb(shape.length), { seed, numRuns: 1 })[0], seed % 2 ? specials(seed) : wide(seed));
      const outShape = shape.filter((_, i) => !axes.includes(i));
      await check(wasm, op, [x], { axes }, { shape: outShape, dtype: 'float32' }, { exact: true, signedZeros: true }, `${op} over ${JSON.stringify(axes)}`);
    }), { numRuns: 60 });
  });

  it('max and min over 2 × 2 windows (a max-pool\'s tiles: the window kernel) are bit-exact, with odd widths, specials and −0', async () => {
    const dims = fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 11 }), fc.nat());
    await fc.assert(fc.asyncProperty(fc.constantFrom('max', 'min' as const), dims, async (op, [N, C, Ho, Wo, seed]) => {
      const shape = [N, C, Ho, 2, Wo, 2];
      const zeros = (s: number) => (i: number) => (i % 7 === 3 ? (i % 2 ? -0 : 0) : specials(s)(i));
      const x = pair(wasm, shape, contiguousLayout(6), zeros(seed));
      await check(wasm, op, [x], { axes: [3, 5] }, { shape: [N, C, Ho, Wo], dtype: 'float32' }, { exact: true, signedZeros: true }, `${op} windows ${JSON.stringify(shape)}`);
    }), { numRuns: 40 });
    // One kept axis (rows = 1) and windows with a row stride beyond the width (a sliced image).
    const row = pair(wasm, [2, 7, 2], contiguousLayout(3), specials(9));
    await check(wasm, 'max', [row], { axes: [0, 2] }, { shape: [7], dtype: 'float32' }, { exact: true, signedZeros: true }, 'one row of windows');
  });

  it('copies operands in by both paths: long runs and views of 7 axes (JS), short and flipped runs (Wasm gather)', async () => {
    const shapes = [[5, 100], [3, 1, 70], [2, 3, 2, 3, 2, 3, 2], [4, 2, 5, 3]];
    await fc.assert(fc.asyncProperty(fc.constantFrom(...shapes), fc.nat(), async (shape, seed) => {
      const [la, lb] = fc.sample(fc.tuple(layoutArb(shape.length), layoutArb(shape.length)), { seed, numRuns: 1 })[0];
      const a = pair(wasm, shape, la, specials(seed));
      const b = pair(wasm, shape, lb, specials(seed + 1));
      await check(wasm, 'maximum', [a, b], {}, { shape, dtype: 'float32' }, { exact: true, signedZeros: true }, `maximum ${JSON.stringify([la, lb])}`);
      const x = pair(wasm, shape, la, specials(seed + 2));
      await check(wasm, 'sum', [x], { axes: [0, shape.length - 1] }, { shape: shape.slice(1, -1), dtype: 'float32' }, { exact: true, signedZeros: true }, 'sum');
    }), { numRuns: 30 });
  });

  it('delegates other primitives to the CPU reference (int operands of add, log1p)', async () => {
    const x = pair(wasm, [7], contiguousLayout(1), specials(4));
    await check(wasm, 'log1p', [x], {}, { shape: [7], dtype: 'float32' }, { exact: true }, 'log1p', true);
    await init({ backend: 'wasm' });
    const t = wg.tidy(() => wg.add(wg.tensor(Int32Array.of(1, 2)), wg.tensor(Int32Array.of(3, 4))));
    expect(Array.from(await t.data() as Int32Array)).toEqual([4, 6]);
    t.dispose();
  });
});

describe('wasm gradients', () => {
  it('a small conv net\'s gradients match the CPU reference backend\'s', async () => {
    const x = Float32Array.from({ length: 2 * 3 * 6 * 6 }, (_, i) => Math.sin(i * 0.7));
    const w = Float32Array.from({ length: 4 * 3 * 3 * 3 }, (_, i) => Math.cos(i * 0.3));
    const v = Float32Array.from({ length: 4 * 9 * 5 }, (_, i) => Math.sin(i * 1.3));
    const grads = async (backend: 'cpu' | 'wasm') => {
      await init({ backend });
      const gs = wg.tidy(() => {
        const loss = (wt: wg.Tensor, vt: wg.Tensor) => {
          const y = wg.maximum(wg.conv2d(wg.tensor(x, { shape: [2, 3, 6, 6] }), wt, { stride: 2, padding: 1 }), 0);
          const z = wg.matmul(wg.reshape(y, [2, 36]), wg.reshape(vt, [36, 5]));
          return wg.sum(wg.mul(z, z));
        };
        return wg.grad(loss, { argnums: [0, 1] })(wg.tensor(w, { shape: [4, 3, 3, 3] }), wg.tensor(v, { shape: [4, 9, 5] }));
      });
      const out = await Promise.all(gs.map(async (g) => Array.from(await g.data() as Float32Array)));
      wg.dispose(gs);
      return out;
    };
    const want = await grads('cpu');
    const got = await grads('wasm');
    got.forEach((g, i) => compareArrays(g, want[i], { rtol: 1e-4, atol: 1e-3 }, `gradient ${i}`));
  });
});

describe('wasm backend selection and memory', () => {
  it('init({ backend: "wasm" }) and WGRAD_BACKEND=wasm start it', async () => {
    expect((await init({ backend: 'wasm' })).backend).toBe('wasm');
    const prev = process.env.WGRAD_BACKEND;
    process.env.WGRAD_BACKEND = 'wasm';
    try {
      expect((await init()).backend).toBe('wasm');
    } finally {
      if (prev === undefined) delete process.env.WGRAD_BACKEND; else process.env.WGRAD_BACKEND = prev;
    }
    await expect(init({ backend: 'wasmx' as 'wasm' })).rejects.toThrow(/unknown backend "wasmx": expected "webgpu", "cpu".*"wasm"/);
  });

  it('the CLI accepts --backend wasm and names it', async () => {
    expect(BACKEND_FLAG.choices).toContain('wasm');
    expect(await startBackend('wasm')).toMatch(/^the wasm backend \(WebAssembly SIMD128/);
  });

  it('a training-like loop holds memory flat', async () => {
    await init({ backend: 'wasm' });
    const w = wg.keep(wg.tensor(Float32Array.from({ length: 48 }, (_, i) => Math.sin(i)), { shape: [8, 6] }));
    const step = () => wg.tidy(() => {
      const x = wg.tensor(Float32Array.from({ length: 40 }, (_, i) => Math.cos(i)), { shape: [5, 8] });
      const g = wg.grad((v: wg.Tensor) => wg.sum(wg.mul(wg.matmul(x, v), wg.matmul(x, v))))(w);
      return wg.sum(g);
    });
    const samples: string[] = [];
    for (let i = 0; i < 30; i++) {
      const s = step();
      await s.data();
      s.dispose();
      if (i >= 5) samples.push(JSON.stringify(wg.memoryStats()));
    }
    expect(new Set(samples).size).toBe(1);
    w.dispose();
  });
});
