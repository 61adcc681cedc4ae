/**
 * The small CNN's forward pass (and its loss gradient) agrees between the CPU reference backend and
 * WebGPU, from the same parameters and inputs. Skipped, with the reason printed, when no WebGPU
 * backend can be started here.
 */
import { beforeAll, expect, it } from 'vitest';
import * as wg from '../src/index.js';
import { init } from '../src/init.js';
import * as nn from '../src/nn/index.js';
import * as losses from '../src/losses/index.js';

type Host = { shape: readonly number[]; data: Float32Array };
let cpuResult: { template: nn.SmallCnnParams; params: [string, Host][]; x: Host; logits: Float32Array; grads: Float32Array[] } | undefined;
let gpuInit: (() => Promise<unknown>) | undefined;
let whyNot = '';

const labels = [3, 1];

function lossOf(x: wg.Tensor, y: wg.Tensor) {
  return (p: nn.SmallCnnParams) => losses.softmaxCrossEntropy(nn.smallCnn.apply(p, x), y);
}

beforeAll(async () => {
  await init({ backend: 'cpu' });
  const params = nn.smallCnn.init(wg.random.key(0));
  const x = wg.random.uniform(wg.random.key(1), [2, 1, 28, 28]);
  const y = wg.tensor(labels, { dtype: 'int32' });
  const logits = nn.smallCnn.apply(params, x);
  const grads = wg.grad(lossOf(x, y))(params);
  const host = async (t: wg.Tensor): Promise<Host> => ({ shape: t.shape, data: (await t.data()) as Float32Array });
  cpuResult = {
    template: params, // only its structure is used later
    params: await Promise.all(wg.treeLeaves(params).map(async ([p, t]) => [p, await host(t)] as [string, Host])),
    x: await host(x),
    logits: (await logits.data()) as Float32Array,
    grads: await Promise.all(wg.treeLeaves(grads).map(async ([, t]) => (await t.data()) as Float32Array)),
  };
  try {
    const node = await import('../src/node.js');
    gpuInit = () => node.init({ backend: 'webgpu' });
    await gpuInit();
    // Probe the primitives the CNN needs.
    const probe = wg.tidy(() => wg.sum(wg.conv2d(wg.ones([1, 1, 3, 3]), wg.ones([1, 1, 2, 2]))));
    await probe.item();
  } catch (e) {
    gpuInit = undefined;
    whyNot = (e as Error).message.split('\n')[0];
  }
});

it('small CNN: WebGPU forward and gradients match the CPU reference', async (ctx) => {
  if (!gpuInit) {
    console.warn(`nn-webgpu: skipped, no working WebGPU backend (${whyNot})`);
    ctx.skip();
  }
  const ref = cpuResult!;
  const leaves = ref.params.map(([, h]) => wg.tensor(h.data, { shape: h.shape }));
  const params = wg.treeUnflatten(ref.template, leaves);
  const x = wg.tensor(ref.x.data, { shape: ref.x.shape });
  const y = wg.tensor(labels, { dtype: 'int32' });
  const logits = (await nn.smallCnn.apply(params, x).data()) as Float32Array;
  const scale = Math.max(...Array.from(ref.logits, Math.abs));
  for (let i = 0; i < logits.length; i++) expect(Math.abs(logits[i] - ref.logits[i])).toBeLessThan(1e-4 * (1 + scale));
  const grads = wg.treeLeaves(wg.grad(lossOf(x, y))(params));
  for (const [i, [path, g]] of grads.entries()) {
    const got = (await g.data()) as Float32Array, want = ref.grads[i];
    const gscale = Math.max(1e-6, ...Array.from(want, Math.abs));
    for (let j = 0; j < want.length; j++) {
      if (!(Math.abs(got[j] - want[j]) <= 1e-3 * gscale)) expect.fail(`${path}[${j}]: WebGPU ${got[j]}, CPU ${want[j]}`);
    }
  }
});
