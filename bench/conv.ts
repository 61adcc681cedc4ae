/**
 * The three conv GEMMs (conv2d forward, input gradient, weight gradient) on the WebGPU backend at
 * small-CNN layer shapes, beside a 1024² matmul measured in the same run (the rate the conv GEMMs
 * should reach).
 *
 *   npx tsx bench/conv.ts [--shapes cnn1,cnn2,enc1,enc2,k5] [--reps 5] [--no-matmul] [--no-check]
 *
 * Each prim's FLOPs are those of the forward conv, 2·N·O·Ho·Wo·(C/groups)·kh·kw. Per shape and
 * prim: one untimed call (pipeline compilation), one warm-up, then `reps` timed repeats of a
 * batch of calls ending with a one-element readback; the median wall time per call and the
 * process CPU time per call are reported (lavapipe runs on the CPU, so GFLOP per CPU-second stays
 * meaningful when other processes compete for the cores). The first result of each prim is
 * checked against the CPU reference backend.
 */
import { CpuBackend } from '../src/backends/cpu/backend.js';
import { requestWebGpuBackend } from '../src/backends/webgpu/device.js';
import { nodeGpu } from '../src/backends/webgpu/node-gpu.js';
import type { Conv2dGeometry } from '../src/core/prims.js';
import { runConv2d, runConv2dInputGrad, runConv2dWeightGrad } from '../src/kernels/conv.js';
import { runMatmul } from '../src/kernels/matmul.js';
import type { GpuStorage, GpuView } from '../src/kernels/runtime.js';
import { rand } from './random-data.js';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};

interface Shape { id: string; label: string; n: number; c: number; h: number; o: number; k: number; pad: number }
const SHAPES: Shape[] = [
  { id: 'cnn1', label: 'small CNN conv1 1→32 3×3', n: 256, c: 1, h: 28, o: 32, k: 3, pad: 1 },
  { id: 'cnn2', label: 'small CNN conv2 32→64 3×3 @14²', n: 256, c: 32, h: 14, o: 64, k: 3, pad: 1 },
  { id: 'enc1', label: 'SSL encoder conv1 1→8 3×3', n: 128, c: 1, h: 28, o: 8, k: 3, pad: 1 },
  { id: 'enc2', label: 'SSL encoder conv2 8→16 3×3 @14²', n: 128, c: 8, h: 14, o: 16, k: 3, pad: 1 },
  { id: 'k5', label: 'conv 1→16 5×5', n: 500, c: 1, h: 28, o: 16, k: 5, pad: 2 },
];
const ids = (arg('shapes') ?? SHAPES.map((s) => s.id).join(',')).split(',');
const reps = Number(arg('reps') ?? 5);
const check = !process.argv.includes('--no-check');

const backend = await requestWebGpuBackend({ gpu: nodeGpu() });
const rt = backend.runtime;
const cpu = new CpuBackend();
console.log(`device: ${backend.report.description || backend.report.device || backend.report.vendor}`);

const contiguous = (shape: number[]): number[] => shape.map((_, i) => shape.slice(i + 1).reduce((p, q) => p * q, 1));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** Times `call` (returns a fresh result buffer): median wall and CPU ms per call, first-call ms. */
async function time(call: () => GpuStorage, flops: number) {
  const sync = async (s: GpuStorage) => {
    await backend.read({ storage: s, dtype: 'float32', shape: [1], strides: [1], offset: 0 });
  };
  let t0 = performance.now();
  const first = call();
  await sync(first);
  const firstMs = performance.now() - t0;
  const batch = Math.max(1, Math.min(8, Math.round(3e8 / flops)));
  const wall: number[] = [];
  const cpuT: number[] = [];
  for (let r = -1; r < reps; r++) {
    t0 = performance.now();
    const c0 = cpuMs();
    const outs = Array.from({ length: batch }, call);
    await sync(outs[outs.length - 1]);
    if (r >= 0) {
      wall.push((performance.now() - t0) / batch);
      cpuT.push((cpuMs() - c0) / batch);
    }
    outs.forEach((o) => backend.release(o));
  }
  return { first, firstMs, ms: median(wall), cpuMs: median(cpuT) };
}

const rows: string[] = [];
const row = (what: string, shape: string, flops: number, t: { ms: number; cpuMs: number; firstMs: number }, err: string) => {
  const line = `| ${what} | ${shape} | ${t.ms.toFixed(2)} | ${(flops / t.ms / 1e6).toFixed(2)} | ${(flops / t.cpuMs / 1e6).toFixed(2)} | ${t.firstMs.toFixed(0)} | ${err} |`;
  rows.push(line);
  console.log(line);
};

async function compare(storage: GpuStorage, shape: number[], prim: 'conv2d' | 'conv2dInputGrad' | 'conv2dWeightGrad', inputs: Float32Array[], inShapes: number[][], params: object): Promise<string> {
  if (!check) return '—';
  const got = (await backend.read({ storage, dtype: 'float32', shape, strides: contiguous(shape), offset: 0 })) as Float32Array;
  const views = inputs.map((d, i) => ({ storage: cpu.upload(d, 'float32'), dtype: 'float32' as const, shape: inShapes[i], strides: contiguous(inShapes[i]), offset: 0 }));
  const want = (await cpu.read({ storage: cpu.run(prim, views, params as never, { shape, dtype: 'float32' }), dtype: 'float32', shape, strides: contiguous(shape), offset: 0 })) as Float32Array;
  let err = 0;
  let mag = 0;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(got[i] - want[i]));
    mag = Math.max(mag, Math.abs(want[i]));
  }
  const rel = err / (mag || 1);
  if (!(rel < 1e-4)) throw new Error(`${prim} ${shape}: differs from the CPU reference (relative error ${rel})`);
  return rel.toExponential(1);
}

if (!process.argv.includes('--no-matmul')) {
  const n = 1024;
  const view = (d: Float32Array): GpuView => ({ storage: backend.upload(d, 'float32'), dtype: 'float32', shape: [n, n], strides: [n, 1], offset: 0 });
  const a = view(rand(n * n, 1));
  const b = view(rand(n * n, 2));
  const t = await time(() => runMatmul(rt, a, b, { shape: [n, n], dtype: 'float32' }), 2 * n ** 3);
  backend.release(t.first);
  row('matmul (reference)', '1024²', 2 * n ** 3, t, '—');
}

for (const s of SHAPES.filter((x) => ids.includes(x.id))) {
  const ho = s.h + 2 * s.pad - s.k + 1;
  const geom: Conv2dGeometry = { stride: [1, 1], padding: [s.pad, s.pad], dilation: [1, 1], groups: 1 };
  const xs = [s.n, s.c, s.h, s.h];
  const ws = [s.o, s.c, s.k, s.k];
  const ys = [s.n, s.o, ho, ho];
  const data = { x: rand(xs.reduce((p, q) => p * q), 3), w: rand(ws.reduce((p, q) => p * q), 4), gy: rand(ys.reduce((p, q) => p * q), 5) };
  const view = (d: Float32Array, shape: number[]): GpuView => ({ storage: backend.upload(d, 'float32'), dtype: 'float32', shape, strides: contiguous(shape), offset: 0 });
  const x = view(data.x, xs);
  const w = view(data.w, ws);
  const gy = view(data.gy, ys);
  const flops = 2 * s.n * s.o * ho * ho * s.c * s.k * s.k;
  const shape = `${s.label}, batch ${s.n}`;
  const fp = { ...geom };
  const ip = { ...geom, inputSize: [s.h, s.h] as [number, number] };
  const wp = { ...geom, kernelSize: [s.k, s.k] as [number, number] };
  let t = await time(() => runConv2d(rt, x, w, fp, { shape: ys, dtype: 'float32' }), flops);
  row('conv2d forward', shape, flops, t, await compare(t.first, ys, 'conv2d', [data.x, data.w], [xs, ws], fp));
  backend.release(t.first);
  t = await time(() => runConv2dInputGrad(rt, gy, w, ip, { shape: xs, dtype: 'float32' }), flops);
  row('conv2d input grad', shape, flops, t, await compare(t.first, xs, 'conv2dInputGrad', [data.gy, data.w], [ys, ws], ip));
  backend.release(t.first);
  t = await time(() => runConv2dWeightGrad(rt, x, gy, wp, { shape: ws, dtype: 'float32' }), flops);
  row('conv2d weight grad', shape, flops, t, await compare(t.first, ws, 'conv2dWeightGrad', [data.x, data.gy], [xs, ys], wp));
  backend.release(t.first);
  [x, w, gy].forEach((v) => backend.release(v.storage));
}

console.log('\n| kernel | shape | ms | GFLOP/s | GFLOP/CPU-s | first call ms | rel. err vs CPU |');
console.log('|---|---|---:|---:|---:|---:|---:|');
for (const r of rows) console.log(r);
backend.destroy();
process.exit(0);
