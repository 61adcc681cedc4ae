/**
 * Supervised baseline on Fashion-MNIST: the small CNN (conv 1→32, pool, conv 32→64, pool,
 * FC 3136→128→10) and a linear softmax model, trained with Adam, evaluated on the test set.
 * Uses Debian's full set (/usr/share/datasets/fashion-mnist, package dataset-fashion-mnist) when
 * installed, else the committed subset. Prints time per epoch and images per second.
 *
 *   npx tsx examples/fashion-mnist.ts --model cnn --epochs 5
 *   npx tsx examples/fashion-mnist.ts --model linear --epochs 5 [--subset] [--cpu]
 *
 * `--schedule cosine` decays the learning rate to 0 over the run (cosine); default constant.
 */
import * as wg from '../src/node.js';
import type { Tensor } from '../src/node.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const modelName = arg('model', 'cnn');
const epochs = Number(arg('epochs', '5'));
const batchSize = Number(arg('batch', '128'));
const lr = Number(arg('lr', modelName === 'cnn' ? '1e-3' : '3e-3'));
const schedule = arg('schedule', 'constant');

type Model = { init: (k: wg.Key) => unknown; apply: (p: any, x: Tensor) => Tensor };
const models: Record<string, Model> = {
  cnn: { init: (k) => wg.nn.smallCnn.init(k), apply: wg.nn.smallCnn.apply },
  linear: {
    init: (k) => wg.nn.linear.init(k, { inFeatures: 784, outFeatures: 10 }),
    apply: (p, x) => wg.nn.linear.apply(p, wg.reshape(x, [x.shape[0], 784])),
  },
};

/**
 * The training set (60,000 × 784 floats = 188 MB) exceeds lavapipe's 128 MiB storage-binding limit,
 * so the images stay on the host as bytes and each batch is uploaded (~400 KB per step).
 */
interface HostSplit { images: Uint8Array; labels: Int32Array; n: number }

async function loadHost(subset: boolean): Promise<{ dir: string; train: HostSplit; test: HostSplit }> {
  const full = wg.io.FASHION_MNIST_DEBIAN_DIR;
  const { existsSync } = await import('node:fs');
  const dir = !subset && existsSync(`${full}/train-images-idx3-ubyte.gz`) ? full : wg.io.FASHION_MNIST_SUBSET_DIR;
  const read = async (name: string) => wg.io.readIdxFile(`${dir}/${name}.gz`);
  const split = async (images: string, labels: string): Promise<HostSplit> => {
    const [x, y] = await Promise.all([read(images), read(labels)]);
    return { images: x.data as Uint8Array, labels: Int32Array.from(y.data), n: x.shape[0] };
  };
  return { dir, train: await split('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'), test: await split('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte') };
}

function hostBatch(split: HostSplit, rows: ArrayLike<number>): { x: Tensor; y: Tensor } {
  const x = new Float32Array(rows.length * 784);
  const y = new Int32Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    for (let j = 0; j < 784; j++) x[i * 784 + j] = split.images[r * 784 + j] / 255;
    y[i] = split.labels[r];
  }
  return { x: wg.tensor(x, { shape: [rows.length, 1, 28, 28] }), y: wg.tensor(y, { shape: [rows.length] }) };
}

async function accuracy(model: Model, params: unknown, split: HostSplit): Promise<number> {
  let correct = 0;
  for (let start = 0; start < split.n; start += 500) {
    const rows = Array.from({ length: Math.min(500, split.n - start) }, (_, i) => start + i);
    const { x, y } = hostBatch(split, rows);
    const hits = wg.tidy(() => wg.sum(wg.cast(wg.equal(wg.argmax(model.apply(params, x), -1), y), 'int32')));
    correct += await hits.item();
    wg.dispose([hits, x, y]);
  }
  return correct / split.n;
}

async function main() {
  const model = models[modelName];
  if (!model) throw new Error(`--model must be one of ${Object.keys(models).join(', ')}`);
  const report = await wg.init({ backend: process.argv.includes('--cpu') ? 'cpu' : 'webgpu' });
  const ds = await loadHost(process.argv.includes('--subset'));
  console.log(`${report.backend}: ${report.description}`);
  console.log(`Fashion-MNIST from ${ds.dir}: ${ds.train.n} training and ${ds.test.n} test images`);
  console.log(`model ${modelName}, Adam lr ${lr} (${schedule}), batch ${batchSize}, ${epochs} epochs`);

  let params = model.init(wg.random.key(0));
  const stepsPerEpoch = Math.floor(ds.train.n / batchSize);
  if (schedule !== 'constant' && schedule !== 'cosine') throw new Error('--schedule must be constant or cosine');
  const opt = wg.optim.adam({ lr: schedule === 'cosine' ? wg.optim.cosineDecaySchedule(lr, epochs * stepsPerEpoch) : lr });
  let optState = opt.init(params as never);
  const lossAndGrad = wg.valueAndGrad((p: unknown, x: Tensor, y: Tensor) => wg.losses.softmaxCrossEntropy(model.apply(p, x), y));
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const t0 = performance.now();
    let lossSum = 0, steps = 0;
    const pending: Tensor[] = [];
    const order = wg.data.permutationIndices(wg.random.foldIn(wg.random.key(1), epoch), ds.train.n);
    for (let start = 0; start + batchSize <= ds.train.n; start += batchSize) {
      const { x, y } = hostBatch(ds.train, order.subarray(start, start + batchSize));
      const [loss, nextParams, nextState] = wg.tidy(() => {
        const [l, grads] = lossAndGrad(params, x, y);
        const [updates, s] = opt.update(grads as never, optState, params as never);
        return [l, wg.optim.applyUpdates(params as never, updates), s] as const;
      });
      wg.dispose([params, optState, x, y]);
      params = nextParams;
      optState = nextState;
      pending.push(loss);
      steps++;
      // Read losses back in groups so the device is never idle waiting for the host.
      if (pending.length === 20) {
        for (const l of pending.splice(0)) { lossSum += await l.item(); l.dispose(); }
        if (steps % 100 === 0) {
          const s = (performance.now() - t0) / 1000;
          console.log(`  epoch ${epoch} step ${steps}: mean loss ${(lossSum / steps).toFixed(4)}, ${Math.round((steps * batchSize) / s)} images/s`);
        }
      }
    }
    for (const l of pending.splice(0)) { lossSum += await l.item(); l.dispose(); }
    await wg.sync();
    const seconds = (performance.now() - t0) / 1000;
    const acc = await accuracy(model, params, ds.test);
    console.log(`epoch ${epoch}: loss ${(lossSum / steps).toFixed(4)}  test accuracy ${(acc * 100).toFixed(2)}%  ${seconds.toFixed(1)} s/epoch  ${Math.round((steps * batchSize) / seconds)} images/s`);
  }
  console.log(`memory: ${JSON.stringify(wg.memoryStats())}`);
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
