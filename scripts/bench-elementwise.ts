/**
 * GB/s of the fused elementwise kernels (kernels/elementwise.ts) on the default WebGPU adapter:
 * fused chains (the bench suite's row, and a size that is not a multiple of 4), a plain scale, bias
 * broadcasts along long and short rows and a transposed read (the strided paths), beside the
 * roofline measured in the same run: bench/roofline.ts's copy kernel in lavapipe's best shape
 * (8 lanes × 64 vec4 blocked) and a host memcpy. GB/s counts one read of each full-size input and one write of the output.
 *
 * Every case runs interleaved with the others (`--reps` rounds of `--per` runs each) and reports the
 * median wall time and the median CPU time of the process (all threads: lavapipe's workers are
 * threads of this process). On a machine shared with other jobs the wall time follows the load;
 * CPU time — what the kernel costs — much less so, so GB per CPU-second compares kernels there.
 * The load (`uptime`) is printed before and after.
 *
 *   npx tsx scripts/bench-elementwise.ts [--reps 7] [--per 3] [--only chain16M,bias]
 *   npx tsx scripts/bench-elementwise.ts --shapes 8x64b,256x16s   # also these kernel shapes (lanes × units per lane, blocked/strided)
 *   npx tsx scripts/bench-elementwise.ts --sweep                  # also every candidate shape (tuning-elementwise.ts)
 */
import { execSync } from 'node:child_process';
import * as wg from '../src/node.js';
import { backend } from '../src/tensor/engine.js';
import * as tune from '../src/kernels/tuning-elementwise.js';
import { copyWgsl, hostMemcpy, type CopyShape } from '../bench/roofline.js';
import { rand as randomData } from '../bench/random-data.js';

type T = wg.Tensor;
const M = 1 << 20;
const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const reps = Number(arg('reps', '7'));
const per = Number(arg('per', '3'));
const only = arg('only', '').split(',').filter(Boolean);
const sweep = process.argv.includes('--sweep');
const shapesArg = arg('shapes', '').split(',').filter(Boolean);

interface Case {
  name: string;
  bytes: number;
  /** One run: enqueue and wait until the device is done. */
  run(): Promise<void>;
  /** Whether the kernel shape variants apply (not to the roofline's own kernel). */
  wgrad: boolean;
  dispose(): void;
}

const rand = (n: number, seed: number) => randomData(n, seed, -2, 2);

function wgCase(name: string, bytes: number, inputs: T[], f: () => T): Case {
  return {
    name, bytes, wgrad: true,
    async run() {
      const y = wg.tidy(f);
      await wg.sync();
      wg.dispose(y);
    },
    dispose: () => wg.dispose(inputs),
  };
}

/** bench/roofline.ts's copy kernel (o = a · 2 over vec4s) in one shape, n floats. */
async function copyCase(device: GPUDevice, n: number, s: CopyShape): Promise<Case> {
  const n4 = n / 4;
  const a = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  const o = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.STORAGE });
  device.queue.writeBuffer(a, 0, rand(n, 3));
  const groups = Math.ceil(n4 / s.perLane / s.lanes);
  const gy = Math.ceil(groups / device.limits.maxComputeWorkgroupsPerDimension), gx = Math.ceil(groups / gy);
  const ub = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(ub, 0, new Uint32Array([n4, gx * s.lanes, 0, 0]));
  const pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module: device.createShaderModule({ code: copyWgsl(s) }), entryPoint: 'main' } });
  const bind = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [{ binding: 0, resource: { buffer: ub } }, { binding: 1, resource: { buffer: a } }, { binding: 2, resource: { buffer: o } }],
  });
  return {
    name: `roofline copy ${n / M}M`, bytes: 8 * n, wgrad: false,
    async run() {
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      pass.dispatchWorkgroups(gx, gy);
      pass.end();
      device.queue.submit([enc.finish()]);
      await device.queue.onSubmittedWorkDone();
    },
    dispose: () => [a, o, ub].forEach((b) => b.destroy()),
  };
}

async function makeCases(device: GPUDevice): Promise<Case[]> {
  const chain = (n: number) => {
    const x = wg.tensor(rand(n, n), { shape: [n] });
    return wgCase(`chain ${n % M ? `${Math.floor(n / M)}M+${n % M}` : `${n / M}M`}`, 8 * n, [x], () => wg.mul(wg.tanh(wg.add(wg.mul(x, 1.5), 0.5)), x));
  };
  const rows = 4096, cols = 1024, sq = 2048;
  const xs = wg.tensor(rand(16 * M, 9), { shape: [16 * M] });
  const xb = wg.tensor(rand(rows * cols, 5), { shape: [rows, cols] });
  const b = wg.tensor(rand(cols, 6), { shape: [cols] });
  const xt = wg.tensor(rand(sq * sq, 7), { shape: [sq, sq] });
  const xc = wg.tensor(rand(rows * cols, 8), { shape: [4096, 64, 4, 4] });
  const bc = wg.tensor(rand(64, 10), { shape: [64, 1, 1] });
  const cases: Case[] = [
    await copyCase(device, 16 * M, { lanes: 8, perLane: 64, layout: 'blocked' }),
    wgCase('scale 16M', 8 * 16 * M, [xs], () => wg.mul(xs, 2)),
    wgCase('affine 16M: (x·1.5 + 0.5)·x', 8 * 16 * M, [], () => wg.mul(wg.add(wg.mul(xs, 1.5), 0.5), xs)),
    chain(M),
    chain(16 * M),
    chain(4 * M + 3),
    wgCase(`bias ${rows}×${cols} + [${cols}]`, 8 * rows * cols, [xb, b], () => wg.add(wg.mul(xb, 2), b)),
    wgCase('conv bias [4096, 64, 4, 4] + [64, 1, 1]', 8 * rows * cols, [xc, bc], () => wg.add(wg.mul(xc, 2), bc)),
    wgCase(`transpose ${sq}² · 2`, 8 * sq * sq, [xt], () => wg.mul(wg.transpose(xt), 2)),
  ];
  return cases;
}

/** `per` runs: mean wall ms and process CPU ms per run. */
async function runOnce(c: Case): Promise<{ wall: number; cpu: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let k = 0; k < per; k++) await c.run();
  const wall = (performance.now() - t0) / per;
  const du = process.cpuUsage(c0);
  return { wall, cpu: (du.user + du.system) / 1000 / per };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

interface Variant { name: string; apply: () => void }
interface Cell { wall: number; cpu: number }

/** Every (variant, case) pair, interleaved (the order reverses every round); median per pair. */
async function measure(cases: Case[], variants: Variant[]): Promise<(Cell | null)[][]> {
  const at = (vi: number, c: Case) => vi === 0 || c.wgrad;
  const samples = variants.map(() => cases.map(() => ({ wall: [] as number[], cpu: [] as number[] })));
  for (const [vi, v] of variants.entries()) {
    v.apply();
    for (const c of cases) if (at(vi, c)) await runOnce(c); // compile and warm up
  }
  for (let r = 0; r < reps; r++) {
    const order = r % 2 ? [...variants.keys()].reverse() : [...variants.keys()];
    for (const vi of order) {
      variants[vi].apply();
      for (const [ci, c] of cases.entries()) {
        if (!at(vi, c)) continue;
        const s = await runOnce(c);
        samples[vi][ci].wall.push(s.wall);
        samples[vi][ci].cpu.push(s.cpu);
      }
    }
  }
  return samples.map((row, vi) => row.map((s, ci) => (at(vi, cases[ci]) ? { wall: median(s.wall), cpu: median(s.cpu) } : null)));
}

async function main(): Promise<void> {
  const report = await wg.init();
  const device = (backend() as unknown as { device: GPUDevice }).device;
  const load0 = execSync('uptime').toString().trim();
  console.log(`adapter: ${[report.vendor, report.architecture, report.description].filter(Boolean).join(' / ')}`);
  const tuned = tune.elementwiseShapesFor({ device, limits: device.limits });
  console.log(`tuned shapes: dense ${tune.shapeName(tuned.dense)}, gather ${tune.shapeName(tuned.gather)}`);
  const all = await makeCases(device);
  const cases = all.filter((c) => !only.length || !c.wgrad || only.some((o) => c.name.replace(/\s/g, '').includes(o)));
  const variants: Variant[] = [{ name: 'tuned', apply: () => tune.overrideElementwiseShape(device, undefined) }];
  const shapes = sweep ? tune.candidateShapes(device.limits) : shapesArg.map((a) => {
    const m = /^(\d+)x(\d+)([bs])$/.exec(a);
    if (!m) throw new Error(`--shapes: ${a} is not LANESxPER(b|s)`);
    return { lanes: Number(m[1]), perLane: Number(m[2]), layout: m[3] === 'b' ? 'blocked' as const : 'strided' as const, minWorkgroups: 1 };
  });
  for (const s of shapes) variants.push({ name: tune.shapeName(s), apply: () => tune.overrideElementwiseShape(device, s) });
  const host = hostMemcpy(16 * M);
  const cells = await measure(cases, variants);
  const load1 = execSync('uptime').toString().trim();
  const roof = cells[0][0]!;
  const gbps = (c: Case, t: number) => c.bytes / (t / 1000) / 1e9;
  const w = Math.max(...variants.map((v) => v.name.length), 30);
  console.log(`host memcpy ${host.toFixed(2)} GB/s; roofline = the copy kernel's GB/s (wall) and GB per CPU-s`);
  for (const [ci, c] of cases.entries()) {
    console.log(`\n${c.name}`);
    for (const [vi, v] of variants.entries()) {
      const m = cells[vi][ci];
      if (!m) continue;
      const wall = gbps(c, m.wall), cpu = gbps(c, m.cpu);
      const frac = `${((100 * wall) / gbps(cases[0], roof.wall)).toFixed(0)} % / ${((100 * cpu) / gbps(cases[0], roof.cpu)).toFixed(0)} % of roofline`;
      console.log(`  ${v.name.padEnd(w)} ${m.wall.toFixed(1).padStart(7)} ms ${wall.toFixed(2).padStart(6)} GB/s   CPU ${m.cpu.toFixed(1).padStart(7)} ms ${cpu.toFixed(2).padStart(6)} GB/CPU-s   ${frac}`);
    }
  }
  console.log(`\nload before: ${load0}\nload after:  ${load1}`);
  for (const c of all) c.dispose();
}

await main();
