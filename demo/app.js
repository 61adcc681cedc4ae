// @ts-check
/**
 * The page's controller: the form, the backend, the training loop's hooks (live loss chart,
 * images/s, per-epoch kNN and linear probe, examples), pause/resume, the robust-accuracy sweep at
 * the end, and saving/loading checkpoints. `window.wgradDemo` exposes the page's state to the tests.
 */
import * as wg from '/dist/index.js';
import { CLASSES, freshRun, loadRun, loadSubset, nextTask, pageConfig, pretrain, rowsOf, saveRun, trainSteps } from './run.js';
import { examples, probe, robustSweep } from './evaluate.js';
import { renderChart, renderExamples } from './draw.js';

const $ = (id) => /** @type {any} */ (document.getElementById(id));
const EXAMPLE_COUNT = 4;

/** What the page holds; `demo` (window.wgradDemo) is what a test reads. */
const demo = { state: 'loading', backend: '', adapter: '', step: 0, totalSteps: 0, losses: [], imagesPerSec: 0, epochs: [], sweep: undefined, error: '', method: '', params: async () => flatParams(run) };
window.wgradDemo = demo;
let run, data, dataKey = '', head, paused = false, resumeGate = () => {};

function setState(state, message, error = false) {
  demo.state = state;
  document.body.dataset.state = state;
  const status = $('status');
  status.textContent = message;
  status.toggleAttribute('data-error', error);
  $('pause').disabled = state !== 'training' && state !== 'paused';
  const busy = ['training', 'paused', 'loading', 'evaluating'].includes(state);
  $('start').disabled = busy;
  $('save').disabled = !run || busy;
  $('load').disabled = busy;
  $('backend').disabled = busy;
}

const fail = (e) => {
  demo.error = String(e?.message ?? e);
  setState('error', `Error: ${demo.error}`, true);
  console.error(e);
};

/** The run's parameters as { path: numbers } (what the tests compare with the saved file). */
async function flatParams(r) {
  if (!r) return {};
  const out = {};
  for (const [path, t] of wg.treeLeaves(r.params)) out[path] = Array.from(await t.data());
  return out;
}

/** Starts the chosen backend (if it is not running) and shows the adapter it got. */
async function startBackend(kind) {
  if (demo.backend === kind) return;
  wg.dispose([run, data, head]);
  [run, data, head, dataKey] = [undefined, undefined, undefined, ''];
  const report = await wg.init({ backend: kind });
  demo.backend = report.backend;
  demo.adapter = report.backend === 'webgpu' ? [report.vendor, report.architecture, report.device, report.description].filter(Boolean).join(' · ') || 'an unnamed adapter' : report.description;
  $('adapter').textContent = `Backend: ${report.backend} — ${demo.adapter}`;
}

/** Reports that WebGPU is missing or failed, and offers the CPU backend. */
function offerCpu(why) {
  const box = $('gpu-message');
  box.hidden = false;
  box.textContent = `${why} The page can train on wgrad's CPU backend instead (slower).`;
  const use = document.createElement('button');
  use.type = 'button';
  use.textContent = 'Use the CPU backend';
  use.addEventListener('click', () => { $('backend').value = 'cpu'; box.hidden = true; startBackend('cpu').then(() => setState('idle', 'Ready (CPU backend).'), fail); });
  box.appendChild(use);
}

/** The form's settings, checked (a message naming the field when one is out of range). */
function settings() {
  const int = (id) => {
    const el = $(id);
    const v = Number(el.value);
    if (!el.checkValidity() || !Number.isInteger(v)) throw new Error(`${el.labels[0].textContent.trim()}: ${JSON.stringify(el.value)} is not an integer in [${el.min}, ${el.max}]`);
    return v;
  };
  const eps = Number($('eps').value);
  if (!$('eps').disabled && !(eps >= 0 && eps <= 1)) throw new Error(`ε: ${JSON.stringify($('eps').value)} is not a number in [0, 1]`);
  const sweep = $('sweep-eps').value.split(',').map((v) => Number(v.trim()));
  if (!sweep.length || sweep.some((v) => !(v >= 0 && v <= 1))) throw new Error(`ε values of the sweep: ${JSON.stringify($('sweep-eps').value)}; expected numbers in [0, 1] separated by commas`);
  return {
    backend: $('backend').value, method: $('method').value, eps: $('eps').disabled ? undefined : eps, batch: int('batch'), steps: int('steps'),
    trainImages: int('train-images'), testImages: int('test-images'), robustLimit: int('robust-limit'), pgdSteps: int('pgd-steps'),
    sweep: [...new Set([0, ...sweep])].sort((a, b) => a - b), probeEpochs: int('probe-epochs'), width: int('width'), seed: int('seed'),
  };
}

/** The subset's tensors for these sizes (reloaded when they change). */
async function ensureData(s) {
  const key = `${s.trainImages}/${s.testImages}`;
  if (data && key === dataKey) return;
  wg.dispose(data);
  data = await loadSubset(s.trainImages, s.testImages);
  dataKey = key;
}

function renderLoss() {
  const x = demo.losses.map((_, i) => i + 1);
  const last = demo.losses.at(-1);
  renderChart($('loss-chart'), { title: `${demo.method} loss`, xLabel: 'step', yLabel: 'loss', series: [{ name: demo.method, x, y: demo.losses }] },
    `Training loss over ${demo.losses.length} steps${last === undefined ? '' : `, last ${last.toFixed(4)}`}`);
}

/** After an epoch: kNN and linear probe on the test images, and the example grid. */
async function evaluateEpoch(s, epoch, meanLoss) {
  setState(demo.state, `Epoch ${epoch}: evaluating (kNN, linear probe, examples)…`);
  wg.dispose(head);
  const r = await probe(run, data, { bank: s.trainImages, probeEpochs: s.probeEpochs });
  head = r.head;
  demo.epochs.push({ epoch, knn: r.knn, linear: r.linear, loss: meanLoss });
  const row = $('accuracy').tBodies[0].insertRow();
  for (const v of [String(epoch), `${(100 * r.knn).toFixed(1)} % (k = ${r.k})`, `${(100 * r.linear).toFixed(1)} %`, meanLoss === undefined ? '–' : meanLoss.toFixed(4)]) row.insertCell().textContent = v;
  const x = rowsOf(data.test.images, Array.from({ length: EXAMPLE_COUNT }, (_, i) => i));
  try {
    const labels = Array.from((await data.test.labels.data()).slice(0, EXAMPLE_COUNT), (l) => CLASSES[l]);
    renderExamples($('examples'), await examples(run, x, wg.random.key(run.config.seed + 7)), labels);
  } finally {
    x.dispose();
  }
}

/** The accuracy-versus-ε sweep of encoder + the last linear probe. */
async function sweep(s) {
  const points = [];
  const draw = () => renderChart($('robust-chart'), {
    title: 'robust accuracy of encoder + linear probe', subtitle: `first ${Math.min(s.robustLimit, s.testImages)} test images; PGD-${s.pgdSteps}`,
    xLabel: 'ε (L∞)', yLabel: 'accuracy (%)', yRange: [0, 100], series: [{ name: `${demo.method} (PGD-${s.pgdSteps})`, x: points.map((p) => p[0]), y: points.map((p) => 100 * p[1]) }],
  }, `Robust accuracy: ${points.map(([e, a]) => `ε ${e}: ${(100 * a).toFixed(1)} %`).join(', ')}`);
  demo.sweep = await robustSweep(run, head, data.test, {
    steps: s.pgdSteps, eps: s.sweep, limit: s.robustLimit,
    onPoint: (_n, e, acc) => { points.push([e, acc]); draw(); setState(demo.state, `Robust accuracy: ε = ${e} done`); },
  });
}

/** Pauses before the next step while `paused` (the Pause button). */
const gate = () => (paused ? new Promise((resolve) => { resumeGate = resolve; }) : Promise.resolve());

function togglePause() {
  paused = !paused;
  $('pause').setAttribute('aria-pressed', String(paused));
  $('pause').textContent = paused ? 'Resume' : 'Pause';
  if (paused) setState('paused', `Paused after step ${demo.step} of ${demo.totalSteps}. Resume to continue.`);
  else { setState('training', `Training: step ${demo.step} of ${demo.totalSteps}`); resumeGate(); }
}

async function train(s) {
  await startBackend(s.backend);
  setState('training', 'Loading the Fashion-MNIST subset…');
  await ensureData(s);
  wg.dispose([run, head]);
  [run, head] = [freshRun(pageConfig(s)), undefined];
  Object.assign(demo, { method: s.method, step: 0, totalSteps: s.steps, losses: [], epochs: [], sweep: undefined, error: '' });
  $('accuracy').tBodies[0].replaceChildren();
  $('robust-chart').replaceChildren();
  await pretrain(run, data.train, (r) => setState('training', `IDAA's VAE: epoch ${r.epoch}, loss ${r.loss.toFixed(3)}`));
  await trainSteps(run, data.train, s.steps, {
    gate,
    onStep: ({ step, epoch, loss, imagesPerSec }) => {
      Object.assign(demo, { step, imagesPerSec });
      demo.losses.push(loss);
      renderLoss();
      $('progress').textContent = `step ${step}/${s.steps} · epoch ${epoch} · loss ${loss.toFixed(4)} · ${imagesPerSec.toFixed(1)} images/s`;
      if (!paused) setState('training', `Training: step ${step} of ${s.steps}`);
    },
    onEpoch: (epoch) => evaluateEpoch(s, epoch, run.history.at(-1)?.loss),
  });
  setState('training', 'Robust accuracy versus ε…');
  await sweep(s);
  setState('done', `Done: ${s.steps} steps of ${s.method}. Save the checkpoint to evaluate it with wgrad eval.`);
}

async function save() {
  const bytes = await saveRun(run);
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
  a.download = 'checkpoint.safetensors';
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
  setState(demo.state, `Saved checkpoint.safetensors (${(bytes.length / 1024).toFixed(0)} KiB): put it in a directory DIR and run wgrad eval --checkpoint DIR.`);
}

/** Loads a CLI checkpoint, shows its settings, evaluates it and shows its examples and sweep. */
async function load(file) {
  const s = settings();
  await startBackend(s.backend);
  setState('evaluating', `Reading ${file.name}…`);
  const loaded = await loadRun(new Uint8Array(await file.arrayBuffer()), file.name);
  wg.dispose([run, head]);
  [run, head] = [loaded, undefined];
  Object.assign(demo, { method: run.config.method, losses: [], epochs: [], step: 0, totalSteps: 0 });
  $('method').value = run.config.method;
  showMethod();
  await ensureData(s);
  $('accuracy').tBodies[0].replaceChildren();
  await evaluateEpoch(s, run.epochsDone, run.history.filter((h) => h.phase === 'encoder').at(-1)?.loss);
  await sweep(s);
  setState('done', `Loaded ${file.name}: ${run.config.method}, ${run.epochsDone} epochs (batch ${run.config.batch}, seed ${run.config.seed}).`);
}

/** The method's description and whether it has an ε (from its record). */
function showMethod() {
  const record = wg.ssl.methodRecord($('method').value);
  $('method-help').textContent = record.summary;
  const flag = record.flags.find((f) => f.key === 'eps');
  $('eps').disabled = !flag;
  if (flag) $('eps').value = String(record.defaults.eps);
  $('eps-help').textContent = flag ? `ε: ${flag.spec.help} (default ${record.defaults.eps}).` : `${record.name} has no attack: ε does not apply.`;
}

async function main() {
  for (const m of wg.ssl.methods().filter((r) => r.domains.includes('image'))) $('method').add(new Option(`${m.name}`, m.name, false, m.name === 'rocl'));
  showMethod();
  $('method').addEventListener('change', showMethod);
  $('pause').addEventListener('click', togglePause);
  $('save').addEventListener('click', () => save().catch(fail));
  $('load').addEventListener('change', (e) => { const f = e.target.files?.[0]; if (f) load(f).catch(fail).finally(() => { e.target.value = ''; }); });
  $('settings').addEventListener('submit', (e) => { e.preventDefault(); nextTask().then(() => train(settings())).catch(fail); });
  $('backend').addEventListener('change', () => startBackend($('backend').value).then(() => setState('idle', 'Ready.'), fail));
  if (!('gpu' in navigator)) {
    $('backend').value = 'cpu';
    offerCpu('This browser has no WebGPU (navigator.gpu is missing; in Chromium, it needs a secure context or --enable-unsafe-webgpu).');
  }
  try {
    await startBackend($('backend').value);
  } catch (e) {
    offerCpu(`WebGPU did not start: ${e?.message ?? e}.`);
    $('adapter').textContent = 'No backend yet.';
  }
  setState('idle', demo.backend ? 'Ready: choose a method and press Train.' : 'Choose the CPU backend to train.');
}

main().catch(fail);
