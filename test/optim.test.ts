/**
 * Optimizers against host re-implementations of their reference algorithms (PyTorch's SGD, Adam and
 * AdamW; SimCLR's LARS) over three steps, plus literal first-step values; schedules at chosen steps;
 * clipByGlobalNorm; chain; ownership (old state disposable, no leaks); and a short MLP training run
 * whose loss must fall with adam.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as wg from '../src/index.js';
import { init } from '../src/init.js';
import * as nn from '../src/nn/index.js';
import * as optim from '../src/optim/index.js';
import * as losses from '../src/losses/index.js';

beforeAll(async () => {
  await init({ backend: 'cpu' });
});

const arr = async (t: wg.Tensor) => Array.from(await t.data() as Float32Array);
function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol = 1e-5) {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i] - want[i]) <= tol * (1 + Math.abs(want[i])))) expect.fail(`element ${i}: got ${got[i]}, want ${want[i]}`);
  }
}
const live = () => wg.memoryStats().tensors;

type P = { w: wg.Tensor; b: wg.Tensor };
type HostP = { w: number[]; b: number[] };
const W0 = [1, -2, 0.5, 3], B0 = [0.1, -0.3];
/** A gradient that depends on the params (so decay/adaptation interact): g = 0.5·w + c. */
const hostGrad = (p: HostP): HostP => ({ w: p.w.map((v, i) => 0.5 * v + [0.3, -0.1, 0.2, 0.4][i]), b: p.b.map((v, i) => 0.5 * v + [0.05, -0.2][i]) });
const devGrad = (p: P): P => wg.tidy(() => ({ w: wg.add(wg.mul(p.w, 0.5), wg.reshape(wg.tensor([0.3, -0.1, 0.2, 0.4]), [2, 2])), b: wg.add(wg.mul(p.b, 0.5), wg.tensor([0.05, -0.2])) }));
const norm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

/** Runs `steps` updates on the device, disposing old params/state/grads every step. */
async function runDevice(opt: optim.GradientTransformation<any>, steps: number): Promise<HostP[]> {
  let params: P = { w: wg.tensor(W0, { shape: [2, 2] }), b: wg.tensor(B0) };
  let state = opt.init(params);
  const out: HostP[] = [];
  for (let i = 0; i < steps; i++) {
    const grads = devGrad(params);
    const [updates, next] = opt.update(grads, state, params);
    const nextParams = optim.applyUpdates(params, updates);
    wg.dispose([grads, updates, params, state]);
    params = nextParams;
    state = next;
    out.push({ w: await arr(params.w), b: await arr(params.b) });
  }
  return out;
}

/** Runs a host optimizer step function for `steps` steps. */
function runHost(step: (p: HostP, g: HostP, t: number) => HostP, steps: number): HostP[] {
  let p: HostP = { w: [...W0], b: [...B0] };
  const out: HostP[] = [];
  for (let t = 0; t < steps; t++) {
    p = step(p, hostGrad(p), t);
    out.push({ w: [...p.w], b: [...p.b] });
  }
  return out;
}

function expectTrajectories(dev: HostP[], host: HostP[], tol = 1e-5) {
  dev.forEach((d, i) => {
    expectClose(d.w, host[i].w, tol);
    expectClose(d.b, host[i].b, tol);
  });
}

describe('sgd', () => {
  it('plain: w − lr·g (literal first step)', async () => {
    const [first] = await runDevice(optim.sgd({ lr: 0.1 }), 1);
    expectClose(first.w, [1 - 0.1 * 0.8, -2 - 0.1 * -1.1, 0.5 - 0.1 * 0.45, 3 - 0.1 * 1.9]);
  });

  for (const nesterov of [false, true]) {
    it(`momentum 0.9, weight decay 0.01${nesterov ? ', Nesterov' : ''}: PyTorch's algorithm over 3 steps`, async () => {
      const lr = 0.1, mu = 0.9, wd = 0.01;
      const bufs: Record<string, number[]> = {};
      const host = runHost((p, g) => {
        const step = (name: string, w: number[], gr: number[]) => {
          const d = gr.map((v, i) => v + wd * w[i]);
          const buf = bufs[name] ? bufs[name].map((b, i) => mu * b + d[i]) : d; // PyTorch: buf = d at step 1
          bufs[name] = buf;
          const dir = nesterov ? d.map((v, i) => v + mu * buf[i]) : buf;
          return w.map((v, i) => v - lr * dir[i]);
        };
        return { w: step('w', p.w, g.w), b: step('b', p.b, g.b) };
      }, 3);
      expectTrajectories(await runDevice(optim.sgd({ lr, momentum: mu, nesterov, weightDecay: wd }), 3), host);
    });
  }

  it('a schedule as the learning rate reads the step count from the state', async () => {
    const sched = (t: number) => [0.1, 0.5, 0.25][t];
    const host = runHost((p, g, t) => ({ w: p.w.map((v, i) => v - sched(t) * g.w[i]), b: p.b.map((v, i) => v - sched(t) * g.b[i]) }), 3);
    expectTrajectories(await runDevice(optim.sgd({ lr: sched }), 3), host);
  });
});

describe('adam / adamw', () => {
  const adamHost = (lr: number, wd: number) => {
    const b1 = 0.9, b2 = 0.999, eps = 1e-8;
    const m: Record<string, number[]> = {}, v: Record<string, number[]> = {};
    return (p: HostP, g: HostP, t: number): HostP => {
      const step = (name: string, w: number[], gr: number[]) => {
        m[name] = (m[name] ?? gr.map(() => 0)).map((x, i) => b1 * x + (1 - b1) * gr[i]);
        v[name] = (v[name] ?? gr.map(() => 0)).map((x, i) => b2 * x + (1 - b2) * gr[i] ** 2);
        const c1 = 1 - b1 ** (t + 1), c2 = 1 - b2 ** (t + 1);
        // PyTorch AdamW: decoupled decay w·(1 − lr·wd), then the Adam step.
        return w.map((x, i) => x * (1 - lr * wd) - (lr * (m[name][i] / c1)) / (Math.sqrt(v[name][i] / c2) + eps));
      };
      return { w: step('w', p.w, g.w), b: step('b', p.b, g.b) };
    };
  };

  it('adam: literal first step is −lr·sign(g) (bias-corrected), then PyTorch over 3 steps', async () => {
    const dev = await runDevice(optim.adam({ lr: 0.01 }), 3);
    expectClose(dev[0].w, [1 - 0.01, -2 + 0.01, 0.5 - 0.01, 3 - 0.01], 1e-5);
    expectTrajectories(dev, runHost(adamHost(0.01, 0), 3));
  });

  it('adamw: decoupled weight decay, over 3 steps; decayMask', async () => {
    expectTrajectories(await runDevice(optim.adamw({ lr: 0.01, weightDecay: 0.1 }), 3), runHost(adamHost(0.01, 0.1), 3));
    const masked = await runDevice(optim.adamw({ lr: 0.01, weightDecay: 0.1, decayMask: (path) => path !== 'b' }), 3);
    const plain = runHost(adamHost(0.01, 0), 3), decayed = runHost(adamHost(0.01, 0.1), 3);
    masked.forEach((d, i) => {
      expectClose(d.w, decayed[i].w);
      expectClose(d.b, plain[i].b);
    });
  });
});

describe('lars', () => {
  /** SimCLR's LARS (TF): decay and adaptation only for included leaves; lr inside the momentum. */
  const larsHost = (lr: number, mu: number, wd: number, eta: number, includeB = false) => {
    const v: Record<string, number[]> = {};
    return (p: HostP, g: HostP): HostP => {
      const step = (name: string, w: number[], gr: number[], include: boolean) => {
        const d = include ? gr.map((x, i) => x + wd * w[i]) : gr;
        const trust = include ? (eta * norm(w)) / norm(d) : 1;
        v[name] = (v[name] ?? w.map(() => 0)).map((x, i) => mu * x + lr * trust * d[i]);
        return w.map((x, i) => x - v[name][i]);
      };
      return { w: step('w', p.w, g.w, true), b: step('b', p.b, g.b, includeB) };
    };
  };

  it('trust ratio η‖w‖/‖g + wd·w‖ on matrices; biases (rank 1) excluded by default; literal first step', async () => {
    const lr = 0.5, mu = 0.9, wd = 1e-2, eta = 0.001;
    const dev = await runDevice(optim.lars({ lr, momentum: mu, weightDecay: wd }), 3);
    // Step 1 by hand: d = g + wd·w; w₁ = w − lr·η‖w‖/‖d‖·d; b₁ = b − lr·g_b.
    const g = hostGrad({ w: W0, b: B0 });
    const d = g.w.map((x, i) => x + wd * W0[i]);
    const ratio = (eta * norm(W0)) / norm(d);
    expectClose(dev[0].w, W0.map((x, i) => x - lr * ratio * d[i]));
    expectClose(dev[0].b, B0.map((x, i) => x - lr * g.b[i]));
    expectTrajectories(dev, runHost(larsHost(lr, mu, wd, eta), 3));
  });

  it('exclusion by path predicate', async () => {
    const dev = await runDevice(optim.lars({ lr: 0.5, weightDecay: 1e-2, exclude: () => false }), 3);
    expectTrajectories(dev, runHost(larsHost(0.5, 0.9, 1e-2, 0.001, true), 3));
    const none = await runDevice(optim.lars({ lr: 0.5, weightDecay: 1e-2, exclude: (path) => path === 'w' || path === 'b' }), 1);
    const g = hostGrad({ w: W0, b: B0 });
    expectClose(none[0].w, W0.map((x, i) => x - 0.5 * g.w[i]));
  });

  it('a zero-norm parameter is updated with ratio 1', async () => {
    const opt = optim.lars({ lr: 0.1, momentum: 0 });
    const params = { w: wg.zeros([2, 2]) };
    const [u] = opt.update({ w: wg.ones([2, 2]) }, opt.init(params), params);
    expect(await arr(u.w)).toEqual([-0.1, -0.1, -0.1, -0.1].map(Math.fround));
  });
});

describe('schedules', () => {
  it('values at chosen steps', () => {
    const wc = optim.warmupCosineDecaySchedule({ peakValue: 1, warmupSteps: 10, decaySteps: 110, endValue: 0.1 });
    expect(wc(0)).toBe(0);
    expect(wc(5)).toBeCloseTo(0.5, 12);
    expect(wc(10)).toBeCloseTo(1, 12);
    expect(wc(60)).toBeCloseTo(0.55, 12); // halfway through the cosine: (1 + 0.1)/2
    expect(wc(110)).toBeCloseTo(0.1, 12);
    expect(wc(500)).toBeCloseTo(0.1, 12);
    const cd = optim.cosineDecaySchedule(2, 100, 0.1);
    expect(cd(0)).toBeCloseTo(2, 12);
    expect(cd(50)).toBeCloseTo(2 * (0.9 * 0.5 + 0.1), 12);
    expect(cd(100)).toBeCloseTo(0.2, 12);
    expect(cd(200)).toBeCloseTo(0.2, 12);
    const pw = optim.piecewiseConstantSchedule(1, { 100: 0.1, 150: 0.5 });
    expect([pw(0), pw(99), pw(100), pw(149), pw(150)]).toEqual([1, 1, 0.1, 0.1, 0.05]);
    const st = optim.stepSchedule(0.1, { stepSize: 30, gamma: 0.1 });
    expect(st(29)).toBeCloseTo(0.1, 12);
    expect(st(30)).toBeCloseTo(0.01, 12);
    expect(st(65)).toBeCloseTo(0.001, 12);
    expect(optim.constantSchedule(3)(1000)).toBe(3);
    const lin = optim.linearSchedule(1, 0, 10, 5);
    expect([lin(0), lin(5), lin(10), lin(15), lin(20)]).toEqual([1, 1, 0.5, 0, 0]);
  });
});

describe('clipByGlobalNorm, chain, globalNorm', () => {
  it('clips to the global norm and leaves small updates alone', async () => {
    const g = { a: wg.tensor([3]), b: wg.tensor([[4]]) };
    expect(await optim.globalNorm(g).item()).toBeCloseTo(5, 6);
    const clip = optim.clipByGlobalNorm(1);
    const [u] = clip.update(g, clip.init(g));
    expectClose(await arr(u.a), [0.6]);
    expectClose(await arr(u.b), [0.8]);
    const big = optim.clipByGlobalNorm(10);
    const [v] = big.update(g, big.init(g));
    expect(await arr(v.a)).toEqual([3]);
    expect(await arr(v.b)).toEqual([4]);
  });

  it('chain(clip, sgd) composes in order; state is the tuple of states', async () => {
    const opt = optim.chain(optim.clipByGlobalNorm(1), optim.sgd({ lr: 0.1, momentum: 0.5 }));
    const params = { a: wg.tensor([0]), b: wg.tensor([0]) };
    let state = opt.init(params);
    expect(state.length).toBe(2);
    const g = { a: wg.tensor([3]), b: wg.tensor([4]) };
    let u;
    [u, state] = opt.update(g, state, params);
    expectClose(await arr(u.a), [-0.06]);
    [u, state] = opt.update(g, state, params);
    expectClose(await arr(u.a), [-0.1 * (0.5 * 0.6 + 0.6)]);
  });
});

describe('masked (Optax semantics)', () => {
  const tree = () => ({ w: wg.tensor(W0, { shape: [2, 2] }), b: wg.tensor(B0), nested: { bn: { scale: wg.tensor([2, -1]) } } });

  it('the inner transformation sees only the selected leaves; the others pass through unchanged', async () => {
    const params = tree();
    const seen: string[][] = [];
    const probe: optim.GradientTransformation<Record<string, never>> = {
      init: (p) => (seen.push(wg.treeLeaves(p).map(([path]) => path)), {}),
      update: (u, s, p) => (seen.push(wg.treeLeaves(u).map(([path]) => path), wg.treeLeaves(p).map(([path]) => path)), [wg.tidy(() => wg.treeMap(u, (t) => wg.mul(t, 10))), s]),
    };
    const opt = optim.masked(probe, (path) => path !== 'b');
    const [u] = opt.update(params, opt.init(params), params);
    expect(seen).toEqual([['w', 'nested.bn.scale'], ['w', 'nested.bn.scale'], ['w', 'nested.bn.scale']]);
    expect(await arr(u.w)).toEqual(W0.map((v) => Math.fround(10 * v)));
    expect(await arr(u.nested.bn.scale)).toEqual([20, -10]);
    expect(await arr(u.b)).toEqual(B0.map(Math.fround));
    expect(u.b).not.toBe(params.b); // passed through as a new tensor: update never returns its inputs
  });

  it('a stateful inner keeps state for the selected leaves only; the mask reads path and tensor', async () => {
    const params = tree();
    const opt = optim.masked(optim.traceMomentum({ decay: 0.5 }), (_, p) => p.rank > 1);
    let state = opt.init(params);
    expect(wg.treeLeaves(state).map(([path]) => path)).toEqual(['trace.w']);
    const g = { w: wg.ones([2, 2]), b: wg.tensor([1, 2]), nested: { bn: { scale: wg.tensor([3, 4]) } } };
    let u;
    [u, state] = opt.update(g, state, params);
    [u, state] = opt.update(g, state, params);
    expect(await arr(u.w)).toEqual([1.5, 1.5, 1.5, 1.5]); // 0.5·1 + 1
    expect(await arr(u.b)).toEqual([1, 2]);
    expect(await arr(u.nested.bn.scale)).toEqual([3, 4]);
  });

  it('masked weight decay is what sgd\'s decayMask does', async () => {
    const mask = (path: string) => path !== 'b';
    const viaMasked = await runDevice(optim.chain(optim.masked(optim.addDecayedWeights(0.1), mask), optim.scaleByLearningRate(0.1)), 2);
    const viaOption = await runDevice(optim.sgd({ lr: 0.1, weightDecay: 0.1, decayMask: mask }), 2);
    expectTrajectories(viaMasked, viaOption, 0);
    const host = runHost((p, g) => ({ w: p.w.map((v, i) => v - 0.1 * (g.w[i] + 0.1 * v)), b: p.b.map((v, i) => v - 0.1 * g.b[i]) }), 2);
    expectTrajectories(viaOption, host);
  });
});

describe('makeOptimizer (an optimizer by name)', () => {
  it('builds the named optimizer with its schedule; refuses unknown names and bad values naming optim.makeOptimizer', async () => {
    const spec = { lr: 0.1, schedule: 'constant', warmupSteps: 0, totalSteps: 1 } as const;
    expectTrajectories(await runDevice(optim.makeOptimizer({ ...spec, name: 'sgd', momentum: 0 }), 2), await runDevice(optim.sgd({ lr: 0.1 }), 2), 0);
    expectTrajectories(await runDevice(optim.makeOptimizer({ ...spec, name: 'adam' }), 2), await runDevice(optim.adam({ lr: 0.1 }), 2), 0);
    expect(() => optim.makeOptimizer({ ...spec, name: 'rmsprop' as never })).toThrow(/optim\.makeOptimizer.*lars, sgd, adam/);
    expect(() => optim.makeOptimizer({ ...spec, name: 'sgd', lr: 0 })).toThrow(/optim\.makeOptimizer: lr must be positive/);
  });
});

describe('ownership', () => {
  it('update never returns its inputs; the old state can be disposed; steps do not leak', async () => {
    for (const opt of [optim.sgd({ lr: 0.1, momentum: 0.9, weightDecay: 1e-4 }), optim.adamw({ lr: 1e-3 }), optim.lars({ lr: 0.1, weightDecay: 1e-6 })]) {
      let params: P = { w: wg.tensor(W0, { shape: [2, 2] }), b: wg.tensor(B0) };
      let state = opt.init(params);
      let before = 0;
      for (let i = 0; i < 4; i++) {
        if (i === 2) before = live();
        const [next, s] = wg.tidy(() => {
          const grads = devGrad(params);
          const [updates, s] = opt.update(grads, state, params);
          return [optim.applyUpdates(params, updates), s] as const;
        });
        const inputs = new Set(wg.treeLeaves([params, state]).map(([, t]) => t));
        expect(wg.treeLeaves([next, s]).some(([, t]) => inputs.has(t))).toBe(false);
        wg.dispose([params, state]);
        params = next;
        state = s;
      }
      expect(live()).toBe(before);
      for (const [, t] of wg.treeLeaves([params, state])) expect(Array.from(await t.data()).every(Number.isFinite)).toBe(true);
    }
  });
});

describe('training sanity', () => {
  it('an MLP trained with adam: the loss falls', async () => {
    const [kx, kp] = wg.random.split(wg.random.key(0));
    const x = wg.random.normal(kx, [64, 4]);
    // Labels from a fixed rule: class = (x0 + x1 > 0) + (x2 > 0.5).
    const xs = await arr(x);
    const labels = Array.from({ length: 64 }, (_, i) => (xs[4 * i] + xs[4 * i + 1] > 0 ? 1 : 0) + (xs[4 * i + 2] > 0.5 ? 1 : 0));
    const y = wg.tensor(labels, { dtype: 'int32' });
    let params = nn.mlp.init(kp, { widths: [4, 32, 3] });
    const opt = optim.adam({ lr: 1e-2 });
    let state = opt.init(params);
    const lossFn = (p: nn.MlpParams) => losses.softmaxCrossEntropy(nn.mlp.apply(p, x), y);
    const vg = wg.valueAndGrad(lossFn);
    const history: number[] = [];
    for (let i = 0; i < 100; i++) {
      const [l, next, s] = wg.tidy(() => {
        const [l, g] = vg(params);
        const [u, s] = opt.update(g, state, params);
        return [l, optim.applyUpdates(params, u), s] as const;
      });
      wg.dispose([params, state]);
      params = next;
      state = s;
      if (i % 10 === 0 || i === 99) history.push(await l.item());
      l.dispose();
    }
    expect(history.at(-1)!).toBeLessThan(0.5 * history[0]);
  });
});
