/**
 * Explicit ownership holds device memory flat: a small MLP trained for 1,000 steps on WebGPU with
 * each step in `tidy` keeps live tensors, live buffers and live bytes constant, and the pool bounded.
 */
import { beforeAll, expect, test } from 'vitest';
import * as wg from '../src/node.js';
import type { Tensor } from '../src/node.js';

beforeAll(async () => {
  await wg.init({ backend: 'webgpu' });
});

type Params = { w1: Tensor; b1: Tensor; w2: Tensor; b2: Tensor };

function loss(p: Params, x: Tensor, y: Tensor): Tensor {
  const h = wg.nn.relu(wg.add(wg.matmul(x, p.w1), p.b1));
  const logits = wg.add(wg.matmul(h, p.w2), p.b2);
  return wg.neg(wg.mean(wg.sum(wg.mul(wg.nn.logSoftmax(logits), wg.oneHot(y, 4)), -1)));
}

test('1,000 training steps keep GPU memory flat', async () => {
  const [k1, k2, k3, k4] = wg.random.split(wg.random.key(7), 4);
  const x = wg.random.normal(k1, [64, 16]);
  const y = wg.random.randint(k2, [64], 0, 4);
  let params: Params = {
    w1: wg.random.normal(k3, [16, 32], { stddev: 0.3 }), b1: wg.zeros([32]),
    w2: wg.random.normal(k4, [32, 4], { stddev: 0.3 }), b2: wg.zeros([4]),
  };
  const step = wg.valueAndGrad(loss);
  const samples: ReturnType<typeof wg.memoryStats>[] = [];
  let first = 0, last = 0;
  for (let i = 0; i < 1000; i++) {
    const [l, next] = wg.tidy(() => {
      const [value, g] = step(params, x, y);
      const updated = wg.treeMap(params, (w, path) => wg.sub(w, wg.mul(g[path as keyof Params], 0.1)));
      return [value, updated] as const;
    });
    wg.dispose(params);
    params = next;
    if (i === 0) first = await l.item();
    if (i === 999) last = await l.item();
    l.dispose();
    if (i >= 10 && i % 100 === 0) {
      await wg.sync();
      samples.push(wg.memoryStats());
    }
  }
  await wg.sync();
  samples.push(wg.memoryStats());
  expect(last).toBeLessThan(first * 0.5); // it really trained
  for (const s of samples) {
    expect(s.tensors).toBe(samples[0].tensors);
    expect(s.liveBuffers).toBe(samples[0].liveBuffers);
    expect(s.liveBytes).toBe(samples[0].liveBytes);
    expect(s.pooledBytes).toBeLessThanOrEqual(samples[0].pooledBytes * 2 + (1 << 20));
  }
  wg.dispose([params, x, y]);
});

test('disposing everything returns live buffers to where they started', async () => {
  await wg.sync();
  const before = wg.memoryStats();
  const made = wg.tidy(() => {
    const a = wg.random.uniform(wg.random.key(1), [300, 300]);
    return wg.keep(wg.matmul(a, wg.transpose(a)));
  });
  expect(wg.memoryStats().tensors).toBe(before.tensors + 1);
  made.dispose();
  expect(() => wg.sum(made)).toThrow(/sum: tensor #\d+ \(float32 \[300, 300\]\) was used after dispose/);
  expect(wg.memoryStats().liveBuffers).toBe(before.liveBuffers);
  expect(wg.memoryStats().tensors).toBe(before.tensors);
});
