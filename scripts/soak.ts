/**
 * Soak check of device memory (not part of CI): many training steps of every SSL method on tiny
 * images on WebGPU, sampling live tensors, live buffers and live and pooled bytes every 100 steps.
 * Each method is built as `wgrad train` builds it — its record's default options and default
 * optimizer (with the command line's default learning rate), warm-up then cosine decay over the
 * run — and its loop reads the loss back every 2 steps and disposes what it no longer needs, as
 * the training loop does. Methods: simclr, rocl, idaa (its VAE untrained: memory, not accuracy, is
 * measured), aplr, noise, mask, and simclr with the robustness regularizer (β = 1).
 *
 *   npm run soak                                   # 10,000 steps of every method into results/soak
 *   npm run soak -- --steps 300 --out /tmp/soak    # a quick check
 *   npm run soak -- --methods aplr,idaa --every 50
 *   npm run soak -- --index results/soak/10k          # one README and charts over DIR/<run>/soak.json
 *
 * Writes <out>/soak.json (every sample), <out>/soak-tensors.svg and <out>/soak-bytes.svg (the
 * curves) and <out>/README.md (a summary generated from the JSON). A method's memory is flat when
 * every sample (the first taken after `every` steps) has the first sample's live tensors, buffers
 * and bytes; its pool may change, bounded.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import * as wg from '../src/node.js';
import * as ssl from '../src/ssl/index.js';
import { lineChart, type Series } from '../src/eval/svg.js';
import { DEFAULT_LR } from '../src/cli/run-config.js';

const ALL_METHODS = ['simclr', 'rocl', 'idaa', 'aplr', 'noise', 'mask', 'simclr+regularizer'] as const;
const REGULARIZED = '+regularizer';

interface Flags {
  steps: number;
  every: number;
  batch: number;
  methods: string[];
  out: string;
  seed: number;
}

const USAGE = `usage: npm run soak -- [--steps N (10000)] [--every K (100)] [--batch B (16)] [--methods ${ALL_METHODS.join(',')}] [--out DIR (results/soak)] [--seed S (0)]`;

function usage(message: string): never {
  console.error(`soak: ${message}\n${USAGE}`);
  process.exit(2);
}

function parseFlags(argv: string[]): Flags {
  const f: Flags = { steps: 10000, every: 100, batch: 16, methods: [...ALL_METHODS], out: 'results/soak', seed: 0 };
  const int = (name: string, text: string | undefined, min: number) => {
    if (text === undefined || !/^\d+$/.test(text) || Number(text) < min) usage(`--${name} takes an integer ≥ ${min}, got ${JSON.stringify(text)}`);
    return Number(text);
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1]];
    i++;
    if (flag === '--steps') f.steps = int('steps', value, 1);
    else if (flag === '--every') f.every = int('every', value, 1);
    else if (flag === '--batch') f.batch = int('batch', value, 2);
    else if (flag === '--seed') f.seed = int('seed', value, 0);
    else if (flag === '--out' && value) f.out = value;
    else if (flag === '--methods' && value) {
      f.methods = value.split(',');
      const bad = f.methods.filter((m) => !(ALL_METHODS as readonly string[]).includes(m));
      if (bad.length) usage(`unknown method ${bad.join(', ')}; expected some of ${ALL_METHODS.join(', ')}`);
    } else usage(`unexpected argument ${JSON.stringify(flag)}${value === undefined ? ' (missing its value?)' : ''}`);
  }
  if (f.every > f.steps) usage(`--every ${f.every} is more than --steps ${f.steps}: no sample would be taken`);
  return f;
}

/** Tiny images: a small CNN encoder on [1, 8, 8] (IDAA's VAE needs a side divisible by 4). */
const SHAPE = [1, 8, 8];
const BASE_MODEL: ssl.ModelConfig = { encoder: 'cnn', inputShape: SHAPE, width: 4, featureDim: 16, projHidden: 16, projDim: 8 };
const POOL = 256;

interface Sample {
  step: number;
  seconds: number;
  tensors: number;
  liveBuffers: number;
  liveBytes: number;
  pooledBuffers: number;
  pooledBytes: number;
  /** Mean loss over the steps since the previous sample. */
  loss: number;
}

interface MethodResult {
  method: string;
  optimizer: string;
  steps: number;
  /** The whole loop, kernel compilation in the first steps included. */
  seconds: number;
  /** Between the first and the last sample (compiled kernels). */
  msPerStep: number;
  flat: boolean;
  /** The first step whose loss was NaN or ±∞ (the loop goes on: memory is what is measured), or null. */
  firstNonFinite: number | null;
  samples: Sample[];
}

/** The method's step and its initial params and state, built as a run builds them. */
function build(name: string, steps: number, key: wg.random.Key) {
  const method = name.endsWith(REGULARIZED) ? name.slice(0, -REGULARIZED.length) : name;
  const record = ssl.methodRecord(method);
  const options = ssl.methodOptions(record);
  const modelConfig = ssl.methodModelConfig(method, BASE_MODEL, options);
  const [kInit, kMethod, kPretrain] = wg.random.split(key, 3);
  const { params, state } = ssl.model.init(kInit, modelConfig);
  const optimizerSpec: wg.optim.OptimizerSpec = {
    name: record.optimizer, lr: DEFAULT_LR[record.optimizer], schedule: 'cosine', warmupSteps: Math.floor(steps / 10), totalSteps: steps,
    momentum: 0.9, weightDecay: record.optimizer === 'adam' ? 0 : 1e-6,
  };
  const box = [0, 1] as const;
  const ctx: ssl.MethodContext = {
    modelConfig, optimizer: wg.optim.makeOptimizer(optimizerSpec), optimizerSpec, box,
    regularizer: method === name ? undefined : ssl.regularizerOptions(ssl.REGULARIZER_GROUP.defaults, 1, box),
    pretrained: record.pretrain && ssl.untrainedVae(kPretrain, SHAPE),
  };
  const initial = ssl.methodInitState(method, options, params, state, kMethod, ctx);
  return { params, state: initial, step: ssl.methodStep(method, options, ctx), optimizer: record.optimizer as string, pretrained: ctx.pretrained };
}

async function soak(name: string, f: Flags, pool: wg.Tensor): Promise<MethodResult> {
  const built = build(name, f.steps, wg.random.key(f.seed + 1));
  let { params, state } = built;
  const samples: Sample[] = [];
  const pending: ssl.StepResult[] = [];
  let lossSum = 0, lossCount = 0, drained = 0;
  let firstNonFinite: number | null = null;
  const drain = async () => {
    for (const r of pending.splice(0)) {
      const loss = await r.loss.item();
      drained++;
      if (!Number.isFinite(loss)) firstNonFinite ??= drained;
      lossSum += loss;
      lossCount++;
      wg.dispose([r.loss, r.parts]);
    }
  };
  const batches = Math.floor(POOL / f.batch);
  const start = performance.now();
  for (let s = 0; s < f.steps; s++) {
    const b = s % batches;
    const x = wg.slice(pool, [{ start: b * f.batch, stop: (b + 1) * f.batch }]);
    const r = built.step(params, state, x, wg.random.foldIn(wg.random.key(f.seed), s));
    x.dispose();
    wg.dispose([params, state]);
    [params, state] = [r.params, r.state];
    pending.push(r);
    if (pending.length >= 2) await drain();
    if ((s + 1) % f.every === 0) {
      await drain();
      await wg.sync();
      const m = wg.memoryStats();
      samples.push({
        step: s + 1, seconds: (performance.now() - start) / 1000, tensors: m.tensors, liveBuffers: m.liveBuffers, liveBytes: m.liveBytes,
        pooledBuffers: m.pooledBuffers, pooledBytes: m.pooledBytes, loss: lossSum / lossCount,
      });
      [lossSum, lossCount] = [0, 0];
      const last = samples[samples.length - 1];
      console.log(`${name} step ${last.step}/${f.steps}: ${last.tensors} tensors, ${last.liveBuffers} buffers, ${last.liveBytes} bytes live, ${last.pooledBytes} pooled, loss ${last.loss.toFixed(4)} (${last.seconds.toFixed(0)} s)`);
    }
  }
  await drain();
  wg.dispose([params, state, built.pretrained]);
  const seconds = (performance.now() - start) / 1000;
  const same = (k: 'tensors' | 'liveBuffers' | 'liveBytes') => samples.every((q) => q[k] === samples[0][k]);
  const flat = same('tensors') && same('liveBuffers') && same('liveBytes');
  const [first, last] = [samples[0], samples[samples.length - 1]];
  const msPerStep = last.step > first.step ? (1000 * (last.seconds - first.seconds)) / (last.step - first.step) : (1000 * seconds) / f.steps;
  return { method: name, optimizer: built.optimizer, steps: f.steps, seconds, msPerStep, flat, firstNonFinite, samples };
}

const range = (v: number[]) => `${Math.min(...v)}–${Math.max(...v)}`;
const kib = (b: number) => (b / 1024).toFixed(1);

/** README.md from the results (every number from soak.json). */
/** A method's row of the table (every number from its samples). */
function resultRow(r: MethodResult): string {
  const s = r.samples;
  const col = (k: keyof Sample) => s.map((q) => q[k] as number);
  return `| ${r.method} | ${r.optimizer} | ${r.steps} | ${r.seconds.toFixed(0)} | ${r.msPerStep.toFixed(1)} | ${range(col('tensors'))} | ${range(col('liveBuffers'))} | ${range(col('liveBytes').map((b) => Number(kib(b))))} | ${kib(Math.max(...col('pooledBytes')))} | ${s.at(-1)!.loss.toFixed(4)}${r.firstNonFinite === null ? '' : ` (non-finite from step ${r.firstNonFinite})`} | ${r.flat ? 'flat' : `**not flat**: tensors ${s[0].tensors} → ${s.at(-1)!.tensors}`} |`;
}

const TABLE_HEAD = `| method | optimizer | steps | seconds | ms/step (after the first sample) | live tensors | live buffers | live KiB | pool KiB (max) | last loss | memory |
| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |`;

function readme(results: MethodResult[], meta: Record<string, unknown>): string {
  const rows = results.map(resultRow);
  const total = results.reduce((a, r) => a + r.seconds, 0);
  return `# Soak: device memory over long training (generated by scripts/soak.ts)

\`${meta.command}\` on ${meta.adapter} (${meta.cpu}), ${meta.date}: ${results[0]?.steps ?? 0} steps of each method on
${meta.batch}-image batches of [${SHAPE.join(', ')}] images (a pool of ${POOL} uniform random images), the CNN encoder
(width ${BASE_MODEL.width}), each method with its record's defaults and default optimizer, warm-up then cosine decay.
Live tensors, buffers and bytes were read every ${meta.every} steps after a device sync; the loop reads the loss
back every 2 steps, as \`wgrad train\` does. ${results.length} methods in ${(total / 60).toFixed(1)} minutes.

"Flat" means every sample equals the first (taken after ${meta.every} steps) in live tensors, live buffers and live
bytes. The pool (freed buffers kept for reuse) is reported by its largest size.

${TABLE_HEAD}
${rows.join('\n')}

Curves: [live tensors](soak-tensors.svg), [live bytes](soak-bytes.svg); every sample: [soak.json](soak.json).
`;
}

function charts(results: MethodResult[], out: string): void {
  const series = (y: (q: Sample) => number): Series[] => results.map((r) => ({ name: r.method, x: r.samples.map((q) => q.step), y: r.samples.map(y) }));
  const steps = results[0]?.steps ?? 0;
  writeFileSync(join(out, 'soak-tensors.svg'), lineChart({
    title: 'Live tensors during training (WebGPU)', subtitle: `${steps} steps per method, sampled every ${results[0]?.samples[0]?.step ?? 0} steps`,
    xLabel: 'training step', yLabel: 'live tensors', series: series((q) => q.tensors),
  }));
  writeFileSync(join(out, 'soak-bytes.svg'), lineChart({
    title: 'Live device memory during training (WebGPU)', subtitle: `${steps} steps per method; the pool of freed buffers is not counted`,
    xLabel: 'training step', yLabel: 'live KiB', series: series((q) => q.liveBytes / 1024),
  }));
}

/**
 * --index DIR: one README.md and one pair of charts over the runs in DIR's subdirectories (each a
 * soak --out with its soak.json), e.g. one 10,000-step run per method; every number from the JSON.
 */
function writeIndex(dir: string): void {
  const runs = readdirSync(dir).sort().filter((d) => existsSync(join(dir, d, 'soak.json')))
    .map((d) => ({ dir: d, ...(JSON.parse(readFileSync(join(dir, d, 'soak.json'), 'utf8')) as { command: string; adapter: string; date: string; results: MethodResult[] }) }));
  if (!runs.length) usage(`--index ${dir}: no <run>/soak.json under it`);
  const results = runs.flatMap((r) => r.results);
  const notFlat = results.filter((r) => !r.flat).map((r) => r.method);
  writeFileSync(join(dir, 'README.md'), `# Soak: device memory over long training, one run per method (generated by \`npm run soak -- --index ${dir}\`)

Each row is one run of scripts/soak.ts in its own directory (its README.md says the set-up; the commands
are listed below). ${notFlat.length ? `**Not flat: ${notFlat.join(', ')}.**` : `Every method's live tensors, buffers and bytes stayed flat.`}

${TABLE_HEAD}
${results.map(resultRow).join('\n')}

Curves of every run: [live tensors](soak-tensors.svg), [live bytes](soak-bytes.svg).

${runs.map((r) => `- [${r.dir}](${r.dir}/README.md): \`${r.command}\` on ${r.adapter}, ${r.date}`).join('\n')}
`);
  charts(results, dir);
  console.log(`wrote ${join(dir, 'README.md')} and the charts over ${runs.length} runs`);
}

async function main(): Promise<void> {
  const index = process.argv.indexOf('--index');
  if (index >= 0) {
    if (process.argv.length !== index + 2 || index !== 2) usage('--index DIR takes no other flag');
    return writeIndex(process.argv[index + 1]);
  }
  const f = parseFlags(process.argv.slice(2));
  const report = await wg.init({ backend: 'webgpu' });
  mkdirSync(f.out, { recursive: true });
  const pool = wg.random.uniform(wg.random.key(f.seed + 7), [POOL, ...SHAPE]);
  const meta = {
    command: `npm run soak -- ${process.argv.slice(2).join(' ')}`.trim(), date: new Date().toISOString(), adapter: report.description || report.device,
    cpu: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}`, every: f.every, batch: f.batch, seed: f.seed,
  };
  const results: MethodResult[] = [];
  for (const m of f.methods) {
    results.push(await soak(m, f, pool));
    // Written after every method, so that a long run that is stopped keeps what it measured.
    writeFileSync(join(f.out, 'soak.json'), `${JSON.stringify({ ...meta, results }, null, 1)}\n`);
    charts(results, f.out);
    writeFileSync(join(f.out, 'README.md'), readme(results, meta));
  }
  pool.dispose();
  const notFlat = results.filter((r) => !r.flat).map((r) => r.method);
  console.log(notFlat.length ? `not flat: ${notFlat.join(', ')}` : `every method's memory stayed flat (${f.out}/README.md)`);
  process.exitCode = notFlat.length ? 1 : 0;
}

await main();
