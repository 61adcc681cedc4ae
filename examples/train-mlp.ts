/**
 * A small model trained with `grad`: an MLP classifies two interleaved spirals (a problem no linear
 * model solves). Parameters are a pytree; the update is a pure function; each step runs in `tidy`
 * so device memory stays flat. Run: npm run example  (or: npx tsx examples/train-mlp.ts [--cpu]).
 */
import * as wg from '../src/node.js';
import type { Tensor } from '../src/node.js';

type Params = { w1: Tensor; b1: Tensor; w2: Tensor; b2: Tensor; w3: Tensor; b3: Tensor };

/** Two spirals, `n` points each, with a little noise; labels 0/1. */
function spirals(n: number, seed: number): { x: Float32Array; y: Int32Array } {
  let s = seed;
  const rand = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
  const x = new Float32Array(4 * n), y = new Int32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const r = (i / n) * 5 + 0.5, t = (i / n) * 3 * Math.PI;
    for (const c of [0, 1]) {
      const k = 2 * i + c, sgn = c ? -1 : 1;
      x[2 * k] = (sgn * r * Math.cos(t)) / 5 + (rand() - 0.5) * 0.1;
      x[2 * k + 1] = (sgn * r * Math.sin(t)) / 5 + (rand() - 0.5) * 0.1;
      y[k] = c;
    }
  }
  return { x, y };
}

function initParams(key: wg.Key, sizes: number[]): Params {
  const keys = wg.random.split(key, 3);
  const layer = (k: wg.Key, i: number) => ({
    w: wg.random.normal(k, [sizes[i], sizes[i + 1]], { stddev: Math.sqrt(2 / sizes[i]) }),
    b: wg.zeros([sizes[i + 1]]),
  });
  const [l1, l2, l3] = keys.map(layer);
  return { w1: l1.w, b1: l1.b, w2: l2.w, b2: l2.b, w3: l3.w, b3: l3.b };
}

function logits(p: Params, x: Tensor): Tensor {
  const h1 = wg.nn.relu(wg.add(wg.matmul(x, p.w1), p.b1));
  const h2 = wg.nn.relu(wg.add(wg.matmul(h1, p.w2), p.b2));
  return wg.add(wg.matmul(h2, p.w3), p.b3);
}

function loss(p: Params, x: Tensor, y: Tensor): Tensor {
  const logp = wg.nn.logSoftmax(logits(p, x));
  return wg.neg(wg.mean(wg.sum(wg.mul(logp, wg.oneHot(y, 2)), -1)));
}

async function main() {
  const cpu = process.argv.includes('--cpu');
  const report = await wg.init({ backend: cpu ? 'cpu' : 'webgpu' });
  console.log(`backend: ${report.backend} — ${report.description}`);
  const data = spirals(256, 1);
  const x = wg.tensor(data.x, { shape: [512, 2] });
  const y = wg.tensor(data.y, { shape: [512] });
  let params = initParams(wg.random.key(0), [2, 64, 64, 2]);
  const lossAndGrad = wg.valueAndGrad(loss);
  const lr = 0.5;
  const t0 = performance.now();
  for (let step = 0; step <= 600; step++) {
    const [l, next] = wg.tidy(() => {
      const [value, g] = lossAndGrad(params, x, y);
      return [value, wg.treeMap(params, (w, path) => wg.sub(w, wg.mul((g as Params)[path as keyof Params], lr)))] as const;
    });
    wg.dispose(params);
    params = next as Params;
    if (step % 100 === 0) {
      const accuracy = wg.tidy(() => wg.mean(wg.cast(wg.equal(wg.argmax(logits(params, x), -1), y), 'float32')));
      const acc = await accuracy.item();
      accuracy.dispose();
      const mem = wg.memoryStats();
      console.log(`step ${String(step).padStart(3)}  loss ${(await l.item()).toFixed(4)}  train accuracy ${(acc * 100).toFixed(1)}%  live tensors ${mem.tensors}  live GPU bytes ${mem.liveBytes}`);
    }
    l.dispose();
  }
  await wg.sync();
  console.log(`600 steps in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
