/**
 * Property-based gradient checks of the elementwise primitives and ops: every unary op on random
 * shapes (rank 0..3, size-1 and size-0 axes), every binary op on random broadcast-compatible shape pairs (which
 * exercises the un-broadcasting in the backward driver), where, cast, clip; second derivatives of a
 * few; and a test that every non-differentiable primitive passes no gradient. A coverage test at the
 * end makes sure every key of the VJP rule table is exercised by one of the grad-*.test.ts files.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as wg from '../src/index.js';
import { vjpRules } from '../src/autograd/vjp.js';
import {
  awayFromZeroArb, boolTensor, broadcast, broadcastShapesArb, floatsArb, intTensor, numel, positiveArb, runs, shapeArb,
  specOf, tensorArb, toTensor, values, type TensorSpec,
} from './helpers/arbitrary.js';

beforeAll(async () => {
  await wg.init({ backend: 'cpu' });
});

type Values = (n: number) => fc.Arbitrary<number[]>;
const anyFloats: Values = (n) => floatsArb(n);

/** Unary ops with input domains that avoid their kinks and poles. */
const UNARY: [string, (x: wg.Tensor) => wg.Tensor, Values][] = [
  ['neg', wg.neg, anyFloats],
  ['abs', wg.abs, (n) => awayFromZeroArb(n)],
  ['exp', wg.exp, anyFloats],
  ['log', wg.log, (n) => positiveArb(n)],
  ['log1p', wg.log1p, (n) => floatsArb(n, -0.7, 3)],
  ['expm1', wg.expm1, anyFloats],
  ['sqrt', wg.sqrt, (n) => positiveArb(n)],
  ['rsqrt', wg.rsqrt, (n) => positiveArb(n, 0.3)],
  ['reciprocal', wg.reciprocal, (n) => awayFromZeroArb(n, 0.3)],
  ['sin', wg.sin, (n) => floatsArb(n, -4, 4)],
  ['cos', wg.cos, (n) => floatsArb(n, -4, 4)],
  ['tanh', wg.tanh, anyFloats],
  ['square', wg.square, anyFloats],
  ['copy', wg.copy, anyFloats],
  ['contiguous (of a transposed view)', (x) => wg.contiguous(wg.transpose(x)), anyFloats],
];

describe('unary ops: gradients match finite differences', () => {
  for (const [name, fn, vals] of UNARY) {
    it(name, async () => {
      await fc.assert(
        fc.asyncProperty(tensorArb(shapeArb({ empty: true }), vals), fc.nat(1000), async (spec, seed) => {
          await wg.checkGrads(fn, [toTensor(spec)], { seed });
        }),
        runs(25),
      );
    });
  }
});

/** Binary ops: the two operands' value generators, given their shapes. */
interface BinaryCase {
  name: string;
  fn: (a: wg.Tensor, b: wg.Tensor) => wg.Tensor;
  operands: (sa: number[], sb: number[]) => fc.Arbitrary<[TensorSpec, TensorSpec]>;
}
const pairOf = (va: Values, vb: Values) => (sa: number[], sb: number[]) => fc.tuple(specOf(sa, va), specOf(sb, vb));

/** mod: divisors in {±½, ±1, ±2} and dividends k + f with f ∈ [0.1, 0.4], so a/b is never near an integer. */
const modDivisors: Values = (n) => fc.array(fc.constantFrom(0.5, 1, 2, -0.5, -1, -2), { minLength: n, maxLength: n });
const modDividends: Values = (n) =>
  fc.array(fc.tuple(fc.integer({ min: -3, max: 3 }), fc.double({ min: 0.1, max: 0.4, noNaN: true })), { minLength: n, maxLength: n }).map((vs) => vs.map(([k, f]) => k + f));
/** maximum/minimum: a ∈ ℤ + ¼ ± 0.1, b ∈ ℤ + ¾ ± 0.1: every broadcast pair differs by ≥ 0.3 (no ties), order random. */
const offGrid = (offset: number): Values => (n) =>
  fc.array(fc.tuple(fc.integer({ min: -2, max: 2 }), fc.double({ min: -0.1, max: 0.1, noNaN: true })), { minLength: n, maxLength: n }).map((vs) => vs.map(([k, e]) => k + offset + e));

const BINARY: BinaryCase[] = [
  { name: 'add', fn: wg.add, operands: pairOf(anyFloats, anyFloats) },
  { name: 'sub', fn: wg.sub, operands: pairOf(anyFloats, anyFloats) },
  { name: 'mul', fn: wg.mul, operands: pairOf(anyFloats, anyFloats) },
  { name: 'div', fn: wg.div, operands: pairOf(anyFloats, (n) => awayFromZeroArb(n, 0.4)) },
  { name: 'pow (positive base)', fn: wg.pow, operands: pairOf((n) => positiveArb(n, 0.3, 2), anyFloats) },
  { name: 'mod', fn: wg.mod, operands: pairOf(modDividends, modDivisors) },
  { name: 'maximum', fn: wg.maximum, operands: pairOf(offGrid(0.25), offGrid(0.75)) },
  { name: 'minimum', fn: wg.minimum, operands: pairOf(offGrid(0.25), offGrid(0.75)) },
];

describe('binary ops with broadcasting: gradients match finite differences', () => {
  for (const { name, fn, operands } of BINARY) {
    it(name, async () => {
      const arb = broadcastShapesArb(2, { empty: true }).chain(([sa, sb]) => fc.tuple(operands(sa, sb), fc.boolean()));
      await fc.assert(
        fc.asyncProperty(arb, fc.nat(1000), async ([[a, b], swap], seed) => {
          // Swapping the roles (for the symmetric generators) checks both operand positions.
          const [x, y] = swap && name !== 'mod' && name !== 'pow (positive base)' && name !== 'div' ? [b, a] : [a, b];
          const out = fn(toTensor(x), toTensor(y));
          expect(out.shape).toEqual(broadcast(x.shape, y.shape));
          await wg.checkGrads(fn, [toTensor(x), toTensor(y)], { seed });
        }),
        runs(30),
      );
    });
  }

  it('an operand broadcast against itself (x op x with a size-1 view) accumulates both paths', async () => {
    await fc.assert(
      fc.asyncProperty(tensorArb(shapeArb({ minRank: 1 }), (n) => awayFromZeroArb(n, 0.5)), async (spec) => {
        const f = (x: wg.Tensor) => wg.div(wg.mul(x, wg.sum(x, 0, { keepdims: true })), wg.add(wg.mul(x, x), 1));
        await wg.checkGrads(f, [toTensor(spec)]);
      }),
      runs(15),
    );
  });

  it('plain-number operands on either side', async () => {
    await fc.assert(
      fc.asyncProperty(tensorArb(shapeArb(), (n) => positiveArb(n, 0.5, 2)), fc.double({ min: -2, max: 2, noNaN: true }), async (spec, c) => {
        const f = (x: wg.Tensor) =>
          wg.add(wg.add(wg.sub(c, wg.mul(x, c)), wg.div(c, x)), wg.add(wg.pow(x, c), wg.pow(2, x)));
        await wg.checkGrads(f, [toTensor(spec)]);
      }),
      runs(15),
    );
  });

  it('pow with a constant integer exponent and a negative base', async () => {
    await fc.assert(
      fc.asyncProperty(tensorArb(shapeArb(), (n) => awayFromZeroArb(n, 0.3)), fc.constantFrom(2, 3, -1, -2), async (spec, k) => {
        await wg.checkGrads((x) => wg.pow(x, k), [toTensor(spec)]);
      }),
      runs(15),
    );
  });
});

describe('where, cast, clip', () => {
  it('where: routes the cotangent by the condition, broadcasting all three operands', async () => {
    const arb = broadcastShapesArb(3, { empty: true }).chain(([sc, sa, sb]) =>
      fc.record({
        cond: fc.array(fc.boolean(), { minLength: numel(sc), maxLength: numel(sc) }).map((data) => ({ shape: sc, data })),
        a: specOf(sa, anyFloats),
        b: specOf(sb, anyFloats),
      }),
    );
    await fc.assert(
      fc.asyncProperty(arb, async ({ cond, a, b }) => {
        // The condition is made inside f: checkGrads evaluates f on its own float64 backend.
        const f = (x: wg.Tensor, y: wg.Tensor) => wg.where(boolTensor(cond.data, cond.shape), x, y);
        await wg.checkGrads(f, [toTensor(a), toTensor(b)]);
        // The gradient of Σ where(c, a, b) in a counts, per element of a, how often c picks it.
        const [ga, gb] = wg.grad((x: wg.Tensor, y: wg.Tensor) => wg.sum(f(x, y)), { argnums: [0, 1] })(toTensor(a), toTensor(b));
        const out = broadcast(cond.shape, a.shape, b.shape);
        const total = (await values(wg.sum(ga))).concat(await values(wg.sum(gb)));
        expect(total[0] + total[1]).toBeCloseTo(numel(out), 5);
      }),
      runs(25),
    );
  });

  it('where with a plain-number branch', async () => {
    await fc.assert(
      fc.asyncProperty(tensorArb(shapeArb(), (n) => awayFromZeroArb(n)), async (spec) => {
        await wg.checkGrads((x) => wg.where(wg.greater(x, 0), wg.mul(x, x), 3), [toTensor(spec)]);
        await wg.checkGrads((x) => wg.where(wg.less(x, 0), -1, wg.exp(x)), [toTensor(spec)]);
      }),
      runs(8),
    );
  });

  it('cast float32 → float32 is the identity for gradients', async () => {
    await fc.assert(
      fc.asyncProperty(tensorArb(shapeArb()), async (spec) => {
        await wg.checkGrads((x) => wg.mul(wg.cast(x, 'float32'), x), [toTensor(spec)]);
        const g = wg.grad((x: wg.Tensor) => wg.sum(wg.cast(x, 'float32')))(toTensor(spec));
        expect(await values(g)).toEqual(spec.data.map(() => 1));
      }),
      runs(8),
    );
  });

  it('clip: gradient 1 strictly inside the bounds, 0 outside', async () => {
    await fc.assert(
      fc.asyncProperty(tensorArb(shapeArb(), (n) => fc.array(fc.constantFrom(-1.7, -1.2, -0.6, 0.3, 0.8, 1.4, 1.9), { minLength: n, maxLength: n })), async (spec) => {
        await wg.checkGrads((x) => wg.clip(x, -1, 1), [toTensor(spec)]);
        const g = wg.grad((x: wg.Tensor) => wg.sum(wg.clip(x, -1, 1)))(toTensor(spec));
        const f32 = (v: number) => Math.fround(v);
        expect(await values(g)).toEqual(spec.data.map((v) => (f32(v) > -1 && f32(v) < 1 ? 1 : 0)));
      }),
      runs(8),
    );
  });
});

describe('second derivatives (grad of grad)', () => {
  it('tanh, exp·sin, reciprocal', async () => {
    await fc.assert(
      fc.asyncProperty(tensorArb(shapeArb({ maxDim: 2 }), (n) => awayFromZeroArb(n, 0.4)), async (spec) => {
        await wg.checkGrads(wg.tanh, [toTensor(spec)], { order: 2 });
        await wg.checkGrads((x) => wg.mul(wg.exp(x), wg.sin(x)), [toTensor(spec)], { order: 2 });
        await wg.checkGrads(wg.reciprocal, [toTensor(spec)], { order: 2 });
      }),
      runs(10),
    );
  });

  it('mul chains with broadcasting: x·y·x, (x + y)²/y', async () => {
    const arb = broadcastShapesArb(2, { maxDim: 2 }).chain(([sa, sb]) => fc.tuple(specOf(sa, anyFloats), specOf(sb, (n) => awayFromZeroArb(n, 0.5))));
    await fc.assert(
      fc.asyncProperty(arb, async ([a, b]) => {
        await wg.checkGrads((x, y) => wg.mul(wg.mul(x, y), x), [toTensor(a), toTensor(b)], { order: 2 });
        await wg.checkGrads((x, y) => wg.div(wg.square(wg.add(x, y)), y), [toTensor(a), toTensor(b)], { order: 2 });
      }),
      runs(12),
    );
  });

  it('pow, log, sqrt, abs, maximum', async () => {
    await fc.assert(
      fc.asyncProperty(tensorArb(shapeArb({ maxDim: 2 }), (n) => positiveArb(n, 0.5, 2)), async (spec) => {
        await wg.checkGrads((x) => wg.pow(x, wg.sqrt(x)), [toTensor(spec)], { order: 2 });
        await wg.checkGrads((x) => wg.mul(wg.log(x), wg.abs(wg.sub(x, 0.25))), [toTensor(spec)], { order: 2 });
        await wg.checkGrads((x) => wg.mul(wg.maximum(x, 0.1), x), [toTensor(spec)], { order: 2 });
      }),
      runs(10),
    );
  });
});

/** Host copy of the CPU rule semantics needed for expected gradients. */
const f32 = (v: number) => Math.fround(v);

describe('second derivatives of rsqrt, log1p, expm1, mod, minimum, where', () => {
  it('rsqrt, log1p, expm1 (and composed with a product)', async () => {
    await fc.assert(
      fc.asyncProperty(tensorArb(shapeArb({ maxDim: 2 }), (n) => positiveArb(n, 0.4, 2)), fc.nat(1000), async (spec, seed) => {
        await wg.checkGrads(wg.rsqrt, [toTensor(spec)], { order: 2, seed });
        await wg.checkGrads((x) => wg.mul(wg.log1p(x), x), [toTensor(spec)], { order: 2, seed });
        await wg.checkGrads((x) => wg.expm1(wg.mul(x, wg.sub(x, 1))), [toTensor(spec)], { order: 2, seed });
      }),
      runs(10),
    );
  });

  it('mod (a·(a mod b) in both operands), minimum (products of both), where (broadcast branches)', async () => {
    const modArb = broadcastShapesArb(2, { maxDim: 2 }).chain(([sa, sb]) => fc.tuple(specOf(sa, modDividends), specOf(sb, modDivisors)));
    const minArb = broadcastShapesArb(2, { maxDim: 2 }).chain(([sa, sb]) => fc.tuple(specOf(sa, offGrid(0.25)), specOf(sb, offGrid(0.75))));
    await fc.assert(
      fc.asyncProperty(modArb, minArb, fc.nat(1000), async ([a, b], [c, d], seed) => {
        // ∂²/∂a∂b (a·(a mod b)) = −⌊a/b⌋: the divisor's gradient rule is itself differentiated.
        await wg.checkGrads((x, y) => wg.mul(x, wg.mul(wg.mod(x, y), y)), [toTensor(a), toTensor(b)], { order: 2, seed });
        await wg.checkGrads((x, y) => wg.mul(wg.minimum(x, y), wg.mul(wg.add(x, y), x)), [toTensor(c), toTensor(d)], { order: 2, seed });
        await wg.checkGrads((x, y) => wg.where(wg.greater(x, y), wg.mul(wg.mul(x, x), y), wg.exp(wg.mul(x, y))), [toTensor(c), toTensor(d)], { order: 2, seed });
      }),
      runs(10),
    );
  });
});

describe('non-differentiable primitives pass no gradient', () => {
  const spec = tensorArb(shapeArb({ minRank: 1 }), (n) => fc.array(fc.constantFrom(-2.7, -1.3, -0.4, 0.3, 0.7, 1.6, 2.2), { minLength: n, maxLength: n }));

  for (const [name, op, host] of [
    ['sign', wg.sign, Math.sign],
    ['floor', wg.floor, Math.floor],
    ['ceil', wg.ceil, Math.ceil],
    ['round', wg.round, (v: number) => Math.round(v)],
  ] as const) {
    it(`${name}: d/dx Σ ${name}(x) = 0 and d/dx Σ ${name}(x)·x = ${name}(x)`, async () => {
      await fc.assert(
        fc.asyncProperty(spec, async (s) => {
          const x = toTensor(s);
          expect(await values(wg.grad((t: wg.Tensor) => wg.sum(op(t)))(x))).toEqual(s.data.map(() => 0));
          const g = wg.grad((t: wg.Tensor) => wg.sum(wg.mul(op(t), t)))(x);
          expect(await values(g)).toEqual(s.data.map((v) => host(f32(v)) + 0));
        }),
        runs(10),
      );
    });
  }

  it('comparisons, logicalNot/And/Or and casts through bool/int carry no gradient', async () => {
    await fc.assert(
      fc.asyncProperty(spec, async (s) => {
        const x = toTensor(s);
        const masks = (t: wg.Tensor) => [
          wg.equal(t, 0.3), wg.notEqual(t, 0.3), wg.less(t, 0), wg.lessEqual(t, 0.7), wg.greater(t, 0), wg.greaterEqual(t, 0.7),
          wg.logicalNot(wg.greater(t, 0)), wg.logicalAnd(wg.greater(t, -1), wg.less(t, 1)), wg.logicalOr(wg.less(t, -1), wg.greater(t, 1)),
        ];
        const g = wg.grad((t: wg.Tensor) => masks(t).reduce((acc, m) => wg.add(acc, wg.sum(wg.cast(m, 'float32'))), wg.sum(wg.mul(t, 0))))(x);
        expect(await values(g)).toEqual(s.data.map(() => 0));
        // A mask times x: the gradient is the mask itself.
        const g2 = wg.grad((t: wg.Tensor) => wg.sum(wg.mul(wg.cast(wg.logicalAnd(wg.greater(t, -1), wg.less(t, 1)), 'float32'), t)))(x);
        expect(await values(g2)).toEqual(s.data.map((v) => (f32(v) > -1 && f32(v) < 1 ? 1 : 0)));
        // float → int32 → float: piecewise constant.
        const g3 = wg.grad((t: wg.Tensor) => wg.sum(wg.cast(wg.cast(t, 'int32'), 'float32')))(x);
        expect(await values(g3)).toEqual(s.data.map(() => 0));
      }),
      runs(5),
    );
  });

  it('argmax/argmin: the index carries no gradient; picking by it routes the cotangent there', async () => {
    await fc.assert(
      fc.asyncProperty(tensorArb(shapeArb({ minRank: 1 }), (n) => fc.shuffledSubarray(Array.from({ length: n }, (_, i) => i * 0.5 - 1), { minLength: n, maxLength: n })), async (s) => {
        const x = toTensor(s);
        for (const [op, pick] of [[wg.argmax, Math.max], [wg.argmin, Math.min]] as const) {
          const g = wg.grad((t: wg.Tensor) => wg.sum(wg.take(wg.reshape(t, [-1]), op(t))))(x);
          const best = pick(...s.data);
          expect(await values(g)).toEqual(s.data.map((v) => (v === best ? 1 : 0)));
          const gi = wg.grad((t: wg.Tensor) => wg.sum(wg.mul(wg.cast(op(t), 'float32'), wg.sum(t))))(x);
          const idx = s.data.indexOf(best);
          expect(await values(gi)).toEqual(s.data.map(() => idx));
        }
      }),
      runs(6),
    );
  });

  it('argsort: Σ x·argsort(x) has gradient argsort(x)', async () => {
    await fc.assert(
      fc.asyncProperty(tensorArb(shapeArb({ minRank: 1 }), (n) => floatsArb(n)), async (s) => {
        const x = toTensor(s);
        const g = wg.grad((t: wg.Tensor) => wg.sum(wg.mul(t, wg.cast(wg.argsort(t), 'float32'))))(x);
        expect(await values(g)).toEqual(await values(wg.cast(wg.argsort(x), 'float32')));
      }),
      runs(5),
    );
  });

  it('random: Σ x·uniform(key) has gradient uniform(key)', async () => {
    await fc.assert(
      fc.asyncProperty(tensorArb(shapeArb()), fc.nat(1 << 30), async (s, seed) => {
        const k = wg.random.key(seed);
        const g = wg.grad((t: wg.Tensor) => wg.sum(wg.mul(t, wg.random.uniform(k, s.shape))))(toTensor(s));
        expect(await values(g)).toEqual(await values(wg.random.uniform(k, s.shape)));
      }),
      runs(5),
    );
  });

  it('the VJP rules of the non-differentiable primitives return no cotangent', () => {
    const x = wg.tensor([0.5, -1.5]);
    const bool = boolTensor([true, false], [2]);
    const i = intTensor([1, 0], [2]);
    const g = wg.ones([2]);
    const rules = vjpRules as unknown as Record<string, (g: wg.Tensor, inputs: wg.Tensor[], out: wg.Tensor, params: unknown) => (wg.Tensor | null)[]>;
    for (const p of ['sign', 'floor', 'ceil', 'round']) expect(rules[p](g, [x], x, {})).toEqual([null]);
    expect(rules.logicalNot(g, [bool], bool, {})).toEqual([null]);
    for (const p of ['eq', 'ne', 'lt', 'le', 'gt', 'ge']) expect(rules[p](g, [x, x], bool, {})).toEqual([null, null]);
    for (const p of ['logicalAnd', 'logicalOr']) expect(rules[p](g, [bool, bool], bool, {})).toEqual([null, null]);
    for (const p of ['argmax', 'argmin']) expect(rules[p](g, [x], i, { axes: [0] })).toEqual([null]);
    expect(rules.argsort(g, [x], i, { descending: false })).toEqual([null]);
    expect(rules.random(g, [], x, { key: [0, 0], shape: [2], dist: 'uniform' })).toEqual([]);
    expect(rules.cast(g, [i], x, { dtype: 'float32' })).toEqual([null]);
    // Integer indices of gather/scatterAdd get none either.
    expect(rules.gather(g, [x, i], x, { axis: 0 })[1]).toBeNull();
    expect(rules.scatterAdd(g, [x, i], x, { axis: 0, size: 2 })[1]).toBeNull();
  });
});

/**
 * Every primitive of the VJP table is either checked against finite differences in one of the
 * grad-*.test.ts files (listed here with where) or is non-differentiable and checked above.
 */
describe('coverage of the VJP rule table', () => {
  const DIFFERENTIABLE: Record<string, string> = {
    neg: 'unary', abs: 'unary', exp: 'unary', log: 'unary', log1p: 'unary', expm1: 'unary', sqrt: 'unary', rsqrt: 'unary',
    reciprocal: 'unary', sin: 'unary', cos: 'unary', tanh: 'unary', copy: 'unary (copy, contiguous)',
    add: 'binary', sub: 'binary', mul: 'binary', div: 'binary', pow: 'binary', mod: 'binary', maximum: 'binary', minimum: 'binary',
    where: 'where', cast: 'cast (float→float identity; int→float none)',
    sum: 'reduce', prod: 'reduce', max: 'reduce', min: 'reduce',
    reshape: 'movement', permute: 'movement', expand: 'movement (broadcastTo)', slice: 'movement', pad: 'movement', concat: 'movement',
    gather: 'movement (take)', scatterAdd: 'movement',
    matmul: 'linalg', conv2d: 'linalg', conv2dInputGrad: 'linalg (convTranspose2d, conv2d order 2)', conv2dWeightGrad: 'linalg (conv2d order 2)',
  };
  const NON_DIFFERENTIABLE = ['sign', 'floor', 'ceil', 'round', 'logicalNot', 'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'logicalAnd', 'logicalOr', 'argmax', 'argmin', 'argsort', 'random'];

  it('every primitive is classified and tested', () => {
    const keys = Object.keys(vjpRules).sort();
    const covered = [...Object.keys(DIFFERENTIABLE), ...NON_DIFFERENTIABLE].sort();
    expect(covered).toEqual(keys);
  });
});
