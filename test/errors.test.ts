/**
 * Invalid uses of the API: every error is a `wg.WgradError` whose message starts with the op's
 * name and carries the shapes/dtypes (or the offending value) involved. Shape mismatches, bad axes,
 * dtype mismatches, transformation misuse, bad PRNG keys and arguments. Properties check that the
 * shape errors fire for every incompatible pair, not just one hand-picked example.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as wg from '../src/index.js';
import { expectWgradError, runs, shapeArb } from './helpers/arbitrary.js';

beforeAll(async () => {
  await wg.init({ backend: 'cpu' });
});

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;
const z = (shape: number[], dtype: wg.DType = 'float32') => wg.zeros(shape, dtype);

describe('shape mismatches', () => {
  it('broadcasting [2, 3] with [4, 3] (add, and every elementwise binary op)', () => {
    expectWgradError(() => wg.add(z([2, 3]), z([4, 3])), 'add: ', '[2, 3]', '[4, 3]');
    for (const [name, op] of [['sub', wg.sub], ['mul', wg.mul], ['div', wg.div], ['pow', wg.pow], ['maximum', wg.maximum], ['less', wg.less]] as const) {
      expectWgradError(() => op(z([2, 3]), z([4, 3])), '[2, 3]', '[4, 3]');
      void name;
    }
    expectWgradError(() => wg.where(wg.zeros([2, 3], 'bool'), z([4, 3]), 0), 'where: ', '[2, 3]', '[4, 3]');
  });

  it('property: incompatible shapes always throw naming the op and both shapes', async () => {
    // Two shapes that share a rank but differ on some axis where neither is 1.
    const arb = shapeArb({ minRank: 1, maxRank: 3, minDim: 2, maxDim: 4 }).chain((a) =>
      fc.integer({ min: 0, max: a.length - 1 }).chain((axis) =>
        fc.integer({ min: 2, max: 5 }).filter((d) => d !== a[axis]).map((d) => [a, a.map((v, i) => (i === axis ? d : v))] as const),
      ),
    );
    await fc.assert(
      fc.asyncProperty(arb, async ([a, b]) => {
        expectWgradError(() => wg.mul(z(a), z(b)), 'mul: ', fmt(a), fmt(b), 'broadcast');
        expectWgradError(() => wg.broadcastTo(z(a), b), 'broadcastTo: ', fmt(a), fmt(b));
      }),
      runs(20),
    );
  });

  it('matmul [2, 3] @ [4, 5], rank-0 operands, non-broadcastable batches', () => {
    expectWgradError(() => wg.matmul(z([2, 3]), z([4, 5])), 'matmul: ', '[2, 3]', '[4, 5]', '3 vs 4');
    expectWgradError(() => wg.matmul(z([3]), z([4])), 'matmul: ', '[3]', '[4]');
    expectWgradError(() => wg.matmul(z([]), z([2, 2])), 'matmul: ', '[]', '[2, 2]');
    expectWgradError(() => wg.matmul(z([2, 2, 3]), z([3, 3, 1])), 'matmul: ', '[2]', '[3]');
    expectWgradError(() => wg.matmul(z([2, 3], 'int32'), z([3, 2], 'int32')), 'matmul: ', 'int32', '[2, 3]');
  });

  it('conv2d: channel mismatch, groups that do not divide, bad ranks, kernel larger than the input', () => {
    expectWgradError(() => wg.conv2d(z([1, 3, 5, 5]), z([2, 2, 3, 3])), 'conv2d: ', '[1, 3, 5, 5]', '[2, 2, 3, 3]', 'groups=1');
    expectWgradError(() => wg.conv2d(z([1, 3, 5, 5]), z([2, 1, 3, 3]), { groups: 2 }), 'conv2d: ', '[1, 3, 5, 5]', '[2, 1, 3, 3]', 'groups=2');
    expectWgradError(() => wg.conv2d(z([1, 4, 5, 5]), z([3, 2, 3, 3]), { groups: 2 }), 'conv2d: ', '[3, 2, 3, 3]', 'groups=2');
    expectWgradError(() => wg.conv2d(z([3, 5, 5]), z([2, 3, 3, 3])), 'conv2d: ', '[3, 5, 5]');
    expectWgradError(() => wg.conv2d(z([1, 1, 2, 2]), z([1, 1, 3, 3])), 'conv2d: ', '3×3', '2×2');
    expectWgradError(() => wg.conv2d(z([1, 1, 4, 4]), z([1, 1, 3, 3]), { stride: 0 }), 'conv2d: ', 'stride');
    expectWgradError(() => wg.convTranspose2d(z([1, 3, 4, 4]), z([2, 1, 3, 3])), 'convTranspose2d: ', '[1, 3, 4, 4]', '[2, 1, 3, 3]');
    expectWgradError(() => wg.nn.maxPool2d(z([1, 4, 4]), { kernel: 2 }), 'maxPool2d: ', '[1, 4, 4]');
  });

  it('reshape to an incompatible size, and other movement misuse', () => {
    expectWgradError(() => wg.reshape(z([2, 3]), [4, 2]), 'reshape: ', '[2, 3]', '6 elements', '[4, 2]');
    expectWgradError(() => wg.reshape(z([2, 3]), [-1, -1]), 'reshape: ', '[-1, -1]');
    expectWgradError(() => wg.reshape(z([2, 3]), [-1, 4]), 'reshape: ', '[2, 3]', '[-1, 4]');
    expectWgradError(() => wg.transpose(z([2, 3]), [0, 0]), 'transpose: ', '[2, 3]');
    expectWgradError(() => wg.squeeze(z([2, 3]), 0), 'squeeze: ', '[2, 3]');
    expectWgradError(() => wg.concat([z([2, 3]), z([3, 2])], 0), 'concat: ', 'float32 [2, 3]', 'float32 [3, 2]');
    expectWgradError(() => wg.concat([z([2, 3]), z([2, 3], 'int32')], 0), 'concat: ', 'int32 [2, 3]');
    expectWgradError(() => wg.stack([]), 'stack: ');
    expectWgradError(() => wg.slice(z([2, 3]), [{}, {}, {}]), 'slice: ', '[2, 3]');
    expectWgradError(() => wg.slice(z([2, 3]), [{ step: 0 }]), 'slice: ', 'step');
    expectWgradError(() => wg.slice(z([2, 3]), [2]), 'slice: ', 'index 2', '[2, 3]');
    expectWgradError(() => wg.pad(z([2, 3]), [[0, -1]]), 'pad: ', '[2, 3]');
    expectWgradError(() => wg.scatterAdd(z([2, 3]), z([3], 'int32'), 0, 4), 'scatterAdd: ', '[2, 3]', '[3]');
    expectWgradError(() => wg.takeAlongAxis(z([2, 3]), z([3, 3], 'int32'), 1), 'takeAlongAxis: ', '[2, 3]', 'int32 [3, 3]');
    expectWgradError(() => wg.topk(z([2, 3]), 4), 'topk: ', '[2, 3]');
    expectWgradError(() => wg.tensor([[1, 2], [3]]), 'tensor: ', 'ragged');
    expectWgradError(() => wg.tensor([1, 2, 3], { shape: [2, 2] }), 'tensor: ', '[2, 2]');
    expectWgradError(() => wg.zeros([2, -1]), 'full: ', '[2,-1]');
  });

  it('item() of a non-scalar', async () => {
    await expect(z([2, 3]).item()).rejects.toThrow(/^item: .*\[2, 3\]/);
    await expect(z([2, 3]).item()).rejects.toBeInstanceOf(wg.WgradError);
  });
});

describe('bad axes', () => {
  it('sum axis 5 of a rank-2 tensor; every reduction and axis-taking op', () => {
    expectWgradError(() => wg.sum(z([2, 3]), 5), 'sum: ', 'axis 5', 'rank 2');
    expectWgradError(() => wg.sum(z([2, 3]), -3), 'sum: ', 'axis -3', 'rank 2');
    expectWgradError(() => wg.sum(z([2, 3]), 0.5), 'sum: ', 'axis 0.5');
    for (const [name, op] of [['prod', wg.prod], ['max', wg.max], ['min', wg.min], ['mean', wg.mean], ['variance', wg.variance]] as const) {
      expectWgradError(() => op(z([2, 3]), [5]), `${name}: `, 'axis 5', 'rank 2');
    }
    expectWgradError(() => wg.argmax(z([2, 3]), 2), 'argmax: ', 'axis 2');
    expectWgradError(() => wg.nn.softmax(z([2, 3]), 2), 'softmax: ', 'axis 2');
    expectWgradError(() => wg.nn.logsumexp(z([2, 3]), -3), 'logsumexp: ', 'axis -3');
    expectWgradError(() => wg.concat([z([2, 3])], 2), 'concat: ', 'axis 2');
    expectWgradError(() => wg.take(z([2, 3]), z([1], 'int32'), 2), 'take: ', 'axis 2');
    expectWgradError(() => wg.expandDims(z([2, 3]), 3), 'expandDims: ', 'axis 3');
    expectWgradError(() => wg.flip(z([2, 3]), 2), 'flip: ', 'axis 2');
    expectWgradError(() => wg.argsort(z([]), 0), 'argsort: ', 'scalar');
  });

  it('repeated axes (also written once negative)', () => {
    expectWgradError(() => wg.sum(z([2, 3]), [0, 0]), 'sum: ', 'repeated axis', '[0, 0]');
    expectWgradError(() => wg.max(z([2, 3]), [1, -1]), 'max: ', 'repeated axis', '[1, -1]');
    expectWgradError(() => wg.flip(z([2, 3]), [0, -2]), 'flip: ', 'repeated axis');
  });

  it('max/min of an empty axis has no identity', () => {
    expectWgradError(() => wg.max(z([2, 0]), 1), 'max: ', '[2, 0]');
  });

  it('property: every out-of-range axis throws', async () => {
    const arb = shapeArb({ maxRank: 3 }).chain((s) => fc.tuple(fc.constant(s), fc.oneof(fc.integer({ min: s.length, max: 8 }), fc.integer({ min: -8, max: -s.length - 1 }))));
    await fc.assert(
      fc.asyncProperty(arb, async ([shape, axis]) => {
        fc.pre(!(shape.length === 0 && (axis === 0 || axis === -1)));
        expectWgradError(() => wg.sum(z(shape), axis), 'sum: ', `axis ${axis}`, `rank ${shape.length}`);
      }),
      runs(20),
    );
  });
});

describe('dtype mismatches', () => {
  it('add float32 + int32 (either order), and other binary ops', () => {
    expectWgradError(() => wg.add(z([2]), z([2], 'int32')), 'add: ', 'float32 [2]', 'int32 [2]');
    expectWgradError(() => wg.add(z([3], 'int32'), z([1])), 'add: ', 'int32 [3]', 'float32 [1]');
    expectWgradError(() => wg.mul(z([2], 'bool'), z([2])), 'mul: ', 'bool [2]', 'float32 [2]');
    expectWgradError(() => wg.add(z([2], 'bool'), z([2], 'bool')), 'add: ', 'bool');
    expectWgradError(() => wg.logicalAnd(z([2]), z([2])), 'logicalAnd: ', 'float32');
  });

  it('exp of int32, and every float-only unary op', () => {
    expectWgradError(() => wg.exp(z([2], 'int32')), 'exp: ', 'int32 [2]');
    for (const [name, op] of [['log', wg.log], ['sqrt', wg.sqrt], ['tanh', wg.tanh], ['sin', wg.sin], ['reciprocal', wg.reciprocal]] as const) {
      expectWgradError(() => op(z([2, 1], 'int32')), `${name}: `, 'int32 [2, 1]');
    }
    expectWgradError(() => wg.neg(z([3], 'bool')), 'neg: ', 'bool [3]');
    expectWgradError(() => wg.conv2d(z([1, 1, 3, 3], 'int32'), z([1, 1, 1, 1])), 'conv2d: ', 'int32 [1, 1, 3, 3]');
  });

  it('take / scatterAdd / oneHot / takeAlongAxis with float indices', () => {
    expectWgradError(() => wg.take(z([3]), z([2])), 'take: ', 'indices', 'float32 [2]');
    expectWgradError(() => wg.scatterAdd(z([2]), z([2]), 0, 3), 'scatterAdd: ', 'float32');
    expectWgradError(() => wg.oneHot(z([2]), 3), 'oneHot: ', 'float32');
    expectWgradError(() => wg.takeAlongAxis(z([2, 3]), z([2, 3]), 1), 'takeAlongAxis: ', 'float32 [2, 3]');
  });

  it('where with a non-bool condition, or branches of different dtypes', () => {
    expectWgradError(() => wg.where(z([2]), z([2]), z([2])), 'where: ', 'condition', 'float32 [2]');
    expectWgradError(() => wg.where(z([2], 'int32'), 1, 0), 'where: ', 'int32 [2]');
    expectWgradError(() => wg.where(z([2], 'bool'), z([2]), z([2], 'int32')), 'where: ', 'float32 [2]', 'int32 [2]');
  });
});

describe('transformation misuse', () => {
  it('grad of a non-scalar function (names grad, the shape, and suggests vjp)', () => {
    expectWgradError(() => wg.grad((x: wg.Tensor) => wg.mul(x, 2))(z([2])), 'grad: ', 'float32 [2]', 'vjp');
    expectWgradError(() => wg.valueAndGrad((x: wg.Tensor) => wg.mul(x, 2))(z([2, 2])), 'valueAndGrad: ', 'float32 [2, 2]');
    expectWgradError(() => wg.grad((x: wg.Tensor) => wg.cast(wg.sum(x), 'int32'))(z([2])), 'grad: ', 'int32 []');
    expectWgradError(() => wg.grad((_x: wg.Tensor) => 3 as unknown as wg.Tensor)(z([2])), 'grad: ', 'Tensor', 'number');
  });

  it('grad with respect to an int32 tensor (names the pytree path)', () => {
    expectWgradError(() => wg.grad((x: wg.Tensor) => wg.sum(wg.cast(x, 'float32')))(z([2], 'int32')), 'grad: ', 'int32', '[2]');
    const tree = { a: [z([1]), z([2, 2], 'int32')] };
    expectWgradError(() => wg.grad((t: typeof tree) => wg.sum(t.a[0]))(tree), 'grad: ', 'int32', 'a[1]', '[2, 2]');
    expectWgradError(() => wg.vjp((x: wg.Tensor) => x, [z([2], 'bool')], z([2])), 'vjp: ', 'bool', '[2]');
  });

  it('argnums out of range, hasAux without [value, aux], bad cotangents and tangents', () => {
    expectWgradError(() => wg.grad((x: wg.Tensor) => wg.sum(x), { argnums: 2 })(z([2])), 'grad: ', 'argnum 2', '1 argument');
    expectWgradError(() => wg.valueAndGrad((x: wg.Tensor) => wg.sum(x), { argnums: [0, -1] })(z([2])), 'valueAndGrad: ', 'argnum -1');
    expectWgradError(() => wg.valueAndGrad((x: wg.Tensor) => wg.sum(x), { hasAux: true })(z([2])), 'valueAndGrad: ', 'hasAux');
    expectWgradError(() => wg.vjp((x: wg.Tensor) => wg.exp(x), [z([2])], z([3])), 'vjp: ', 'cotangent', '[2]', 'float32 [3]');
    expectWgradError(() => wg.jvp((x: wg.Tensor) => wg.exp(x), [z([2])], [z([2, 1])]), 'jvp: ', '[2]', '[2, 1]');
  });

  it('the tracing state survives the errors: later gradients are correct', async () => {
    expect(() => wg.grad((x: wg.Tensor) => wg.add(x, z([5, 5])))(z([3]))).toThrow(wg.WgradError);
    expect(await wg.grad((x: wg.Tensor) => wg.sum(wg.mul(x, x)))(wg.tensor([1, 2])).array()).toEqual([2, 4]);
  });

  it('tidy rejects async functions', () => {
    expect(() => wg.tidy(async () => 1)).toThrow(/tidy: .*Promise/);
  });
});

describe('bad PRNG keys and arguments', () => {
  const good = wg.random.key(0);
  const badKeys: [string, unknown][] = [
    ['too long', [1, 2, 3]],
    ['too short', [1]],
    ['negative word', [1, -2]],
    ['word ≥ 2^32', [0, 2 ** 32]],
    ['fractional word', [0.5, 1]],
    ['not an array', 42],
    ['strings', ['a', 'b']],
  ];

  it('every function that takes a key validates it and names itself', () => {
    const users: [string, (k: wg.Key) => unknown][] = [
      ['split', (k) => wg.random.split(k)],
      ['foldIn', (k) => wg.random.foldIn(k, 1)],
      ['bits', (k) => wg.random.bits(k, [2])],
      ['uniform', (k) => wg.random.uniform(k, [2])],
      ['normal', (k) => wg.random.normal(k, [2])],
      ['bernoulli', (k) => wg.random.bernoulli(k, 0.5, [2])],
      ['randint', (k) => wg.random.randint(k, [2], 0, 3)],
      ['permutation', (k) => wg.random.permutation(k, 3)],
    ];
    for (const [name, use] of users) {
      for (const [what, k] of badKeys) {
        const e = expectWgradError(() => use(k as wg.Key), `${name}: `, 'key', JSON.stringify(k));
        expect(e.message, `${name} with a key ${what}`).toMatch(new RegExp(`^${name}: `));
      }
      expect(() => use(good)).not.toThrow();
    }
  });

  it('bad seeds, shapes, counts and ranges', () => {
    expectWgradError(() => wg.random.key(-1), 'key: ', '-1');
    expectWgradError(() => wg.random.key(1.5), 'key: ', '1.5');
    expectWgradError(() => wg.random.key(2 ** 53), 'key: ');
    expectWgradError(() => wg.random.uniform(good, [2, -1]), 'uniform: ', '[2,-1]');
    expectWgradError(() => wg.random.normal(good, [1.5]), 'normal: ', '[1.5]');
    expectWgradError(() => wg.random.bits(good, [-3]), 'bits: ', '[-3]');
    expectWgradError(() => wg.random.split(good, -1), 'split: ', '-1');
    expectWgradError(() => wg.random.split(good, 2.5), 'split: ', '2.5');
    expectWgradError(() => wg.random.foldIn(good, 0.5), 'foldIn: ', '0.5');
    expectWgradError(() => wg.random.foldIn(good, 2 ** 40), 'foldIn: ');
    expectWgradError(() => wg.random.randint(good, [2], 3, 3), 'randint: ', '[3, 3)');
    expectWgradError(() => wg.random.permutation(good, -2), 'permutation: ', '-2');
  });
});
