/**
 * The guided tour's script (docs/internals.md): one training step of a tiny MLP — valueAndGrad,
 * Adam's update, the readback — traced, run on the CPU reference and on WebGPU, printing every
 * intermediate the tour shows: source excerpts, the traced graph, the WGSL of a fused kernel and of
 * the GEMM, the dispatch list of the step, memory and runtime counters.
 *
 *   npx tsx examples/tour.ts           prints the sections (--- tour:NAME --- then its text)
 *   npx tsx examples/tour.ts --write   also rewrites the blocks of docs/internals.md
 *
 * Each section NAME fills the fenced block after `<!-- tour:NAME -->` in docs/internals.md;
 * test/docs-tour.test.ts runs this script and fails when a block differs, so the tour cannot drift.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as wg from '../src/node.js';
import type { DumpedCommand } from '../src/node.js';
import { formatSubmit } from '../src/backends/webgpu/kernel-dump.js';
import { backend } from '../src/tensor/engine.js';
import type { WebGpuBackend } from '../src/backends/webgpu/backend.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const DOC = join(root, 'docs', 'internals.md');
const sections = new Map<string, string>();
const show = (name: string, text: string) => sections.set(name, text.replace(/\s+$/, ''));

/**
 * The lines of `file` from the first one containing `start` through the end of its block (the first
 * later line that closes at the same indentation), or `count` lines when given.
 */
function excerpt(file: string, start: string, count?: number): string {
  const lines = readFileSync(join(root, file), 'utf8').split('\n');
  const i = lines.findIndex((l) => l.includes(start));
  if (i < 0) throw new Error(`tour: "${start}" is not in ${file} any more: update examples/tour.ts and docs/internals.md`);
  const indent = /^\s*/.exec(lines[i])![0];
  const end = count ? i + count - 1 : lines.findIndex((l, j) => j > i && (l === `${indent}}` || l === `${indent}};` || l === `${indent}},`));
  return [`// ${file}`, ...lines.slice(i, end + 1)].join('\n');
}

// ---- the model and the step (the same code runs on both backends) ----

type Params = wg.nn.MlpParams;

function problem() {
  const [kInit, kX] = wg.random.split(wg.random.key(0), 2);
  const x = wg.random.normal(kX, [2, 3]);
  const y = wg.tensor([[1, 0], [0, 1]]);
  const params = wg.nn.mlp.init(kInit, { widths: [3, 4, 2] });
  const loss = (p: Params) => wg.losses.mse(wg.nn.mlp.apply(p, x, { activation: wg.tanh }), y);
  return { x, y, params, loss };
}

const opt = wg.optim.adam({ lr: 0.01 });

/** One training step: the loss and its gradient, Adam's update, the new parameters. */
function step(loss: (p: Params) => wg.Tensor, params: Params, state: ReturnType<typeof opt.init>) {
  return wg.tidy(() => {
    const [value, grads] = wg.valueAndGrad(loss)(params);
    const [updates, nextState] = opt.update(grads, state, params);
    return { value, params: wg.optim.applyUpdates(params, updates), state: nextState };
  });
}

// ---- 1. the front end and the trace, on the CPU reference ----

async function onCpu(): Promise<void> {
  await wg.init({ backend: 'cpu' });
  const { params, loss } = problem();
  show('step', excerpt('examples/tour.ts', 'function step('));
  show('op-wrapper', excerpt('src/tensor/engine.ts', 'export function op<'));
  show('binary', excerpt('src/tensor/ops/elementwise.ts', 'function binary('));
  show('record', excerpt('src/tensor/engine.ts', 'function record<'));
  show('graph-forward', String(wg.debug.graph(loss)(params)));
  show('prims', excerpt('src/core/prims.ts', '// ---- contractions ----', 3));
  show('vjp', [
    excerpt('src/autograd/vjp.ts', '  tanh: (g, _, y)', 1),
    ...['  mul: (g, [a, b])', '  matmul: '].map((line) => excerpt('src/autograd/vjp.ts', line, 1).split('\n')[1]),
  ].join('\n'));
  show('backward-loop', excerpt('src/autograd/backward.ts', '  for (let i = order.length - 1; i >= 0; i--) {'));
  show('graph-grad', String(wg.debug.graph(wg.valueAndGrad(loss))(params)));
  show('cpu-rules', excerpt('src/backends/cpu/rules.ts', '  matmul: (inputs', 1));
  const s1 = step(loss, params, opt.init(params));
  const s2 = step(loss, s1.params, s1.state);
  const s3 = step(loss, s2.params, s2.state);
  show('cpu-step', `loss ${(await s1.value.item()).toFixed(6)}, ${(await s2.value.item()).toFixed(6)}, then ${(await s3.value.item()).toFixed(6)}`);
}

// ---- 2. the same step on WebGPU, with every kernel and submit recorded ----

async function onWebGpu(): Promise<void> {
  const kernels = new Map<string, string>();
  const submits: { index: number; commands: readonly DumpedCommand[] }[] = [];
  const report = await wg.init({
    backend: 'webgpu',
    dumpKernels: { kernel: (key, wgsl) => kernels.set(key, wgsl), submit: (index, commands) => submits.push({ index, commands }) },
  });
  show('adapter', `${report.description || report.device} (${report.vendor}, ${report.architecture})`);
  const { loss, ...first } = problem();
  let params = first.params;
  let state = opt.init(params);
  /** One step as a training loop runs it: the old parameters, state and loss are dropped. */
  const train = async () => {
    const s = step(loss, params, state);
    const value = await s.value.item();
    wg.dispose([params, state, s.value]);
    ({ params, state } = s);
    return value;
  };
  // The first steps compile the kernels and fill the pool (Adam's update of step 1 is realized
  // during step 2, at its first submit); from step 3 on every step is the same.
  const warmup = [await train(), await train()];
  const memoryAfterWarmup = wg.memoryStats();
  const stats = (backend() as WebGpuBackend).runtime.stats;
  const before = { ...stats };
  const submitted = submits.length;
  const value = await train();
  const counters = `dispatches ${stats.dispatches - before.dispatches}, submits ${stats.submits - before.submits}, `
    + `pipelines compiled ${stats.pipelinesCreated - before.pipelinesCreated}, buffers created ${stats.buffersCreated - before.buffersCreated}`;
  show('dispatches', submits.slice(submitted).map((b) => formatSubmit(b.index, b.commands)).join('\n'));
  show('webgpu-step', `loss ${warmup.map((v) => v.toFixed(6)).join(', ')}, then ${value.toFixed(6)}`);
  show('counters', `${counters}\nmemoryStats after step 2: ${JSON.stringify(memoryAfterWarmup)}\nmemoryStats after step 3: ${JSON.stringify(wg.memoryStats())}`);
  // The hidden layer's bias add and tanh, fused into one elementwise kernel.
  const fused = [...kernels.keys()].find((k) => /^ew:.*;add:[^;]*;tanh:/.test(k));
  const gemm = [...kernels.keys()].find((k) => k.startsWith('gemm'));
  if (!fused || !gemm) throw new Error(`tour: no fused add-tanh or GEMM kernel among ${[...kernels.keys()].join(', ')}`);
  show('fused-key', fused);
  show('fused-wgsl', kernels.get(fused)!);
  const gemmLines = kernels.get(gemm)!.split('\n');
  show('gemm-wgsl', `// key: ${gemm}\n${gemmLines.slice(0, 45).join('\n')}\n// … ${Math.max(0, gemmLines.length - 45)} more lines`);
  show('pool', excerpt('src/backends/webgpu/buffer-pool.ts', '  forOutput('));
  show('readback', excerpt('src/backends/webgpu/runtime.ts', '  async readRange('));
}

/** docs/internals.md with each `<!-- tour:NAME -->` block replaced by section NAME. */
export function fillDoc(doc: string, texts: Map<string, string>): string {
  // The block's lines are those up to the first one opening with ``` (none of the texts has one).
  return doc.replace(/(<!-- tour:([\w-]+) -->\n```\w*\n)(?:(?!```).*\n)*```/g, (_, head: string, name: string) => {
    const text = texts.get(name);
    if (text === undefined) throw new Error(`docs/internals.md names tour section "${name}", which examples/tour.ts does not print`);
    return `${head}${text}\n\`\`\``;
  });
}

await onCpu();
await onWebGpu();
for (const [name, text] of sections) console.log(`--- tour:${name} ---\n${text}`);
if (process.argv.includes('--write')) writeFileSync(DOC, fillDoc(readFileSync(DOC, 'utf8'), sections));
