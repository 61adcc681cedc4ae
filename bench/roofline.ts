/**
 * The memory roofline of the adapter, measured in the same run as the memory-bound rows: a plain
 * copy kernel (`o[i] = a[i] * 2` over vec4s) in the best of a few shapes, and a host memcpy
 * (`Float32Array.set`) of the same size. Every memory-bound row prints its GB/s as a fraction of the
 * kernel's best (GB/s = one read of the input + one write of the output, as in the rows).
 *
 * Shapes swept: workgroup size (lanes) × vec4s per invocation × layout ('blocked': an invocation
 * handles consecutive vec4s; 'strided': the lanes of a workgroup interleave over its block). On
 * lavapipe a workgroup is one task and the per-workgroup cost dominates thin kernels, so fat 8-lane
 * workgroups win there; a real GPU wants many lanes and coalesced (strided) access. The sweep keeps
 * whichever is fastest here, so the roofline is never that of a shape chosen for another adapter.
 *
 *   npx tsx bench/roofline.ts [--n 16M] [--reps 5] [--robust-off] [--chain]   # the sweep alone, printed
 *   (--chain: the bench's elementwise chain tanh(x·1.5+0.5)·x in every shape beside the copy)
 */
import { median, type SideImpl } from './harness.js';

export interface CopyShape {
  lanes: number;
  perLane: number;
  layout: 'blocked' | 'strided';
  /** What each element gets: 'copy' o = a·2 (the roofline); 'chain' o = tanh(a·1.5 + 0.5)·a (the
   *  bench's elementwise chain, to find the shape a fused elementwise kernel should have). */
  op?: 'copy' | 'chain';
}

export interface CopyResult extends CopyShape {
  /** Median GB/s (read + write) over the timed submits. */
  gbps: number;
  ms: number;
}

export interface Roofline {
  /** Elements (f32) copied. */
  n: number;
  best: CopyResult;
  sweep: CopyResult[];
  /** Host memcpy (Float32Array.set) of the same n, GB/s (read + write). */
  hostGbps: number;
}

export const shapeName = (s: CopyShape) => `${s.op === 'chain' ? 'chain: ' : ''}${s.lanes} lanes × ${s.perLane} vec4 ${s.layout}`;

/** The WGSL of the copy kernel in one shape; n4 (vec4 count) is a uniform, as in wgrad's kernels. */
export function copyWgsl(s: CopyShape): string {
  const f = s.op === 'chain' ? '{ let x = a[i]; o[i] = tanh(x * 1.5 + 0.5) * x; }' : 'o[i] = a[i] * 2.0;';
  const index = s.layout === 'blocked'
    ? `let start = t * ${s.perLane}u;
  let end = min(start + ${s.perLane}u, u.n4);
  for (var i = start; i < end; i = i + 1u) { ${f} }`
    : `let base = (t / ${s.lanes}u) * ${s.lanes * s.perLane}u + (t % ${s.lanes}u);
  for (var j = 0u; j < ${s.perLane}u; j = j + 1u) {
    let i = base + j * ${s.lanes}u;
    if (i < u.n4) { ${f} }
  }`;
  return `struct U { n4: u32, rowLanes: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> o: array<vec4<f32>>;
@compute @workgroup_size(${s.lanes})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.y * u.rowLanes + gid.x;
  ${index}
}`;
}

/** The shapes tried: lanes × vec4s per lane × layout, within the device's limits. */
export function copyShapes(limits: GPUSupportedLimits, quick = false): CopyShape[] {
  const lanes = [8, 64, 256].filter((l) => l <= limits.maxComputeInvocationsPerWorkgroup && l <= limits.maxComputeWorkgroupSizeX);
  const per = quick ? [1, 16, 64] : [1, 4, 16, 64];
  const out: CopyShape[] = [];
  for (const l of lanes) for (const p of per) out.push({ lanes: l, perLane: p, layout: 'blocked' });
  for (const l of lanes) out.push({ lanes: l, perLane: 16, layout: 'strided' });
  return out;
}

/** A copy kernel prepared in one shape on shared buffers: `run()` times one submit (ms per dispatch). */
interface PreparedCopy {
  shape: CopyShape;
  run(): Promise<number>;
}

async function prepareCopy(device: GPUDevice, a: GPUBuffer, o: GPUBuffer, n4: number, s: CopyShape, perSubmit: number): Promise<PreparedCopy> {
  const invocations = Math.ceil(n4 / s.perLane);
  const groups = Math.ceil(invocations / s.lanes);
  const maxDim = device.limits.maxComputeWorkgroupsPerDimension;
  const gy = Math.ceil(groups / maxDim), gx = Math.ceil(groups / gy);
  const ub = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(ub, 0, new Uint32Array([n4, gx * s.lanes, 0, 0]));
  const module = device.createShaderModule({ code: copyWgsl(s) });
  const pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const bind = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [{ binding: 0, resource: { buffer: ub } }, { binding: 1, resource: { buffer: a } }, { binding: 2, resource: { buffer: o } }],
  });
  return {
    shape: s,
    async run() {
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      for (let k = 0; k < perSubmit; k++) pass.dispatchWorkgroups(gx, gy);
      pass.end();
      const t0 = performance.now();
      device.queue.submit([enc.finish()]);
      await device.queue.onSubmittedWorkDone();
      return (performance.now() - t0) / perSubmit;
    },
  };
}

/**
 * Times the copy kernel in each shape: `reps` rounds, each running every shape once (interleaved,
 * so that a change of machine load hits all shapes alike); median GB/s per shape.
 */
export async function timeCopies(device: GPUDevice, n: number, shapes: CopyShape[], reps = 5, perSubmit = 3): Promise<CopyResult[]> {
  const n4 = Math.ceil(n / 4);
  const a = device.createBuffer({ size: n4 * 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  const o = device.createBuffer({ size: n4 * 16, usage: GPUBufferUsage.STORAGE });
  try {
    const prepared = await Promise.all(shapes.map((s) => prepareCopy(device, a, o, n4, s, perSubmit)));
    for (const p of prepared) await p.run(); // warm-up: first touch of the buffers, compilation
    const samples = prepared.map(() => [] as number[]);
    for (let r = 0; r < reps; r++) {
      const order = r % 2 ? [...prepared.keys()].reverse() : [...prepared.keys()];
      for (const i of order) samples[i].push(await prepared[i].run());
    }
    return prepared.map((p, i) => {
      const ms = median(samples[i]);
      return { ...p.shape, ms, gbps: (8 * n4 * 4) / (ms / 1000) / 1e9 };
    });
  } finally {
    a.destroy();
    o.destroy();
  }
}

/**
 * The copy kernel in one shape as a benchmark side: memory rows time it between their own repeats,
 * so that each row's fraction of the roofline compares runs made under the same machine load.
 */
export async function copySide(device: GPUDevice, n: number, s: CopyShape): Promise<SideImpl & { bytes: number }> {
  const n4 = Math.ceil(n / 4);
  const a = device.createBuffer({ size: n4 * 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  const o = device.createBuffer({ size: n4 * 16, usage: GPUBufferUsage.STORAGE });
  const p = await prepareCopy(device, a, o, n4, s, 1);
  return {
    bytes: 32 * n4,
    async run() {
      await p.run();
    },
    async check() {
      await p.run();
      return [];
    },
    dispose() {
      a.destroy();
      o.destroy();
    },
  };
}

/** Host memcpy of n floats (TypedArray.set), median GB/s counting read + write. */
export function hostMemcpy(n: number, reps = 7): number {
  const src = new Float32Array(n).fill(1.5), dst = new Float32Array(n);
  dst.set(src);
  const ms: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    dst.set(src);
    ms.push(performance.now() - t0);
  }
  return (8 * n) / (median(ms) / 1000) / 1e9;
}

/** Sweeps the copy shapes (interleaved), keeps the best; measures the host memcpy beside it. */
export async function measureRoofline(device: GPUDevice, opts: { n?: number; quick?: boolean; reps?: number; log?: (s: string) => void } = {}): Promise<Roofline> {
  const n = opts.n ?? (opts.quick ? 4 : 16) * (1 << 20);
  const sweep = await timeCopies(device, n, copyShapes(device.limits, opts.quick), opts.reps ?? (opts.quick ? 3 : 5));
  for (const r of sweep) opts.log?.(`    copy ${shapeName(r)}: ${r.gbps.toFixed(2)} GB/s`);
  const best = sweep.reduce((b, r) => (r.gbps > b.gbps ? r : b));
  return { n, best, sweep, hostGbps: hostMemcpy(n) };
}

async function cli() {
  const argv = process.argv.slice(2);
  const get = (k: string) => {
    const i = argv.indexOf(k);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const parseN = (s: string) => Math.round(parseFloat(s) * (/m$/i.test(s) ? 1 << 20 : /k$/i.test(s) ? 1024 : 1));
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  const flags = argv.includes('--robust-off') ? ['enable-dawn-features=disable_robustness'] : [];
  const gpu = create(flags);
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new Error('no adapter');
  const device = await adapter.requestDevice({ requiredLimits: { maxComputeInvocationsPerWorkgroup: adapter.limits.maxComputeInvocationsPerWorkgroup } });
  const n = parseN(get('--n') ?? '16M'), reps = Number(get('--reps') ?? 5);
  if (argv.includes('--chain')) {
    // The elementwise chain in the copy's shapes, interleaved with the copy in each shape.
    const shapes = copyShapes(device.limits).flatMap((s) => [s, { ...s, op: 'chain' as const }]);
    for (const r of await timeCopies(device, n, shapes, reps)) console.log(`${shapeName(r)}: ${r.gbps.toFixed(2)} GB/s`);
  } else {
    const r = await measureRoofline(device, { n, reps, log: console.log });
    console.log(`best: ${shapeName(r.best)} ${r.best.gbps.toFixed(2)} GB/s; host memcpy ${r.hostGbps.toFixed(2)} GB/s`);
  }
  device.destroy();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  cli().then(() => process.exit(0), (e) => {
    console.error(e);
    process.exit(1);
  });
}
