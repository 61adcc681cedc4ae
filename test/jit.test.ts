/**
 * wg.jit (src/tensor/jit.ts, jit-capture.ts): a replay gives the eager call's results bit for bit
 * (random programs; valueAndGrad + an optimizer; the SimCLR and RoCL steps over several steps, keys
 * as inputs), traces again when the signature changes, refuses what it cannot capture with a
 * WgradError naming it, and keeps memory flat over 1,000 replays. CPU backend, plus a few cases on
 * WebGPU, where a replay records the trace's dispatches again (work-log.ts: no primitive reaches
 * the backend; random kernels get their new keys; the SimCLR step bit for bit; memory flat).
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import * as wg from '../src/index.js';
import * as ssl from '../src/ssl/index.js';
import { withBackend } from '../src/tensor/engine.js';
import { getGpu } from './helpers/gpu.js';
import type { GpuBufferHandle } from '../src/backends/webgpu/buffer-pool.js';
import { WorkLog } from '../src/backends/webgpu/work-log.js';

type T = wg.Tensor;

beforeAll(async () => {
  await wg.init({ backend: 'cpu' });
});

const bits = async (t: T) => Array.from(new Uint32Array((await t.data()).slice().buffer));
const treeBits = (tree: unknown) => Promise.all(wg.treeLeaves(tree).map(async ([path, t]) => [path, await bits(t)]));

/** One step of a random program over the live values (all [3, 4]). */
type Op = { kind: number; i: number; j: number };
const OPS: ((x: T, y: T, k: wg.random.Key) => T)[] = [
  (x, y) => wg.add(x, y),
  (x, y) => wg.mul(wg.tanh(x), y),
  (x) => wg.exp(wg.neg(wg.abs(x))),
  (x, y) => wg.pad(wg.matmul(x, wg.transpose(y)), [[0, 0], [0, 1]]),
  (x) => wg.sub(x, wg.mean(x, 1, { keepdims: true })),
  (x, y) => wg.where(wg.greater(x, y), x, wg.flip(y, [0])),
  (x) => wg.div(wg.exp(x), wg.sum(wg.exp(x), -1, { keepdims: true })),
  (x, _, k) => wg.add(x, wg.random.normal(k, [3, 4])),
  (x, y) => wg.concat([wg.slice(x, [{}, { stop: 2 }]), wg.slice(y, [{}, { start: 2 }])], 1),
  (x) => wg.pad(wg.sum(wg.reshape(x, [3, 2, 2]), 2), [[0, 0], [1, 1]]),
];

function program(ops: Op[]) {
  return (inputs: { a: T; b: T }, k: wg.random.Key) => {
    const vals = [inputs.a, inputs.b];
    ops.forEach((o, n) => vals.push(OPS[o.kind % OPS.length](vals[o.i % vals.length], vals[o.j % vals.length], wg.random.foldIn(k, n))));
    return { last: vals.at(-1)!, sum: wg.sum(vals.at(-1)!), first: vals[2] ?? inputs.a };
  };
}

const opArb = fc.record({ kind: fc.nat(50), i: fc.nat(20), j: fc.nat(20) });
const data = (seed: number) => wg.random.normal(wg.random.key(seed), [3, 4]);

describe('replays match eager calls bit for bit', () => {
  it('random programs (views, reductions, matmul, random draws from a key argument) on the CPU', async () => {
    await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 8 }), async (ops) => {
      const f = program(ops), jf = wg.jit(f);
      for (let call = 0; call < 3; call++) {
        const inputs = { a: data(10 * call), b: data(10 * call + 1) }, k = wg.random.key(call);
        const eager = wg.tidy(() => f(inputs, k)), jitted = jf(inputs, k);
        expect(await treeBits(jitted)).toEqual(await treeBits(eager));
        wg.dispose([eager, jitted, inputs]);
      }
      expect([jf.traces, jf.replays]).toEqual([1, 2]);
    }), { numRuns: 25 });
  });

  it('valueAndGrad and an optimizer update under one jit, over several steps', async () => {
    const x = data(1), y = data(2);
    const opt = wg.optim.chain(wg.optim.traceMomentum({ decay: 0.9 }), wg.optim.scale(-0.1));
    const loss = (p: { w: T; b: T }) => wg.mean(wg.square(wg.sub(wg.add(wg.matmul(x, p.w), p.b), y)));
    const step = (p: { w: T; b: T }, s: unknown) => {
      const [value, g] = wg.valueAndGrad(loss)(p);
      const [u, next] = opt.update(g, s as never, p);
      return { value, params: wg.optim.applyUpdates(p, u), state: next };
    };
    const run = async (f: typeof step) => {
      let p = { w: wg.random.normal(wg.random.key(3), [4, 4]), b: wg.zeros([4]) }, s: unknown = opt.init(p);
      const out: unknown[] = [];
      for (let i = 0; i < 4; i++) {
        const r = f(p, s);
        out.push(await treeBits(r));
        wg.dispose([p, s, r.value]);
        [p, s] = [r.params, r.state];
      }
      wg.dispose([p, s]);
      return out;
    };
    const jstep = wg.jit(step);
    expect(await run(jstep)).toEqual(await run((p, s) => wg.tidy(() => step(p, s))));
    expect([jstep.traces, jstep.replays]).toEqual([1, 3]);
  });
});

describe('the SimCLR and RoCL steps under jit', () => {
  const config: ssl.ModelConfig = { imageSize: 8, width: 2, featureDim: 8, projHidden: 8, projDim: 4 };
  const augment = { crop: { scale: [0.5, 1] as [number, number] } };
  const optimizer = wg.optim.chain(wg.optim.traceMomentum({ decay: 0.9 }), wg.optim.scale(-0.05));
  const steps: [string, ssl.MethodStep][] = [
    ['simclr', (p, s, x, k) => ssl.simclrStep(p, s, x, k, { optimizer, augment })],
    ['rocl', (p, s, x, k) => ssl.roclStep(p, s, x, k, { optimizer, augment, eps: 0.1, alpha: 0.03, steps: 2 })],
  ];

  async function train(method: string, step: ssl.MethodStep, n: number) {
    const { params, state } = ssl.model.init(wg.random.key(5), ssl.methodModelConfig(method, config));
    let p = params, s = ssl.initState(params, state, optimizer);
    const x = wg.random.uniform(wg.random.key(6), [4, 1, 8, 8]);
    const trail: unknown[] = [];
    for (let i = 0; i < n; i++) {
      const r = step(p, s, x, wg.random.foldIn(wg.random.key(7), i));
      trail.push(await treeBits([r.loss, r.parts, r.params, r.state]));
      wg.dispose([p, s, r.loss, r.parts]);
      [p, s] = [r.params, r.state];
    }
    wg.dispose([p, s, x]);
    return trail;
  }

  for (const [method, step] of steps) {
    it(`${method}: three jitted steps (one trace, two replays with new keys) are the eager steps bit for bit`, async () => {
      const jstep = wg.jit(step);
      expect(await train(method, jstep, 3)).toEqual(await train(method, step, 3));
      expect([jstep.traces, jstep.replays]).toEqual([1, 2]);
    });
  }

  // The command line's step: the method's record with makeOptimizer's optimizers and schedule. The
  // step count is on the device (src/optim/device-count.ts), so the signature does not change.
  for (const name of wg.optim.OPTIMIZER_NAMES) {
    it(`the CLI's simclr step with ${name} and a warm-up cosine schedule: one trace, then replays, bit for bit`, async () => {
      const spec = { name, lr: 0.1, schedule: 'cosine', warmupSteps: 2, totalSteps: 4, weightDecay: 1e-4 } as const;
      const modelConfig = ssl.methodModelConfig('simclr', config);
      const step = ssl.methodStep('simclr', { augment }, { modelConfig, optimizer: wg.optim.makeOptimizer(spec), optimizerSpec: spec, box: [0, 1] });
      const trainCli = async (f: ssl.MethodStep) => {
        const { params, state } = ssl.model.init(wg.random.key(5), modelConfig);
        let p = params, s = ssl.methodInitState('simclr', {}, params, state, wg.random.key(8), { modelConfig, optimizer: wg.optim.makeOptimizer(spec), optimizerSpec: spec, box: [0, 1] });
        const x = wg.random.uniform(wg.random.key(6), [4, 1, 8, 8]);
        const trail: unknown[] = [];
        for (let i = 0; i < 5; i++) {
          const r = f(p, s, x, wg.random.foldIn(wg.random.key(7), i));
          trail.push(await treeBits([r.loss, r.params, r.state]));
          wg.dispose([p, s, r.loss, r.parts]);
          [p, s] = [r.params, r.state];
        }
        wg.dispose([p, s, x]);
        return trail;
      };
      const jstep = wg.jit(step);
      expect(await trainCli(jstep)).toEqual(await trainCli(step));
      expect([jstep.traces, jstep.replays]).toEqual([1, 4]);
    });
  }
});

describe('signatures', () => {
  it('traces again for a new shape, dtype or number argument, and keeps at most maxTraces programs', async () => {
    const f = wg.jit((x: T, c: number) => wg.mul(x, c), { maxTraces: 2 });
    const calls: [number[], wg.DType, number][] = [[[2], 'float32', 2], [[2], 'float32', 2], [[3], 'float32', 2], [[3], 'int32', 2], [[3], 'int32', 5], [[2], 'float32', 2]];
    const expected = [1, 1, 2, 3, 4, 5]; // the last call's program was dropped (least recently used)
    for (const [n, [shape, dtype, c]] of calls.entries()) {
      const x = wg.full(shape, 3, dtype);
      const y = f(x, c);
      expect(Array.from(await y.data())).toEqual(Array(shape[0]).fill(3 * c));
      expect(f.traces).toBe(expected[n]);
      wg.dispose([x, y]);
    }
    f.clear();
  });

  it('a key argument is an input (new numbers per key); a key closed over is a constant (captured by value)', async () => {
    const outer = wg.random.key(42);
    const f = wg.jit((k: wg.random.Key) => [wg.random.uniform(wg.random.split(k)[1], [4]), wg.random.uniform(outer, [4])]);
    const [a1, c1] = f(wg.random.key(1)), [a2, c2] = f(wg.random.key(2));
    const [e2] = wg.tidy(() => [wg.random.uniform(wg.random.split(wg.random.key(2))[1], [4])]);
    expect(f.traces).toBe(1);
    expect(await bits(a2)).toEqual(await bits(e2));
    expect(await bits(a2)).not.toEqual(await bits(a1));
    expect(await bits(c2)).toEqual(await bits(c1));
    wg.dispose([a1, c1, a2, c2, e2]);
  });

  it('an argument returned as it is comes back as the same tensor; an argument the function disposes is disposed by a replay', async () => {
    const f = wg.jit((x: T, y: T) => {
      const out = { x, z: wg.add(y, 1) };
      y.dispose();
      return out;
    });
    for (let i = 0; i < 2; i++) {
      const x = wg.zeros([2]), y = wg.zeros([2]);
      const r = f(x, y);
      expect(r.x).toBe(x);
      expect(y.isDisposed).toBe(true);
      expect(Array.from(await r.z.data())).toEqual([1, 1]);
      wg.dispose([x, r.z]);
    }
    expect(f.replays).toBe(1);
  });
});

describe('what jit cannot capture', () => {
  it('reading a value back mid-trace (data-dependent control flow), naming the read', () => {
    const f = wg.jit((x: T) => {
      void x.item();
      return wg.neg(x);
    });
    expect(() => f(wg.tensor(1))).toThrow(/jit: cannot capture .*reads a value back mid-trace \(data\(\), item\(\) or array\(\) of float32 \[\]\)/);
  });

  it('an async function', () => {
    const f = wg.jit(async (x: T) => ((await x.item()) > 0 ? wg.neg(x) : x));
    expect(() => f(wg.tensor(1))).toThrow(/jit: cannot capture .*returned a Promise after reading float32 \[\] back/);
  });

  it('tensors kept alive that the function does not return', () => {
    let kept: T | undefined;
    const f = wg.jit(function keeper(x: T) {
      kept = wg.keep(wg.exp(x));
      return wg.neg(x);
    });
    expect(() => f(wg.tensor(1))).toThrow(/jit: cannot capture function keeper: it keeps 1 tensor\(s\) alive that it does not return \(exp → float32 \[\]\)/);
    kept?.dispose();
  });

  it('a bad maxTraces', () => {
    expect(() => wg.jit((x: T) => x, { maxTraces: 0 })).toThrow(/jit: maxTraces must be a positive integer, got 0/);
  });
});

describe('memory', () => {
  it('live tensors and backend memory stay flat over 1,000 replays of a small training step', async () => {
    const x = data(1), y = data(2);
    const opt = wg.optim.scale(-0.01);
    const step = wg.jit((p: { w: T }) => {
      const [value, g] = wg.valueAndGrad((q: { w: T }) => wg.mean(wg.square(wg.sub(wg.matmul(x, q.w), y))))(p);
      const [u] = opt.update(g, {}, p);
      return { value, params: wg.optim.applyUpdates(p, u) };
    });
    let p = { w: wg.zeros([4, 4]) };
    const sample = () => ({ ...wg.memoryStats() });
    let first: ReturnType<typeof sample> | undefined;
    for (let i = 0; i < 1001; i++) {
      const r = step(p);
      wg.dispose([p, r.value]);
      p = r.params;
      if (i === 0) first = sample();
    }
    expect(sample()).toEqual(first);
    expect(step.replays).toBe(1000);
    wg.dispose([p, x, y]);
  });
});

describe('WebGPU', () => {
  it('random programs and a training step: replays match eager calls bit for bit', async () => {
    const gpu = await getGpu();
    // withBackend holds only for synchronous work: every tensor is made inside a synchronous call.
    const on = <R>(f: () => R): R => withBackend(gpu, f);
    const runs = vi.spyOn(gpu, 'run');
    await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 6 }), async (ops) => {
      const f = program(ops), jf = wg.jit(f);
      for (let call = 0; call < 3; call++) {
        const [inputs, k, eager, jitted] = on(() => {
          const inputs = { a: data(20 * call), b: data(20 * call + 1) }, k = wg.random.key(call);
          const eager = wg.tidy(() => f(inputs, k));
          runs.mockClear();
          return [inputs, k, eager, jf(inputs, k)] as const;
        });
        // A replay records the trace's dispatches (work-log.ts): no primitive reaches the backend.
        if (call > 0) expect(runs).not.toHaveBeenCalled();
        expect(jitted.last.backend).toBe(gpu);
        expect(await treeBits(jitted)).toEqual(await treeBits(eager));
        wg.dispose([eager, jitted, inputs]);
        void k;
      }
      jf.clear();
    }), { numRuns: 4 });
    const x = on(() => data(1)), y = on(() => data(2));
    const loss = (p: { w: T }) => wg.mean(wg.square(wg.sub(wg.tanh(wg.matmul(x, p.w)), y)));
    const step = (p: { w: T }) => {
      const [value, g] = wg.valueAndGrad(loss)(p);
      return { value, w: wg.sub(p.w, wg.mul(g.w, 0.1)) };
    };
    const run = async (f: typeof step) => {
      let p = { w: on(() => wg.random.normal(wg.random.key(3), [4, 4])) };
      const out: unknown[] = [];
      for (let i = 0; i < 3; i++) {
        const r = on(() => f(p));
        out.push(await treeBits(r));
        wg.dispose([p, r.value]);
        p = { w: r.w };
      }
      wg.dispose(p);
      return out;
    };
    const jstep = wg.jit(step);
    expect(await run(jstep)).toEqual(await run((p) => wg.tidy(() => step(p))));
    expect(jstep.replays).toBe(2);
    wg.dispose([x, y]);
    runs.mockRestore();
  });

  it('the CLI\'s SimCLR step with lars: replays of recorded dispatches (new keys written into the random kernels) are the eager steps bit for bit', async () => {
    const gpu = await getGpu();
    const on = <R>(f: () => R): R => withBackend(gpu, f);
    const config: ssl.ModelConfig = { imageSize: 8, width: 2, featureDim: 8, projHidden: 8, projDim: 4 };
    const spec = { name: 'lars', lr: 0.1, schedule: 'cosine', warmupSteps: 1, totalSteps: 3, weightDecay: 1e-6 } as const;
    const ctx = { modelConfig: ssl.methodModelConfig('simclr', config), optimizer: wg.optim.makeOptimizer(spec), optimizerSpec: spec, box: [0, 1] as const };
    const step = ssl.methodStep('simclr', { augment: { crop: { scale: [0.5, 1] } } }, ctx);
    const runs = vi.spyOn(gpu, 'run');
    const train = async (f: ssl.MethodStep, replays: boolean) => {
      let [p, s, x] = on(() => {
        const { params, state } = ssl.model.init(wg.random.key(5), ctx.modelConfig);
        return [params, ssl.methodInitState('simclr', {}, params, state, wg.random.key(8), ctx), wg.random.uniform(wg.random.key(6), [4, 1, 8, 8])] as const;
      });
      const trail: unknown[] = [];
      for (let i = 0; i < 3; i++) {
        runs.mockClear();
        const r = on(() => f(p, s, x, wg.random.foldIn(wg.random.key(7), i)));
        if (replays && i > 0) expect(runs).not.toHaveBeenCalled();
        trail.push(await treeBits([r.loss, r.parts, r.params, r.state]));
        wg.dispose([p, s, r.loss, r.parts]);
        [p, s] = [r.params, r.state];
      }
      wg.dispose([p, s, x]);
      return trail;
    };
    const jstep = wg.jit(step);
    expect(await train(jstep, true)).toEqual(await train((...a) => wg.tidy(() => step(...a)), false));
    expect([jstep.traces, jstep.replays]).toEqual([1, 2]);
    runs.mockRestore();
  });

  it('work that does not fit a dispatch plan gives none (jit replays it call by call)', () => {
    const buf = (size: number) => ({ size }) as unknown as GpuBufferHandle;
    const d = (uniforms: number[]) => ({ key: 'k', entry: {} as never, uniforms: Uint32Array.from(uniforms).buffer, uniformBytes: 16, workgroups: [1, 1, 1] as const, readOnly: 1 });
    const [arg, out, tmp, constant] = [buf(4), buf(4), buf(4), buf(4)];
    const fits = () => {
      const log = new WorkLog();
      log.alloc(out);
      log.dispatch(d([4, 7, 9, 0]), [arg, constant, out]);
      log.randomCall(0, [7, 9]);
      return log;
    };
    expect(fits().plan([arg], [out])).toBeDefined();
    const kept = fits();
    kept.alloc(tmp); // made during the trace, neither released nor returned: something else keeps it
    expect(kept.plan([arg], [out])).toBeUndefined();
    const freed = fits();
    freed.release(constant); // a buffer the trace did not make, and not an argument
    expect(freed.plan([arg], [out])).toBeUndefined();
    expect(fits().plan([arg], [arg])).toBeUndefined(); // an output the trace did not make
    const ambiguous = new WorkLog();
    ambiguous.dispatch(d([7, 9, 7, 9]), [out]);
    ambiguous.randomCall(0, [7, 9]);
    expect(ambiguous.plan([], [])).toBeUndefined();
  });

  it('live tensors, GPU memory and bind groups stay flat over 300 replays of a training step; clear() frees the plan\'s buffers', async () => {
    const gpu = await getGpu();
    const on = <R>(f: () => R): R => withBackend(gpu, f);
    const x = on(() => data(1)), y = on(() => data(2));
    const opt = wg.optim.adam({ lr: 0.01 });
    const step = wg.jit((p: { w: T }, s: unknown) => {
      const [value, g] = wg.valueAndGrad((q: { w: T }) => wg.mean(wg.square(wg.sub(wg.tanh(wg.matmul(x, q.w)), y))))(p);
      const [u, next] = opt.update(g, s as never, p);
      return { value, params: wg.optim.applyUpdates(p, u), state: next };
    });
    let p = { w: on(() => wg.zeros([4, 4])) }, s: unknown = on(() => opt.init(p));
    // Intermediates live in the plan's own buffers and outputs alternate between two buffers each,
    // so after the first replays no bind group is made (work-log.ts).
    const sample = () => ({ ...wg.memoryStats(), ...gpu.memory(), bindGroups: gpu.runtime.stats.bindGroupsCreated });
    let first: ReturnType<typeof sample> | undefined;
    for (let i = 0; i < 301; i++) {
      const r = on(() => step(p, s));
      wg.dispose([p, s, r.value]);
      [p, s] = [r.params, r.state];
      if (i % 50 === 0) await gpu.sync();
      if (i === 50) first = sample();
    }
    await gpu.sync();
    expect(sample()).toEqual(first);
    expect([step.traces, step.replays]).toEqual([1, 300]);
    const held = gpu.memory().liveBuffers;
    on(() => step.clear());
    expect(gpu.memory().liveBuffers).toBeLessThan(held);
    wg.dispose([p, s, x, y]);
  });
});
