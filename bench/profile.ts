/**
 * Where a training step's GPU time goes, per kernel: timestamp queries around every dispatch
 * (src/backends/webgpu/profiler.ts) over a few steps after warm-up.
 *
 *   npx tsx bench/profile.ts [--model cnn|mlp] [--batch 256] [--steps 2] [--top 25]
 *   npx tsx bench/profile.ts --row train.rocl      # any `npm run bench` row's wgrad side, by id
 *
 * Prints time per kernel family (the key's first segment: ew, red, mm, conv, ...) and the most
 * expensive kernel keys. Needs an adapter with `timestamp-query` (lavapipe has it).
 */
import * as wg from '../src/node.js';
import type { Tensor } from '../src/node.js';
import { backend } from '../src/tensor/engine.js';
import type { WebGpuBackend } from '../src/backends/webgpu/backend.js';
import { KernelProfiler } from '../src/backends/webgpu/profiler.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const modelName = arg('model', 'cnn');
const batch = Number(arg('batch', '256'));
const steps = Number(arg('steps', '2'));
const top = Number(arg('top', '25'));

const models = {
  cnn: { init: (k: wg.Key) => wg.nn.smallCnn.init(k), apply: wg.nn.smallCnn.apply, input: [1, 28, 28] },
  mlp: { init: (k: wg.Key) => wg.nn.mlp.init(k, { widths: [784, 512, 256, 10] }), apply: (p: wg.nn.MlpParams, x: Tensor) => wg.nn.mlp.apply(p, x), input: [784] },
};

/** The wgrad side of the bench row whose id contains `id` (bench/suite), run as one step. */
async function rowStep(id: string): Promise<{ name: string; step: () => Promise<unknown> }> {
  const { buildRows } = await import('./suite/rows.js');
  const { GROUPS } = await import('./harness.js');
  const rows = buildRows({ wg, quick: false }, GROUPS);
  const spec = rows.find((r) => r.id.includes(id));
  if (!spec?.wgrad) throw new Error(`--row: no bench row id contains "${id}"; ids: ${rows.map((r) => r.id).join(', ')}`);
  const side = await spec.wgrad();
  return { name: `${spec.name} (${spec.shape})`, step: () => side.run() };
}

async function main() {
  const rowId = arg('row', '');
  if (rowId) {
    await wg.init();
    const { name, step } = await rowStep(rowId);
    return profile(name, step);
  }
  const model = models[modelName as keyof typeof models];
  if (!model) throw new Error(`--model must be one of ${Object.keys(models).join(', ')}`);
  await wg.init();
  let params = model.init(wg.random.key(0)) as unknown;
  const [kx, ky] = wg.random.split(wg.random.key(1));
  const x = wg.random.uniform(kx, [batch, ...model.input]);
  const y = wg.random.randint(ky, [batch], 0, 10);
  const opt = wg.optim.sgd({ lr: 0.01 });
  let state = opt.init(params as never);
  const lossAndGrad = wg.valueAndGrad((p: unknown) => wg.losses.softmaxCrossEntropy(model.apply(p as never, x), y));
  const step = () => {
    const [loss, next, nextState] = wg.tidy(() => {
      const [l, g] = lossAndGrad(params);
      const [u, s] = opt.update(g as never, state, params as never);
      return [l, wg.optim.applyUpdates(params as never, u), s] as const;
    });
    wg.dispose([params as Tensor, state as unknown as Tensor]);
    params = next;
    state = nextState;
    return loss;
  };
  await profile(`${modelName}, batch ${batch}`, () => step().item());
}

/** Runs `step` twice to warm up, then `steps` times under the kernel profiler; prints the breakdown. */
async function profile(name: string, step: () => Promise<unknown>): Promise<void> {
  const gpu = backend() as unknown as WebGpuBackend;
  if (!gpu.runtime.features.has('timestamp-query')) throw new Error('this adapter has no timestamp-query');
  for (let i = 0; i < 2; i++) await step();
  const profiler = new KernelProfiler(gpu.device);
  gpu.runtime.profiler = profiler;
  const d0 = gpu.runtime.stats.dispatches;
  for (let i = 0; i < steps; i++) await step();
  gpu.runtime.profiler = null;
  const times = await profiler.report();
  const total = times.reduce((s, t) => s + t.ms, 0);
  const families = new Map<string, number>();
  for (const t of times) families.set(t.key.split(':')[0], (families.get(t.key.split(':')[0]) ?? 0) + t.ms);
  console.log(`${name}: ${(total / steps).toFixed(1)} ms GPU per step, ${(gpu.runtime.stats.dispatches - d0) / steps} dispatches per step`);
  for (const [f, ms] of [...families].sort((a, b) => b[1] - a[1])) console.log(`  ${f.padEnd(10)} ${(ms / steps).toFixed(1).padStart(9)} ms  ${((100 * ms) / total).toFixed(1).padStart(5)} %`);
  console.log(`top ${top} kernels (ms per step, dispatches per step):`);
  for (const t of times.slice(0, top)) console.log(`  ${(t.ms / steps).toFixed(1).padStart(8)}  ${String(t.count / steps).padStart(4)}  ${t.key.slice(0, 150)}`);
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
