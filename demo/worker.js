// @ts-check
/**
 * The page's training session, in a module Web Worker so that the page never freezes: the backend
 * (WebGPU and wasm both run in workers), the Fashion-MNIST subset, the run, its training loop,
 * per-epoch kNN and linear probe, the example grid, the robust-accuracy sweep, and checkpoints.
 * The page (app.js) draws what it is told and holds no tensor.
 *
 * Messages from the page:
 *   { type: 'backend', backend }             start 'auto' | 'webgpu' | 'wasm' | 'cpu' (idle only)
 *   { type: 'train', settings }              a fresh run with the form's settings (app.js's settings())
 *   { type: 'pause' } / { type: 'resume' }   hold / release the loop before its next step
 *   { type: 'stop' }                         end the loop after the current step (the run is kept)
 *   { type: 'save' }                         answered by { type: 'saved', bytes } (transferred)
 *   { type: 'load', bytes, name, settings }  a checkpoint (a CLI run's checkpoint.safetensors)
 *   { type: 'params', id }                   answered by { type: 'params', id, params } (tests)
 * Messages to the page: 'backend' (what init got and why), 'state' (state and status line), 'run'
 * (a run began), 'step' (loss, images/s), 'epoch' (accuracies), 'examples' (host images), 'sweep'
 * (a point of the robust-accuracy curve, then the whole result), 'saved', 'params' and 'error'.
 * Messages are handled between steps: the loop yields a macrotask after each (run.js).
 */
import * as wg from '/dist/index.js';
import { CLASSES, freshRun, loadRun, loadSubset, pageConfig, pretrain, rowsOf, saveRun, trainSteps } from './run.js';
import { examples, probe, robustSweep } from './evaluate.js';

const EXAMPLE_COUNT = 4;
const scope = /** @type {any} */ (self);
let run, data, dataKey = '', head, backendKind = '', current = 'loading';
let paused = false, stopping = false, stepsDone = 0, resumeGate = () => {};

const post = (msg, transfer = []) => scope.postMessage(msg, transfer);
function setState(state, message) {
  current = state;
  post({ type: 'state', state, message });
}

/** What the page shows of the backend: the adapter's names for WebGPU, the description otherwise. */
function adapterText(r) {
  if (r.backend !== 'webgpu') return r.description;
  return [r.vendor, r.architecture, r.device, r.description].filter(Boolean).join(' · ') || 'an unnamed adapter';
}

/** Starts backend `kind` unless it runs already (tensors of the previous one are freed first). */
async function startBackend(kind) {
  if (backendKind === kind) return;
  wg.dispose([run, data, head]);
  [run, data, head, dataKey, backendKind] = [undefined, undefined, undefined, '', ''];
  const r = await wg.init({ backend: kind });
  backendKind = kind;
  post({ type: 'backend', requested: kind, backend: r.backend, adapter: adapterText(r), reason: r.autoReason ?? '' });
}

/** The subset's tensors for these sizes (reloaded when they change). */
async function ensureData(s) {
  const key = `${s.trainImages}/${s.testImages}`;
  if (data && key === dataKey) return;
  wg.dispose(data);
  data = await loadSubset(s.trainImages, s.testImages);
  dataKey = key;
}

/** Before each step: holds while paused; false once Stop was pressed. */
async function gate() {
  if (paused && !stopping) {
    setState('paused', `Paused after step ${stepsDone}. Resume to continue.`);
    await new Promise((resolve) => { resumeGate = resolve; });
  }
  return !stopping;
}

/** After an epoch: kNN and linear probe on the test images, and the example grid. */
async function evaluateEpoch(s, epoch, meanLoss) {
  setState(current, `Epoch ${epoch}: evaluating (kNN, linear probe, examples)…`);
  wg.dispose(head);
  const r = await probe(run, data, { bank: s.trainImages, probeEpochs: s.probeEpochs });
  head = r.head;
  post({ type: 'epoch', epoch, knn: r.knn, k: r.k, linear: r.linear, loss: meanLoss });
  const rows = Array.from({ length: Math.min(EXAMPLE_COUNT, data.test.images.shape[0]) }, (_, i) => i);
  const x = rowsOf(data.test.images, rows);
  try {
    const labels = Array.from((await data.test.labels.data()).slice(0, rows.length), (l) => CLASSES[l]);
    post({ type: 'examples', examples: await examples(run, x, wg.random.key(run.config.seed + 7)), labels });
  } finally {
    x.dispose();
  }
}

/** The accuracy-versus-ε sweep of encoder + the last linear probe, a message per point. */
async function sweep(s) {
  const result = await robustSweep(run, head, data.test, {
    steps: s.pgdSteps, eps: s.sweep, limit: s.robustLimit,
    onPoint: (_n, eps, accuracy) => post({ type: 'sweep', point: { eps, accuracy } }),
  });
  post({ type: 'sweep', result });
}

async function train(s) {
  await startBackend(s.backend);
  setState('training', 'Loading the Fashion-MNIST subset…');
  await ensureData(s);
  wg.dispose([run, head]);
  [run, head, paused, stopping, stepsDone] = [freshRun(pageConfig(s)), undefined, false, false, 0];
  post({ type: 'run', method: s.method, totalSteps: s.steps });
  await pretrain(run, data.train, (r) => setState('training', `IDAA's VAE: epoch ${r.epoch}, loss ${r.loss.toFixed(3)}`));
  await trainSteps(run, data.train, s.steps, {
    gate,
    onStep: (p) => {
      stepsDone = p.step;
      post({ type: 'step', ...p });
      if (current === 'training') setState('training', `Training: step ${p.step} of ${s.steps}`);
    },
    onEpoch: (epoch) => evaluateEpoch(s, epoch, run.history.at(-1)?.loss),
  });
  if (stopping) {
    setState('stopped', `Stopped after step ${stepsDone} of ${s.steps}: save the checkpoint, or train again.`);
    return;
  }
  setState('evaluating', 'Robust accuracy versus ε…');
  await sweep(s);
  setState('done', `Done: ${s.steps} steps of ${s.method}. Save the checkpoint to evaluate it with wgrad eval.`);
}

/** Loads a CLI checkpoint, evaluates it and shows its examples and sweep. */
async function load(bytes, name, s) {
  await startBackend(s.backend);
  setState('evaluating', `Reading ${name}…`);
  const loaded = await loadRun(bytes, name);
  wg.dispose([run, head]);
  [run, head] = [loaded, undefined];
  post({ type: 'run', method: run.config.method, totalSteps: 0, loaded: true });
  await ensureData(s);
  await evaluateEpoch(s, run.epochsDone, run.history.filter((h) => h.phase === 'encoder').at(-1)?.loss);
  await sweep(s);
  setState('done', `Loaded ${name}: ${run.config.method}, ${run.epochsDone} epochs (batch ${run.config.batch}, seed ${run.config.seed}).`);
}

/** The run's parameters as { path: numbers } (what the tests compare with the saved file). */
async function flatParams() {
  const out = {};
  for (const [path, t] of run ? wg.treeLeaves(run.params) : []) out[path] = Array.from(await t.data());
  return out;
}

/** Work that takes turns (a backend, a run, a load): a new one starts when the last has ended. */
let queue = Promise.resolve();
const fail = (e) => post({ type: 'error', message: String(e?.message ?? e) });
const enqueue = (work) => { queue = queue.then(work).catch(fail); };

scope.onmessage = ({ data: m }) => {
  switch (m.type) {
    case 'backend': return enqueue(() => startBackend(m.backend).then(() => setState('idle', 'Ready: choose a method and press Train.')));
    case 'train': return enqueue(() => train(m.settings));
    case 'load': return enqueue(() => load(new Uint8Array(m.bytes), m.name, m.settings));
    case 'pause': paused = true; return undefined;
    case 'resume': paused = false; resumeGate(); if (current === 'paused') setState('training', `Training: step ${stepsDone}`); return undefined;
    case 'stop': stopping = true; resumeGate(); return undefined;
    case 'save': return void saveRun(run).then((bytes) => post({ type: 'saved', bytes }, [bytes.buffer]), fail);
    case 'params': return void flatParams().then((params) => post({ type: 'params', id: m.id, params }), fail);
    default: return fail(new Error(`the worker got an unknown message ${JSON.stringify(m.type)}`));
  }
};
