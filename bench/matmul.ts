/**
 * Square float32 matmul on the WebGPU backend: 256², 512², 1024², 2048².
 *
 *   npx tsx bench/matmul.ts [--sizes 256,512,1024,2048] [--reps 5] [--batch 4] [--no-check]
 *                           [--cfg sg:R,C ...] [--cfg tiled:wx,wy,r,c,tk[,unroll[,loopCopy]] ...]
 *
 * Without --cfg the library default runs (DEFAULT_MATMUL_CONFIG; on lavapipe the 'sg' kernel).
 * 'sg:R,C[,K]' is the subgroup kernel with an R-row × C-column-per-lane block (and k step K);
 * 'tiled:...' the workgroup-memory kernel with a wx×wy workgroup, r×c outputs per invocation and
 * K tile tk (docs/walkthroughs.md#tuning-a-kernel-shape-for-an-adapter).
 *
 * Per size and tile configuration: one untimed call (pipeline compilation, reported separately),
 * one warm-up, then `reps` timed repeats; each repeat records `batch` dispatches and ends with a
 * readback of one element (a full GPU sync), timed by wall clock. The configurations of a size take
 * turns within each repeat (the order reversing every repeat), so that a machine whose speed drifts
 * slows them alike. Reports the median as ms per matmul and GFLOP/s (2·n³ flops), plus the process
 * CPU time per matmul (lavapipe runs on the CPU, so "GFLOP per CPU-second" stays meaningful when
 * other processes compete for the cores), and each configuration's time over the first one's: the
 * median of the per-repeat ratios (wall and CPU), the figure to quote on a noisy machine.
 * Every configuration's result is checked on 64 sampled entries against a float64 host reference
 * (the CPU backend's definition of matmul).
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

const labelOf = (cfg: MatmulConfig) => {
  const sg = cfg.kind === 'sg' || (cfg.kind === 'auto' && /llvmpipe|software/i.test(`${backend.report.description} ${backend.report.architecture}`) && backend.report.features.includes('subgroups'));
  return sg
    ? cfg.sgLargeMacs === Infinity
      ? `sg: 8-lane wg, ${cfg.sgR}×${cfg.sgC}/lane${cfg.sgK !== 4 ? `, k${cfg.sgK}` : ''}`
      : `sg default: ${cfg.sgR}×${cfg.sgC}/lane, ${cfg.sgLargeR}×${cfg.sgLargeC} from ${cfg.sgLargeMacs.toExponential(1)} MACs`
    : `tiled: ${cfg.wx}×${cfg.wy} wg, ${cfg.r}×${cfg.c}/inv, tk ${cfg.tk}${cfg.unroll > 1 ? `, unroll ${cfg.unroll}` : ''}${cfg.loopCopy ? '' : ', unrolled copy'}`;
};

/** The largest relative error of 64 sampled entries of got = A @ B (n × n) against a float64 sum. */
function sampledError(A: Float32Array, B: Float32Array, got: Float32Array, n: number): number {
  let maxErr = 0;
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
  return maxErr;
}

const rows: string[] = [];
for (const n of sizes) {
  const A = rand(n * n, 1);
  const B = rand(n * n, 2);
  const a: GpuView = { storage: backend.upload(A, 'float32'), dtype: 'float32', shape: [n, n], strides: [n, 1], offset: 0 };
  const b: GpuView = { storage: backend.upload(B, 'float32'), dtype: 'float32', shape: [n, n], strides: [n, 1], offset: 0 };
  const out = { shape: [n, n], dtype: 'float32' as const };
  const flops = 2 * n * n * n;
  const batch = Number(batchArg ?? Math.max(1, Math.min(16, Math.round(2e9 / flops))));
  /** `batch` matmuls in `cfg`, then a one-element readback (a full GPU sync). */
  const runBatch = async (cfg: MatmulConfig) => {
    const outs = Array.from({ length: batch }, () => runMatmul(rt, a, b, out, cfg));
    await backend.read({ storage: outs[outs.length - 1], dtype: 'float32', shape: [1], strides: [1], offset: 0 });
    outs.forEach((o) => backend.release(o));
  };

  // First call of each configuration: compiles its pipeline (Mesa's disk cache may make this fast
  // on later runs) and checks its result; then one warm-up batch.
  const firstMs: number[] = [];
  const errs: number[] = [];
  for (const cfg of cfgs) {
    const t0 = performance.now();
    const first = runMatmul(rt, a, b, out, cfg);
    const got = (await backend.read({ storage: first, dtype: 'float32', shape: [n, n], strides: [n, 1], offset: 0 })) as Float32Array;
    firstMs.push(performance.now() - t0);
    backend.release(first);
    const err = check ? sampledError(A, B, got, n) : NaN;
    if (check && !(err < 1e-5)) throw new Error(`matmul ${n}² (${labelOf(cfg)}): sampled entries differ from the reference (relative error ${err})`);
    errs.push(err);
    await runBatch(cfg);
  }

  // Timed repeats, the configurations taking turns.
  const wall: number[][] = cfgs.map(() => []);
  const cpu: number[][] = cfgs.map(() => []);
  for (let r = 0; r < reps; r++) {
    const order = r % 2 ? [...cfgs.keys()].reverse() : [...cfgs.keys()];
    for (const ci of order) {
      const t0 = performance.now();
      const c0 = cpuMs();
      await runBatch(cfgs[ci]);
      wall[ci].push((performance.now() - t0) / batch);
      cpu[ci].push((cpuMs() - c0) / batch);
    }
  }
  const ratio = (xs: number[][], ci: number) => median(xs[ci].map((x, r) => x / xs[0][r]));
  for (const [ci, cfg] of cfgs.entries()) {
    const ms = median(wall[ci]);
    const cms = median(cpu[ci]);
    const row = `| ${labelOf(cfg)} | ${n}² | ${ms.toFixed(2)} | ${(flops / ms / 1e6).toFixed(2)} | ${cms.toFixed(1)} | ${(flops / cms / 1e6).toFixed(2)} | ${ratio(wall, ci).toFixed(2)} / ${ratio(cpu, ci).toFixed(2)} | ${firstMs[ci].toFixed(0)} | ${check ? errs[ci].toExponential(1) : '—'} |`;
    rows.push(row);
    console.log(row);
  }
  backend.release(a.storage);
  backend.release(b.storage);
}

console.log('\n| config | size | ms | GFLOP/s | CPU ms | GFLOP/CPU-s | time ÷ first config (wall / CPU) | first call ms | max rel. err (64 samples) |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
backend.destroy();
process.exit(0);
