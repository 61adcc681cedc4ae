/**
 * Front-end semantics and argument validation (issue 7): weak typing of JS numbers, the index rule
 * of take/scatterAdd (negative indices, 'fill'/'drop'/'clip' modes, gradients that follow the same
 * rule), logsumexp and relu at ±∞ and NaN, integer floor division, one validation of every shape,
 * axis, offset and size argument, host data checks in `tensor`, and random.normal's bits on both
 * backends. Each behaviour runs on the CPU reference and on WebGPU (skipped with the reason when no
 * WebGPU adapter can be started here; a failure in CI, test/helpers/ci.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as wg from '../src/index.js';
import { init } from '../src/init.js';
import type { Backend } from '../src/core/backend.js';
import { backend, withBackend } from '../src/tensor/engine.js';
import { expectWgradError, runs } from './helpers/arbitrary.js';
import { skipUnlessCi } from './helpers/ci.js';

const backends: Partial<Record<'cpu' | 'webgpu', Backend>> = {};
let whyNoGpu = '';

beforeAll(async () => {
  await init({ backend: 'cpu' });
  backends.cpu = backend();
  try {
    const { requestWebGpuBackend } = await import('../src/backends/webgpu/device.js');
    const { nodeGpu } = await import('../src/backends/webgpu/node-gpu.js');
    backends.webgpu = await requestWebGpuBackend({ gpu: nodeGpu() });
  } catch (e) {
    whyNoGpu = (e as Error).message.split('\n')[0];
  }
});

afterAll(() => backends.webgpu?.destroy());

type Name = 'cpu' | 'webgpu';
type Out = wg.Tensor | wg.Tensor[];

/** Runs `f` on backend `name` (inside tidy) and reads every result back as plain numbers. */
async function on(name: Name, f: () => Out): Promise<number[][]> {
  const b = backends[name];
  if (!b) throw new Error(`no ${name} backend: ${whyNoGpu}`);
  const out = withBackend(b, () => wg.tidy(f));
  const list = Array.isArray(out) ? out : [out];
  const read = await Promise.all(list.map(async (t) => Array.from(await t.data() as ArrayLike<number>, Number)));
  wg.dispose(list);
  return read;
}
/** Dtypes of the results of `f` on backend `name`. */
function dtypesOn(name: Name, f: () => Out): string[] {
  const out = withBackend(backends[name]!, () => wg.tidy(f));
  const list = Array.isArray(out) ? out : [out];
  const d = list.map((t) => t.dtype);
  wg.dispose(list);
  return d;
}
/** `it` once per backend; the WebGPU case is skipped (reason printed) without an adapter. */
function both(title: string, fn: (name: Name) => Promise<void>, timeout?: number) {
  for (const name of ['cpu', 'webgpu'] as const) {
    it(`${title} [${name}]`, async (ctx) => {
      if (!backends[name]) skipUnlessCi(ctx, `no WebGPU backend: ${whyNoGpu}`);
      await fn(name);
    }, timeout);
  }
}

const i32 = (xs: number[]) => wg.tensor(Int32Array.from(xs));
const f32 = (xs: number[]) => wg.tensor(xs);

describe('weak typing of JS numbers (item 2)', () => {
  both('a fractional number promotes an int32 tensor to float32 (never truncates)', async (b) => {
    const [lt, eq, pw, le] = await on(b, () => [
      wg.less(i32([1, 2]), 1.5), wg.equal(i32([1]), 1.5), wg.pow(i32([4, 9]), 0.5), wg.lessEqual(2.5, i32([2, 3])),
    ]);
    expect(lt).toEqual([1, 0]);
    expect(eq).toEqual([0]);
    expect(pw).toEqual([2, 3]);
    expect(le).toEqual([0, 1]);
    expect(dtypesOn(b, () => [wg.pow(i32([4]), 0.5), wg.add(i32([1]), NaN), wg.mul(wg.tensor(Uint32Array.from([3])), -Infinity)])).toEqual(['float32', 'float32', 'float32']);
    const [nan, inf] = await on(b, () => [wg.add(i32([1]), NaN), wg.mul(wg.tensor(Uint32Array.from([3])), -Infinity)]);
    expect(nan).toEqual([NaN]);
    expect(inf).toEqual([-Infinity]);
  });

  both('an integer number keeps the int dtype; out of its range raises', async (b) => {
    expect(dtypesOn(b, () => [wg.add(i32([1]), 2), wg.sub(5, i32([1])), wg.where(wg.tensor([true]), i32([1]), -7)])).toEqual(['int32', 'int32', 'int32']);
    const [s, d, w] = await on(b, () => [wg.add(i32([1, -3]), 2), wg.sub(5, i32([1, 9])), wg.where(wg.tensor([true, false]), i32([1, 2]), -7)]);
    expect(s).toEqual([3, -1]);
    expect(d).toEqual([4, -4]);
    expect(w).toEqual([1, -7]);
    withBackend(backends[b]!, () => {
      expectWgradError(() => wg.add(i32([1]), 2 ** 31), 'add: ', '2147483648', 'int32');
      expectWgradError(() => wg.add(wg.tensor(Uint32Array.from([1])), -1), 'add: ', '-1', 'uint32');
    });
  });

  both('a bool tensor: 0/1 stay bool, other integers promote to int32, fractions to float32', async (b) => {
    const bools = () => wg.tensor([true, false]);
    expect(dtypesOn(b, () => [wg.where(wg.tensor([true]), bools(), 0), wg.where(wg.tensor([true]), bools(), 2), wg.where(wg.tensor([true]), bools(), 0.5)]))
      .toEqual(['bool', 'int32', 'float32']);
    const [eq2, eq1, lt] = await on(b, () => [wg.equal(bools(), 2), wg.equal(bools(), 1), wg.less(bools(), 0.5)]);
    expect(eq2).toEqual([0, 0]); // true == 2 is false (it was true: 2 became the bool true)
    expect(eq1).toEqual([1, 0]);
    expect(lt).toEqual([0, 1]);
    withBackend(backends[b]!, () => {
      for (const n of [1, 2, 0.5]) expectWgradError(() => wg.add(bools(), n), 'add: ', 'bool');
    });
  });

  it('float32 tensors and two numbers are unchanged; tensors of two dtypes still raise', async () => {
    expect(wg.add(f32([1]), 2.5).dtype).toBe('float32');
    expect(wg.add(1, 2).dtype).toBe('float32');
    expectWgradError(() => wg.add(i32([1]), f32([1])), 'add: ', 'int32', 'float32', 'cast');
  });
});

describe('take and scatterAdd: negative indices and modes (item 3)', () => {
  const x = () => f32([10, 20, 30]);
  both('negative indices count from the end; out of range: fill (NaN, default) or clip', async (b) => {
    const [neg, fill, clip, clipLow] = await on(b, () => [
      wg.take(x(), i32([-1, -3, 0])),
      wg.take(x(), i32([3, -4, 1])),
      wg.take(x(), i32([3, -4, 1]), 0, { mode: 'clip' }),
      wg.take(x(), i32([-100, 100]), 0, { mode: 'clip' }),
    ]);
    expect(neg).toEqual([30, 10, 10]);
    expect(fill).toEqual([NaN, NaN, 20]);
    expect(clip).toEqual([30, 10, 20]);
    expect(clipLow).toEqual([10, 30]);
  });

  both('fill values: JAX defaults per dtype, or fillValue; along an inner axis', async (b) => {
    const [int, uint, custom, inner] = await on(b, () => [
      wg.take(i32([1, 2]), i32([5, -1])),
      wg.take(wg.tensor(Uint32Array.from([1, 2])), i32([2])),
      wg.take(x(), i32([7, 0]), 0, { fillValue: -1 }),
      wg.take(wg.tensor([[1, 2, 3], [4, 5, 6]]), wg.tensor(Int32Array.from([-1, 3, 0, -4]), { shape: [2, 2] }), 1),
    ]);
    expect(int).toEqual([-(2 ** 31), 2]);
    expect(uint).toEqual([2 ** 32 - 1]);
    expect(custom).toEqual([-1, 10]);
    expect(inner).toEqual([3, NaN, 1, NaN, 6, NaN, 4, NaN]);
    const [bool] = await on(b, () => wg.take(wg.tensor([false, false]), i32([9, 0])));
    expect(bool).toEqual([1, 0]);
  });

  both('scatterAdd: negative indices from the end; out of range: drop (default) or clip', async (b) => {
    const u = () => f32([1, 2, 4, 8]);
    const [neg, drop, clip] = await on(b, () => [
      wg.scatterAdd(u(), i32([-1, 0, -3, 2]), 0, 3),
      wg.scatterAdd(u(), i32([3, 0, -4, 1]), 0, 3),
      wg.scatterAdd(u(), i32([3, 0, -4, 1]), 0, 3, { mode: 'clip' }),
    ]);
    expect(neg).toEqual([2 + 4, 0, 1 + 8]);
    expect(drop).toEqual([2, 8, 0]);
    expect(clip).toEqual([2 + 4, 8, 1]);
  });

  both('gradients follow the forward rule: negative indices reach their row, fill/drop give 0, clip reaches the edge', async (b) => {
    const w = [1, 10, 100, 1000];
    const idx = [-1, 3, -4, 0];
    const gradOf = (opts: wg.TakeOptions) => () =>
      wg.grad((t: wg.Tensor) => wg.sum(wg.mul(wg.take(t, i32(idx), 0, opts), f32(w))))(x());
    const [fill, clip] = await on(b, () => [gradOf({})(), gradOf({ mode: 'clip' })()]);
    expect(fill).toEqual([1000, 0, 1]); // -1 → row 2 (weight 1), 0 → row 0 (weight 1000); 3 and -4 filled
    expect(clip).toEqual([100 + 1000, 0, 1 + 10]);
    // scatterAdd's gradient in the updates: the cotangent at each (wrapped, clipped or dropped) row.
    const sgrad = (opts: wg.ScatterAddOptions) => () =>
      wg.grad((u: wg.Tensor) => wg.sum(wg.mul(wg.scatterAdd(u, i32(idx), 0, 3, opts), f32([1, 10, 100]))))(f32([1, 1, 1, 1]));
    const [drop, sclip] = await on(b, () => [sgrad({})(), sgrad({ mode: 'clip' })()]);
    expect(drop).toEqual([100, 0, 0, 1]);
    expect(sclip).toEqual([100, 100, 1, 1]);
  });

  both('takeAlongAxis: an index never reaches a neighbouring row (negative from the end, fill or clip)', async (b) => {
    const m = () => wg.tensor([[1, 2, 3], [4, 5, 6]]);
    const idx = () => wg.tensor(Int32Array.from([-1, 3, 0, -4]), { shape: [2, 2] });
    const [fill, clip, sorted, g] = await on(b, () => [
      wg.takeAlongAxis(m(), idx(), 1),
      wg.takeAlongAxis(m(), idx(), 1, { mode: 'clip' }),
      wg.sort(wg.tensor([[3, 1, 2], [0, -1, 5]]), 1),
      wg.grad((t: wg.Tensor) => wg.sum(wg.takeAlongAxis(t, idx(), 1)))(m()),
    ]);
    expect(fill).toEqual([3, NaN, 4, NaN]); // was [3, 4, 4, 3]: 3 read row 1, -4 read row 0
    expect(clip).toEqual([3, 3, 4, 4]);
    expect(sorted).toEqual([1, 2, 3, -1, 0, 5]);
    expect(g).toEqual([0, 0, 1, 1, 0, 0]);
  });

  it('bad modes, sizes and fill values raise naming the op', () => {
    expectWgradError(() => wg.take(x(), i32([0]), 0, { mode: 'wrap' as 'clip' }), 'take: ', 'mode', 'wrap');
    expectWgradError(() => wg.take(i32([1]), i32([0]), 0, { fillValue: 0.5 }), 'take: ', '0.5', 'int32');
    expectWgradError(() => wg.take(x(), f32([0])), 'take: ', 'int32', 'float32');
    expectWgradError(() => wg.take(wg.zeros([0]), i32([0]), 0, { mode: 'clip' }), 'take: ', 'size 0');
    expectWgradError(() => wg.scatterAdd(f32([1]), i32([0]), 0, -1), 'scatterAdd: ', 'size', '-1');
    expectWgradError(() => wg.scatterAdd(f32([1]), i32([0]), 0, 2.5), 'scatterAdd: ', 'size', '2.5');
    expectWgradError(() => wg.scatterAdd(f32([1]), i32([0]), 0, 2, { mode: 'fill' as 'drop' }), 'scatterAdd: ', 'mode');
  });
});

describe('edge values: logsumexp at ±∞, relu of NaN (item 5)', () => {
  const inf = Infinity;
  both('logsumexp: all −∞ gives −∞, a +∞ gives +∞, NaN stays NaN, finite rows unchanged', async (b) => {
    const [rows, kept, neg] = await on(b, () => [
      wg.nn.logsumexp(wg.reshape(f32([-inf, -inf, inf, 0, NaN, 1, 0, Math.log(3)]), [4, 2])),
      wg.nn.logsumexp(wg.reshape(f32([-inf, -inf, inf, -inf]), [2, 2]), 0, { keepdims: true }),
      wg.nn.logsumexp(f32([-inf, -1000])),
    ]);
    expect(rows[0]).toBe(-inf);
    expect(rows[1]).toBe(inf);
    expect(rows[2]).toBeNaN();
    expect(rows[3]).toBeCloseTo(Math.log(4), 6);
    expect(kept).toEqual([inf, -inf]);
    expect(neg[0]).toBeCloseTo(-1000, 3);
  });

  both('logsumexp gradient is still softmax; logSoftmax of finite rows unchanged', async (b) => {
    const [g, ls] = await on(b, () => [
      wg.grad((t: wg.Tensor) => wg.sum(wg.nn.logsumexp(t)))(f32([0, Math.log(3)])),
      wg.nn.logSoftmax(f32([0, Math.log(3)])),
    ]);
    expect(g[0]).toBeCloseTo(0.25, 6);
    expect(g[1]).toBeCloseTo(0.75, 6);
    expect(ls[0]).toBeCloseTo(Math.log(0.25), 6);
  });

  both('relu(NaN) = NaN (a diverging run is not hidden); relu\'(0) = 0', async (b) => {
    const [r, g, lr] = await on(b, () => [
      wg.nn.relu(f32([NaN, -1, 0, 2, -inf, inf])),
      wg.grad((t: wg.Tensor) => wg.sum(wg.nn.relu(t)))(f32([-1, 0, 2])),
      wg.nn.leakyRelu(f32([NaN, -2])),
    ]);
    expect(r[0]).toBeNaN();
    expect(r.slice(1)).toEqual([0, 0, 2, 0, inf]);
    expect(g).toEqual([0, 0, 1]);
    expect(lr[0]).toBeNaN();
  });
});

describe('integer division floors, consistent with mod (item 6)', () => {
  // Dividends over the whole int32 range plus small values, divisors of both signs, no zero.
  const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
  const small = fc.integer({ min: -20, max: 20 });
  const cases = fc.array(fc.tuple(fc.oneof(int32, small), fc.oneof(int32, small).filter((d) => d !== 0)), { minLength: 1, maxLength: 40 });

  both('a = b·(a div b) + (a mod b), 0 ≤ |a mod b| < |b| with the sign of b, div = floor(a / b)', async (b) => {
    await fc.assert(
      fc.asyncProperty(cases, async (pairs) => {
        const as = pairs.map((p) => p[0]);
        const bs = pairs.map((p) => p[1]);
        const [q, r, back] = await on(b, () => {
          const x = i32(as), y = i32(bs);
          const qq = wg.div(x, y), rr = wg.mod(x, y);
          return [qq, rr, wg.add(wg.mul(y, qq), rr)];
        });
        expect(back).toEqual(as);
        pairs.forEach(([a, d], i) => {
          const want = a === -(2 ** 31) && d === -1 ? -(2 ** 31) : Math.floor(a / d) + 0; // -2^31 / -1 wraps; + 0: no -0
          expect(q[i]).toBe(want);
          expect(r[i] === 0 || (r[i] > 0) === (d > 0)).toBe(true);
          expect(Math.abs(r[i])).toBeLessThan(Math.abs(d));
        });
      }),
      runs(b === 'cpu' ? 30 : 4),
    );
  }, 120_000);

  both('examples, division by zero (0, as NumPy), uint32', async (b) => {
    const [q, r, qz, rz, qu] = await on(b, () => [
      wg.div(i32([7, -7, 7, -7, -1]), i32([2, 2, -2, -2, 3])),
      wg.mod(i32([7, -7, 7, -7, -1]), i32([2, 2, -2, -2, 3])),
      wg.div(i32([5, -5, 0]), 0),
      wg.mod(i32([5, -5, 0]), 0),
      wg.div(wg.tensor(Uint32Array.from([7, 2 ** 32 - 1, 3])), wg.tensor(Uint32Array.from([2, 2, 0]))),
    ]);
    expect(q).toEqual([3, -4, -4, 3, -1]);
    expect(r).toEqual([1, 1, -1, -1, 2]);
    expect(qz).toEqual([0, 0, 0]);
    expect(rz).toEqual([0, 0, 0]);
    expect(qu).toEqual([3, 2 ** 31 - 1, 0]);
  });
});

describe('one validation of shapes, axes, offsets and sizes (item 7)', () => {
  const x = () => wg.ones([2]);
  it('broadcastTo: fractional, negative, NaN, Infinity dims', () => {
    for (const bad of [[2, 2.5], [-2, 3], [2, NaN], [2, Infinity], [2, '2']] as number[][]) {
      expectWgradError(() => wg.broadcastTo(wg.ones([1]), bad), 'broadcastTo: ', 'shape', 'non-negative integer');
      expectWgradError(() => wg.broadcastTo(wg.tensor(1), bad), 'broadcastTo: ', 'shape', 'non-negative integer');
    }
  });
  it('tensor shape, full/zeros/eye, reshape', () => {
    expectWgradError(() => wg.tensor(Float32Array.from([1, 2, 3, 4]), { shape: [2.5, 1.6] }), 'tensor: ', '2.5');
    expectWgradError(() => wg.tensor([1, 2], { shape: [-1, -2] }), 'tensor: ', '-1');
    expectWgradError(() => wg.zeros([2, NaN]), 'full: ', 'NaN');
    expectWgradError(() => wg.ones([Infinity]), 'full: ', 'Infinity');
    expectWgradError(() => wg.eye(2.5), 'eye: ', '2.5');
    expectWgradError(() => wg.reshape(wg.ones([4]), [2, 2.0001]), 'reshape: ', '2.0001');
    expectWgradError(() => wg.reshape(wg.ones([4]), '4' as unknown as number[]), 'reshape: ', '"4"');
  });
  it('slice: fractional, NaN, string start/stop/step', () => {
    const t = wg.arange(5);
    expectWgradError(() => wg.slice(t, [{ start: 1.5 }]), 'slice: ', 'start', '1.5');
    expectWgradError(() => wg.slice(t, [{ stop: NaN }]), 'slice: ', 'stop', 'NaN');
    expectWgradError(() => wg.slice(t, [{ start: '1' as unknown as number }]), 'slice: ', 'start', '"1"');
    expectWgradError(() => wg.slice(t, [{ step: 0.5 }]), 'slice: ', 'step', '0.5');
    expectWgradError(() => wg.slice(t, [1.5]), 'slice: ', '1.5');
  });
  it('axes: strings, fractions, NaN', () => {
    const t = wg.ones([2, 3]);
    expectWgradError(() => wg.sum(t, '0' as unknown as number), 'sum: ', 'axes', '"0"');
    expectWgradError(() => wg.sum(t, ['0'] as unknown as number[]), 'sum: ', 'axis', '"0"');
    expectWgradError(() => wg.max(t, 0.5), 'max: ', 'axis', '0.5');
    expectWgradError(() => wg.argmax(t, NaN), 'argmax: ', 'axis', 'NaN');
    expectWgradError(() => wg.concat([t, t], 1.5), 'concat: ', '1.5');
    expectWgradError(() => wg.variance(t, 0, { ddof: NaN }), 'variance: ', 'ddof', 'NaN');
  });
  it('random shapes and sizes', () => {
    const k = wg.random.key(0);
    expectWgradError(() => wg.random.normal(k, [2, 2.5]), 'normal: ', '2.5');
    expectWgradError(() => wg.random.uniform(k, [-1]), 'uniform: ', '-1');
    expectWgradError(() => wg.random.permutation(k, 2.5), 'permutation: ', 'n must be an integer', '2.5');
    expectWgradError(() => wg.random.split(k, NaN), 'split: ', 'NaN');
    expectWgradError(() => wg.random.randint(k, [2], 0.5, 3), 'randint: ', 'low', '0.5');
    expectWgradError(() => wg.random.randint(k, [2], 0, Infinity), 'randint: ', 'high', 'Infinity');
  });
});

describe('raw errors become named WgradErrors', () => {
  const x = () => wg.ones([2]);
  it('dtypes that do not exist', () => {
    expectWgradError(() => wg.tensor([1], { dtype: 'float64' as wg.DType }), 'tensor: ', '"float64"', 'float32');
    expectWgradError(() => wg.cast(x(), 'float64' as wg.DType), 'cast: ', '"float64"');
    expectWgradError(() => wg.zeros([2], 'int64' as wg.DType), 'full: ', '"int64"');
    expectWgradError(() => wg.arange(3, undefined, 1, 'f32' as wg.DType), 'arange: ', '"f32"');
  });
  it('operands that are neither a Tensor nor a number', () => {
    expectWgradError(() => wg.add(x(), [1, 2] as unknown as number), 'add: ', 'second', 'JS array', 'tensor(');
    expectWgradError(() => wg.sub(x(), undefined as unknown as number), 'sub: ', 'second', 'undefined');
    expectWgradError(() => wg.mul(null as unknown as number, x()), 'mul: ', 'first', 'null');
    expectWgradError(() => wg.where(wg.tensor([true, false]), x(), '1' as unknown as number), 'where: ', 'string');
    expectWgradError(() => wg.exp([1] as unknown as wg.Tensor), 'exp: ', 'JS array');
    expectWgradError(() => wg.sum(undefined as unknown as wg.Tensor), 'sum: ', 'undefined');
    expectWgradError(() => wg.matmul(wg.ones([2, 2]), [[1], [2]] as unknown as wg.Tensor), 'matmul: ', 'JS array');
    expectWgradError(() => wg.take(x(), [0] as unknown as wg.Tensor), 'take: ', 'indices', 'JS array');
    expectWgradError(() => wg.reshape(undefined as unknown as wg.Tensor, [1]), 'reshape: ', 'undefined');
    expectWgradError(() => wg.nn.maxPool2d(null as unknown as wg.Tensor, { kernel: 2 }), 'maxPool2d: ', 'null');
  });
  it('arange with a non-finite bound or a bad length', () => {
    expectWgradError(() => wg.arange(0, Infinity), 'arange: ', 'stop', 'Infinity');
    expectWgradError(() => wg.arange(0, NaN), 'arange: ', 'stop', 'NaN');
    expectWgradError(() => wg.arange(NaN), 'arange: ', 'NaN');
    expectWgradError(() => wg.arange(0, 5, 0.5, 'int32'), 'arange: ', 'step', 'int32');
    expect(wg.arange(0, 5, 2, 'int32').shape).toEqual([3]);
  });
  it('oneHot with NaN, negative or fractional depth', () => {
    const l = i32([0, 1]);
    for (const d of [NaN, -1, 2.5]) expectWgradError(() => wg.oneHot(l, d), 'oneHot: ', 'depth', String(d));
  });
  it('conv options: a pair of the wrong length, NaN, strings', () => {
    const t = wg.ones([1, 1, 4, 4]), w = wg.ones([1, 1, 2, 2]);
    expectWgradError(() => wg.conv2d(t, w, { stride: [1] as unknown as [number, number] }), 'conv2d: ', 'stride: [1]');
    expectWgradError(() => wg.conv2d(t, w, { padding: NaN }), 'conv2d: ', 'padding: NaN');
    expectWgradError(() => wg.conv2d(t, w, { dilation: '2' as unknown as number }), 'conv2d: ', 'dilation: "2"');
    expectWgradError(() => wg.convTranspose2d(t, w, { stride: 2, outputPadding: NaN }), 'convTranspose2d: ', 'outputPadding');
    expectWgradError(() => wg.convTranspose2d(t, w, { groups: 0 }), 'convTranspose2d: ', 'groups');
  });

  it('pooling with kernel 0 or 1.5 names the pooling op', () => {
    const t = wg.ones([1, 1, 4, 4]);
    for (const pool of [['maxPool2d', wg.nn.maxPool2d], ['avgPool2d', wg.nn.avgPool2d]] as const) {
      expectWgradError(() => pool[1](t, { kernel: 0 }), `${pool[0]}: `, 'kernel', '0');
      expectWgradError(() => pool[1](t, { kernel: 1.5 }), `${pool[0]}: `, 'kernel', '1.5');
      expectWgradError(() => pool[1](t, { kernel: 2, stride: 0 }), `${pool[0]}: `, 'stride');
      expectWgradError(() => pool[1](t, { kernel: [2, NaN] }), `${pool[0]}: `, 'kernel', 'NaN');
      expectWgradError(() => pool[1](t, { kernel: 2, padding: -1 }), `${pool[0]}: `, 'padding');
    }
  });
  it('tensor data: strings, null, mixed booleans and numbers', () => {
    expectWgradError(() => wg.tensor(['a'] as unknown as number[]), 'tensor: ', 'element 0', '"a"');
    expectWgradError(() => wg.tensor([1, null] as unknown as number[]), 'tensor: ', 'element 1', 'null');
    expectWgradError(() => wg.tensor([1, undefined] as unknown as number[]), 'tensor: ', 'element 1', 'undefined');
    expectWgradError(() => wg.tensor([true, 2] as unknown as number[]), 'tensor: ', 'element 1', 'all numbers or all booleans');
    expectWgradError(() => wg.tensor([[1], [false]] as unknown as number[][]), 'tensor: ', 'element 1');
    expectWgradError(() => wg.tensor('abc' as unknown as number), 'tensor: ', 'string');
  });
  it('tensor into an integer dtype: out-of-range or fractional values raise (cast truncates and saturates on request)', async () => {
    expectWgradError(() => wg.tensor([1e10], { dtype: 'int32' }), 'tensor: ', '10000000000', 'int32', 'cast');
    expectWgradError(() => wg.tensor([1.5], { dtype: 'int32' }), 'tensor: ', '1.5', 'int32');
    expectWgradError(() => wg.tensor([-1], { dtype: 'uint32' }), 'tensor: ', '-1', 'uint32');
    expectWgradError(() => wg.tensor(Float32Array.from([NaN]), { dtype: 'int32' }), 'tensor: ', 'NaN');
    expectWgradError(() => wg.full([2], 2 ** 31, 'int32'), 'full: ', '2147483648');
    expect(Array.from(await wg.tensor([-(2 ** 31), 2 ** 31 - 1, 3], { dtype: 'int32' }).data())).toEqual([-(2 ** 31), 2 ** 31 - 1, 3]);
    expect(Array.from(await wg.tensor([true, false], { dtype: 'float32' }).data())).toEqual([1, 0]);
    expect(Array.from(await wg.tensor([2, 0, NaN], { dtype: 'bool' }).data())).toEqual([1, 0, 1]);
    // The documented conversion: cast truncates toward zero and saturates.
    expect(Array.from(await wg.cast(wg.tensor([1e10, -1.5]), 'int32').data())).toEqual([2 ** 31 - 1, -1]);
  });
});

describe('random.normal is bit-identical on the CPU and WebGPU (item 8)', () => {
  const bitsOf = (xs: number[]) => Array.from(new Uint32Array(Float32Array.from(xs).buffer));
  it('same key, same float32 bits: several keys and shapes, 200k values, mean/stddev', async (ctx) => {
    if (!backends.webgpu) skipUnlessCi(ctx, `no WebGPU backend: ${whyNoGpu}`);
    const draws = () => [
      wg.random.normal(wg.random.key(0), [200_000]),
      wg.random.normal(wg.random.key(2 ** 40 + 7), [3, 5, 7]),
      wg.random.normal(wg.random.split(wg.random.key(1), 3)[2], [1000]),
      wg.random.normal(wg.random.key(5), [4096], { mean: 3, stddev: 0.5 }),
    ];
    const cpu = await on('cpu', draws);
    const gpu = await on('webgpu', draws);
    cpu.forEach((c, i) => {
      const a = bitsOf(c), b = bitsOf(gpu[i]);
      const differ = a.reduce((n, v, j) => n + (v !== b[j] ? 1 : 0), 0);
      expect(differ, `draw ${i}: ${differ} of ${a.length} values differ`).toBe(0);
    });
  }, 120_000);

  it('the integer Box–Muller is a standard normal: matches √(−2 ln u)·cos(2πv) to 1.1e-6, moments of 200k draws', async () => {
    const { normalFromBits } = await import('../src/core/random/normal.js');
    const { threefry2x32 } = await import('../src/core/random/threefry.js');
    let worst = 0;
    for (let i = 0; i < 50_000; i++) {
      const [a, b] = threefry2x32(3, 4, i, 0);
      for (const w0 of [a, a >>> (b & 31), (0xffffffff - (a >>> (b & 15))) >>> 0]) {
        const exact = Math.sqrt(-2 * Math.log(((w0 | 1) >>> 0) / 2 ** 32)) * Math.cos((2 * Math.PI * b) / 2 ** 32);
        worst = Math.max(worst, Math.abs(normalFromBits(w0, b) - exact));
      }
    }
    expect(worst).toBeLessThan(1.1e-6);
    const z = Array.from(await wg.random.normal(wg.random.key(11), [200_000]).data());
    const mean = z.reduce((s, v) => s + v, 0) / z.length;
    const variance = z.reduce((s, v) => s + (v - mean) ** 2, 0) / z.length;
    expect(Math.abs(mean)).toBeLessThan(5 / Math.sqrt(z.length));
    expect(Math.abs(variance - 1)).toBeLessThan(5 * Math.sqrt(2 / z.length));
    expect(z.reduce((m, v) => Math.max(m, Math.abs(v)), 0)).toBeLessThanOrEqual(6.661);
  });
});
