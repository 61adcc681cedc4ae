/**
 * Test helpers for the WebGPU kernels: a lazily created shared WebGpuBackend (through nodeGpu()),
 * a CPU reference backend, fast-check arbitraries for shapes and strided views, and comparison of a
 * GPU result against the CPU reference.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import { CpuBackend, type CpuStorage } from '../../src/backends/cpu/backend.js';
import type { WebGpuBackend } from '../../src/backends/webgpu/backend.js';
import { requestWebGpuBackend } from '../../src/backends/webgpu/device.js';
import { nodeGpu } from '../../src/backends/webgpu/node-gpu.js';
import type { Backend, OutputSpec, View } from '../../src/core/backend.js';
import * as wg from '../../src/index.js';
import { withBackend } from '../../src/tensor/engine.js';
import { storageArray, type AnyStorageArray, type DType } from '../../src/core/dtype.js';
import type { ComputePrim, PrimParams } from '../../src/core/prims.js';
import { contiguousStrides, numel } from '../../src/core/shape.js';
import type { GpuStorage } from '../../src/kernels/runtime.js';

let gpuPromise: Promise<WebGpuBackend> | null = null;

/** The shared WebGPU backend of this test file (created on first use). */
export function getGpu(): Promise<WebGpuBackend> {
  gpuPromise ??= requestWebGpuBackend({ gpu: nodeGpu() });
  return gpuPromise;
}

/** A WebGPU backend with fusion and one that realizes every op at once (`fusion: false`). */
export async function fusedAndUnfused(): Promise<{ gpu: WebGpuBackend; unfused: WebGpuBackend }> {
  const [gpu, unfused] = await Promise.all([requestWebGpuBackend({ gpu: nodeGpu() }), requestWebGpuBackend({ gpu: nodeGpu(), fusion: false })]);
  return { gpu, unfused };
}

/** `f` run under `wg.tidy` with `b` as the backend. */
export const tidyOn = <R>(b: Backend, f: () => R): R => withBackend(b, () => wg.tidy(f));

/** Runs `f` with `keys` receiving the pipeline key of every dispatch `gpu` records meanwhile. */
export async function withDispatchKeys<R>(gpu: WebGpuBackend, f: (keys: string[]) => Promise<R>): Promise<R> {
  const keys: string[] = [];
  const rt = gpu.runtime as unknown as { dispatch: (spec: { key: string }, bufs: unknown) => void };
  const dispatch = rt.dispatch.bind(rt);
  rt.dispatch = (spec, bufs) => { keys.push(spec.key); dispatch(spec, bufs); };
  try {
    return await f(keys);
  } finally {
    rt.dispatch = dispatch;
  }
}

let cpu: CpuBackend | null = null;
export function getCpu(): CpuBackend {
  cpu ??= new CpuBackend();
  return cpu;
}

/** Shape arbitrary: rank in [minRank, maxRank], dims from a small set incl. 0 and 1, numel ≤ maxNumel. */
export function shapeArb(opts: { minRank?: number; maxRank?: number; maxNumel?: number; allowZero?: boolean } = {}): fc.Arbitrary<number[]> {
  const { minRank = 0, maxRank = 6, maxNumel = 4096, allowZero = true } = opts;
  const dim = fc.oneof(
    { weight: 1, arbitrary: fc.constant(1) },
    { weight: allowZero ? 1 : 0, arbitrary: fc.constant(0) },
    { weight: 6, arbitrary: fc.integer({ min: 2, max: 9 }) },
    { weight: 2, arbitrary: fc.integer({ min: 10, max: 70 }) },
  );
  return fc.array(dim, { minLength: minRank, maxLength: maxRank }).map((s) => {
    const out = [...s];
    // Shrink the largest dims until numel fits.
    while (numel(out) > maxNumel) {
      const i = out.indexOf(Math.max(...out));
      out[i] = Math.max(1, Math.floor(out[i] / 2));
    }
    return out;
  });
}

/** How to lay a logical tensor out in storage: permutation, per-axis step (negative = flipped), broadcast. */
export interface Layout {
  perm: number[];
  steps: number[];
  broadcast: boolean[];
  lead: number;
}

export function layoutArb(rank: number, opts: { allowBroadcast?: boolean } = {}): fc.Arbitrary<Layout> {
  const { allowBroadcast = true } = opts;
  const idx = Array.from({ length: rank }, (_, i) => i);
  return fc.record({
    perm: fc.shuffledSubarray(idx, { minLength: rank, maxLength: rank }),
    steps: fc.array(fc.constantFrom(1, 1, 1, -1, 2, -2), { minLength: rank, maxLength: rank }),
    broadcast: fc.array(fc.integer({ min: 0, max: 3 }).map((v) => allowBroadcast && v === 0), { minLength: rank, maxLength: rank }),
    lead: fc.integer({ min: 0, max: 5 }),
  });
}

export const contiguousLayout = (rank: number): Layout => ({
  perm: Array.from({ length: rank }, (_, i) => i),
  steps: new Array(rank).fill(1),
  broadcast: new Array(rank).fill(false),
  lead: 0,
});

/**
 * Storage data plus a view of logical `shape` laid out as `layout` describes: the base tensor holds
 * the axes in `perm` order, spaced by |step|, flipped for negative steps, with `lead` extra elements
 * before; broadcast axes have stride 0.
 */
export function buildStrided(shape: readonly number[], layout: Layout, gen: (i: number) => number): {
  base: number[];
  strides: number[];
  offset: number;
} {
  const rank = shape.length;
  if (numel(shape) === 0) return { base: [0], strides: contiguousStrides(shape), offset: 0 };
  // Base extents in base order (base axis b holds logical axis perm[b]).
  const ext = layout.perm.map((d) => (layout.broadcast[d] ? 1 : (shape[d] - 1) * Math.abs(layout.steps[d]) + 1));
  const bstr = contiguousStrides(ext);
  const strides = new Array<number>(rank).fill(0);
  let offset = layout.lead;
  layout.perm.forEach((d, b) => {
    if (layout.broadcast[d]) return;
    strides[d] = bstr[b] * layout.steps[d];
    if (layout.steps[d] < 0) offset += (shape[d] - 1) * Math.abs(layout.steps[d]) * bstr[b];
  });
  const total = layout.lead + numel(ext);
  const base = Array.from({ length: total }, (_, i) => gen(i));
  return { base, strides, offset };
}

function toArray(dtype: DType, values: number[]): AnyStorageArray {
  const a = storageArray(dtype, values.length);
  for (let i = 0; i < values.length; i++) a[i] = values[i];
  return a;
}

/** The same view on both backends. */
export interface Pair {
  gpu: View<GpuStorage>;
  cpu: View<CpuStorage>;
}

export function makePair(gpu: WebGpuBackend, dtype: DType, shape: readonly number[], layout: Layout, gen: (i: number) => number): Pair {
  const { base, strides, offset } = buildStrided(shape, layout, gen);
  const data = toArray(dtype, base);
  const gs = gpu.upload(data, dtype);
  const cs = getCpu().upload(data, dtype);
  return {
    gpu: { storage: gs, dtype, shape, strides, offset },
    cpu: { storage: cs, dtype, shape, strides, offset },
  };
}

export function releasePairs(gpu: WebGpuBackend, pairs: Pair[]): void {
  for (const p of pairs) {
    gpu.release(p.gpu.storage);
    getCpu().release(p.cpu.storage);
  }
}

export interface Tolerance {
  rtol?: number;
  atol?: number;
  /** Exact comparison (bits for floats, except that all NaNs are equal). */
  exact?: boolean;
  /** Per-element magnitude (e.g. the sum of |terms| of a sum): allows |diff| <= stol * scale[i]. */
  scale?: ArrayLike<number>;
  stol?: number;
  /** Zero results must match in sign (+0 vs −0), as their bit patterns do. ±∞ always match exactly and NaN
   *  matches NaN (its sign and payload are not specified by IEEE 754 or WGSL, so they are not compared). */
  signedZeros?: boolean;
}

export function compareArrays(got: ArrayLike<number>, want: ArrayLike<number>, tol: Tolerance, what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  const { rtol = 1e-5, atol = 1e-6, exact = false, scale, stol = 0, signedZeros = false } = tol;
  for (let i = 0; i < want.length; i++) {
    const g = got[i];
    const w = want[i];
    if (Number.isNaN(w) || Number.isNaN(g)) {
      if (Number.isNaN(w) !== Number.isNaN(g)) expect.fail(`${what}: element ${i}: got ${g}, want ${w}`);
      continue;
    }
    if (exact || !Number.isFinite(w)) {
      if (g !== w) expect.fail(`${what}: element ${i}: got ${g}, want ${w}`);
      continue;
    }
    if (signedZeros && w === 0 && g === 0 && !Object.is(g, w)) expect.fail(`${what}: element ${i}: got ${Object.is(g, -0) ? '-0' : g}, want ${Object.is(w, -0) ? '-0' : w}`);
    const allowed = atol + rtol * Math.abs(w) + (scale ? stol * scale[i] : 0);
    if (!(Math.abs(g - w) <= allowed)) expect.fail(`${what}: element ${i}: got ${g}, want ${w} (|diff| ${Math.abs(g - w)})`);
  }
}

/** Runs `prim` on the CPU only and reads the result (e.g. to compute tolerance scales). */
export async function cpuOnly<P extends ComputePrim>(prim: P, inputs: View<CpuStorage>[], params: PrimParams[P], out: OutputSpec) {
  const cpu = getCpu();
  const s = cpu.run(prim, inputs, params, out);
  const r = await cpu.read({ storage: s, dtype: out.dtype, shape: out.shape, strides: contiguousStrides(out.shape), offset: 0 });
  cpu.release(s);
  return r;
}

/** Runs `prim` on both backends over the pairs' views and compares the results. */
export async function checkPrim<P extends ComputePrim>(
  gpu: WebGpuBackend,
  prim: P,
  inputs: Pair[],
  params: PrimParams[P],
  out: OutputSpec,
  tol: Tolerance,
  what: string = prim,
): Promise<void> {
  const cpu = getCpu();
  const cs = cpu.run(prim, inputs.map((p) => p.cpu), params, out);
  const gs = gpu.run(prim, inputs.map((p) => p.gpu), params, out);
  const strides = contiguousStrides(out.shape);
  const want = await cpu.read({ storage: cs, dtype: out.dtype, shape: out.shape, strides, offset: 0 });
  const got = await gpu.read({ storage: gs, dtype: out.dtype, shape: out.shape, strides, offset: 0 });
  cpu.release(cs);
  gpu.release(gs);
  compareArrays(got, want, tol, `${what} ${JSON.stringify(out.shape)}`);
}

/** Value generators by dtype. */
export const gens = {
  float: (seed: number) => (i: number) => {
    const r = Math.sin(seed * 12.9898 + i * 78.233) * 43758.5453;
    const f = r - Math.floor(r);
    return (f - 0.5) * 8;
  },
  positive: (seed: number) => (i: number) => {
    const r = Math.sin(seed * 12.9898 + i * 78.233) * 43758.5453;
    return (r - Math.floor(r)) * 4 + 0.01;
  },
  smallInt: (seed: number) => (i: number) => {
    const r = Math.sin(seed * 3.7 + i * 91.17) * 43758.5453;
    return Math.floor((r - Math.floor(r)) * 11) - 5;
  },
  int: (seed: number) => (i: number) => {
    const r = Math.sin(seed * 3.7 + i * 91.17) * 43758.5453;
    return Math.floor((r - Math.floor(r)) * 4294967296) - 2147483648;
  },
  bool: (seed: number) => (i: number) => {
    const r = Math.sin(seed * 5.1 + i * 13.7) * 43758.5453;
    return r - Math.floor(r) < 0.5 ? 1 : 0;
  },
};

/** Values that include specials (±0, ±inf, NaN, halves) with some probability. */
export function withSpecials(g: (i: number) => number, seed: number): (i: number) => number {
  const specials = [0, -0, Infinity, -Infinity, NaN, 0.5, -0.5, 1.5, 2.5, -2.5, 1, -1];
  return (i) => {
    const r = Math.sin(seed * 7.3 + i * 31.1) * 43758.5453;
    const f = r - Math.floor(r);
    return f < 0.15 ? specials[Math.floor(f * 80) % specials.length] : g(i);
  };
}
