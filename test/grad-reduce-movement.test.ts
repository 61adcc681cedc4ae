/**
 * Property-based gradient checks of reductions (sum/prod/max/min over random axes, with and without
 * keepdims; mean; variance) and movement ops (reshape, transpose/permute, mT, broadcastTo,
 * expandDims, squeeze, slice with random starts/stops/steps of both signs, flip, pad, concat,
 * stack, take/scatterAdd, oneHot, takeAlongAxis, sort, topk). The forward values of the views are
 * checked against host references too, since a wrong view would make a "correct" gradient moot.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as wg from '../src/index.js';
import {
  awayFromZeroArb, axesArb, axisArb, broadcastShapesArb, derivedShapeArb, distinctArb, floatsArb, intTensor, numel, permutationArb,
  runs, shapeArb, sliceIndices, sliceSpecArb, specOf, tensorArb, toTensor, values, type Shape, type TensorSpec,
} from './helpers/arbitrary.js';

beforeAll(async () => {
  await wg.init({ backend: 'cpu' });
});

const f32 = (v: number) => Math.fround(v) + 0; // + 0: −0 → 0, as values() reads
const strides = (shape: readonly number[]) => shape.map((_, i) => numel(shape.slice(i + 1)));
const unravel = (flat: number, shape: readonly number[]) => shape.map((d, i) => Math.floor(flat / numel(shape.slice(i + 1))) % d);
const normAxis = (a: number, rank: number) => (a < 0 ? a + rank : a);

/** A spec plus a random reduction: axes (undefined = all) and keepdims. */
function reductionArb(values: (n: number) => fc.Arbitrary<number[]>, empty = false) {
  return tensorArb(shapeArb({ maxRank: 3, empty }), values).chain((spec) =>
    fc.record({ spec: fc.constant(spec), axes: fc.option(axesArb(spec.shape.length), { nil: undefined }), keepdims: fc.boolean(), seed: fc.nat(1000) }),
  );
}

function reducedShape(shape: Shape, axes: number[] | undefined, keepdims: boolean): Shape {
  const ax = axes === undefined ? shape.map((_, i) => i) : axes.map((a) => normAxis(a, shape.length));
  return keepdims ? shape.map((d, i) => (ax.includes(i) ? 1 : d)) : shape.filter((_, i) => !ax.includes(i));
}

describe('reductions over random axes', () => {
  // Size-0 axes only where reducing over them is defined (not max/min).
  const cases: [string, typeof wg.sum, (n: number) => fc.Arbitrary<number[]>, boolean][] = [
    ['sum', wg.sum, (n) => floatsArb(n), true],
    ['prod', wg.prod, (n) => awayFromZeroArb(n, 0.5, 1.5), true],
    ['max', wg.max, (n) => distinctArb(n), false],
    ['min', wg.min, (n) => distinctArb(n), false],
    ['mean', wg.mean, (n) => floatsArb(n), true],
  ];
  for (const [name, op, vals, empty] of cases) {
    it(`${name} (with and without keepdims)`, async () => {
      await fc.assert(
        fc.asyncProperty(reductionArb(vals, empty), async ({ spec, axes, keepdims, seed }) => {
          const f = (x: wg.Tensor) => op(x, axes, { keepdims });
          expect(f(toTensor(spec)).shape).toEqual(reducedShape(spec.shape, axes, keepdims));
          await wg.checkGrads(f, [toTensor(spec)], { seed });
        }),
        runs(25),
      );
    });
  }

  it('prod with exact zeros: the gradient is the product of the other entries (no NaN)', async () => {
    const withZeros = (n: number) => fc.array(fc.constantFrom(0, 0, 0.5, -0.75, 1.5, -2), { minLength: n, maxLength: n });
    await fc.assert(
      fc.asyncProperty(reductionArb(withZeros), async ({ spec, axes, keepdims, seed }) => {
        // prod is multilinear, so central differences are exact up to rounding even at zeros.
        await wg.checkGrads((x) => wg.prod(x, axes, { keepdims }), [toTensor(spec)], { seed });
      }),
      runs(25),
    );
    expect(await values(wg.grad((t: wg.Tensor) => wg.prod(t))(wg.tensor([2, 0, 3])))).toEqual([0, 6, 0]);
    expect(await values(wg.grad((t: wg.Tensor) => wg.prod(t))(wg.tensor([2, 0, 0])))).toEqual([0, 0, 0]);
    expect(await values(wg.grad((t: wg.Tensor) => wg.sum(wg.prod(t, 1)))(wg.tensor([[0, 4], [2, 3]])))).toEqual([4, 0, 3, 2]);
    // Second order at a lane with a single zero.
    await wg.checkGrads((x) => wg.prod(x, -1), [wg.tensor([[0, 1.5, -2], [0.5, 2, 3]])], { order: 2 });
  });

  it('max/min split the gradient evenly between tied maxima', async () => {
    const x = wg.tensor([[1, 3, 3], [1, 2, 0]]);
    expect(await values(wg.grad((t: wg.Tensor) => wg.sum(wg.max(t, 1)))(x))).toEqual([0, 0.5, 0.5, 0, 1, 0]);
    expect(await values(wg.grad((t: wg.Tensor) => wg.sum(wg.min(t, 0)))(x))).toEqual([0.5, 0, 0, 0.5, 1, 1]);
    expect(await values(wg.grad((t: wg.Tensor) => wg.max(t))(wg.tensor([2, 5, 5, 5])))).toEqual([0, 1 / 3, 1 / 3, 1 / 3].map(Math.fround));
  });

  it('variance (ddof 0 and 1)', async () => {
    await fc.assert(
      fc.asyncProperty(reductionArb((n) => floatsArb(n)), fc.constantFrom(0, 1), async ({ spec, axes, keepdims, seed }, ddof) => {
        const count = numel(spec.shape) / numel(reducedShape(spec.shape, axes, true));
        fc.pre(count - ddof > 0);
        await wg.checkGrads((x) => wg.variance(x, axes, { keepdims, ddof }), [toTensor(spec)], { seed });
      }),
      runs(20),
    );
  });

  it('second order: max of a product, variance', async () => {
    await fc.assert(
      fc.asyncProperty(reductionArb((n) => distinctArb(n, 0.3)), async ({ spec, axes, keepdims }) => {
        await wg.checkGrads((x) => wg.mul(wg.max(wg.mul(x, x), axes, { keepdims }), wg.sum(x, axes, { keepdims })), [toTensor(positiveShift(spec))], { order: 2 });
        await wg.checkGrads((x) => wg.variance(x, axes, { keepdims }), [toTensor(spec)], { order: 2 });
      }),
      runs(8),
    );
  });
});

/** Shifts distinct values to ≥ 0.2 so that x ↦ x² keeps them distinct (no ties created by squaring). */
function positiveShift(spec: TensorSpec): TensorSpec {
  const lo = Math.min(...spec.data);
  return { shape: spec.shape, data: spec.data.map((v) => v - lo + 0.2) };
}

describe('views: reshape, transpose, broadcastTo, expandDims, squeeze', () => {
  it('reshape to a random compatible shape (with −1, and from a non-contiguous input)', async () => {
    const arb = tensorArb(shapeArb({ maxRank: 3 })).chain((spec) =>
      fc.record({
        spec: fc.constant(spec),
        // A target: the dims shuffled, with size-1 axes inserted and maybe one dim written as −1.
        target: fc
          .tuple(permutationArb(spec.shape.length), fc.array(fc.nat(spec.shape.length), { maxLength: 2 }), fc.option(fc.nat(Math.max(spec.shape.length - 1, 0))))
          .map(([perm, ones, unknown]) => {
            const t = perm.map((i) => spec.shape[i]);
            for (const at of ones) t.splice(at, 0, 1);
            if (unknown !== null && unknown < t.length) t[unknown] = -1;
            return t;
          }),
        transposed: fc.boolean(),
      }),
    );
    await fc.assert(
      fc.asyncProperty(arb, async ({ spec, target, transposed }) => {
        const f = (x: wg.Tensor) => wg.reshape(transposed ? wg.transpose(x) : x, target);
        const y = f(toTensor(spec));
        expect(y.size).toBe(numel(spec.shape));
        if (!transposed) expect(await values(y)).toEqual(spec.data.map(f32));
        await wg.checkGrads(f, [toTensor(spec)]);
      }),
      runs(25),
    );
  });

  it('transpose/permute by a random permutation (forward values and gradient)', async () => {
    const arb = tensorArb(shapeArb({ maxRank: 4, maxDim: 3 })).chain((spec) => fc.tuple(fc.constant(spec), permutationArb(spec.shape.length), fc.boolean()));
    await fc.assert(
      fc.asyncProperty(arb, async ([spec, perm, negative]) => {
        const p = negative ? perm.map((a) => a - perm.length) : perm;
        const y = wg.permute(toTensor(spec), p);
        const outShape = perm.map((a) => spec.shape[a]);
        expect(y.shape).toEqual(outShape);
        // Host reference: out[i] = x[j] with j's axis perm[k] = i's axis k.
        const st = strides(spec.shape);
        const expected = Array.from({ length: numel(outShape) }, (_, flat) => {
          const idx = unravel(flat, outShape);
          return f32(spec.data[idx.reduce((s, v, k) => s + v * st[perm[k]], 0)]);
        });
        expect(await values(y)).toEqual(expected);
        await wg.checkGrads((x) => wg.transpose(x, p), [toTensor(spec)]);
        await wg.checkGrads((x) => wg.transpose(x), [toTensor(spec)]);
      }),
      runs(25),
    );
  });

  it('mT of a batch', async () => {
    await fc.assert(
      fc.asyncProperty(tensorArb(shapeArb({ minRank: 2, maxRank: 4 })), async (spec) => {
        await wg.checkGrads((x) => wg.mul(wg.mT(x), wg.mT(wg.exp(x))), [toTensor(spec)]);
      }),
      runs(15),
    );
  });

  it('broadcastTo a random target; expandDims; squeeze', async () => {
    const arb = shapeArb({ maxRank: 3 }).chain((target) =>
      derivedShapeArb(target).chain((src) => fc.record({ target: fc.constant(target), spec: specOf(src, (n) => floatsArb(n)), axis: fc.integer({ min: -src.length - 1, max: src.length }) })),
    );
    await fc.assert(
      fc.asyncProperty(arb, async ({ target, spec, axis }) => {
        expect(wg.broadcastTo(toTensor(spec), target).shape).toEqual(target);
        await wg.checkGrads((x) => wg.broadcastTo(x, target), [toTensor(spec)]);
        await wg.checkGrads((x) => wg.mul(wg.broadcastTo(x, target), wg.broadcastTo(wg.sin(x), target)), [toTensor(spec)]);
        const e = wg.expandDims(toTensor(spec), axis);
        const eShape = [...spec.shape];
        eShape.splice(normAxis(axis, spec.shape.length + 1), 0, 1);
        expect(e.shape).toEqual(eShape);
        await wg.checkGrads((x) => wg.expandDims(x, axis), [toTensor(spec)]);
        await wg.checkGrads((x) => wg.squeeze(x), [toTensor(spec)]);
        const ones = spec.shape.flatMap((d, i) => (d === 1 ? [i] : []));
        if (ones.length) await wg.checkGrads((x) => wg.squeeze(x, ones.slice(0, 1)), [toTensor(spec)]);
      }),
      runs(25),
    );
  });
});

describe('slice, flip, pad, concat, stack', () => {
  const sliceArb = tensorArb(shapeArb({ minRank: 1, maxRank: 3, maxDim: 5 })).chain((spec) =>
    fc.record({
      spec: fc.constant(spec),
      specs: fc.tuple(...spec.shape.map((d) => fc.oneof({ weight: 5, arbitrary: sliceSpecArb(d) }, { weight: 1, arbitrary: fc.integer({ min: -d, max: d - 1 }) }))),
      given: fc.nat(spec.shape.length),
    }),
  );

  it('slice with random starts/stops/steps of both signs: values and gradient', async () => {
    await fc.assert(
      fc.asyncProperty(sliceArb, fc.nat(1000), async ({ spec, specs, given }, seed) => {
        const used = specs.slice(0, given); // trailing axes taken whole
        const y = wg.slice(toTensor(spec), used);
        const picks = spec.shape.map((d, i) => {
          const s = used[i];
          return typeof s === 'number' ? [s < 0 ? s + d : s] : sliceIndices(d, s ?? {});
        });
        expect(y.shape).toEqual(picks.map((p) => p.length));
        const st = strides(spec.shape);
        const expected = Array.from({ length: numel(y.shape) }, (_, flat) => f32(spec.data[unravel(flat, y.shape).reduce((s, v, k) => s + picks[k][v] * st[k], 0)]));
        expect(await values(y)).toEqual(expected);
        await wg.checkGrads((x) => wg.slice(x, used), [toTensor(spec)], { seed });
      }),
      runs(40),
    );
  });

  it('slice of a slice of a transposed view (composed strides and offsets)', async () => {
    await fc.assert(
      fc.asyncProperty(sliceArb, async ({ spec, specs }) => {
        const f = (x: wg.Tensor) => {
          // specs were drawn for x's dims: reversed, they fit the transposed view's dims.
          const s1 = wg.slice(wg.transpose(x), [...specs].reverse());
          const s2 = wg.slice(s1, s1.shape.map((d) => ({ step: d > 2 ? -2 : -1 })));
          return wg.mul(s2, wg.flip(s2));
        };
        await wg.checkGrads(f, [toTensor(spec)]);
      }),
      runs(20),
    );
  });

  it('flip along random axes', async () => {
    const arb = tensorArb(shapeArb({ minRank: 1, empty: true })).chain((spec) => fc.tuple(fc.constant(spec), axesArb(spec.shape.length)));
    await fc.assert(
      fc.asyncProperty(arb, async ([spec, axes]) => {
        await wg.checkGrads((x) => wg.flip(x, axes), [toTensor(spec)]);
        await wg.checkGrads((x) => wg.mul(wg.flip(x), x), [toTensor(spec)]);
      }),
      runs(20),
    );
  });

  it('pad with random widths and value', async () => {
    const arb = tensorArb(shapeArb({ minRank: 1, empty: true })).chain((spec) =>
      fc.tuple(
        fc.constant(spec),
        fc.array(fc.tuple(fc.nat(2), fc.nat(2)), { minLength: 0, maxLength: spec.shape.length }),
        fc.double({ min: -3, max: 3, noNaN: true }),
      ),
    );
    await fc.assert(
      fc.asyncProperty(arb, async ([spec, widths, value]) => {
        const y = wg.pad(toTensor(spec), widths, value);
        expect(y.shape).toEqual(spec.shape.map((d, i) => d + (widths[i]?.[0] ?? 0) + (widths[i]?.[1] ?? 0)));
        expect(await values(wg.sum(y))).toHaveLength(1);
        await wg.checkGrads((x) => wg.mul(wg.pad(x, widths, value), wg.pad(wg.exp(x), widths, value)), [toTensor(spec)]);
      }),
      runs(20),
    );
  });

  it('concat of 1..3 tensors along a random axis; stack', async () => {
    const arb = shapeArb({ minRank: 1, empty: true }).chain((base) =>
      fc.integer({ min: 0, max: base.length - 1 }).chain((axis) =>
        fc.record({
          axis: fc.constant(axis),
          negative: fc.boolean(),
          parts: fc.array(fc.integer({ min: 1, max: 3 }).chain((len) => specOf(base.map((d, i) => (i === axis ? len : d)), (n) => floatsArb(n))), { minLength: 1, maxLength: 3 }),
          same: fc.array(specOf(base, (n) => floatsArb(n)), { minLength: 1, maxLength: 3 }),
          stackAxis: fc.integer({ min: -base.length - 1, max: base.length }),
        }),
      ),
    );
    await fc.assert(
      fc.asyncProperty(arb, async ({ axis, negative, parts, same, stackAxis }) => {
        const ax = negative ? axis - parts[0].shape.length : axis;
        await wg.checkGrads((...xs) => wg.concat(xs, ax), parts.map(toTensor));
        await wg.checkGrads((...xs) => wg.stack(xs.map((x, i) => wg.mul(x, i + 1)), stackAxis), same.map(toTensor));
        // The same tensor twice: both cotangents accumulate.
        await wg.checkGrads((x) => wg.concat([x, wg.sin(x), x], ax), [toTensor(parts[0])]);
      }),
      runs(20),
    );
  });
});

describe('gather / scatter', () => {
  const takeArb = tensorArb(shapeArb({ minRank: 1, maxRank: 3 })).chain((spec) =>
    axisArb(spec.shape.length).chain((axis) =>
      shapeArb({ maxRank: 2, maxDim: 4 }).chain((idxShape) =>
        fc
          .array(fc.nat(spec.shape[normAxis(axis, spec.shape.length)] - 1), { minLength: numel(idxShape), maxLength: numel(idxShape) })
          .map((idx) => ({ spec, axis, idxShape, idx })),
      ),
    ),
  );

  it('take along a random axis with repeated indices', async () => {
    await fc.assert(
      fc.asyncProperty(takeArb, async ({ spec, axis, idxShape, idx }) => {
        const a = normAxis(axis, spec.shape.length);
        const y = wg.take(toTensor(spec), intTensor(idx, idxShape), axis);
        expect(y.shape).toEqual([...spec.shape.slice(0, a), ...idxShape, ...spec.shape.slice(a + 1)]);
        await wg.checkGrads((x) => wg.take(x, intTensor(idx, idxShape), axis), [toTensor(spec)]);
        // Host check of the gradient of Σ take(x): how often each row is picked.
        const g = wg.grad((x: wg.Tensor) => wg.sum(wg.take(x, intTensor(idx, idxShape), axis)))(toTensor(spec));
        const count = (r: number) => idx.filter((i) => i === r).length;
        expect(await values(g)).toEqual(spec.data.map((_, flat) => count(unravel(flat, spec.shape)[a])));
      }),
      runs(30),
    );
  });

  it('scatterAdd: gradient with respect to the updates (and take∘scatterAdd second order)', async () => {
    const arb = fc.record({
      prefix: shapeArb({ maxRank: 1, maxDim: 2 }),
      suffix: shapeArb({ maxRank: 1, maxDim: 2 }),
      idxShape: shapeArb({ maxRank: 2, maxDim: 3 }),
      size: fc.integer({ min: 1, max: 4 }),
    }).chain((r) =>
      fc.record({
        r: fc.constant(r),
        idx: fc.array(fc.nat(r.size - 1), { minLength: numel(r.idxShape), maxLength: numel(r.idxShape) }),
        updates: specOf([...r.prefix, ...r.idxShape, ...r.suffix], (n) => floatsArb(n)),
      }),
    );
    await fc.assert(
      fc.asyncProperty(arb, async ({ r, idx, updates }) => {
        const axis = r.prefix.length;
        const f = (u: wg.Tensor) => wg.scatterAdd(u, intTensor(idx, r.idxShape), axis, r.size);
        expect(f(toTensor(updates)).shape).toEqual([...r.prefix, r.size, ...r.suffix]);
        await wg.checkGrads(f, [toTensor(updates)]);
        await wg.checkGrads((u) => wg.take(wg.square(f(u)), intTensor(idx, r.idxShape), axis), [toTensor(updates)], { order: 2 });
      }),
      runs(25),
    );
  });

  it('oneHot: differentiable in what multiplies it, no gradient into the int32 labels', async () => {
    const arb = fc.record({ shape: shapeArb({ maxRank: 2 }), depth: fc.integer({ min: 1, max: 4 }) }).chain(({ shape, depth }) =>
      fc.record({
        shape: fc.constant(shape),
        depth: fc.constant(depth),
        labels: fc.array(fc.nat(depth - 1), { minLength: numel(shape), maxLength: numel(shape) }),
        x: specOf([...shape, depth], (n) => floatsArb(n)),
      }),
    );
    await fc.assert(
      fc.asyncProperty(arb, async ({ shape, depth, labels, x }) => {
        const hot = wg.oneHot(intTensor(labels, shape), depth);
        expect(hot.dtype).toBe('float32');
        expect(await values(hot)).toEqual(Array.from({ length: numel(shape) * depth }, (_, i) => (labels[Math.floor(i / depth)] === i % depth ? 1 : 0)));
        await wg.checkGrads((t) => wg.sum(wg.mul(wg.nn.logSoftmax(t), wg.oneHot(intTensor(labels, shape), depth)), -1), [toTensor(x)]);
        // The labels are a non-differentiated argument; the one-hot tensor is a constant of the trace.
        const [, [gx]] = wg.valueAndGrad((t: wg.Tensor, l: wg.Tensor) => wg.sum(wg.mul(t, wg.oneHot(l, depth))), { argnums: [0] })(toTensor(x), intTensor(labels, shape));
        expect(await values(gx)).toEqual(await values(hot));
        expect(() => wg.grad((t: wg.Tensor, l: wg.Tensor) => wg.sum(wg.mul(t, wg.oneHot(l, depth))), { argnums: 1 })(toTensor(x), intTensor(labels, shape))).toThrow(/int32/);
      }),
      runs(20),
    );
  });
});

describe('sorting: takeAlongAxis, sort, topk values', () => {
  it('takeAlongAxis with random indices along a random axis', async () => {
    const arb = tensorArb(shapeArb({ minRank: 1, maxRank: 3 })).chain((spec) =>
      axisArb(spec.shape.length).chain((axis) => {
        const a = normAxis(axis, spec.shape.length);
        return fc.integer({ min: 1, max: 4 }).chain((len) => {
          const idxShape = spec.shape.map((d, i) => (i === a ? len : d));
          return fc.record({
            spec: fc.constant(spec), axis: fc.constant(axis), idxShape: fc.constant(idxShape),
            idx: fc.array(fc.nat(spec.shape[a] - 1), { minLength: numel(idxShape), maxLength: numel(idxShape) }),
          });
        });
      }),
    );
    await fc.assert(
      fc.asyncProperty(arb, async ({ spec, axis, idxShape, idx }) => {
        const a = normAxis(axis, spec.shape.length);
        const y = wg.takeAlongAxis(toTensor(spec), intTensor(idx, idxShape), axis);
        const st = strides(spec.shape);
        const expected = idx.map((v, flat) => {
          const pos = unravel(flat, idxShape);
          pos[a] = v;
          return f32(spec.data[pos.reduce((s, p, k) => s + p * st[k], 0)]);
        });
        expect(await values(y)).toEqual(expected);
        await wg.checkGrads((x) => wg.takeAlongAxis(x, intTensor(idx, idxShape), axis), [toTensor(spec)]);
      }),
      runs(25),
    );
  });

  it('second order: min of a product, sort and topk values composed with products', async () => {
    const arb = tensorArb(shapeArb({ minRank: 1, maxRank: 2, maxDim: 4 }), (n) => distinctArb(n, 0.3)).chain((spec) =>
      fc.record({ spec: fc.constant(spec), axis: axisArb(spec.shape.length), descending: fc.boolean(), k: fc.nat(spec.shape.at(-1)!), seed: fc.nat(1000) }),
    );
    await fc.assert(
      fc.asyncProperty(arb, async ({ spec, axis, descending, k, seed }) => {
        const pos = toTensor(positiveShift(spec));
        await wg.checkGrads((x) => wg.mul(wg.min(wg.mul(x, x), axis, { keepdims: true }), wg.sum(x, axis, { keepdims: true })), [pos], { order: 2, seed });
        await wg.checkGrads((x) => wg.mul(wg.sort(x, axis, { descending }), wg.sort(wg.mul(x, x), axis, { descending })), [pos], { order: 2, seed });
        await wg.checkGrads((x) => wg.mul(wg.topk(x, k)[0], wg.topk(wg.exp(x), k)[0]), [toTensor(spec)], { order: 2, seed });
      }),
      runs(12),
    );
  });

  it('sort (both directions, random axis) and topk values', async () => {
    const arb = tensorArb(shapeArb({ minRank: 1, maxRank: 3, maxDim: 4 }), (n) => distinctArb(n)).chain((spec) =>
      fc.record({ spec: fc.constant(spec), axis: axisArb(spec.shape.length), descending: fc.boolean(), k: fc.nat(spec.shape.at(-1)!) }),
    );
    await fc.assert(
      fc.asyncProperty(arb, async ({ spec, axis, descending, k }) => {
        const sorted = await values(wg.sort(toTensor(spec), axis, { descending }));
        const a = normAxis(axis, spec.shape.length);
        // Each lane along the axis is sorted.
        const st = strides(spec.shape);
        for (let flat = 0; flat < sorted.length; flat++) {
          const pos = unravel(flat, spec.shape);
          if (pos[a] === 0) continue;
          const prev = sorted[flat - st[a]];
          expect(descending ? prev > sorted[flat] : prev < sorted[flat]).toBe(true);
        }
        await wg.checkGrads((x) => wg.sort(x, axis, { descending }), [toTensor(spec)]);
        await wg.checkGrads((x) => wg.mul(wg.topk(x, k)[0], wg.topk(wg.exp(x), k)[0]), [toTensor(spec)]);
      }),
      runs(25),
    );
  });
});
