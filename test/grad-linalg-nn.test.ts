/**
 * Property-based gradient checks of the contractions (matmul in every operand-rank combination,
 * with broadcast batch dims; conv2d with random stride/padding/dilation/groups; convTranspose2d),
 * pooling, and the composed neural-network functions (activations, softmax family, logsumexp,
 * normalization, cosine similarity), including second derivatives of matmul, conv2d, softmax and
 * logsumexp.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as wg from '../src/index.js';
import {
  awayFromZeroArb, axisArb, broadcastShapesArb, convCaseArb, distinctArb, floatsArb, poolGeometryArb, runs, shapeArb, specOf, tensorArb, toTensor, values,
} from './helpers/arbitrary.js';

beforeAll(async () => {
  await wg.init({ backend: 'cpu' });
});

const convOut = (size: number, k: number, s: number, p: number, d: number) => Math.floor((size + 2 * p - d * (k - 1) - 1) / s) + 1;

describe('matmul', () => {
  /** Operand shapes for every rank combination: 1-D·1-D, 1-D·2-D, 2-D·1-D, 2-D·2-D, batched with broadcasting. */
  const matmulArb = fc
    .record({
      // Size-0 dims (K = 0 gives zeros; an empty M, N or batch an empty product) now and then.
      m: fc.integer({ min: 0, max: 3 }), k: fc.integer({ min: 0, max: 3 }), n: fc.integer({ min: 0, max: 3 }),
      ranks: fc.constantFrom('1x1', '1x2', '2x1', '2x2', 'batched', '1xbatched', 'batchedx1'),
      batch: broadcastShapesArb(2, { maxRank: 2, maxDim: 2, empty: true }),
    })
    .map(({ m, k, n, ranks, batch: [ba, bb] }) => {
      const shapes: Record<string, [number[], number[]]> = {
        '1x1': [[k], [k]], '1x2': [[k], [k, n]], '2x1': [[m, k], [k]], '2x2': [[m, k], [k, n]],
        batched: [[...ba, m, k], [...bb, k, n]], '1xbatched': [[k], [...bb, k, n]], batchedx1: [[...ba, m, k], [k]],
      };
      return shapes[ranks];
    })
    .chain(([sa, sb]) => fc.tuple(specOf(sa, (x) => floatsArb(x)), specOf(sb, (x) => floatsArb(x)), fc.boolean()));

  it('gradients in every operand-rank combination, batch dims broadcast', async () => {
    await fc.assert(
      fc.asyncProperty(matmulArb, fc.nat(1000), async ([a, b], seed) => {
        await wg.checkGrads(wg.matmul, [toTensor(a), toTensor(b)], { seed });
      }),
      runs(40),
    );
  });

  it('forward values against a host product (2-D, transposed operands)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.nat(1000), async (m, k, n, s) => {
        const A = Array.from({ length: m * k }, (_, i) => ((i * 7 + s) % 11) - 5);
        const B = Array.from({ length: k * n }, (_, i) => ((i * 5 + s) % 13) - 6);
        // Pass B as the transpose of a [n, k] tensor: a strided operand.
        const Bt = Array.from({ length: n * k }, (_, i) => B[(i % k) * n + Math.floor(i / k)]);
        const y = wg.matmul(wg.tensor(A, { shape: [m, k] }), wg.transpose(wg.tensor(Bt, { shape: [n, k] })));
        const expected = Array.from({ length: m * n }, (_, i) => {
          const r = Math.floor(i / n), c = i % n;
          let acc = 0;
          for (let j = 0; j < k; j++) acc += A[r * k + j] * B[j * n + c];
          return acc;
        });
        expect(await values(y)).toEqual(expected);
      }),
      runs(15),
    );
  });

  it('second order (matmul chains, strided operands)', async () => {
    await fc.assert(
      fc.asyncProperty(matmulArb, async ([a, b]) => {
        await wg.checkGrads((x, y) => wg.matmul(wg.tanh(x), y), [toTensor(a), toTensor(b)], { order: 2 });
      }),
      runs(12),
    );
    const sq = specOf([3, 2], (n) => floatsArb(n));
    await fc.assert(
      fc.asyncProperty(sq, async (a) => {
        await wg.checkGrads((x) => wg.matmul(wg.matmul(x, wg.mT(x)), x), [toTensor(a)], { order: 2 });
      }),
      runs(5),
    );
  });
});

describe('convolutions', () => {
  const convSpecs = convCaseArb().chain((c) =>
    fc.tuple(fc.constant(c), specOf([c.n, c.c, c.h, c.w], (n) => floatsArb(n)), specOf([c.o, c.c / c.groups, c.kh, c.kw], (n) => floatsArb(n))),
  );

  it('conv2d with random stride/padding/dilation/groups', async () => {
    await fc.assert(
      fc.asyncProperty(convSpecs, fc.nat(1000), async ([c, x, w], seed) => {
        const opts = { stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups };
        const y = wg.conv2d(toTensor(x), toTensor(w), opts);
        expect(y.shape).toEqual([c.n, c.o, convOut(c.h, c.kh, c.stride[0], c.padding[0], c.dilation[0]), convOut(c.w, c.kw, c.stride[1], c.padding[1], c.dilation[1])]);
        await wg.checkGrads((a, b) => wg.conv2d(a, b, opts), [toTensor(x), toTensor(w)], { seed });
      }),
      runs(30),
    );
  });

  it('conv2d second order (exercises the VJPs of conv2dInputGrad and conv2dWeightGrad)', async () => {
    await fc.assert(
      fc.asyncProperty(convSpecs, async ([c, x, w]) => {
        const opts = { stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups };
        await wg.checkGrads((a, b) => wg.conv2d(wg.tanh(a), b, opts), [toTensor(x), toTensor(w)], { order: 2 });
      }),
      runs(10),
    );
  });

  it('convTranspose2d with random geometry and outputPadding', async () => {
    const arb = convCaseArb()
      .chain((c) => fc.tuple(fc.constant(c), fc.tuple(fc.nat(1), fc.nat(1))))
      .map(([c, op]) => {
        const outputPadding = op.map((p, i) => Math.min(p, Math.max(c.stride[i], c.dilation[i]) - 1)) as [number, number];
        const size = (i: 0 | 1, inSize: number, k: number) => (inSize - 1) * c.stride[i] - 2 * c.padding[i] + c.dilation[i] * (k - 1) + outputPadding[i] + 1;
        return { c, outputPadding, ho: size(0, c.h, c.kh), wo: size(1, c.w, c.kw) };
      })
      .filter(({ c, ho, wo }) => ho > 0 && wo > 0 && convOut(ho, c.kh, c.stride[0], c.padding[0], c.dilation[0]) === c.h && convOut(wo, c.kw, c.stride[1], c.padding[1], c.dilation[1]) === c.w)
      .chain((r) =>
        // x [N, Cin, H, W], w [Cin, Cout/groups, kh, kw]; here Cin = c.c and Cout = c.o.
        fc.tuple(fc.constant(r), specOf([r.c.n, r.c.c, r.c.h, r.c.w], (n) => floatsArb(n)), specOf([r.c.c, r.c.o / r.c.groups, r.c.kh, r.c.kw], (n) => floatsArb(n))),
      );
    await fc.assert(
      fc.asyncProperty(arb, async ([{ c, outputPadding, ho, wo }, x, w]) => {
        const opts = { stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups, outputPadding };
        const y = wg.convTranspose2d(toTensor(x), toTensor(w), opts);
        expect(y.shape).toEqual([c.n, c.o, ho, wo]);
        await wg.checkGrads((a, b) => wg.convTranspose2d(a, b, opts), [toTensor(x), toTensor(w)]);
      }),
      runs(25),
    );
  });

  it('convTranspose2d is the adjoint of conv2d in its input: ⟨conv2d(x, w), y⟩ = ⟨x, convTranspose2d(y, w)⟩', async () => {
    await fc.assert(
      fc.asyncProperty(convSpecs, fc.nat(1000), async ([c, x, w], seed) => {
        const opts = { stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups };
        const cx = wg.conv2d(toTensor(x), toTensor(w), opts);
        const yv = Array.from({ length: cx.size }, (_, i) => Math.sin(i * 1.3 + seed));
        const y = wg.tensor(yv, { shape: cx.shape });
        // conv2d's weight [O, C/g, kh, kw] is convTranspose2d's [Cin = O, Cout/g = C/g, kh, kw].
        const ho = cx.shape[2], wo = cx.shape[3];
        const size = (i: 0 | 1, inSize: number, k: number) => (inSize - 1) * c.stride[i] - 2 * c.padding[i] + c.dilation[i] * (k - 1) + 1;
        const outputPadding: [number, number] = [c.h - size(0, ho, c.kh), c.w - size(1, wo, c.kw)];
        fc.pre(outputPadding.every((p, i) => p >= 0 && p < Math.max(c.stride[i], c.dilation[i])));
        const ty = wg.convTranspose2d(y, toTensor(w), { ...opts, outputPadding });
        const lhs = (await values(wg.sum(wg.mul(cx, y))))[0];
        const rhs = (await values(wg.sum(wg.mul(toTensor(x), ty))))[0];
        expect(Math.abs(lhs - rhs)).toBeLessThan(1e-4 * (1 + Math.abs(lhs)));
      }),
      runs(20),
    );
  });
});

describe('pooling', () => {
  const poolArb = (values: (n: number) => fc.Arbitrary<number[]>) =>
    poolGeometryArb()
      .chain((r) => fc.tuple(fc.constant(r), specOf([r.n, r.c, r.h, r.w], values)));

  it('maxPool2d (distinct inputs: no ties)', async () => {
    await fc.assert(
      fc.asyncProperty(poolArb((n) => distinctArb(n)), async ([r, x]) => {
        await wg.checkGrads((t) => wg.nn.maxPool2d(t, { kernel: r.k, stride: r.s, padding: r.p }), [toTensor(x)]);
      }),
      runs(30),
    );
  });

  it('avgPool2d', async () => {
    await fc.assert(
      fc.asyncProperty(poolArb((n) => floatsArb(n)), async ([r, x]) => {
        const y = wg.nn.avgPool2d(toTensor(x), { kernel: r.k, stride: r.s, padding: r.p });
        const s = r.s ?? r.k;
        expect(y.shape).toEqual([r.n, r.c, convOut(r.h, r.k[0], s[0], r.p[0], 1), convOut(r.w, r.k[1], s[1], r.p[1], 1)]);
        await wg.checkGrads((t) => wg.nn.avgPool2d(t, { kernel: r.k, stride: r.s, padding: r.p }), [toTensor(x)]);
      }),
      runs(30),
    );
  });
});

describe('activations and the softmax family', () => {
  const ACTIVATIONS: [string, (x: wg.Tensor) => wg.Tensor, (n: number) => fc.Arbitrary<number[]>][] = [
    ['relu', wg.nn.relu, (n) => awayFromZeroArb(n, 0.1, 3)],
    ['leakyRelu', (x) => wg.nn.leakyRelu(x, 0.2), (n) => awayFromZeroArb(n, 0.1, 3)],
    ['gelu', wg.nn.gelu, (n) => floatsArb(n, -4, 4)],
    ['sigmoid', wg.nn.sigmoid, (n) => floatsArb(n, -6, 6)],
    ['softplus', wg.nn.softplus, (n) => awayFromZeroArb(n, 0.1, 6)],
  ];
  for (const [name, fn, vals] of ACTIVATIONS) {
    it(name, async () => {
      await fc.assert(
        fc.asyncProperty(tensorArb(shapeArb(), vals), async (spec) => {
          await wg.checkGrads(fn, [toTensor(spec)]);
        }),
        runs(20),
      );
    });
  }

  it('sigmoid and softplus forward values (stable for large |x|)', async () => {
    const xs = [-100, -5, -1, 0, 1, 5, 100];
    const sig = await values(wg.nn.sigmoid(wg.tensor(xs)));
    const sp = await values(wg.nn.softplus(wg.tensor(xs)));
    xs.forEach((x, i) => {
      expect(sig[i]).toBeCloseTo(1 / (1 + Math.exp(-x)), 6);
      expect(sp[i]).toBeCloseTo(x > 30 ? x : Math.log1p(Math.exp(x)), 4);
    });
  });

  const withAxis = (vals: (n: number) => fc.Arbitrary<number[]> = (n) => floatsArb(n, -3, 3)) =>
    tensorArb(shapeArb({ minRank: 1, maxRank: 3 }), vals).chain((spec) => fc.record({ spec: fc.constant(spec), axis: axisArb(spec.shape.length), keepdims: fc.boolean(), seed: fc.nat(1000) }));

  it('softmax, logSoftmax, logsumexp along a random axis', async () => {
    await fc.assert(
      fc.asyncProperty(withAxis(), async ({ spec, axis, keepdims, seed }) => {
        await wg.checkGrads((x) => wg.nn.softmax(x, axis), [toTensor(spec)], { seed });
        await wg.checkGrads((x) => wg.nn.logSoftmax(x, axis), [toTensor(spec)], { seed });
        await wg.checkGrads((x) => wg.nn.logsumexp(x, axis, { keepdims }), [toTensor(spec)], { seed });
        // Softmax rows sum to one.
        const rows = await values(wg.sum(wg.nn.softmax(toTensor(spec), axis), axis));
        for (const r of rows) expect(r).toBeCloseTo(1, 5);
      }),
      runs(25),
    );
  });

  it('softmax/logsumexp are shift invariant and stable for large inputs', async () => {
    const x = wg.tensor([[1000, 1001, 1002], [-1000, -1000, -1000]]);
    const lse = await values(wg.nn.logsumexp(x));
    expect(lse[0]).toBeCloseTo(1002 + Math.log(1 + Math.exp(-1) + Math.exp(-2)), 3);
    expect(lse[1]).toBeCloseTo(-1000 + Math.log(3), 3);
    const g = await values(wg.grad((t: wg.Tensor) => wg.sum(wg.nn.logsumexp(t)))(x));
    const sm = await values(wg.nn.softmax(x));
    g.forEach((v, i) => expect(v).toBeCloseTo(sm[i], 6));
    expect(g.every(Number.isFinite)).toBe(true);
  });

  it('second order: softmax, logSoftmax, logsumexp', async () => {
    await fc.assert(
      fc.asyncProperty(withAxis(), async ({ spec, axis, keepdims }) => {
        await wg.checkGrads((x) => wg.nn.softmax(x, axis), [toTensor(spec)], { order: 2 });
        await wg.checkGrads((x) => wg.nn.logsumexp(x, axis, { keepdims }), [toTensor(spec)], { order: 2 });
        await wg.checkGrads((x) => wg.nn.logSoftmax(x, axis), [toTensor(spec)], { order: 2 });
      }),
      runs(8),
    );
  });

  it('l2Normalize along a random axis', async () => {
    // Each lane needs a norm well above eps: values away from zero.
    await fc.assert(
      fc.asyncProperty(withAxis((n) => awayFromZeroArb(n, 0.3)), async ({ spec, axis }) => {
        await wg.checkGrads((x) => wg.nn.l2Normalize(x, axis), [toTensor(spec)]);
        const norms = await values(wg.sqrt(wg.sum(wg.square(wg.nn.l2Normalize(toTensor(spec), axis)), axis)));
        for (const v of norms) expect(v).toBeCloseTo(1, 5);
      }),
      runs(20),
    );
  });

  it('l2Normalize / cosineSimilarity at a zero vector: finite gradients (x / eps there)', async () => {
    const x = wg.tensor([[0, 0, 0], [1, 2, 2]]);
    const g = await values(wg.grad((t: wg.Tensor) => wg.sum(wg.mul(wg.nn.l2Normalize(t), wg.tensor([1, 2, 3]))))(x));
    expect(g.every(Number.isFinite)).toBe(true);
    const gc = await values(wg.grad((t: wg.Tensor) => wg.sum(wg.nn.cosineSimilarity(t, wg.tensor([1, 2, 3]))))(x));
    expect(gc.every(Number.isFinite)).toBe(true);
    // With a large eps both regimes are checkable: rows with norm < eps are x / eps.
    await wg.checkGrads((t) => wg.nn.l2Normalize(t, -1, 0.5), [wg.tensor([[0.1, -0.2, 0.1], [0, 0, 0], [1, 2, -2]])]);
    expect(await values(wg.nn.l2Normalize(wg.tensor([0.1, -0.2]), -1, 0.5))).toEqual([0.2, -0.4].map(Math.fround));
  });

  it('cosineSimilarity of broadcast-compatible operands', async () => {
    const arb = broadcastShapesArb(2, { maxRank: 3 })
      .filter(([a, b]) => a.length >= 1 && b.length >= 1)
      .chain(([sa, sb]) => fc.tuple(specOf(sa, (n) => awayFromZeroArb(n, 0.3)), specOf(sb, (n) => awayFromZeroArb(n, 0.3))));
    await fc.assert(
      fc.asyncProperty(arb, async ([a, b]) => {
        await wg.checkGrads((x, y) => wg.nn.cosineSimilarity(x, y), [toTensor(a), toTensor(b)]);
        const self = await values(wg.nn.cosineSimilarity(toTensor(a), toTensor(a)));
        for (const v of self) expect(v).toBeCloseTo(1, 5);
      }),
      runs(20),
    );
  });

  it('a small MLP loss end to end (matmul, gelu, logSoftmax, oneHot, mean)', async () => {
    const arb = fc.tuple(specOf([4, 3], (n) => floatsArb(n)), specOf([3, 5], (n) => floatsArb(n, -1, 1)), specOf([5, 2], (n) => floatsArb(n, -1, 1)), specOf([5], (n) => floatsArb(n, -1, 1)));
    await fc.assert(
      fc.asyncProperty(arb, async ([x, w1, w2, b1]) => {
        const loss = (w1t: wg.Tensor, w2t: wg.Tensor, b1t: wg.Tensor) => {
          const h = wg.nn.gelu(wg.add(wg.matmul(toTensor(x), w1t), b1t));
          const logits = wg.matmul(h, w2t);
          const labels = wg.tensor(Int32Array.from([0, 1, 1, 0]), { shape: [4] });
          return wg.neg(wg.mean(wg.sum(wg.mul(wg.nn.logSoftmax(logits), wg.oneHot(labels, 2)), -1)));
        };
        await wg.checkGrads(loss, [toTensor(w1), toTensor(w2), toTensor(b1)]);
      }),
      runs(8),
    );
  });
});
