// @ts-check
/**
 * The page's controller: the form, the backend selector, and what the training worker
 * (worker.js) reports — live loss chart, images/s, per-epoch kNN and linear probe, examples, the
 * robust-accuracy chart — drawn here; pause/resume, stop, save and load are messages to it. The
 * page holds no tensor and never waits for a step, so it stays responsive while the worker trains.
 * `window.wgradDemo` exposes the page's state to the tests.
 */
import * as wg from '/dist/index.js';
import { renderChart, renderExamples } from './draw.js';

const $ = (id) => /** @type {any} */ (document.getElementById(id));
const BACKEND_NAMES = { auto: 'auto', webgpu: 'WebGPU', wasm: 'wasm', cpu: 'CPU' };

/** What the page shows; `demo` (window.wgradDemo) is what a test reads. `longestTaskMs`: the
 *  longest gap between two ticks of a 50 ms timer while a run was going (the page's responsiveness). */
const demo = {
  state: 'loading', backend: '', requested: '', adapter: '', reason: '', step: 0, totalSteps: 0, losses: [], imagesPerSec: 0, epochs: [],
  sweep: undefined, error: '', method: '', ticks: 0, longestTaskMs: 0, params: () => ask('params'),
};
window.wgradDemo = demo;
const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
let sweepPoints = [], lastSettings;

/** Sends a request to the worker and resolves with its answer (matched by id). */
const pending = new Map();
let nextId = 0;
function ask(type) {
  const id = ++nextId;
  return new Promise((resolve, reject) => { pending.set(id, { resolve, reject }); worker.postMessage({ type, id }); });
}

function setState(state, message, error = false) {
  demo.state = state;
  document.body.dataset.state = state;
  const status = $('status');
  if (message !== undefined) status.textContent = message;
  status.toggleAttribute('data-error', error);
  const running = state === 'training' || state === 'paused';
  const busy = running || ['loading', 'evaluating', 'starting'].includes(state);
  $('pause').disabled = !running;
  $('stop').disabled = !running;
  $('start').disabled = busy;
  $('save').disabled = busy || !demo.method;
  $('load').disabled = busy;
  $('backend').disabled = busy;
  if (!running) showPause(false);
}

function fail(message) {
  demo.error = message;
  for (const { reject } of pending.values()) reject(new Error(message));
  pending.clear();
  setState('error', `Error: ${message}`, true);
}

function showPause(paused) {
  $('pause').setAttribute('aria-pressed', String(paused));
  $('pause').textContent = paused ? 'Resume' : 'Pause';
}

/** The backend line: what init got and, for auto, why (e.g. wasm because the WebGPU adapter is SwiftShader). */
function showBackend(m) {
  Object.assign(demo, { backend: m.backend, requested: m.requested, adapter: m.adapter, reason: m.reason });
  const why = m.reason ? ` — chosen by auto: ${m.reason}` : '';
  $('adapter').textContent = `Backend: ${BACKEND_NAMES[m.backend]} — ${m.adapter}${why}`;
  if (m.backend === 'webgpu') $('gpu-message').hidden = true;
}

/** Reports that WebGPU is missing or failed, and offers the wasm backend. */
function offerWasm(why) {
  const box = $('gpu-message');
  box.hidden = false;
  box.textContent = `${why} The page can train on wgrad's wasm backend instead (WebAssembly SIMD, on the CPU).`;
  const use = document.createElement('button');
  use.type = 'button';
  use.textContent = 'Use the wasm backend';
  use.addEventListener('click', () => { $('backend').value = 'wasm'; box.hidden = true; startBackend('wasm'); });
  box.appendChild(use);
}

function startBackend(kind) {
  setState('starting', `Starting the ${BACKEND_NAMES[kind]} backend…`);
  worker.postMessage({ type: 'backend', backend: kind });
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

function renderLoss() {
  const x = demo.losses.map((_, i) => i + 1);
  const last = demo.losses.at(-1);
  renderChart($('loss-chart'), { title: `${demo.method} loss`, xLabel: 'step', yLabel: 'loss', series: [{ name: demo.method, x, y: demo.losses }] },
    `Training loss over ${demo.losses.length} steps${last === undefined ? '' : `, last ${last.toFixed(4)}`}`);
}

function renderSweep() {
  const s = lastSettings;
  renderChart($('robust-chart'), {
    title: 'robust accuracy of encoder + linear probe', subtitle: `first ${Math.min(s.robustLimit, s.testImages)} test images; PGD-${s.pgdSteps}`,
    xLabel: 'ε (L∞)', yLabel: 'accuracy (%)', yRange: [0, 100], series: [{ name: `${demo.method} (PGD-${s.pgdSteps})`, x: sweepPoints.map((p) => p.eps), y: sweepPoints.map((p) => 100 * p.accuracy) }],
  }, `Robust accuracy: ${sweepPoints.map((p) => `ε ${p.eps}: ${(100 * p.accuracy).toFixed(1)} %`).join(', ')}`);
}

/** A run began (trained or loaded): the previous one's results go. */
function beginRun(m) {
  Object.assign(demo, { method: m.method, step: 0, totalSteps: m.totalSteps, losses: [], epochs: [], sweep: undefined, error: '' });
  sweepPoints = [];
  $('accuracy').tBodies[0].replaceChildren();
  $('robust-chart').replaceChildren();
  $('loss-chart').replaceChildren();
  if (m.loaded) { $('method').value = m.method; showMethod(); }
}

function showStep(m) {
  Object.assign(demo, { step: m.step, imagesPerSec: m.imagesPerSec });
  demo.losses.push(m.loss);
  renderLoss();
  $('progress').textContent = `step ${m.step}/${demo.totalSteps} · epoch ${m.epoch} · loss ${m.loss.toFixed(4)} · ${m.imagesPerSec.toFixed(1)} images/s`;
}

function showEpoch(m) {
  demo.epochs.push({ epoch: m.epoch, knn: m.knn, linear: m.linear, loss: m.loss });
  const row = $('accuracy').tBodies[0].insertRow();
  for (const v of [String(m.epoch), `${(100 * m.knn).toFixed(1)} % (k = ${m.k})`, `${(100 * m.linear).toFixed(1)} %`, m.loss === undefined ? '–' : m.loss.toFixed(4)]) row.insertCell().textContent = v;
}

/** Offers the saved bytes as a download named checkpoint.safetensors. */
function download(bytes) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
  a.download = 'checkpoint.safetensors';
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
  setState(demo.state, `Saved checkpoint.safetensors (${(bytes.length / 1024).toFixed(0)} KiB): put it in a directory DIR and run wgrad eval --checkpoint DIR.`);
}

/** What the worker says. */
const HANDLERS = {
  backend: showBackend,
  state: (m) => { setState(m.state, m.message); if (m.state === 'paused') showPause(true); },
  run: beginRun,
  step: showStep,
  epoch: showEpoch,
  examples: (m) => renderExamples($('examples'), m.examples, m.labels),
  sweep: (m) => { if (m.point) { sweepPoints.push(m.point); renderSweep(); } else demo.sweep = m.result; },
  saved: (m) => download(m.bytes),
  params: (m) => { pending.get(m.id)?.resolve(m.params); pending.delete(m.id); },
  error: (m) => {
    if (demo.state === 'starting' && $('backend').value === 'webgpu') offerWasm(`WebGPU did not start: ${m.message}.`);
    fail(m.message);
  },
};

function onWorkerMessage({ data: m }) {
  const handle = HANDLERS[m.type];
  if (!handle) return fail(`the page got an unknown message ${JSON.stringify(m.type)} from the worker`);
  return handle(m);
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

function togglePause() {
  const pausing = $('pause').getAttribute('aria-pressed') !== 'true';
  showPause(pausing);
  worker.postMessage({ type: pausing ? 'pause' : 'resume' });
  if (pausing) setState(demo.state, 'Pausing after this step…');
}

/** A 50 ms timer: the longest gap between its ticks while a run goes shows that nothing blocks the page. */
function heartbeat() {
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    demo.ticks++;
    if (['training', 'paused', 'evaluating'].includes(demo.state)) demo.longestTaskMs = Math.max(demo.longestTaskMs, now - last);
    last = now;
  }, 50);
}

/** Runs `f`, showing a thrown error (bad settings) in the status line. */
const guarded = (f) => (...args) => { try { f(...args); } catch (e) { fail(String(e?.message ?? e)); } };

function main() {
  for (const m of wg.ssl.methods().filter((r) => r.domains.includes('image'))) $('method').add(new Option(`${m.name}`, m.name, false, m.name === 'rocl'));
  showMethod();
  worker.addEventListener('message', onWorkerMessage);
  worker.addEventListener('error', (e) => fail(`the training worker failed: ${e.message ?? 'it could not load (see the console)'}`));
  $('method').addEventListener('change', showMethod);
  $('pause').addEventListener('click', togglePause);
  $('stop').addEventListener('click', () => { worker.postMessage({ type: 'stop' }); setState(demo.state, 'Stopping after this step…'); });
  $('save').addEventListener('click', () => worker.postMessage({ type: 'save' }));
  $('load').addEventListener('change', guarded(async (e) => {
    const f = e.target.files?.[0];
    if (!f) return;
    lastSettings = settings();
    e.target.value = '';
    setState('evaluating', `Reading ${f.name}…`);
    const bytes = await f.arrayBuffer();
    worker.postMessage({ type: 'load', bytes, name: f.name, settings: lastSettings }, [bytes]);
  }));
  $('settings').addEventListener('submit', guarded((e) => {
    e.preventDefault();
    lastSettings = settings();
    demo.longestTaskMs = 0;
    setState('training', 'Starting…');
    worker.postMessage({ type: 'train', settings: lastSettings });
  }));
  $('backend').addEventListener('change', () => startBackend($('backend').value));
  heartbeat();
  if (!('gpu' in navigator)) offerWasm('This browser has no WebGPU (navigator.gpu is missing; in Chromium it needs a secure context, or --enable-unsafe-webgpu).');
  startBackend($('backend').value);
}

main();
