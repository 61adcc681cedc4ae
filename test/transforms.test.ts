/**
 * Function transformations and memory: Hessian-vector products against a closed form, jvp against
 * finite differences and against vjp (⟨u, J v⟩ = ⟨Jᵀu, v⟩), valueAndGrad with argnums arrays and
 * pytrees, hasAux, stopGradient, nested differentiation (perturbation confusion, third order), and
 * memory accounting on the CPU backend: live tensors and buffers return to their starting values
 * after tidy-wrapped training loops, nested grads and errors, and after ops whose results are
 * disposed outside any scope; use-after-dispose throws naming the op.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as wg from '../src/index.js';
import { floatsArb, runs, shapeArb, specOf, tensorArb, toTensor, values } from './helpers/arbitrary.js';

beforeAll(async () => {
  await wg.init({ backend: 'cpu' });
});

const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i], 0);
const close = (actual: number[], expected: number[], tol = 1e-4) => {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((v, i) => {
    if (!(Math.abs(v - expected[i]) <= tol * (1 + Math.abs(expected[i])))) {
      throw new Error(`element ${i}: ${v} vs expected ${expected[i]} (all: ${JSON.stringify(actual)} vs ${JSON.stringify(expected)})`);
    }
  });
};

describe('Hessian-vector products', () => {
  // f(x) = Σ x³ + (a·x)²  ⇒  ∇f = 3x² + 2(a·x)a,  H = diag(6x) + 2aaᵀ,  Hv = 6x⊙v + 2a(a·v).
  const f = (a: wg.Tensor) => (x: wg.Tensor) => wg.add(wg.sum(wg.mul(wg.mul(x, x), x)), wg.square(wg.sum(wg.mul(a, x))));
  const arb = fc.integer({ min: 1, max: 6 }).chain((n) => fc.tuple(floatsArb(n), floatsArb(n), floatsArb(n)));
  const expectedHv = (x: number[], a: number[], v: number[]) => x.map((xi, i) => 6 * xi * v[i] + 2 * a[i] * dot(a, v));

  it('reverse-over-reverse: grad(x ↦ ⟨∇f(x), v⟩) = Hv', async () => {
    await fc.assert(
      fc.asyncProperty(arb, async ([x, a, v]) => {
        const [xt, at, vt] = [x, a, v].map((d) => wg.tensor(d));
        const hv = wg.grad((y: wg.Tensor) => wg.sum(wg.mul(wg.grad(f(at))(y), vt)))(xt);
        close(await values(hv), expectedHv(x.map(Math.fround), a.map(Math.fround), v.map(Math.fround)));
        // The gradient itself, for good measure.
        const g = wg.grad(f(at))(xt);
        const ax = dot(a.map(Math.fround), x.map(Math.fround));
        close(await values(g), x.map((xi, i) => 3 * Math.fround(xi) ** 2 + 2 * ax * Math.fround(a[i])));
      }),
      runs(25),
    );
  });

  it('forward-over-reverse: jvp(∇f, x, v) = Hv', async () => {
    await fc.assert(
      fc.asyncProperty(arb, async ([x, a, v]) => {
        const [xt, at, vt] = [x, a, v].map((d) => wg.tensor(d));
        const [g, hv] = wg.jvp((y: wg.Tensor) => wg.grad(f(at))(y), [xt], [vt]);
        close(await values(hv), expectedHv(x.map(Math.fround), a.map(Math.fround), v.map(Math.fround)));
        expect(g.shape).toEqual([x.length]);
      }),
      runs(15),
    );
  });

  it('the full Hessian, row by row, is symmetric and matches the closed form', async () => {
    const x = [0.5, -1, 2], a = [1, 2, -0.5];
    const at = wg.tensor(a);
    for (let i = 0; i < 3; i++) {
      const e = [0, 0, 0];
      e[i] = 1;
      const row = wg.grad((y: wg.Tensor) => wg.sum(wg.mul(wg.grad(f(at))(y), wg.tensor(e))))(wg.tensor(x));
      close(await values(row), [0, 1, 2].map((j) => (i === j ? 6 * x[i] : 0) + 2 * a[i] * a[j]));
    }
  });
});

describe('jvp', () => {
  const FNS: [string, (x: wg.Tensor) => wg.Tensor][] = [
    ['tanh∘(x·x)', (x) => wg.tanh(wg.mul(x, x))],
    ['softmax', (x) => wg.nn.softmax(x.rank ? x : wg.reshape(x, [1]))],
    ['Σ exp along axis 0 with keepdims', (x) => wg.sum(wg.exp(x), x.rank ? 0 : undefined, { keepdims: true })],
    ['x·sin(x) (broadcast to [2, …])', (x) => wg.mul(wg.broadcastTo(x, [2, ...x.shape]), wg.sin(x))],
  ];
  const arb = tensorArb(shapeArb({ maxRank: 2 })).chain((spec) => fc.tuple(fc.constant(spec), specOf(spec.shape, (n) => floatsArb(n))));

  for (const [name, fn] of FNS) {
    it(`${name}: J·v matches central differences and ⟨u, Jv⟩ = ⟨Jᵀu, v⟩`, async () => {
      await fc.assert(
        fc.asyncProperty(arb, fc.nat(1000), async ([x, v], seed) => {
          const [y, jv] = wg.jvp(fn, [toTensor(x)], [toTensor(v)]);
          expect(jv.shape).toEqual(y.shape);
          close(await values(y), await values(fn(toTensor(x))), 1e-6);
          // Central differences in float32 with a moderate step.
          const eps = 1e-3;
          const shifted = (s: number) => wg.tensor(x.data.map((xi, i) => xi + s * eps * v.data[i]), { shape: x.shape });
          const [fp, fm] = [await values(fn(shifted(1))), await values(fn(shifted(-1)))];
          close(await values(jv), fp.map((p, i) => (p - fm[i]) / (2 * eps)), 5e-3);
          // Transposition identity with a random cotangent.
          const u = wg.tensor(Array.from({ length: y.size }, (_, i) => Math.cos(seed + 1.7 * i)), { shape: y.shape });
          const [, [jtu]] = wg.vjp(fn, [toTensor(x)], u);
          const lhs = dot(await values(u), await values(jv));
          const rhs = dot(await values(jtu), await values(toTensor(v)));
          expect(Math.abs(lhs - rhs)).toBeLessThan(1e-4 * (1 + Math.abs(lhs)));
        }),
        runs(15),
      );
    });
  }

  it('several primals and pytree tangents', async () => {
    const f = (a: wg.Tensor, p: { w: wg.Tensor; b: wg.Tensor[] }) => wg.add(wg.matmul(a, p.w), p.b[0]);
    const a = wg.tensor([[1, 2], [3, 4]]);
    const p = { w: wg.tensor([[0.5, -1], [2, 1]]), b: [wg.tensor([0.1, 0.2])] };
    const ta = wg.tensor([[1, 0], [0, 1]]);
    const tp = { w: wg.tensor([[1, 1], [1, 1]]), b: [wg.tensor([1, -1])] };
    const [y, t] = wg.jvp(f, [a, p], [ta, tp]);
    // d(a w + b) = da·w + a·dw + db
    expect(await y.array()).toEqual([[4.6, 1.2], [9.6, 1.2]].map((r) => r.map(Math.fround)));
    close(await values(t), [0.5 + 3 + 1, -1 + 3 - 1, 2 + 7 + 1, 1 + 7 - 1]);
  });

  it('a tangent of the wrong shape is a WgradError naming jvp', () => {
    expect(() => wg.jvp((x: wg.Tensor) => wg.exp(x), [wg.tensor([1, 2])], [wg.tensor([1, 2, 3])])).toThrow(/jvp: .*\[2\].*\[3\]/);
  });
});

describe('valueAndGrad, grad, vjp: arguments and results', () => {
  it('argnums: a number, an array (in the order given), and untouched other arguments', async () => {
    const f = (a: wg.Tensor, b: wg.Tensor, c: wg.Tensor) => wg.add(wg.sum(wg.mul(a, b)), wg.sum(wg.mul(c, c)));
    const a = wg.tensor([1, 2]), b = wg.tensor([3, -1]), c = wg.tensor([[0.5]]);
    const [v, g0] = wg.valueAndGrad(f)(a, b, c);
    expect(await v.item()).toBe(1 + 0.25);
    expect(await g0.array()).toEqual([3, -1]);
    expect(await wg.grad(f, { argnums: 1 })(a, b, c).array()).toEqual([1, 2]);
    const [, [gc, ga]] = wg.valueAndGrad(f, { argnums: [2, 0] })(a, b, c);
    expect(gc.shape).toEqual([1, 1]);
    expect(await gc.array()).toEqual([[1]]);
    expect(await ga.array()).toEqual([3, -1]);
    const [g1] = wg.grad(f, { argnums: [1] })(a, b, c);
    expect(await g1.array()).toEqual([1, 2]);
    // An argument the function ignores gets zeros of its shape.
    const [gz] = wg.grad((x: wg.Tensor, y: wg.Tensor) => wg.sum(y), { argnums: [0] })(wg.tensor([[1, 2, 3]]), wg.tensor(2));
    expect(await gz.array()).toEqual([[0, 0, 0]]);
  });

  it('pytrees: nested objects and arrays of tensors, null leaves (empty subtrees) carried along', async () => {
    const params = { w: wg.tensor([[1, 2], [3, 4]]), layers: [{ b: wg.tensor([0.5, -0.5]), skip: null }, wg.tensor(2)], extra: undefined };
    const f = (p: typeof params, x: wg.Tensor) => {
      const h = wg.add(wg.matmul(x, p.w), (p.layers[0] as { b: wg.Tensor }).b);
      return wg.mul(wg.sum(wg.mul(h, h)), p.layers[1] as wg.Tensor);
    };
    const x = wg.tensor([1, -1]);
    const [value, g] = wg.valueAndGrad(f)(params, x);
    // h = x w + b = [1−3+0.5, 2−4−0.5] = [−1.5, −2.5]; value = 2 Σ h² = 2·8.5 = 17.
    expect(await value.item()).toBe(17);
    expect('extra' in g && g.extra === undefined).toBe(true);
    expect((g.layers[0] as { skip: null }).skip).toBe(null);
    // ∂/∂w = 2·2 xᵀh, ∂/∂b = 4h, ∂/∂s = Σ h².
    expect(await g.w.array()).toEqual([[-6, -10], [6, 10]]);
    expect(await (g.layers[0] as { b: wg.Tensor }).b.array()).toEqual([-6, -10]);
    expect(await (g.layers[1] as wg.Tensor).item()).toBe(8.5);
    // Several pytree arguments at once.
    const [, [gp, gx]] = wg.valueAndGrad(f, { argnums: [0, 1] as const })(params, x);
    expect(await gp.w.array()).toEqual([[-6, -10], [6, 10]]);
    expect(await gx.array()).toEqual([4 * (-1.5 * 1 + -2.5 * 2), 4 * (-1.5 * 3 + -2.5 * 4)]);
  });

  it('a non-tensor where a gradient is asked for raises, naming the argument and path (never returns the input)', async () => {
    const noGrad = (f: () => unknown, ...parts: string[]) => {
      expect(f).toThrow(wg.WgradError);
      try { f(); } catch (e) { for (const p of parts) expect((e as Error).message).toContain(p); }
    };
    const live = wg.memoryStats().tensors;
    noGrad(() => wg.grad((x: wg.Tensor) => wg.sum(wg.mul(2, x)))(3 as unknown as wg.Tensor), 'grad: ', 'number 3', 'argument 0');
    const x = wg.tensor([1, 2]);
    const tree = { a: x, layers: [{ w: x, scale: 0.5 }] };
    noGrad(() => wg.grad((p: typeof tree) => wg.sum(wg.mul(p.a, p.layers[0].scale)))(tree), 'grad: ', 'number 0.5', 'argument 0 at layers[0].scale');
    noGrad(() => wg.valueAndGrad((y: wg.Tensor, p: { s: string }) => wg.sum(y), { argnums: [0, 1] })(x, { s: 'relu' }), 'valueAndGrad: ', 'string relu', 'argument 1 at s');
    noGrad(() => wg.grad((y: Float32Array) => wg.sum(wg.tensor(Array.from(y))))(new Float32Array([1])), 'grad: ', 'Float32Array', 'argument 0');
    const ct = wg.tensor([1, 1]);
    noGrad(() => wg.vjp((y: wg.Tensor, k: number) => wg.mul(y, k), [x, 2], ct), 'vjp: ', 'number 2', 'argument 1');
    wg.dispose([x, ct]);
    expect(wg.memoryStats().tensors).toBe(live);
    // Non-differentiated arguments may hold anything.
    const g = wg.grad((y: wg.Tensor, k: number) => wg.sum(wg.mul(y, k)))(wg.tensor([1, 2]), 3);
    expect(await g.array()).toEqual([3, 3]);
  });

  it('vjp with a cotangent that is not a float32 tensor of the output shape raises, naming expected and got', () => {
    const x = wg.tensor([1, 2]);
    const f = (y: wg.Tensor) => wg.exp(y);
    const cases: [unknown, string][] = [
      [[1, 2], 'an array of length 2'],
      [[wg.tensor([1, 2])], 'an array of length 1'],
      [1, 'number 1'],
      [undefined, 'got undefined'],
      [wg.tensor([1, 2], { dtype: 'int32' }), 'int32 [2]'],
      [wg.tensor([[1, 2]]), 'float32 [1, 2]'],
    ];
    for (const [ct, got] of cases) {
      expect(() => wg.vjp(f, [x], ct as wg.Tensor)).toThrow(wg.WgradError);
      expect(() => wg.vjp(f, [x], ct as wg.Tensor)).toThrow(`vjp: the cotangent must be a float32 Tensor of the output's shape [2]`);
      expect(() => wg.vjp(f, [x], ct as wg.Tensor)).toThrow(got);
    }
  });

  it('argnums as an array literal infers a tuple (no `as const`)', () => {
    const f = (a: wg.Tensor, b: { w: wg.Tensor }) => wg.sum(wg.mul(a, b.w));
    const pair: [wg.Tensor, { w: wg.Tensor }] = wg.grad(f, { argnums: [0, 1] })(wg.tensor([1]), { w: wg.tensor([2]) });
    const [, second]: [wg.Tensor, [{ w: wg.Tensor }, wg.Tensor]] = wg.valueAndGrad(f, { argnums: [1, 0] })(wg.tensor([1]), { w: wg.tensor([2]) });
    expect(pair).toHaveLength(2);
    expect(second).toHaveLength(2);
  });

  it('hasAux: [value, aux] passes through; aux holds live, untraced tensors', async () => {
    const f = (x: wg.Tensor): [wg.Tensor, { pred: wg.Tensor; tag: string }] => {
      const pred = wg.mul(x, 3);
      return [wg.sum(wg.square(pred)), { pred, tag: 'ok' }];
    };
    const [[value, aux], g] = wg.valueAndGrad(f, { hasAux: true })(wg.tensor([1, 2]));
    expect(await value.item()).toBe(45);
    expect(aux.tag).toBe('ok');
    expect(await aux.pred.array()).toEqual([3, 6]);
    expect(await g.array()).toEqual([18, 36]);
    // The aux tensor is an ordinary tensor afterwards: differentiating through it again works.
    expect(await wg.grad((p: wg.Tensor) => wg.sum(wg.mul(p, p)))(aux.pred).array()).toEqual([6, 12]);
    expect(() => wg.valueAndGrad((x: wg.Tensor) => wg.sum(x), { hasAux: true })(wg.tensor([1]))).toThrow(/valueAndGrad: hasAux/);
  });

  it('arguments that are strided views (transposed, reversed, broadcast) or the same tensor twice', async () => {
    await fc.assert(
      fc.asyncProperty(specOf([2, 3], (n) => floatsArb(n)), async (spec) => {
        const base = toTensor(spec);
        const f = (t: wg.Tensor) => wg.sum(wg.mul(wg.sin(t), wg.tensor([[1, 2], [3, 4], [5, 6]])));
        const views = [wg.transpose(base), wg.slice(wg.transpose(base), [{ step: -1 }, { step: -1 }]), wg.broadcastTo(wg.tensor([[0.5, -1]]), [3, 2])];
        for (const v of views) {
          const g = wg.grad(f)(v);
          expect(g.shape).toEqual([3, 2]);
          expect(await values(g)).toEqual(await values(wg.grad(f)(wg.copy(v))));
          await wg.checkGrads((t) => wg.mul(wg.sin(t), t), [v]);
        }
        // The same tensor passed twice: each argument gets its own gradient.
        const [ga, gb] = wg.grad((a: wg.Tensor, b: wg.Tensor) => wg.sum(wg.mul(wg.mul(a, a), b)), { argnums: [0, 1] })(base, base);
        const x = spec.data.map(Math.fround);
        expect(await values(ga)).toEqual(x.map((v) => Math.fround(2 * v * v) + 0));
        expect(await values(gb)).toEqual(x.map((v) => Math.fround(v * v) + 0));
      }),
      runs(10),
    );
  });

  it('vjp of a non-scalar function with several primals', async () => {
    const [y, [ga, gb]] = wg.vjp((a: wg.Tensor, b: wg.Tensor) => wg.mul(a, b), [wg.tensor([1, 2, 3]), wg.tensor(2)], wg.tensor([1, 10, 100]));
    expect(await y.array()).toEqual([2, 4, 6]);
    expect(await ga.array()).toEqual([2, 20, 200]);
    expect(await gb.item()).toBe(321);
  });

  it('stopGradient: values pass, gradients do not', async () => {
    await fc.assert(
      fc.asyncProperty(tensorArb(shapeArb()), async (spec) => {
        const x = toTensor(spec);
        const g1 = wg.grad((t: wg.Tensor) => wg.sum(wg.mul(wg.stopGradient(t), t)))(x);
        expect(await values(g1)).toEqual(await values(x));
        const g2 = wg.grad((t: wg.Tensor) => wg.sum(wg.stopGradient(wg.mul(t, t))))(x);
        expect(await values(g2)).toEqual(spec.data.map(() => 0));
        expect(await values(wg.stopGradient(x))).toEqual(await values(x));
        // Inside a nested grad: the inner stop does not stop the outer derivative of other paths.
        const g3 = wg.grad((t: wg.Tensor) => wg.sum(wg.grad((u: wg.Tensor) => wg.sum(wg.mul(wg.stopGradient(t), wg.mul(u, u))))(t)))(x);
        // inner = 2·stop(t)·t ⇒ outer derivative = 2·stop(t) = 2t.
        expect(await values(g3)).toEqual(spec.data.map((v) => 2 * Math.fround(v) + 0));
      }),
      runs(10),
    );
  });
});

describe('nested differentiation', () => {
  it('perturbation confusion: d/dx [x · (d/dy x·y)(x)] = 2x', async () => {
    await fc.assert(
      fc.asyncProperty(fc.double({ min: -3, max: 3, noNaN: true }), async (v) => {
        const x = wg.tensor(v);
        const g = wg.grad((t: wg.Tensor) => wg.mul(t, wg.grad((y: wg.Tensor) => wg.mul(t, y))(t)))(x);
        expect(await g.item()).toBeCloseTo(2 * Math.fround(v), 5);
        // Siskind & Pearlmutter: d/dx [x · (d/dy (x + y))(1)] = d/dx [x · 1] = 1 (not 2).
        const g2 = wg.grad((t: wg.Tensor) => wg.mul(t, wg.grad((y: wg.Tensor) => wg.add(t, y))(wg.tensor(1))))(x);
        expect(await g2.item()).toBe(1);
      }),
      runs(10),
    );
  });

  it('an inner grad closing over the outer variable: d/dx Σ ∂/∂y Σ x²y = 2x', async () => {
    const x = wg.tensor([1, -2, 0.5]);
    const g = wg.grad((t: wg.Tensor) => wg.sum(wg.grad((y: wg.Tensor) => wg.sum(wg.mul(wg.mul(t, t), y)))(wg.ones([3]))))(x);
    expect(await g.array()).toEqual([2, -4, 1]);
  });

  it('third and fourth derivatives of x⁴', async () => {
    const f = (x: wg.Tensor) => wg.pow(x, 4);
    const d = (h: (x: wg.Tensor) => wg.Tensor) => (x: wg.Tensor) => wg.grad(h)(x);
    for (const v of [-1.5, 0.5, 2]) {
      const x = wg.tensor(v);
      expect(await d(f)(x).item()).toBeCloseTo(4 * v ** 3, 4);
      expect(await d(d(f))(x).item()).toBeCloseTo(12 * v ** 2, 4);
      expect(await d(d(d(f)))(x).item()).toBeCloseTo(24 * v, 4);
      expect(await d(d(d(d(f))))(x).item()).toBeCloseTo(24, 4);
    }
  });

  it('valueAndGrad of a function returning its own argument', async () => {
    const [v, g] = wg.valueAndGrad((x: wg.Tensor) => x)(wg.tensor(3));
    expect(await v.item()).toBe(3);
    expect(await g.item()).toBe(1);
  });
});

describe('memory (CPU backend)', () => {
  const stats = () => {
    const m = wg.memoryStats();
    return { tensors: m.tensors, liveBuffers: m.liveBuffers };
  };

  /** A 2-layer MLP: params [w1, b1, w2, b2]. */
  const mlpLoss = (p: wg.Tensor[], x: wg.Tensor, labels: wg.Tensor) => {
    const [w1, b1, w2, b2] = p;
    const h = wg.nn.relu(wg.add(wg.matmul(x, w1), b1));
    const logits = wg.add(wg.matmul(h, w2), b2);
    return wg.neg(wg.mean(wg.sum(wg.mul(wg.nn.logSoftmax(logits), wg.oneHot(labels, 3)), -1)));
  };
  const sgdStep = (p: wg.Tensor[], x: wg.Tensor, labels: wg.Tensor): [wg.Tensor[], wg.Tensor] =>
    wg.tidy(() => {
      const [loss, g] = wg.valueAndGrad(mlpLoss)(p, x, labels);
      const next = p.map((w, i) => wg.sub(w, wg.mul(g[i], 0.5)));
      return [next, loss];
    });

  it('100 tidy-wrapped valueAndGrad + SGD steps leave no tensors or buffers behind', async () => {
    const k = wg.random.split(wg.random.key(7), 3);
    let params = [wg.random.normal(k[0], [4, 8], { stddev: 0.5 }), wg.zeros([8]), wg.random.normal(k[1], [8, 3], { stddev: 0.5 }), wg.zeros([3])];
    const x = wg.random.normal(k[2], [6, 4]);
    const labels = wg.tensor(Int32Array.from([0, 1, 2, 0, 1, 2]), { shape: [6] });
    // Warm up once (scalar constants are cached per backend on first use).
    {
      const [next, loss] = sgdStep(params, x, labels);
      wg.dispose(params);
      loss.dispose();
      params = next;
    }
    const before = stats();
    let first = NaN, last = NaN;
    for (let i = 0; i < 100; i++) {
      const [next, loss] = sgdStep(params, x, labels);
      const l = await loss.item();
      if (i === 0) first = l;
      last = l;
      loss.dispose();
      wg.dispose(params);
      params = next;
    }
    expect(stats()).toEqual(before);
    expect(last).toBeLessThan(first);
  });

  it('nested grads (Hessian-vector products) in a tidy loop leave nothing behind', () => {
    const x = wg.tensor([0.5, -1, 2]);
    const v = wg.tensor([1, 0, -1]);
    const hvp = () => wg.tidy(() => wg.grad((y: wg.Tensor) => wg.sum(wg.mul(wg.grad((z: wg.Tensor) => wg.sum(wg.mul(wg.tanh(z), wg.exp(z))))(y), v)))(x));
    hvp();
    const before = stats();
    for (let i = 0; i < 20; i++) hvp();
    // Only the 20 returned results are alive; dispose them and compare.
    expect(stats().tensors).toBe(before.tensors + 20);
  });

  it('nested grads with results disposed: back to the start', () => {
    const x = wg.tensor([0.5, -1, 2]);
    const run = () => {
      const g = wg.tidy(() => wg.grad((y: wg.Tensor) => wg.sum(wg.grad((z: wg.Tensor) => wg.sum(wg.mul(wg.sin(z), z)))(y)))(x));
      g.dispose();
    };
    run();
    const before = stats();
    for (let i = 0; i < 20; i++) run();
    expect(stats()).toEqual(before);
  });

  it('errors thrown inside tidy (plain and mid-trace) free everything', () => {
    const x = wg.tensor([[1, 2], [3, 4]]);
    const fail = () => {
      expect(() => wg.tidy(() => {
        wg.exp(x);
        wg.matmul(x, x);
        throw new Error('boom');
      })).toThrow('boom');
      expect(() => wg.tidy(() => wg.grad((t: wg.Tensor) => wg.mul(t, 2))(x))).toThrow(wg.WgradError); // non-scalar
      expect(() => wg.tidy(() => wg.grad((t: wg.Tensor) => {
        wg.mul(wg.exp(t), t);
        return wg.add(t, wg.ones([3, 3])); // shape error mid-trace
      })(x))).toThrow(wg.WgradError);
      expect(() => wg.tidy(() => wg.grad((t: wg.Tensor) => wg.sum(wg.grad((u: wg.Tensor) => wg.matmul(u, wg.ones([5])))(t)))(x))).toThrow(wg.WgradError);
    };
    fail();
    const before = stats();
    for (let i = 0; i < 10; i++) fail();
    expect(stats()).toEqual(before);
    // Tracing state is restored after the errors: a later grad is correct and records nothing stray.
    const g = wg.grad((t: wg.Tensor) => wg.sum(wg.mul(t, t)))(x);
    expect(g.isDisposed).toBe(false);
    g.dispose();
    expect(stats()).toEqual(before);
  });

  it('ops and transforms called outside any scope leak nothing once their results are disposed', async () => {
    const x = wg.tensor([[1, -2, 3], [0.5, 2, -1]]);
    const idx = wg.tensor(Int32Array.from([2, 0]), { shape: [2] });
    const key = wg.random.key(3);
    const v3 = wg.tensor([1, 2, 3]);
    const ones = wg.onesLike(x);
    const xt = wg.transpose(x);
    const mask = wg.greater(x, 0);
    const row = wg.tensor([[1, 2]]);
    const v2 = wg.tensor([1, 2]);
    const order = wg.argsort(x);
    const img = wg.reshape(x, [1, 1, 2, 3]);
    const kernel = wg.ones([2, 1, 1, 2]);
    // Each op returns everything it made: disposing its result must bring the counts back.
    const ops: [string, () => unknown][] = [
      ['zeros', () => wg.zeros([2, 2])],
      ['ones', () => wg.ones([3])],
      ['full', () => wg.full([2], 7)],
      ['zerosLike', () => wg.zerosLike(x)],
      ['reshape of a transposed view', () => wg.reshape(xt, [6])],
      ['expandDims of a transposed view', () => wg.expandDims(xt, 0)],
      ['squeeze', () => wg.squeeze(row)],
      ['matmul 1-D', () => wg.matmul(v3, v3)],
      ['matmul 2-D·1-D', () => wg.matmul(x, v3)],
      ['matmul 1-D·2-D', () => wg.matmul(v2, x)],
      ['argmax (flattened)', () => wg.argmax(x)],
      ['argmin with keepdims', () => wg.argmin(xt, 0, { keepdims: true })],
      ['max with keepdims', () => wg.max(xt, 1, { keepdims: true })],
      ['mean of int32', () => wg.mean(idx)],
      ['sum of bool', () => wg.sum(mask)],
      ['variance', () => wg.variance(x, 1)],
      ['variance of int32', () => wg.variance(idx)],
      ['oneHot', () => wg.oneHot(idx, 3)],
      ['stack', () => wg.stack([x, x], 1)],
      ['concat', () => wg.concat([x, x], 0)],
      ['take', () => wg.take(x, idx, 1)],
      ['takeAlongAxis', () => wg.takeAlongAxis(x, order, 1)],
      ['uniform with bounds', () => wg.random.uniform(key, [4], { minval: -1, maxval: 1 })],
      ['normal', () => wg.random.normal(key, [4])],
      ['bernoulli', () => wg.random.bernoulli(key, 0.3, [4])],
      ['randint', () => wg.random.randint(key, [4], 0, 10)],
      ['permutation', () => wg.random.permutation(key, 5)],
      ['grad', () => wg.grad((t: wg.Tensor) => wg.sum(wg.mul(t, t)))(x)],
      ['valueAndGrad with argnums', () => wg.valueAndGrad((a: wg.Tensor, b: wg.Tensor) => wg.sum(wg.mul(a, b)), { argnums: [0, 1] })(x, x)],
      ['grad of grad', () => wg.grad((t: wg.Tensor) => wg.sum(wg.grad((u: wg.Tensor) => wg.sum(wg.exp(u)))(t)))(x)],
      ['vjp', () => wg.vjp((t: wg.Tensor) => wg.exp(t), [x], ones)],
      ['jvp', () => wg.jvp((t: wg.Tensor) => wg.exp(t), [x], [ones])],
      ['sort', () => wg.sort(x)],
      ['topk', () => wg.topk(x, 2)],
      ['softmax', () => wg.nn.softmax(x)],
      ['logsumexp', () => wg.nn.logsumexp(x, 0)],
      ['maxPool2d', () => wg.nn.maxPool2d(img, { kernel: 2, stride: 1, padding: 1 })],
      ['avgPool2d', () => wg.nn.avgPool2d(img, { kernel: 2, stride: 1 })],
      ['conv2d', () => wg.conv2d(img, kernel, { padding: 1 })],
    ];
    const leaks: string[] = [];
    for (const [name, op] of ops) {
      wg.dispose(op()); // warm-up: constants get cached
      const before = stats();
      for (let i = 0; i < 3; i++) wg.dispose(op());
      const after = stats();
      if (after.tensors !== before.tensors || after.liveBuffers !== before.liveBuffers) {
        leaks.push(`${name}: ${JSON.stringify(before)} → ${JSON.stringify(after)}`);
      }
    }
    expect(leaks).toEqual([]);
  });

  it('use after dispose throws a WgradError naming the op', async () => {
    const t = wg.tensor([1, 2, 3]);
    const view = wg.reshape(t, [3, 1]);
    t.dispose();
    t.dispose(); // a no-op
    expect(t.isDisposed).toBe(true);
    expect(String(t)).toContain('disposed');
    for (const [op, fn] of [
      ['exp', () => wg.exp(t)],
      ['add', () => wg.add(t, 1)],
      ['mul', () => wg.mul(wg.tensor([1, 1, 1]), t)],
      ['reshape', () => wg.reshape(t, [1, 3])],
      ['slice', () => wg.slice(t, [{ start: 1 }])],
      ['sum', () => wg.sum(t)],
      ['matmul', () => wg.matmul(t, t)],
      ['transpose', () => wg.transpose(t)],
      ['where', () => wg.where(wg.tensor([true, false, true]), t, 0)],
      ['stopGradient', () => wg.stopGradient(t)],
    ] as const) {
      expect(fn, op).toThrow(wg.WgradError);
      expect(fn, op).toThrow(new RegExp(`^${op}: .*used after dispose`));
    }
    await expect(t.data()).rejects.toThrow(/^data: .*float32 \[3\].*used after dispose/);
    // A view keeps the storage alive: it is still readable.
    expect(await view.array()).toEqual([[1], [2], [3]]);
    view.dispose();
    // Tensors freed by tidy are disposed too.
    const inner = wg.tidy(() => {
      const kept = wg.exp(wg.tensor([0]));
      wg.tensor([1]); // not returned: disposed
      return { kept };
    });
    expect(inner.kept.isDisposed).toBe(false);
    let escaped: wg.Tensor | undefined;
    wg.tidy(() => {
      escaped = wg.tensor([5]);
    });
    expect(() => wg.neg(escaped!)).toThrow(/^neg: .*used after dispose/);
  });
});

describe('scalar constants', () => {
  it('a trace may use more distinct scalar constants than the constant cache holds', async () => {
    const x = wg.tensor([1, 2, 3]);
    const f = (t: wg.Tensor) => {
      let y = t;
      for (let i = 0; i < 1200; i++) y = wg.mul(y, 1 + i * 1e-7);
      return wg.sum(y);
    };
    const g = await values(wg.grad(f)(x));
    const factor = Array.from({ length: 1200 }, (_, i) => 1 + i * 1e-7).reduce((a, b) => a * b, 1);
    close(g, [factor, factor, factor], 1e-4);
    // The same during the outermost backward pass, which runs untraced but still reads the graph.
    const h = (t: wg.Tensor) => wg.sum(wg.tanh(wg.mul(t, 0.5)));
    const gg = wg.grad((t: wg.Tensor) => wg.sum(wg.mul(wg.grad(h)(t), wg.tensor(Array.from({ length: 3 }, (_, i) => 1 + i * 1e-3)))))(x);
    expect((await values(gg)).every(Number.isFinite)).toBe(true);
  });

  it('an op that needs two fresh constants at once survives a cache eviction between them', async () => {
    const cond = wg.tensor([true, false]);
    // Pairs of fresh constants, then one single (so evictions land on either member of a pair), then pairs again.
    for (let i = 0; i < 700; i++) wg.dispose(wg.where(cond, 1e6 + i, -1e6 - i));
    const z = wg.tensor([0]);
    wg.dispose([z, wg.add(z, 0.123456)]);
    for (let i = 0; i < 700; i++) expect(await values(wg.where(cond, 2e6 + i, -2e6 - i))).toEqual([2e6 + i, -2e6 - i]);
  });
});
