/**
 * BatchNorm (train/eval, running statistics, independent branches, ownership of the returned state,
 * gradients) and the CIFAR ResNet (shapes of a tiny and a full-depth one, ResNet-18's parameter
 * count, forward/backward, BN state threading with branches, no leaks), on the CPU backend.
 */
import { describe, expect, it } from 'vitest';
import * as wg from '../src/index.js';
import * as nn from '../src/nn/index.js';
import * as losses from '../src/losses/index.js';
import { arr, expectClose, key, live, useCpuBackend } from './helpers/cpu.js';

useCpuBackend();
const eps = 1e-5;

describe('batchNorm', () => {
  // x [4, 2]: channel 0 = 1, 2, 3, 4 (mean 2.5, biased var 1.25); channel 1 = 0, 0, 2, 2 (mean 1, var 1).
  const xs = [1, 0, 2, 0, 3, 2, 4, 2];

  it('training: batch statistics, affine, and the running-stat update', async () => {
    const { params: p0, state } = nn.batchNorm.init({ channels: 2 });
    expect(await arr(p0.scale)).toEqual([1, 1]);
    expect(await arr(state.var)).toEqual([1, 1]);
    const params = { scale: wg.tensor([2, 1]), bias: wg.tensor([0, 1]) };
    const [y, next] = nn.batchNorm.apply(params, state, wg.tensor(xs, { shape: [4, 2] }), { training: true });
    const s0 = Math.sqrt(1.25 + eps), s1 = Math.sqrt(1 + eps);
    expectClose(await arr(y), [2 * -1.5 / s0, -1 / s1 + 1, 2 * -0.5 / s0, -1 / s1 + 1, 2 * 0.5 / s0, 1 / s1 + 1, 2 * 1.5 / s0, 1 / s1 + 1]);
    expectClose(await arr(next.mean), [0.1 * 2.5, 0.1 * 1]);
    // Unbiased batch variance in the running average (PyTorch): n/(n − 1) = 4/3.
    expectClose(await arr(next.var), [0.9 + 0.1 * 1.25 * 4 / 3, 0.9 + 0.1 * 4 / 3]);
    const [, next2] = nn.batchNorm.apply(params, next, wg.tensor(xs, { shape: [4, 2] }), { training: true, momentum: 0.5 });
    expectClose(await arr(next2.mean), [0.5 * 0.25 + 0.5 * 2.5, 0.5 * 0.1 + 0.5]);
  });

  it('eval: running statistics, state unchanged (as fresh references)', async () => {
    const params = { scale: wg.tensor([2, 1]), bias: wg.tensor([0, 1]) };
    const state = { mean: wg.tensor([1, -1]), var: wg.tensor([4, 0.25]) };
    const [y, next] = nn.batchNorm.apply(params, state, wg.tensor(xs, { shape: [4, 2] }), { training: false });
    const want = [0, 1, 2, 3].flatMap((i) => [2 * (xs[2 * i] - 1) / Math.sqrt(4 + eps), (xs[2 * i + 1] + 1) / Math.sqrt(0.25 + eps) + 1]);
    expectClose(await arr(y), want);
    wg.dispose(state);
    expect(await arr(next.mean)).toEqual([1, -1]);
    expect(await arr(next.var)).toEqual([4, 0.25]);
  });

  it('NCHW: per-channel statistics over N, H, W', async () => {
    const { params, state } = nn.batchNorm.init({ channels: 3 });
    const x = wg.random.normal(key(1), [4, 3, 5, 5], { mean: 3, stddev: 2 });
    const [y] = nn.batchNorm.apply(params, state, x, { training: true });
    const m = await arr(wg.mean(y, [0, 2, 3]));
    const v = await arr(wg.variance(y, [0, 2, 3]));
    expectClose(m, [0, 0, 0], 1e-5);
    expectClose(v, [1, 1, 1], 1e-3);
  });

  it('gradients in training mode (through the batch statistics) and eval mode', async () => {
    const x = wg.tensor([[0.3, -1], [1.2, 0.4], [-0.5, 2], [0.9, 0.1], [0.2, -0.3]]);
    const f = (train: boolean) => (x: wg.Tensor, scale: wg.Tensor, bias: wg.Tensor) => {
      const { state } = nn.batchNorm.init({ channels: 2 });
      return nn.batchNorm.apply({ scale, bias }, state, x, { training: train })[0];
    };
    await wg.checkGrads(f(true), [x, wg.tensor([1.5, 0.7]), wg.tensor([0.1, -0.2])]);
    await wg.checkGrads(f(false), [x, wg.tensor([1.5, 0.7]), wg.tensor([0.1, -0.2])]);
    const img = wg.random.normal(key(2), [2, 2, 3, 3]);
    await wg.checkGrads(f(true), [img, wg.tensor([1.5, 0.7]), wg.tensor([0.1, -0.2])]);
  });

  it('branches: params and state keyed by name; a call uses and updates its branch only', async () => {
    const { params, state } = nn.batchNorm.init({ channels: 2, branches: ['clean', 'adv'] });
    expect(Object.keys(params)).toEqual(['clean', 'adv']);
    const x = wg.tensor(xs, { shape: [4, 2] });
    const [yAdv, next] = nn.batchNorm.apply(params, state, x, { training: true, branch: 'adv' });
    expectClose(await arr(next.adv.mean), [0.25, 0.1]);
    expect(await arr(next.clean.mean)).toEqual([0, 0]);
    wg.dispose(state); // the old state can always be disposed
    expect(await arr(next.clean.var)).toEqual([1, 1]);
    // Different affine params per branch give different outputs.
    const p2 = { clean: params.clean, adv: { scale: wg.tensor([3, 3]), bias: wg.tensor([0, 0]) } };
    const [yClean] = nn.batchNorm.apply(p2, next, x, { training: true, branch: 'clean' });
    const [yAdv3] = nn.batchNorm.apply(p2, next, x, { training: true, branch: 'adv' });
    expectClose(await arr(yClean), await arr(yAdv));
    expectClose(await arr(yAdv3), (await arr(yAdv)).map((v) => 3 * v));
    // Eval with the adv running statistics.
    const [yEval] = nn.batchNorm.apply(params, next, x, { training: false, branch: 'adv' });
    expectClose((await arr(yEval)).slice(0, 2), [(1 - 0.25) / Math.sqrt(0.9 + 0.1 * 1.25 * 4 / 3 + eps), (0 - 0.1) / Math.sqrt(0.9 + 0.1 * 4 / 3 + eps)]);
    // A missing or unknown branch is an error.
    expect(() => nn.batchNorm.apply(params, next, x, { training: true } as never)).toThrow(/branch/);
  });

  it('leaves only its outputs behind', () => {
    const { params, state } = nn.batchNorm.init({ channels: 2 });
    const x = wg.ones([3, 2, 2, 2]);
    // Warm-up: the first calls create the engine's cached scalar constants (kept, not leaked).
    nn.batchNorm.apply(params, state, x, { training: true });
    nn.batchNorm.apply(params, state, x, { training: false });
    const before = live();
    nn.batchNorm.apply(params, state, x, { training: true });
    expect(live()).toBe(before + 3);
    nn.batchNorm.apply(params, state, x, { training: false });
    expect(live()).toBe(before + 6);
  });
});

describe('resnet', () => {
  it('tiny: forward shapes, features, state structure', async () => {
    wg.dispose(nn.resnet.init(key(0), { width: 4, blocks: [1, 1], classes: 3 })); // warm-up (cached constants)
    const start = live();
    const { params, state } = nn.resnet.init(key(0), { width: 4, blocks: [1, 1], classes: 3 });
    expect(live()).toBe(start + wg.treeLeaves([params, state]).length); // init leaves nothing else behind
    expect(params.stem.conv.w.shape).toEqual([4, 3, 3, 3]);
    expect(params.stages[0][0].shortcut).toBeUndefined();
    expect(params.stages[1][0].shortcut!.conv.w.shape).toEqual([8, 4, 1, 1]);
    expect(params.fc!.w.shape).toEqual([8, 3]);
    expect(nn.resnet.featureDim({ width: 4, blocks: [1, 1] })).toBe(8);
    const x = wg.random.uniform(key(1), [2, 3, 8, 8]);
    wg.dispose(nn.resnet.apply(params, state, x, { training: true })); // warm-up (cached constants)
    const before = live();
    const [{ logits, features }, next] = nn.resnet.apply(params, state, x, { training: true });
    expect(logits.shape).toEqual([2, 3]);
    expect(features.shape).toEqual([2, 8]);
    expect(wg.treeLeaves(next).map(([p]) => p)).toEqual(wg.treeLeaves(state).map(([p]) => p));
    expect(live()).toBe(before + 2 + wg.treeLeaves(next).length);
    const [f2] = nn.resnet.features(params, next, x, { training: false });
    expect(f2.shape).toEqual([2, 8]);
  });

  it('ResNet-18 depth (blocks [2, 2, 2, 2]) at width 2: shapes; default config has ResNet-18\'s 11,173,962 parameters', async () => {
    const { params, state } = nn.resnet.init(key(2), { width: 2 });
    expect(params.stages.map((s) => s.length)).toEqual([2, 2, 2, 2]);
    const [{ logits, features }] = nn.resnet.apply(params, state, wg.random.uniform(key(3), [2, 3, 16, 16]), { training: true });
    expect(logits.shape).toEqual([2, 10]);
    expect(features.shape).toEqual([2, 16]);
    // Zero conv weights: the count needs only the shapes (drawing 11M normals on the CPU is slow).
    const full = nn.resnet.init(key(4), { convInit: nn.initializers.zeros });
    const count = wg.treeLeaves(full.params).reduce((n, [, t]) => n + t.size, 0);
    expect(count).toBe(11_173_962);
    expect(params.stages[3][1].conv2.w.shape).toEqual([16, 16, 3, 3]);
    expect(full.params.fc!.w.shape).toEqual([512, 10]);
    wg.dispose(full);
  });

  it('backward: gradients for every parameter, shaped like it; state as aux', async () => {
    const { params, state } = nn.resnet.init(key(5), { width: 4, blocks: [1, 1], classes: 3 });
    const x = wg.random.uniform(key(6), [4, 3, 8, 8]);
    const y = wg.tensor([0, 1, 2, 1], { dtype: 'int32' });
    const lossFn = (p: typeof params) => {
      const [{ logits }, next] = nn.resnet.apply(p, state, x, { training: true });
      return [losses.softmaxCrossEntropy(logits, y), next] as [wg.Tensor, typeof state];
    };
    wg.dispose(wg.valueAndGrad(lossFn, { hasAux: true })(params)); // warm-up (cached constants)
    const before = live();
    const [[loss, next], grads] = wg.valueAndGrad(lossFn, { hasAux: true })(params);
    expect(loss.shape).toEqual([]);
    const gl = wg.treeLeaves(grads), pl = wg.treeLeaves(params);
    expect(gl.map(([p, t]) => [p, t.shape])).toEqual(pl.map(([p, t]) => [p, t.shape]));
    const norms = await Promise.all(gl.map(async ([, g]) => (await arr(g)).reduce((s, v) => s + v * v, 0)));
    expect(norms.every((n) => Number.isFinite(n))).toBe(true);
    expect(norms.filter((n) => n > 0).length).toBe(norms.length);
    expect(live()).toBe(before + 1 + wg.treeLeaves(next).length + gl.length);
  });

  it('a gradient check through a tiny ResNet (input gradient, training-mode BN)', async () => {
    const x = wg.random.uniform(key(7), [2, 1, 4, 4]);
    await wg.checkGrads((x) => {
      const { params, state } = nn.resnet.init(key(8), { width: 2, blocks: [1, 1], inChannels: 1, classes: 2 });
      return nn.resnet.apply(params, state, x, { training: true })[0].logits;
    }, [x], { directions: 3, atol: 1e-5, rtol: 1e-3 });
  });

  it('branches: one BN per branch in every layer, shared convolutions', async () => {
    const { params, state } = nn.resnet.init(key(9), { width: 4, blocks: [1, 1], classes: 3, branches: ['clean', 'adv'] });
    expect(Object.keys(params.stem.bn)).toEqual(['clean', 'adv']);
    const x = wg.random.uniform(key(10), [2, 3, 8, 8]);
    const [, next] = nn.resnet.apply(params, state, x, { training: true, branch: 'adv' });
    expect(await arr(next.stem.bn.clean.mean)).toEqual([0, 0, 0, 0]);
    expect((await arr(next.stem.bn.adv.mean)).some((v) => v !== 0)).toBe(true);
    const [a] = nn.resnet.features(params, next, x, { training: false, branch: 'adv' });
    const [c] = nn.resnet.features(params, next, x, { training: false, branch: 'clean' });
    expect(await arr(a)).not.toEqual(await arr(c));
    wg.dispose(state);
    expect((await arr(next.stages[1][0].shortcut!.bn.clean.var)).length).toBe(8);
  });
});
