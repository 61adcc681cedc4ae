// @ts-check
/**
 * One training run in the page, built from the method records as `wgrad train` builds it
 * (src/cli/run.ts): the same run keys, data order, step keys, optimizer schedule and checkpoint tree
 * (RunCheckpoint), so that the file the page saves is a run directory's checkpoint.safetensors that
 * `wgrad eval` reads, and a checkpoint the CLI wrote loads here. It runs in the page's worker
 * (worker.js), which handles its messages between any two steps (pause, stop).
 */
import * as wg from '/dist/index.js';
import { DEFAULT_LR, methodContext, modelConfigFor, runKeys, RUN_VERSION, upgradeConfig } from '/dist/cli/run-config.js';

/** The shipped subset's files (data/fashion-mnist-subset, served by demo/server.mjs). */
const SUBSET = '/data/fashion-mnist-subset/';
const FILES = { trainX: 'train-images-idx3-ubyte.gz', trainY: 'train-labels-idx1-ubyte.gz', testX: 't10k-images-idx3-ubyte.gz', testY: 't10k-labels-idx1-ubyte.gz' };
export const CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
export const IMAGE_SHAPE = [1, 28, 28];
/** IDAA's VAE trains to convergence in the CLI (up to 60 epochs); the page caps it to stay interactive. */
const PAGE_VAE_EPOCHS = 3;

/**
 * Lets the worker's pending messages (pause, stop, save) run: a macrotask, awaited between steps.
 * The page itself never waits for training: the loop runs in worker.js.
 */
export const nextTask = () => new Promise((resolve) => setTimeout(resolve, 0));

/**
 * The subset as tensors: the first `trainLimit` training and `testLimit` test images [N, 1, 28, 28]
 * in [0, 1] and their labels, parsed by the package's IDX reader (gunzip included).
 */
export async function loadSubset(trainLimit, testLimit) {
  const read = async (file) => {
    const res = await fetch(new URL(SUBSET + file, import.meta.url)); // this module's server, whoever imports it
    if (!res.ok) throw new Error(`cannot fetch ${SUBSET}${file}: HTTP ${res.status} (is the page served by npm run demo?)`);
    return wg.io.parseIdx(new Uint8Array(await res.arrayBuffer()), file);
  };
  const [trainX, trainY, testX, testY] = await Promise.all([FILES.trainX, FILES.trainY, FILES.testX, FILES.testY].map(read));
  return {
    train: { images: wg.io.idxImages(trainX, { limit: trainLimit }), labels: wg.io.idxLabels(trainY, { limit: trainLimit }) },
    test: { images: wg.io.idxImages(testX, { limit: testLimit }), labels: wg.io.idxLabels(testY, { limit: testLimit }) },
  };
}

/** The rows `rows` of images [N, ...] (a new tensor). */
export const rowsOf = (images, rows) => wg.tidy(() => wg.take(images, wg.tensor(Int32Array.from(rows), { dtype: 'int32' }), 0));

/**
 * The method's options from the page's settings: the record's defaults with ε where the method has
 * one (RoCL's PGD radius, IDAA's latent step, APLR's generator radius); IDAA's VAE epochs capped.
 */
export function pageOptions(record, eps) {
  const given = {};
  if ('eps' in record.defaults && eps !== undefined) given.eps = eps;
  if ('vaeMaxEpochs' in record.defaults) given.vaeMaxEpochs = PAGE_VAE_EPOCHS;
  return wg.ssl.methodOptions(record, given);
}

/** A run's configuration (RunConfig, src/cli/run-config.ts) for the page's settings on the subset. */
export function pageConfig(s) {
  const record = wg.ssl.methodRecord(s.method);
  const perEpoch = Math.floor(s.trainImages / s.batch);
  if (perEpoch < 1) throw new Error(`batch ${s.batch} is larger than the ${s.trainImages} training images`);
  return {
    method: record.name, methodVersion: record.version, regularizer: 0, data: 'subset', domain: 'image', trainLimit: s.trainImages, testLimit: s.testImages,
    epochs: Math.ceil(s.steps / perEpoch), batch: s.batch, seed: s.seed, encoder: 'cnn', width: s.width, projDim: 64, optimizer: record.optimizer,
    lr: DEFAULT_LR[record.optimizer], warmupEpochs: 10, options: pageOptions(record, s.eps),
  };
}

/** A fresh, untrained run (RunCheckpoint) for `cfg`. */
export function freshRun(cfg) {
  const keys = runKeys(cfg.seed);
  const modelConfig = modelConfigFor(cfg, { shape: IMAGE_SHAPE, description: 'the Fashion-MNIST subset' });
  const { params, state } = wg.ssl.model.init(keys.init, modelConfig);
  const ctx = methodContext(cfg, modelConfig, Math.floor(cfg.trainLimit / cfg.batch));
  const initial = wg.ssl.methodInitState(cfg.method, cfg.options, params, state, keys.methodInit, ctx);
  return { format: 'wgrad-ssl-run', version: RUN_VERSION, config: cfg, modelConfig, vaeEpochsDone: 0, epochsDone: 0, params, state: initial, history: [], preprocessing: { domain: 'image' } };
}

/**
 * Trains the model the method trains first (IDAA's VAE) on the run's training images, as the CLI
 * does but with the page's epoch cap; its epochs go into the history.
 */
export async function pretrain(run, train, onEpoch) {
  const pre = wg.ssl.methodRecord(run.config.method).pretrain;
  if (!pre || run.vae) return;
  const data = { n: train.images.shape[0], shape: IMAGE_SHAPE, batch: (rows) => rowsOf(train.images, rows) };
  const t = await wg.ssl.trainVae(runKeys(run.config.seed).pretrain, data, pre.options(run.config.options), {
    onEpoch: async (_t, r) => { onEpoch(r); await nextTask(); },
  });
  run.vae = { params: t.params, state: { model: t.state, opt: t.opt } };
  run.vaeEpochsDone = t.epochsDone;
  run.history.push(...t.history.map((r) => ({ phase: pre.phase, epoch: r.epoch, loss: r.loss, parts: { mse: r.mse, kl: r.kl }, seconds: r.seconds, imagesPerSec: r.imagesPerSec })));
}

/**
 * Trains `run` for `steps` encoder steps from `done`, calling hooks.onStep after each (loss and
 * images/s) and hooks.onEpoch after each epoch; `hooks.gate()` is awaited before every step (it holds
 * while paused, and resolves to false to stop the loop there: Stop).
 * Epoch e's data order and step keys are the CLI's (src/cli/run.ts).
 */
export async function trainSteps(run, train, steps, hooks) {
  const cfg = run.config, keys = runKeys(cfg.seed), n = train.images.shape[0];
  const perEpoch = Math.floor(n / cfg.batch);
  const step = wg.ssl.methodStep(cfg.method, cfg.options, methodContext(cfg, run.modelConfig, perEpoch, run.vae));
  let order, epochStart = performance.now(), epochLoss = 0;
  for (let s = hooks.done ?? 0; s < steps; s++) {
    if (!(await hooks.gate())) return;
    const e = Math.floor(s / perEpoch) + 1, within = s % perEpoch;
    if (!order || within === 0) order = wg.data.permutationIndices(wg.random.foldIn(keys.data, e), n);
    if (within === 0) [epochStart, epochLoss] = [performance.now(), 0];
    const t0 = performance.now();
    const x = rowsOf(train.images, order.subarray(within * cfg.batch, (within + 1) * cfg.batch));
    let r;
    try {
      r = step(run.params, run.state, x, wg.random.foldIn(wg.random.foldIn(keys.train, e), within));
    } finally {
      x.dispose();
    }
    wg.dispose([run.params, run.state]);
    [run.params, run.state] = [r.params, r.state];
    const loss = await r.loss.item();
    wg.dispose([r.loss, r.parts]);
    if (!Number.isFinite(loss)) throw new Error(`the loss is ${loss} at step ${s + 1}: training diverged (lower ε or the batch's learning rate)`);
    epochLoss += loss;
    hooks.onStep({ step: s + 1, epoch: e, loss, imagesPerSec: cfg.batch / ((performance.now() - t0) / 1000) });
    if (within === perEpoch - 1 || s === steps - 1) {
      const seconds = (performance.now() - epochStart) / 1000, count = within + 1;
      run.epochsDone = e;
      run.history.push({ phase: 'encoder', epoch: e, loss: epochLoss / count, parts: {}, seconds, imagesPerSec: (count * cfg.batch) / seconds });
      await nextTask();
      await hooks.onEpoch(e);
    }
    await nextTask();
  }
}

/** The run as safetensors bytes: the checkpoint.safetensors of a run directory (`wgrad eval --checkpoint DIR`). */
export const saveRun = (run) => wg.io.serializeTree(run, { metadata: { method: run.config.method } });

/**
 * A run read from safetensors bytes (a CLI run directory's checkpoint.safetensors): its format,
 * configuration (upgraded as the CLI upgrades it), example shape and finite parameters checked.
 */
export async function loadRun(bytes, name) {
  const { tree } = wg.io.deserializeTree(bytes, { name });
  try {
    if (tree?.format !== 'wgrad-ssl-run') throw new Error(`${name} is not a wgrad training run (its format is ${JSON.stringify(tree?.format)}; expected a run directory's checkpoint.safetensors)`);
    tree.config = upgradeConfig(tree.config, tree.version);
    const shape = tree.modelConfig?.inputShape ?? [tree.modelConfig?.inChannels ?? 1, tree.modelConfig?.imageSize ?? 28, tree.modelConfig?.imageSize ?? 28];
    if (shape.join() !== IMAGE_SHAPE.join()) throw new Error(`${name}: its encoder takes examples of shape [${shape.join(', ')}], but the page trains on Fashion-MNIST [${IMAGE_SHAPE.join(', ')}]`);
    await wg.evaluation.checkFiniteTree('demo.loadRun', name, { params: tree.params, state: tree.state });
    return tree;
  } catch (e) {
    wg.dispose(tree);
    throw e;
  }
}
