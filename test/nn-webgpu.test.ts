/**
 * The small CNN's forward pass agrees between the CPU reference backend and WebGPU, from the same
 * parameters and inputs (the gradients of the primitives are compared by the kernel tests; a full
 * CNN backward pass on a software GPU takes tens of seconds). Skipped, with the reason printed, when
 * no WebGPU backend can be started here — except in CI (CI=true), where that is a failure.
 */
import { beforeAll, expect, it } from 'vitest';
import * as wg from '../src/index.js';
import { init } from '../src/init.js';
import * as nn from '../src/nn/index.js';
import { skipUnlessCi } from './helpers/ci.js';

type Host = { shape: readonly number[]; data: Float32Array };
let cpuResult: { template: nn.SmallCnnParams; params: [string, Host][]; x: Host; logits: Float32Array } | undefined;
let gpuReady = false;
let whyNot = '';

beforeAll(async () => {
  await init({ backend: 'cpu' });
  const params = nn.smallCnn.init(wg.random.key(0));
  const x = wg.random.uniform(wg.random.key(1), [2, 1, 28, 28]);
  const logits = nn.smallCnn.apply(params, x);
  const host = async (t: wg.Tensor): Promise<Host> => ({ shape: t.shape, data: (await t.data()) as Float32Array });
  cpuResult = {
    template: params, // only its structure is used later
    params: await Promise.all(wg.treeLeaves(params).map(async ([p, t]) => [p, await host(t)] as [string, Host])),
    x: await host(x),
    logits: (await logits.data()) as Float32Array,
  };
  try {
    const node = await import('../src/node.js');
    await node.init({ backend: 'webgpu' });
    // Probe the primitives the CNN needs.
    const probe = wg.tidy(() => wg.sum(wg.conv2d(wg.ones([1, 1, 3, 3]), wg.ones([1, 1, 2, 2]))));
    await probe.item();
    gpuReady = true;
  } catch (e) {
    whyNot = (e as Error).message.split('\n')[0];
  }
});

it('small CNN: the WebGPU forward pass matches the CPU reference', async (ctx) => {
  if (!gpuReady) {
    console.warn(`nn-webgpu: no working WebGPU backend (${whyNot})`);
    skipUnlessCi(ctx, `no working WebGPU backend (${whyNot})`);
  }
  const ref = cpuResult!;
  const leaves = ref.params.map(([, h]) => wg.tensor(h.data, { shape: h.shape }));
  const params = wg.treeUnflatten(ref.template, leaves);
  const x = wg.tensor(ref.x.data, { shape: ref.x.shape });
  const logits = (await nn.smallCnn.apply(params, x).data()) as Float32Array;
  expect(logits.length).toBe(ref.logits.length);
  const scale = Math.max(...Array.from(ref.logits, Math.abs));
  for (let i = 0; i < logits.length; i++) {
    if (!(Math.abs(logits[i] - ref.logits[i]) <= 1e-4 * (1 + scale))) expect.fail(`logit ${i}: WebGPU ${logits[i]}, CPU ${ref.logits[i]}`);
  }
  // The same key gives the same parameters on both backends.
  const again = nn.smallCnn.init(wg.random.key(0));
  const got = (await again.conv1.w.data()) as Float32Array;
  const want = ref.params.find(([p]) => p === 'conv1.w')![1].data;
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThan(1e-6);
});
