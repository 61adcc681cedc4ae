/**
 * fast-check arbitraries for the autodiff property tests.
 *
 * Arbitraries produce plain host data (shapes, number arrays, index lists), never tensors: tensors
 * are made inside the property, after `init`, and — for anything a checked function closes over —
 * inside that function, because `checkGrads` evaluates it on its own float64 CPU backend.
 *
 * Value generators keep inputs away from the points where the function checked is not
 * differentiable (kinks, ties, poles), with margins far larger than the finite-difference step.
 */
import fc from 'fast-check';
import * as wg from '../../src/index.js';

export type Shape = number[];

export const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * A shape of rank minRank..maxRank with dims minDim..maxDim (size-1 axes and scalars included).
 * With `empty`, about one shape in five of rank ≥ 1 has a size-0 axis (a random one).
 */
export function shapeArb({ minRank = 0, maxRank = 3, minDim = 1, maxDim = 3, empty = false } = {}): fc.Arbitrary<Shape> {
  const dims = fc.array(fc.integer({ min: minDim, max: maxDim }), { minLength: minRank, maxLength: maxRank });
  if (!empty) return dims;
  return fc.tuple(dims, fc.integer({ min: 0, max: 4 }), fc.nat()).map(([s, pick, at]) =>
    pick === 0 && s.length > 0 ? s.map((d, i) => (i === at % s.length ? 0 : d)) : s,
  );
}

/**
 * A shape broadcast-compatible with `base`: some leading axes dropped, some axes set to 1.
 * Broadcasting two shapes derived from one base gives a shape that divides the base.
 */
export function derivedShapeArb(base: Shape): fc.Arbitrary<Shape> {
  return fc
    .tuple(fc.integer({ min: 0, max: base.length }), fc.array(fc.boolean(), { minLength: base.length, maxLength: base.length }))
    .map(([drop, ones]) => base.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d)));
}

/** `count` shapes that broadcast together (scalars, missing leading axes and size-1 axes included;
 *  with `empty`, sometimes a size-0 axis, which broadcasts against 1). */
export function broadcastShapesArb(count = 2, opts: { maxRank?: number; maxDim?: number; empty?: boolean } = {}): fc.Arbitrary<Shape[]> {
  return shapeArb({ minRank: 0, maxRank: opts.maxRank ?? 3, maxDim: opts.maxDim ?? 3, empty: opts.empty }).chain((base) =>
    fc.tuple(...Array.from({ length: count }, () => derivedShapeArb(base))),
  );
}

/** NumPy broadcast of shapes (host side, for expected values). */
export function broadcast(...shapes: Shape[]): Shape {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) s.forEach((d, i) => { const j = rank - s.length + i; if (d !== 1) out[j] = d; });
  return out;
}

/**
 * `n` doubles in [min, max] (finite). Magnitudes below 1e-6 become 0: WGSL lets a GPU flush
 * subnormal results to zero, so tiny inputs whose products underflow (1e-23² ≈ 1e-46) would make
 * the expected float32 values depend on the device's denormal mode rather than on wgrad.
 */
export function floatsArb(n: number, min = -2, max = 2): fc.Arbitrary<number[]> {
  return fc
    .array(fc.double({ min, max, noNaN: true, noDefaultInfinity: true }), { minLength: n, maxLength: n })
    .map((vs) => vs.map((v) => (Math.abs(v) < 1e-6 ? 0 : v)));
}

/** `n` values with |v| in [margin, max], random signs: away from 0 (abs, relu, reciprocal, ...). */
export function awayFromZeroArb(n: number, margin = 0.2, max = 2): fc.Arbitrary<number[]> {
  return fc
    .array(fc.tuple(fc.double({ min: margin, max, noNaN: true }), fc.boolean()), { minLength: n, maxLength: n })
    .map((vs) => vs.map(([m, neg]) => (neg ? -m : m)));
}

/** `n` positive values in [min, max] (log, sqrt, pow bases). */
export const positiveArb = (n: number, min = 0.2, max = 3) => floatsArb(n, min, max);

/**
 * `n` values that are pairwise at least `gap` apart, in random order, roughly centred on 0:
 * no ties for max/min/sort/maxPool.
 */
export function distinctArb(n: number, gap = 0.1): fc.Arbitrary<number[]> {
  return fc
    .tuple(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: n, maxLength: n }), floatsArb(n, 0, gap * 0.5))
    .map(([keys, jitter]) => {
      const order = keys.map((k, i) => [k, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      const out = new Array<number>(n);
      order.forEach(([, i], rank) => (out[i] = (rank - n / 2) * gap * 1.5 + jitter[i]));
      return out;
    });
}

/** A shape and `n = numel(shape)` values from `values(n)`. */
export interface TensorSpec {
  shape: Shape;
  data: number[];
}
export function tensorArb(shape: fc.Arbitrary<Shape>, values: (n: number) => fc.Arbitrary<number[]> = (n) => floatsArb(n)): fc.Arbitrary<TensorSpec> {
  return shape.chain((s) => values(numel(s)).map((data) => ({ shape: s, data })));
}
export function specOf(shape: Shape, values: (n: number) => fc.Arbitrary<number[]> = (n) => floatsArb(n)): fc.Arbitrary<TensorSpec> {
  return values(numel(shape)).map((data) => ({ shape, data }));
}

/** A float32 tensor on the current backend from a spec. */
export const toTensor = (s: TensorSpec): wg.Tensor => wg.tensor(Float32Array.from(s.data), { shape: s.shape });
/** An int32 tensor on the current backend. */
export const intTensor = (data: readonly number[], shape: readonly number[]): wg.Tensor => wg.tensor(Int32Array.from(data), { shape });
/** A bool tensor on the current backend. */
export const boolTensor = (data: readonly boolean[], shape: readonly number[]): wg.Tensor =>
  wg.tensor(data.map((b) => (b ? 1 : 0)), { shape, dtype: 'bool' });

/** A subset of the axes of a rank-`rank` tensor, each possibly written as a negative axis. */
export function axesArb(rank: number, { minLength = 0 } = {}): fc.Arbitrary<number[]> {
  if (rank === 0) return fc.constant([]);
  return fc
    .tuple(fc.subarray(Array.from({ length: rank }, (_, i) => i), { minLength: Math.min(minLength, rank) }), fc.array(fc.boolean(), { minLength: rank, maxLength: rank }))
    .chain(([axes, negs]) => fc.shuffledSubarray(axes.map((a) => (negs[a] ? a - rank : a)), { minLength: axes.length, maxLength: axes.length }));
}

/** One axis of a rank-`rank` tensor (rank ≥ 1), possibly negative. */
export const axisArb = (rank: number) => fc.integer({ min: -rank, max: rank - 1 });

/** A permutation of 0..n−1. */
export function permutationArb(n: number): fc.Arbitrary<number[]> {
  return fc.shuffledSubarray(Array.from({ length: n }, (_, i) => i), { minLength: n, maxLength: n });
}

/** Python-style slice spec for an axis of length `dim` (random starts/stops, positive and negative steps). */
export interface SliceSpecHost {
  start?: number;
  stop?: number;
  step?: number;
}
export function sliceSpecArb(dim: number): fc.Arbitrary<SliceSpecHost> {
  const bound = fc.option(fc.integer({ min: -dim - 1, max: dim + 1 }), { nil: undefined });
  const step = fc.option(fc.oneof(fc.integer({ min: 1, max: 3 }), fc.integer({ min: -3, max: -1 })), { nil: undefined });
  return fc.record({ start: bound, stop: bound, step }, { requiredKeys: [] });
}

/** Host reference of Python slicing: the indices read along an axis of length `dim`. */
export function sliceIndices(dim: number, spec: SliceSpecHost): number[] {
  const step = spec.step ?? 1;
  const norm = (v: number | undefined, dflt: number, lo: number, hi: number) =>
    v === undefined ? dflt : Math.min(Math.max(v < 0 ? v + dim : v, lo), hi);
  const start = step > 0 ? norm(spec.start, 0, 0, dim) : norm(spec.start, dim - 1, -1, dim - 1);
  const stop = step > 0 ? norm(spec.stop, dim, 0, dim) : norm(spec.stop, -1, -1, dim - 1);
  const out: number[] = [];
  for (let i = start; step > 0 ? i < stop : i > stop; i += step) out.push(i);
  return out;
}

/** Conv geometry whose output is at least 1×1 (random stride/padding/dilation/groups). */
export interface ConvCase {
  n: number; c: number; h: number; w: number;
  o: number; kh: number; kw: number;
  stride: [number, number]; padding: [number, number]; dilation: [number, number]; groups: number;
}
export function convCaseArb(): fc.Arbitrary<ConvCase> {
  return fc
    .record({
      n: fc.integer({ min: 1, max: 2 }),
      groups: fc.integer({ min: 1, max: 2 }),
      cg: fc.integer({ min: 1, max: 2 }),
      og: fc.integer({ min: 1, max: 2 }),
      h: fc.integer({ min: 2, max: 5 }),
      w: fc.integer({ min: 2, max: 5 }),
      kh: fc.integer({ min: 1, max: 3 }),
      kw: fc.integer({ min: 1, max: 3 }),
      stride: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
      padding: fc.tuple(fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 1 })),
      dilation: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
    })
    .filter((r) => r.h + 2 * r.padding[0] >= r.dilation[0] * (r.kh - 1) + 1 && r.w + 2 * r.padding[1] >= r.dilation[1] * (r.kw - 1) + 1)
    .map((r) => ({
      n: r.n, c: r.cg * r.groups, h: r.h, w: r.w, o: r.og * r.groups, kh: r.kh, kw: r.kw,
      stride: r.stride, padding: r.padding, dilation: r.dilation, groups: r.groups,
    }));
}

/** Reads a tensor back as a plain number array. */
export async function values(t: wg.Tensor): Promise<number[]> {
  return Array.from(await t.data() as ArrayLike<number>, (v) => Number(v) + 0); // + 0: −0 → 0
}

/** Asserts that `fn` throws a WgradError whose message contains every one of `parts`. */
export function expectWgradError(fn: () => unknown, ...parts: string[]): wg.WgradError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  if (!(err instanceof wg.WgradError)) {
    throw new Error(`expected a WgradError containing ${JSON.stringify(parts)}, got ${err === undefined ? 'no error' : String(err)}`);
  }
  for (const p of parts) {
    if (!err.message.includes(p)) throw new Error(`WgradError message ${JSON.stringify(err.message)} does not contain ${JSON.stringify(p)}`);
  }
  return err;
}

/** fast-check parameters for the suite: small numRuns (checkGrads is not free), random seeds (a failure prints its seed). */
export const runs = (numRuns: number) => ({ numRuns });

/** A max/avg pooling geometry on an [n, c, h, w] input: kernel, optional stride, padding ≤ kernel/2; the padded input holds a window. */
export interface PoolGeometry { n: number; c: number; h: number; w: number; k: [number, number]; s?: [number, number]; p: [number, number] }

export function poolGeometryArb({ maxSize = 5, maxStride = 2 } = {}): fc.Arbitrary<PoolGeometry> {
  return fc
    .record({
      n: fc.integer({ min: 1, max: 2 }), c: fc.integer({ min: 1, max: 2 }), h: fc.integer({ min: 1, max: maxSize }), w: fc.integer({ min: 1, max: maxSize }),
      k: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
      s: fc.option(fc.tuple(fc.integer({ min: 1, max: maxStride }), fc.integer({ min: 1, max: maxStride })), { nil: undefined }),
      p: fc.tuple(fc.nat(1), fc.nat(1)),
    })
    .map((r) => ({ ...r, p: [Math.min(r.p[0], Math.floor(r.k[0] / 2)), Math.min(r.p[1], Math.floor(r.k[1] / 2))] as [number, number] }))
    .filter((r) => r.h + 2 * r.p[0] >= r.k[0] && r.w + 2 * r.p[1] >= r.k[1]);
}
