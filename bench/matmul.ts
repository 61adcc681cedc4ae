/**
 * Square float32 matmul on the WebGPU backend: 256², 512², 1024², 2048².
 *
 *   npx tsx bench/matmul.ts [--sizes 256,512,1024,2048] [--reps 5] [--batch 4] [--no-check]
 *                           [--cfg sg:R,C ...] [--cfg tiled:wx,wy,r,c,tk[,unroll[,loopCopy]] ...]
 *
 * Without --cfg the library default runs (on lavapipe: the 'sg' kernel, 32×4 block). 'sg:R,C' is
 * the subgroup kernel with an R-row × C-column-per-lane block; 'tiled:...' the workgroup-memory
 * kernel with a wx×wy workgroup, r×c outputs per invocation and K tile tk.
 *
 * Per size and tile configuration: one untimed call (pipeline compilation, reported separately),
 * one warm-up, then `reps` timed repeats; each repeat records `batch` dispatches and ends with a
 * readback of one element (a full GPU sync), timed by wall clock. Reports the median as ms per
 * matmul and GFLOP/s (2·n³ flops), plus the process CPU time per matmul (lavapipe runs on the CPU,
 * so "GFLOP per CPU-second" stays meaningful when other processes compete for the cores).
 * The result of the first run of each size is checked on 64 sampled entries against a float64
 * host reference (the CPU backend's definition of matmul).
 */
import { requestWebGpuBackend } from '../src/backends/webgpu/device.js';
import { nodeGpu } from '../src/backends/webgpu/node-gpu.js';
import { DEFAULT_MATMUL_CONFIG, runMatmul, type MatmulConfig } from '../src/kernels/matmul.js';
import type { GpuView } from '../src/kernels/runtime.js';
import { rand } from './random-data.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
function args(name: string): string[] {
  const out: string[] = [];
  process.argv.forEach((a, i) => {
    if (a === `--${name}` && process.argv[i + 1]) out.push(process.argv[i + 1]);
  });
  return out;
}

const sizes = (arg('sizes') ?? '256,512,1024,2048').split(',').map(Number);
const reps = Number(arg('reps') ?? 5);
const batchArg = arg('batch');
const check = !process.argv.includes('--no-check');
const cfgs: MatmulConfig[] = args('cfg').map((s) => {
  const [kind, rest] = s.includes(':') ? s.split(':') : ['tiled', s];
  const nums = rest.split(',').map(Number);
  if (kind === 'sg') return { ...DEFAULT_MATMUL_CONFIG, kind: 'sg', sgR: nums[0], sgC: nums[1], sgK: nums[2] || 4, sgLargeMacs: Infinity };
  const [wx, wy, r, c, tk, unroll, loop] = nums;
  return { ...DEFAULT_MATMUL_CONFIG, kind: 'tiled', wx, wy, r, c, tk, unroll: unroll || 1, loopCopy: loop !== 0 };
});
if (cfgs.length === 0) cfgs.push(DEFAULT_MATMUL_CONFIG);

const backend = await requestWebGpuBackend({ gpu: nodeGpu() });
const rt = backend.runtime;
console.log(`device: ${backend.report.description || backend.report.device || backend.report.vendor}`);


const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

const rows: string[] = [];
for (const cfg of cfgs) {
  const sg = cfg.kind === 'sg' || (cfg.kind === 'auto' && /llvmpipe|software/i.test(`${backend.report.description} ${backend.report.architecture}`) && backend.report.features.includes('subgroups'));
  const label = sg
    ? cfg.sgLargeMacs === Infinity
      ? `sg: 8-lane wg, ${cfg.sgR}×${cfg.sgC}/lane${cfg.sgK !== 4 ? `, k${cfg.sgK}` : ''}`
      : `sg default: ${cfg.sgR}×${cfg.sgC}/lane, ${cfg.sgLargeR}×${cfg.sgLargeC} from ${cfg.sgLargeMacs.toExponential(1)} MACs`
    : `tiled: ${cfg.wx}×${cfg.wy} wg, ${cfg.r}×${cfg.c}/inv, tk ${cfg.tk}${cfg.unroll > 1 ? `, unroll ${cfg.unroll}` : ''}${cfg.loopCopy ? '' : ', unrolled copy'}`;
  for (const n of sizes) {
    const A = rand(n * n, 1);
    const B = rand(n * n, 2);
    const a: GpuView = { storage: backend.upload(A, 'float32'), dtype: 'float32', shape: [n, n], strides: [n, 1], offset: 0 };
    const b: GpuView = { storage: backend.upload(B, 'float32'), dtype: 'float32', shape: [n, n], strides: [n, 1], offset: 0 };
    const out = { shape: [n, n], dtype: 'float32' as const };
    const flops = 2 * n * n * n;
    const batch = Number(batchArg ?? Math.max(1, Math.min(16, Math.round(2e9 / flops))));
    const sync = async (s: ReturnType<typeof runMatmul>) => {
      await backend.read({ storage: s, dtype: 'float32', shape: [1], strides: [1], offset: 0 });
    };

    // First call: compiles the pipeline (Mesa's disk cache may make this fast on later runs).
    let t0 = performance.now();
    const first = runMatmul(rt, a, b, out, cfg);
    const got = (await backend.read({ storage: first, dtype: 'float32', shape: [n, n], strides: [n, 1], offset: 0 })) as Float32Array;
    const firstMs = performance.now() - t0;
    backend.release(first);
    let maxErr = 0;
    if (check) {
      let s = 12345;
      for (let t = 0; t < 64; t++) {
        s = (s * 1103515245 + 12345) >>> 0;
        const i = s % n;
        s = (s * 1103515245 + 12345) >>> 0;
        const j = s % n;
        let want = 0;
        let mag = 0;
        for (let k = 0; k < n; k++) {
          want += A[i * n + k] * B[k * n + j];
          mag += Math.abs(A[i * n + k] * B[k * n + j]);
        }
        maxErr = Math.max(maxErr, Math.abs(got[i * n + j] - want) / (mag + 1e-30));
      }
      if (!(maxErr < 1e-5)) throw new Error(`matmul ${n}²: sampled entries differ from the reference (relative error ${maxErr})`);
    }

    // Warm-up, then timed repeats.
    for (let w = 0; w < 1; w++) {
      const outs = Array.from({ length: batch }, () => runMatmul(rt, a, b, out, cfg));
      await sync(outs[outs.length - 1]);
      outs.forEach((o) => backend.release(o));
    }
    const wall: number[] = [];
    const cpu: number[] = [];
    for (let r = 0; r < reps; r++) {
      t0 = performance.now();
      const c0 = cpuMs();
      const outs = Array.from({ length: batch }, () => runMatmul(rt, a, b, out, cfg));
      await sync(outs[outs.length - 1]);
      wall.push((performance.now() - t0) / batch);
      cpu.push((cpuMs() - c0) / batch);
      outs.forEach((o) => backend.release(o));
    }
    const ms = median(wall);
    const cms = median(cpu);
    const row = `| ${label} | ${n}² | ${ms.toFixed(2)} | ${(flops / ms / 1e6).toFixed(2)} | ${cms.toFixed(1)} | ${(flops / cms / 1e6).toFixed(2)} | ${firstMs.toFixed(0)} | ${check ? maxErr.toExponential(1) : '—'} |`;
    rows.push(row);
    console.log(row);
    backend.release(a.storage);
    backend.release(b.storage);
  }
}

console.log('\n| config | size | ms | GFLOP/s | CPU ms | GFLOP/CPU-s | first call ms | max rel. err (64 samples) |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
backend.destroy();
process.exit(0);
