/**
 * Adversarial attacks and adversarial training on Fashion-MNIST (L∞, images in [0, 1]).
 *
 *   attack   the toolkit's small CNN (conv 32, conv 64, FC 128; trained clean with Adam 1e-3,
 *            cosine decay, batch 128, 5 epochs unless its checkpoint exists) under FGSM (ε = 0.1),
 *            PGD-20 (ε = 0.1, α = 0.01, random start) and APGD-CE (ε = 0.1, 20 iterations).
 *   train    Madry et al.'s PGD adversarial training: every batch is replaced by a 7-step PGD
 *            example (ε = 0.1, α = 2.5ε/7, random start) made against the current model; then
 *            clean, PGD-20 and APGD-CE accuracy on the test set. Model: `--model mlp` (default;
 *            784-`--hidden`-10, hidden 512,256), `--model tiny` (Croce et al.'s Fashion-MNIST CNN:
 *            conv 4×4 stride 2 with `--width` channels, conv 4×4 stride 2 with 2·width, FC 100,
 *            FC 10) or `--model cnn`. Every epoch logs clean accuracy on the test set and PGD-20
 *            on its first `--monitor` images (default 1000; 0: off).
 *   sweep    accuracy versus ε (`--eps`, default 0,0.02,0.05,0.1,0.15,0.2) for FGSM, PGD-20 and
 *            APGD-CE on the first `--sweep-limit` test images (default 500), one curve per model
 *            and attack, for every model whose checkpoint exists; JSON and an SVG chart.
 *   all      attack, train and sweep in turn.
 *
 * Every training epoch ends with an atomic checkpoint (params, optimizer state, epoch, history,
 * and the configuration, which must match to resume) in --ckpt (default examples/checkpoints);
 * `--resume` continues from it (the standard CNN's checkpoint is always reused). Results (JSON,
 * SVG) go to --out (default examples/results/adversarial-fashion-mnist). Examples:
 *
 *   npx tsx examples/adversarial-fashion-mnist.ts attack --test-limit 1000
 *   npx tsx examples/adversarial-fashion-mnist.ts train --model mlp --epochs 10 --resume
 *   npx tsx examples/adversarial-fashion-mnist.ts sweep
 *   npx tsx examples/adversarial-fashion-mnist.ts train --train-limit 512 --test-limit 200 --epochs 1   (smoke test)
 *
 * Other options: --batch (128), --lr (1e-3), --train-limit, --test-limit (default: all 10,000),
 * --eval-batch (500), --conv patches|native (the tiny CNN's convolutions, see convPatches),
 * --no-apgd, --subset (the committed 2,000/1,000 subset), --cpu.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as wg from '../src/node.js';
import type { Tensor } from '../src/node.js';

const { attacks, evaluation } = wg;
const argv = process.argv.slice(2);
const command = argv[0] && !argv[0].startsWith('--') ? argv[0] : 'all';
const arg = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
};
const flag = (name: string) => argv.includes(`--${name}`);
const num = (name: string, dflt: number) => Number(arg(name, String(dflt)));
const EPS = 0.1;
const outDir = arg('out', 'examples/results/adversarial-fashion-mnist');
const ckptDir = arg('ckpt', 'examples/checkpoints');

// ---------------------------------------------------------------------------------------------
// Data: kept on the host as bytes (the 60,000 training images exceed lavapipe's binding limit).

interface HostSplit { images: Uint8Array; labels: Int32Array; n: number }

async function loadData(): Promise<{ dir: string; train: HostSplit; test: HostSplit }> {
  const full = wg.io.FASHION_MNIST_DEBIAN_DIR;
  const dir = !flag('subset') && existsSync(`${full}/train-images-idx3-ubyte.gz`) ? full : wg.io.FASHION_MNIST_SUBSET_DIR;
  const split = async (images: string, labels: string, limit: number): Promise<HostSplit> => {
    const [x, y] = await Promise.all([wg.io.readIdxFile(`${dir}/${images}.gz`), wg.io.readIdxFile(`${dir}/${labels}.gz`)]);
    const n = Math.min(x.shape[0], limit);
    return { images: (x.data as Uint8Array).subarray(0, n * 784), labels: Int32Array.from(y.data).subarray(0, n), n };
  };
  return {
    dir,
    train: await split('train-images-idx3-ubyte', 'train-labels-idx1-ubyte', num('train-limit', Infinity)),
    test: await split('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte', num('test-limit', Infinity)),
  };
}

function hostBatch(split: HostSplit, rows: ArrayLike<number>): { x: Tensor; y: Tensor } {
  const x = new Float32Array(rows.length * 784);
  const y = new Int32Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    for (let j = 0; j < 784; j++) x[i * 784 + j] = split.images[rows[i] * 784 + j] / 255;
    y[i] = split.labels[rows[i]];
  }
  return { x: wg.tensor(x, { shape: [rows.length, 1, 28, 28] }), y: wg.tensor(y, { shape: [rows.length] }) };
}

const source = (split: HostSplit, limit = split.n): wg.evaluation.BatchSource => ({
  size: Math.min(limit, split.n),
  batch: (start, stop) => {
    const { x, y } = hostBatch(split, Array.from({ length: stop - start }, (_, i) => start + i));
    return { images: x, labels: y };
  },
});

// ---------------------------------------------------------------------------------------------
// Models

interface ModelSpec { name: string; init: (k: wg.Key) => unknown; apply: (p: any, x: Tensor) => Tensor; describe: string }

type TinyParams = { c1: wg.nn.Conv2dParams; c2: wg.nn.Conv2dParams; f1: wg.nn.LinearParams; f2: wg.nn.LinearParams };

/**
 * conv k×k (stride s, zero padding pd) as k² strided slices stacked into patches and one matmul:
 * the same values as nn.conv2d. Used by default (`--conv native` for nn.conv2d) because on lavapipe
 * the input gradient of a conv with few input channels (the conv2dInputGrad GEMM has C/groups rows)
 * is several times slower than this path, and every attack step needs the input gradient.
 */
function convPatches(x: Tensor, p: wg.nn.Conv2dParams, s: number, pd = 0): Tensor {
  return wg.tidy(() => {
    const xp = pd ? wg.pad(x, [[0, 0], [0, 0], [pd, pd], [pd, pd]]) : x;
    const [n, c, h, wd] = xp.shape;
    const [o, , k] = p.w.shape;
    const ho = Math.floor((h - k) / s) + 1, wo = Math.floor((wd - k) / s) + 1;
    const taps: Tensor[] = [];
    for (let ky = 0; ky < k; ky++) {
      for (let kx = 0; kx < k; kx++) taps.push(wg.slice(xp, [{}, {}, { start: ky, stop: ky + s * (ho - 1) + 1, step: s }, { start: kx, stop: kx + s * (wo - 1) + 1, step: s }]));
    }
    const cols = wg.reshape(wg.stack(taps, 2), [n, c * k * k, ho * wo]); // rows ordered (c, ky, kx), as w
    const y = wg.reshape(wg.matmul(wg.reshape(p.w, [o, c * k * k]), cols), [n, o, ho, wo]);
    return p.b ? wg.add(y, wg.reshape(p.b, [1, o, 1, 1])) : y;
  });
}

const conv = (p: wg.nn.Conv2dParams, x: Tensor, stride: number, padding: number) =>
  arg('conv', 'patches') === 'native' ? wg.nn.conv2d.apply(p, x, { stride, padding }) : convPatches(x, p, stride, padding);

function tinyCnn(width: number): ModelSpec {
  return {
    name: `tiny-w${width}`,
    describe: `conv 4×4/2 ${width}, conv 4×4/2 ${2 * width}, FC 100, FC 10 (Croce et al.'s Fashion-MNIST CNN${width === 16 ? '' : `, width ${width}`})`,
    init: (k): TinyParams => {
      const [k1, k2, k3, k4] = wg.random.split(k, 4);
      return {
        c1: wg.nn.conv2d.init(k1, { inChannels: 1, outChannels: width, kernel: 4 }),
        c2: wg.nn.conv2d.init(k2, { inChannels: width, outChannels: 2 * width, kernel: 4 }),
        f1: wg.nn.linear.init(k3, { inFeatures: 2 * width * 25, outFeatures: 100 }),
        f2: wg.nn.linear.init(k4, { inFeatures: 100, outFeatures: 10 }),
      };
    },
    apply: (p: TinyParams, x) => wg.tidy(() => {
      let h = wg.nn.relu(conv(p.c1, x, 2, 0)); // [N, w, 13, 13]
      h = wg.nn.relu(conv(p.c2, h, 2, 0)); // [N, 2w, 5, 5]
      h = wg.nn.relu(wg.nn.linear.apply(p.f1, wg.reshape(h, [x.shape[0], -1])));
      return wg.nn.linear.apply(p.f2, h);
    }),
  };
}

// (Patches do not speed up this one: its cost is in the 32→64 convolution.)
const standardCnn: ModelSpec = {
  name: 'cnn',
  describe: 'the toolkit small CNN (conv 3×3 32, pool, conv 3×3 64, pool, FC 128, FC 10)',
  init: (k) => wg.nn.smallCnn.init(k),
  apply: wg.nn.smallCnn.apply,
};

function mlp(hidden: number[]): ModelSpec {
  return {
    name: `mlp-${hidden.join('-')}`,
    describe: `MLP 784-${hidden.join('-')}-10 (ReLU)`,
    init: (k) => wg.nn.mlp.init(k, { widths: [784, ...hidden, 10] }),
    apply: (p: wg.nn.MlpParams, x) => wg.nn.mlp.apply(p, wg.reshape(x, [x.shape[0], 784])),
  };
}

function modelByName(name: string): ModelSpec {
  if (name === 'cnn') return standardCnn;
  if (name === 'mlp') return mlp(arg('hidden', '512,256').split(',').map(Number));
  if (name === 'tiny') return tinyCnn(num('width', 16));
  throw new Error(`--model must be tiny, mlp or cnn, got ${name}`);
}

// ---------------------------------------------------------------------------------------------
// Training with per-epoch checkpoints

interface TrainConfig { spec: ModelSpec; epochs: number; adversarial: boolean; tag: string }
interface History { epoch: number; loss: number; seconds: number; imagesPerSecond: number; testAccuracy: number; pgd20?: { accuracy: number; examples: number } }
type Checkpoint = { params: unknown; optState: unknown; epoch: number; history: History[]; config: string };

const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);

async function train(cfg: TrainConfig, data: { train: HostSplit; test: HostSplit }): Promise<{ params: unknown; history: History[] }> {
  const { spec, epochs, adversarial } = cfg;
  const batchSize = num('batch', 128), lr = num('lr', 1e-3);
  const path = join(ckptDir, `${cfg.tag}.safetensors`);
  const stepsPerEpoch = Math.floor(data.train.n / batchSize);
  if (stepsPerEpoch < 1) throw new Error(`--train-limit ${data.train.n} is smaller than one batch of ${batchSize}`);
  const opt = wg.optim.adam({ lr: wg.optim.cosineDecaySchedule(lr, epochs * stepsPerEpoch) });
  // Everything the run's trajectory depends on: a checkpoint of another configuration is refused.
  const config = JSON.stringify({ model: spec.describe, adversarial, trainImages: data.train.n, batchSize, lr, epochs });
  let ck: Checkpoint;
  if (existsSync(path) && (flag('resume') || cfg.tag === 'standard')) {
    ck = (await wg.io.loadCheckpoint<Checkpoint>(path)).tree;
    if (ck.config !== config) {
      throw new Error(`${path} was written by another configuration (${ck.config}; this run: ${config}): pass another --ckpt directory or remove it`);
    }
    log(`${cfg.tag}: resumed from ${path} after epoch ${ck.epoch}`);
  } else {
    if (existsSync(path)) log(`${cfg.tag}: ${path} exists; starting over (pass --resume to continue it)`);
    const params = spec.init(wg.random.key(0));
    ck = { params, optState: opt.init(params as never), epoch: 0, history: [], config };
  }
  const lossAndGrad = wg.valueAndGrad((p: unknown, x: Tensor, y: Tensor) => wg.losses.softmaxCrossEntropy(spec.apply(p, x), y));
  const pgd7 = { eps: EPS, alpha: (2.5 * EPS) / 7, steps: 7 };
  for (let epoch = ck.epoch + 1; epoch <= epochs; epoch++) {
    const t0 = performance.now();
    const order = wg.data.permutationIndices(wg.random.foldIn(wg.random.key(1), epoch), data.train.n);
    let lossSum = 0, steps = 0, lastPrint = t0;
    const pending: Tensor[] = [];
    for (let s = 0; s < stepsPerEpoch; s++) {
      const { x, y } = hostBatch(data.train, order.subarray(s * batchSize, (s + 1) * batchSize));
      const model = (xx: Tensor) => spec.apply(ck.params, xx);
      const xTrain = adversarial ? attacks.pgd(attacks.crossEntropy(model, y), x, wg.random.foldIn(wg.random.key(2), epoch * 1_000_000 + s), pgd7) : x;
      const [loss, params, optState] = wg.tidy(() => {
        const [l, grads] = lossAndGrad(ck.params, xTrain, y);
        const [updates, st] = opt.update(grads as never, ck.optState as never, ck.params as never);
        return [l, wg.optim.applyUpdates(ck.params as never, updates), st] as const;
      });
      wg.dispose([ck.params, ck.optState, x, y, xTrain]);
      ck = { ...ck, params, optState };
      pending.push(loss);
      steps++;
      if (pending.length === 10 || s === stepsPerEpoch - 1) {
        for (const l of pending.splice(0)) { lossSum += await l.item(); l.dispose(); }
        const now = performance.now();
        if ((now - lastPrint) / 1000 >= 30 || s === stepsPerEpoch - 1) {
          lastPrint = now;
          log(evaluation.progressLine(`${cfg.tag} epoch ${epoch}/${epochs}: loss ${(lossSum / steps).toFixed(4)},`, steps * batchSize, stepsPerEpoch * batchSize, (now - t0) / 1000));
        }
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    const current = (xx: Tensor) => spec.apply(ck.params, xx);
    const acc = await evaluation.accuracy(current, source(data.test), { batchSize: num('eval-batch', 500) });
    // Adversarial runs also watch PGD-20 on the first --monitor test images (0: off).
    const monitor = adversarial ? Math.min(num('monitor', 1000), data.test.n) : 0;
    const robust = monitor > 0 ? await evaluation.accuracy(current, source(data.test, monitor), { batchSize: num('eval-batch', 500), attack: pgd20(current), key: wg.random.key(3) }) : undefined;
    ck.history = [...ck.history, {
      epoch, loss: lossSum / steps, seconds, imagesPerSecond: (steps * batchSize) / seconds, testAccuracy: acc.accuracy,
      ...(robust ? { pgd20: { accuracy: robust.accuracy, examples: monitor } } : {}),
    }];
    ck.epoch = epoch;
    mkdirSync(ckptDir, { recursive: true });
    await wg.io.saveCheckpoint(path, ck, { metadata: { model: spec.describe, adversarial: String(adversarial) } });
    const pgdNote = robust ? `, PGD-20 ${(100 * robust.accuracy).toFixed(2)}% on the first ${monitor} (${robust.seconds.toFixed(0)} s)` : '';
    log(`${cfg.tag} epoch ${epoch}: loss ${(lossSum / steps).toFixed(4)}, clean test accuracy ${(100 * acc.accuracy).toFixed(2)}%${pgdNote}, ${seconds.toFixed(0)} s (${((steps * batchSize) / seconds).toFixed(1)} images/s); checkpoint ${path}`);
  }
  return { params: ck.params, history: ck.history };
}

// ---------------------------------------------------------------------------------------------
// Attacks and evaluation

const pgd20 = (model: wg.evaluation.Model, eps = EPS): wg.evaluation.Attack => (x, y, k) =>
  attacks.pgd(attacks.crossEntropy(model, y), x, k, { eps, alpha: eps / 10, steps: 20 });
const apgd20 = (model: wg.evaluation.Model, eps = EPS): wg.evaluation.Attack => (x, y, k) =>
  attacks.apgdCe(model, x, y, k, { eps, steps: 20 });
const fgsmAt = (model: wg.evaluation.Model, eps = EPS): wg.evaluation.Attack => (x, y, k) =>
  attacks.fgsm(attacks.crossEntropy(model, y), x, k, { eps });

async function evaluateAll(tag: string, model: wg.evaluation.Model, test: HostSplit, which: string[]) {
  const data = source(test);
  const o = { batchSize: num('eval-batch', 500), key: wg.random.key(3) };
  const results: Record<string, { accuracy: number; seconds: number }> = {};
  const run = async (name: string, attack?: wg.evaluation.Attack) => {
    const r = await evaluation.accuracy(model, data, { ...o, attack, progress: { label: `${tag} ${name}`, log, every: 60 } });
    results[name] = { accuracy: r.accuracy, seconds: r.seconds };
    log(`${tag} ${name}: ${(100 * r.accuracy).toFixed(2)}% of ${r.total} (${r.seconds.toFixed(0)} s)`);
  };
  await run('clean');
  if (which.includes('fgsm')) await run('FGSM ε=0.1', fgsmAt(model));
  if (which.includes('pgd')) await run('PGD-20 ε=0.1 α=0.01', pgd20(model));
  if (which.includes('apgd')) await run('APGD-CE ε=0.1 20 it', apgd20(model));
  return { examples: data.size, results };
}

function writeResult(name: string, value: unknown): void {
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, name), JSON.stringify(value, null, 2) + '\n');
  log(`wrote ${join(outDir, name)}`);
}

async function attackCommand(data: { dir: string; train: HostSplit; test: HostSplit }) {
  const t0 = performance.now();
  const { params, history } = await train({ spec: standardCnn, epochs: num('epochs', 5), adversarial: false, tag: 'standard' }, data);
  const model = (x: Tensor) => standardCnn.apply(params, x);
  const evals = await evaluateAll('standard', model, data.test, ['fgsm', 'pgd', 'apgd']);
  writeResult('standard.json', { model: standardCnn.describe, training: 'clean, Adam 1e-3 cosine, batch 128', history, ...evals, seconds: (performance.now() - t0) / 1000, date: new Date().toISOString() });
}

async function trainCommand(data: { dir: string; train: HostSplit; test: HostSplit }) {
  const t0 = performance.now();
  const spec = modelByName(arg('model', 'mlp'));
  const epochs = num('epochs', 10);
  const { params, history } = await train({ spec, epochs, adversarial: true, tag: `adversarial-${spec.name}` }, data);
  const model = (x: Tensor) => spec.apply(params, x);
  const evals = await evaluateAll('adversarial', model, data.test, flag('no-apgd') ? ['pgd'] : ['pgd', 'apgd']);
  writeResult(`adversarial-${spec.name}.json`, {
    model: spec.describe, training: `PGD-7 adversarial training (ε = 0.1, α = 2.5ε/7, random start), Adam ${num('lr', 1e-3)} cosine, batch ${num('batch', 128)}, ${epochs} epochs on ${data.train.n} images`,
    history, ...evals, seconds: (performance.now() - t0) / 1000, date: new Date().toISOString(),
  });
}

async function sweepCommand(data: { dir: string; train: HostSplit; test: HostSplit }) {
  const limit = num('sweep-limit', 500);
  const epsList = arg('eps', '0,0.02,0.05,0.1,0.15,0.2').split(',').map(Number);
  const entries: wg.evaluation.SweepEntry[] = [];
  const adv = modelByName(arg('model', 'mlp'));
  for (const [tag, spec, label] of [['standard', standardCnn, 'standard CNN'], [`adversarial-${adv.name}`, adv, `PGD-trained ${adv.name}`]] as const) {
    const path = join(ckptDir, `${tag}.safetensors`);
    if (!existsSync(path)) { log(`sweep: no checkpoint ${path}, skipping ${label}`); continue; }
    const { params } = (await wg.io.loadCheckpoint<Checkpoint>(path)).tree;
    const model = (x: Tensor) => spec.apply(params, x);
    entries.push({ name: `${label}: FGSM`, model, attack: (e) => fgsmAt(model, e) });
    entries.push({ name: `${label}: PGD-20 (α = ε/10)`, model, attack: (e) => pgd20(model, e) });
    entries.push({ name: `${label}: APGD-CE (20 it)`, model, attack: (e) => apgd20(model, e) });
  }
  if (entries.length === 0) throw new Error('sweep: no checkpoints; run the attack or train command first');
  const t0 = performance.now();
  const res = await evaluation.accuracyVsEps(entries, source(data.test, limit), epsList, {
    batchSize: num('eval-batch', 500), key: wg.random.key(4),
    onPoint: (name, eps, acc, s) => log(`sweep ${name} ε=${eps}: ${(100 * acc).toFixed(2)}% (${s.toFixed(0)} s)`),
  });
  writeResult('accuracy-vs-eps.json', { ...res, testExamples: `the first ${res.total} test images`, seconds: (performance.now() - t0) / 1000, date: new Date().toISOString() });
  // Colour by model, line style by attack.
  const style = (name: string) => ({
    color: name.startsWith('standard') ? '#0072b2' : '#d55e00',
    dash: name.includes('FGSM') ? '2,3' : name.includes('APGD') ? '7,4' : undefined,
  });
  const svg = evaluation.sweepChart(res, { title: 'Fashion-MNIST: accuracy under L∞ attacks', subtitle: `first ${res.total} test images; wgrad ${new Date().toISOString().slice(0, 10)}`, style });
  writeFileSync(join(outDir, 'accuracy-vs-eps.svg'), svg);
  log(`wrote ${join(outDir, 'accuracy-vs-eps.svg')}`);
}

async function main() {
  const report = await wg.init({ backend: flag('cpu') ? 'cpu' : 'webgpu' });
  const data = await loadData();
  log(`${report.backend}: ${report.description}; Fashion-MNIST from ${data.dir}: ${data.train.n} training, ${data.test.n} test images; command ${command}`);
  const commands: Record<string, (d: typeof data) => Promise<void>> = { attack: attackCommand, train: trainCommand, sweep: sweepCommand };
  const todo = command === 'all' ? ['attack', 'train', 'sweep'] : [command];
  for (const c of todo) {
    if (!commands[c]) throw new Error(`unknown command ${c}: expected attack, train, sweep or all`);
    await commands[c](data);
  }
  log(`memory: ${JSON.stringify(wg.memoryStats())}`);
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
