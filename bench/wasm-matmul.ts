/**
 * Square float32 matmul through the public API on the wasm backend, the CPU reference and WebGPU
 * (lavapipe where there is no GPU), in one process: GFLOP/s (2·n³ flops) of the median repeat.
 *
 *   npx tsx bench/wasm-matmul.ts [--size 1024] [--reps 5] [--backends wasm,cpu,webgpu]
 *
 * Per backend: one untimed call (Wasm tier-up, WGSL pipeline compilation), then `reps` timed calls,
 * each `matmul` + `sync()` (WebGPU: until the GPU finished; the others compute synchronously), by
 * wall clock. The CPU reference runs min(reps, 2) repeats: it is ~100× slower. The first result
 * of each backend is checked on 64 sampled entries against a float64 host product.
 */
import * as wg from '../src/node.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const n = Number(arg('size', '1024'));
const reps = Number(arg('reps', '5'));
const backends = arg('backends', 'wasm,cpu,webgpu').split(',') as ('wasm' | 'cpu' | 'webgpu')[];

/** Deterministic values in [-1, 1). */
const values = (len: number, seed: number) => Float32Array.from({ length: len }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233) % 1);

/** Max relative error of 64 sampled entries of c = a·b against float64 sums. */
function sampledError(a: Float32Array, b: Float32Array, c: Float32Array): number {
  let worst = 0;
  for (let s = 0; s < 64; s++) {
    const i = (s * 7919) % n;
    const j = (s * 104729) % n;
    let want = 0;
    let scale = 0;
    for (let k = 0; k < n; k++) { want += a[i * n + k] * b[k * n + j]; scale += Math.abs(a[i * n + k] * b[k * n + j]); }
    worst = Math.max(worst, Math.abs(c[i * n + j] - want) / scale);
  }
  return worst;
}

async function bench(kind: 'wasm' | 'cpu' | 'webgpu'): Promise<void> {
  const report = await wg.init({ backend: kind });
  const [ad, bd] = [values(n * n, 1), values(n * n, 2)];
  const a = wg.keep(wg.tensor(ad, { shape: [n, n] }));
  const b = wg.keep(wg.tensor(bd, { shape: [n, n] }));
  const first = wg.matmul(a, b);
  const err = sampledError(ad, bd, await first.data() as Float32Array);
  first.dispose();
  const times: number[] = [];
  for (let r = 0; r < (kind === 'cpu' ? Math.min(reps, 2) : reps); r++) {
    const t0 = performance.now();
    const c = wg.matmul(a, b);
    await wg.sync();
    times.push(performance.now() - t0);
    c.dispose();
  }
  a.dispose();
  b.dispose();
  times.sort((x, y) => x - y);
  const ms = times[Math.floor(times.length / 2)];
  const gflops = (2 * n ** 3) / (ms * 1e6);
  console.log(`${kind.padEnd(7)} ${n}²  ${ms.toFixed(1).padStart(8)} ms  ${gflops.toFixed(2).padStart(7)} GFLOP/s  (min ${times[0].toFixed(1)} ms; max rel. error ${err.toExponential(1)}; ${report.description})`);
}

console.log(`matmul ${n}×${n} float32, median of ${reps} (load average ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')})`);
for (const kind of backends) await bench(kind);
