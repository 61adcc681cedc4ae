/**
 * The browser build: dist/ (built by demo/server.mjs's ensureBuild when missing or stale), served on
 * localhost, runs wgrad in headless Debian chromium on its own WebGPU (SwiftShader), through
 * `navigator.gpu` only. Proves the core imports no Node module and that chromium's WebGPU agrees
 * with the CPU reference on a representative subset of the kernels: elementwise (broadcast,
 * integer, where), fused chains, reductions, matmul, conv and their gradients.
 *
 * Each case is a function of the module `w` (the package), run as it is written in the page and
 * here on the CPU backend: its source is sent to the page (so a case may use only `w`).
 */
import type { Server } from 'node:http';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { ensureBuild, startDemoServer } from '../demo/server.mjs';
import * as wg from '../src/index.js';
import { launchChromium } from './helpers/chromium.js';

type W = typeof wg;
type Case = (w: W) => wg.Tensor | wg.Tensor[];
type Result = { name: string; shape: number[]; dtype: string; values: number[] }[];

// Inputs are drawn from the threefry PRNG, which gives the same numbers on every backend.
const CASES: Record<string, Case> = {
  'elementwise: broadcast binary ops and unary math': (w) => {
    const x = w.random.uniform(w.random.key(1), [3, 4], { minval: -2, maxval: 2 });
    const y = w.random.uniform(w.random.key(2), [4], { minval: 0.5, maxval: 3 });
    return [w.div(w.sub(x, y), y), w.maximum(x, w.neg(y)), w.tanh(x), w.exp(w.neg(w.abs(x))), w.log1p(y), w.pow(y, 1.5)];
  },
  'elementwise: integer ops, comparisons and where': (w) => {
    const a = w.arange(-6, 6, 1, 'int32');
    const b = w.tensor([3, -2, 5, 1, 4, -3, 2, 7, -1, 6, 3, 2], { dtype: 'int32' });
    return [w.mod(a, b), w.mul(a, b), w.cast(w.greater(a, b), 'int32'), w.where(w.less(a, 0), w.cast(a, 'float32'), 0.5)];
  },
  'fused chains: elementwise ops into one kernel': (w) => {
    const x = w.random.uniform(w.random.key(3), [2, 3, 5], { minval: -1, maxval: 1 });
    const y = w.random.uniform(w.random.key(4), [5]);
    const chain = w.mul(w.add(w.exp(x), 1), w.sqrt(w.add(w.abs(w.sub(x, y)), 1e-3)));
    return [chain, w.clip(w.square(w.sin(w.mul(x, 3))), 0.1, 0.9), w.sum(w.mul(w.tanh(x), y), -1)];
  },
  // Random-resized-crop's "some attempt fits" (src/data/augment.ts): ten logical ors over columns,
  // fused into one kernel. Written with the short-circuit || it compiled in time exponential in the
  // chain on SwiftShader (hours for ten): the page's RoCL step on WebGPU never finished.
  'fused chains: ten logical ors and ands over columns (one kernel)': (w) => {
    const x = w.random.normal(w.random.key(19), [64, 10]);
    const col = (t: wg.Tensor, a: number) => w.reshape(w.slice(t, [{}, a]), [64]);
    let any = w.full([64], 0, 'bool'), all = w.full([64], 1, 'bool');
    for (let a = 9; a >= 0; a--) {
      any = w.logicalOr(any, col(w.greater(x, 1), a));
      all = w.logicalAnd(all, w.notEqual(col(x, a), 0.5));
    }
    return [w.cast(any, 'int32'), w.cast(all, 'int32')];
  },
  'reductions: sum, mean, max, variance, argmax along axes': (w) => {
    const x = w.random.normal(w.random.key(5), [4, 6, 3]);
    return [w.sum(x, 1), w.mean(x, [0, 2]), w.max(x, -1), w.variance(x, 0), w.argmax(x, 1), w.min(x), w.nn.softmax(x, -1)];
  },
  'matmul: plain and batched with broadcast': (w) => {
    const a = w.random.normal(w.random.key(6), [5, 7]);
    const b = w.random.normal(w.random.key(7), [7, 3]);
    const batch = w.random.normal(w.random.key(8), [2, 4, 7]);
    return [w.matmul(a, b), w.matmul(batch, b)];
  },
  'conv2d: padded': (w) => {
    const x = w.random.normal(w.random.key(9), [2, 3, 6, 6]);
    const k = w.random.normal(w.random.key(10), [4, 3, 3, 3]);
    return [w.conv2d(x, k, { padding: 1 })];
  },
  'gradients: matmul + tanh, both operands': (w) => {
    const x = w.random.normal(w.random.key(13), [6, 5]);
    const m = w.random.normal(w.random.key(14), [5, 4]);
    return w.grad((a: wg.Tensor, b: wg.Tensor) => w.sum(w.tanh(w.matmul(a, b))), { argnums: [0, 1] })(x, m);
  },
  'gradients: conv2d input and weight': (w) => {
    const x = w.random.normal(w.random.key(15), [1, 2, 5, 5]);
    const k = w.random.normal(w.random.key(16), [3, 2, 3, 3]);
    return w.grad((a: wg.Tensor, b: wg.Tensor) => w.sum(w.conv2d(a, b, { padding: 1 })), { argnums: [0, 1] })(x, k);
  },
  'gradients: reductions and broadcasting (max, variance)': (w) => {
    const x = w.random.normal(w.random.key(17), [3, 5]);
    const loss = (a: wg.Tensor) => w.add(w.sum(w.max(a, 1)), w.sum(w.variance(w.mul(a, w.tensor([1, 2, 3, 4, 5])), 0)));
    return [w.grad(loss)(x)];
  },
};

/** WGSL's sin is accurate to 2⁻¹¹ (absolute) on [−π, π] only; the fused chain's sin(3x) reaches ±3. */
const SIN_TOLERANCE = 1e-3;

/** Runs every case on the backend `w` is initialized with and reads the results back. */
async function runCases(w: W, cases: Record<string, Case>): Promise<Result> {
  const out: Result = [];
  for (const [name, f] of Object.entries(cases)) {
    const r = f(w);
    for (const [i, t] of (Array.isArray(r) ? r : [r]).entries()) {
      out.push({ name: `${name} [${i}]`, shape: [...t.shape], dtype: t.dtype, values: Array.from(await t.data(), Number) });
    }
  }
  return out;
}

let server: Server, url: string, browser: Browser;

beforeAll(async () => {
  ensureBuild();
  ({ server, url } = await startDemoServer(0));
  browser = await launchChromium();
  await wg.init({ backend: 'cpu' });
});

afterAll(async () => {
  await browser?.close();
  server?.close();
});

test('wgrad runs in headless chromium on navigator.gpu and matches the CPU reference', async () => {
  const page = await browser.newPage();
  await page.goto(`${url}dist/`); // a page of the server's origin without the demo's app (a 404): the cases import /dist/index.js
  const sources = Object.fromEntries(Object.entries(CASES).map(([k, f]) => [k, f.toString()]));
  // A string, not a function: vitest rewrites import() in this file's own functions.
  const got = await page.evaluate(`(async () => {
    const w = await import('/dist/index.js');
    const report = await w.init({ backend: 'webgpu' });
    const cases = { ${Object.entries(sources).map(([k, src]) => `${JSON.stringify(k)}: (${src})`).join(',\n')} };
    const uniform = Array.from(await w.random.uniform(w.random.key(42), [8]).data());
    return { backend: report.backend, results: await (${runCases.toString()})(w, cases), uniform };
  })()`) as { backend: string; results: Result; uniform: number[] };
  expect(got.backend).toBe('webgpu');
  const want = await runCases(wg, CASES);
  expect(got.results.map((r) => r.name)).toEqual(want.map((r) => r.name));
  for (const [i, r] of got.results.entries()) {
    const e = want[i];
    expect([r.shape, r.dtype], r.name).toEqual([e.shape, e.dtype]);
    const scale = Math.max(1, ...e.values.map(Math.abs));
    const worst = r.values.reduce((m, v, j) => Math.max(m, Math.abs(v - e.values[j])), 0);
    const tolerance = e.dtype !== 'float32' ? 1e-12 : r.name.startsWith('fused') ? SIN_TOLERANCE : 2e-5;
    expect(worst / scale, `${r.name}: largest difference from the CPU reference`).toBeLessThan(tolerance);
  }
  // The PRNG gives the same bits on WebGPU in the browser as on the CPU reference.
  expect(got.uniform).toEqual(Array.from(await wg.random.uniform(wg.random.key(42), [8]).data()));
});

// A RoCL step (PGD-7 on the augmented views, NT-Xent, the CNN encoder) as the demo page's worker
// runs it (demo/run.js, in a module Web Worker), on chromium's WebGPU and on wasm from the same
// keys. On SwiftShader the first step is mostly pipeline compiles; it never finished while a fused
// chain of logical ors compiled in exponential time (src/kernels/elementwise-ops.ts).
test('a RoCL step of the demo page finishes on chromium\'s WebGPU in a worker and agrees with wasm', async () => {
  const page = await browser.newPage();
  await page.goto(`${url}dist/`);
  const losses = await page.evaluate(`new Promise((resolve, reject) => {
    const src = \`
      const w = await import('\${location.origin}/dist/index.js');
      const run = await import('\${location.origin}/run.js');
      const losses = { inWorker: typeof document === 'undefined' };
      for (const backend of ['webgpu', 'wasm']) {
        await w.init({ backend });
        const s = { method: 'rocl', eps: 0.1, batch: 8, steps: 1, trainImages: 8, testImages: 1, width: 4, seed: 0 };
        const data = await run.loadSubset(s.trainImages, s.testImages);
        const r = run.freshRun(run.pageConfig(s));
        await run.trainSteps(r, data.train, 1, { gate: async () => true, onStep: (p) => { losses[backend] = p.loss; }, onEpoch: async () => {} });
        w.dispose([r, data]);
      }
      postMessage(losses);\`;
    const worker = new Worker(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })), { type: 'module' });
    worker.onmessage = (e) => resolve(e.data);
    worker.onerror = (e) => reject(new Error('the worker failed: ' + e.message));
  })`) as { inWorker: boolean; webgpu: number; wasm: number };
  expect(losses.inWorker).toBe(true);
  expect(Number.isFinite(losses.webgpu)).toBe(true);
  expect(Math.abs(losses.webgpu - losses.wasm)).toBeLessThan(1e-3 * Math.abs(losses.wasm));
}, 300_000);
