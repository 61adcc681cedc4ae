/**
 * wgrad vs its peers — jax-js (WebGPU eager and under jit, Wasm) and TensorFlow.js (WebGPU, Wasm) —
 * row by row on one adapter, each peer in a process of its own (peers.ts, peer-worker.ts), plus
 * the CPU ceilings (numpy sgemm, PyTorch).
 *
 *   npm run bench                      # the full suite
 *   npm run bench -- --quick           # smaller shapes, fewer repeats
 *   npm run bench -- --groups matmul,train --only cnn --peers jax-webgpu,tfjs-webgpu
 *
 * Options:
 *   --quick                 smaller shapes and fewer repeats; writes bench/results/latest-quick.*
 *   --groups a,b            any of matmul, conv, memory, dispatch, train (default: all)
 *   --only text             only rows whose id or name contains one of the comma-separated texts
 *   --peers a,b             which peers (default: all of jax-webgpu, jax-webgpu-jit, jax-wasm,
 *                           tfjs-webgpu, tfjs-wasm); --no-peers, --no-jax, --no-tfjs leave some out
 *   --no-wgrad              leave wgrad out (its column stays empty)
 *   --no-ceiling            skip the CPU ceilings (numpy sgemm, PyTorch training steps)
 *   --no-gpu-time           skip the extra runs timed with timestamp queries
 *   --wgrad-backend cpu     run wgrad on its CPU reference backend (to test the suite itself)
 *   --budget S              seconds of timed work per side per row (default 8, quick 3)
 *   --repeats N             most timed repeats per row (default 15, quick 5)
 *   --batch N               images per step on every training row (default 256 / 64 / 32 / 32 by row; to try them small)
 *   --host-repeats N        host-time samples per training step (default 5, quick 3; 0: none)
 *   --deadline S            rows not started S seconds after the start are left out (listed)
 *   --call-timeout S        a peer call (one check or run) longer than this stops the peer (default 900)
 *   --out DIR --name BASE   where to write BASE.md, BASE.json, BASE.svg (default bench/results, latest)
 *   --title TEXT            the report's title line
 *   --disable-robustness    create the Dawn GPU objects with `enable-dawn-features=disable_robustness`
 *   --no-roofline           skip the roofline measurement (copy-kernel sweep + host memcpy)
 *
 * Outputs the markdown table (also printed), JSON with every sample, and an SVG chart of ratios.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GROUPS, type Group, type RowResult, type RowSpec, type Side, type SideResult, runRow } from './harness.js';
import { dawnFlags, gpuTimer, setDawnFlags, startWgrad } from './gpu.js';
import { copySide, measureRoofline, shapeName, type Roofline } from './roofline.js';
import { reduceShapesFor } from '../src/kernels/tuning.js';
import { markdown, svgChart, type RunInfo } from './report.js';
import type { Ctx } from './suite/context.js';
import { buildRows } from './suite/rows.js';
import { torchTasks } from './suite/train.js';
import { measureCeilings } from './ceilings.js';
import { PEER_DEFS, PEERS, type PeerId, peerLabel } from './peers.js';
import { PeerProcess } from './peer-client.js';

const here = path.dirname(fileURLToPath(import.meta.url));

const list = (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean);

export function parseArgs(argv: string[]) {
  const a = {
    quick: false, groups: [...GROUPS] as Group[], only: [] as string[], peers: [...PEERS] as PeerId[], wgrad: true, ceiling: true,
    gpuTime: true, wgradBackend: 'webgpu' as 'webgpu' | 'cpu', budget: NaN, repeats: NaN, hostRepeats: NaN, deadline: Infinity, batch: undefined as number | undefined,
    callTimeout: 900, out: path.join(here, 'results'), name: '', title: '', disableRobustness: false, roofline: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${k} needs a value`);
      return v;
    };
    const num = () => {
      const v = Number(val());
      if (!(v >= 0)) throw new Error(`${k} needs a number ≥ 0`);
      return v;
    };
    switch (k) {
      case '--quick': a.quick = true; break;
      case '--groups': case '--group': {
        const gs = list(val());
        for (const g of gs) if (!GROUPS.includes(g as Group)) throw new Error(`unknown group "${g}"; groups: ${GROUPS.join(', ')}`);
        a.groups = gs as Group[];
        break;
      }
      case '--only': a.only = list(val()).map((s) => s.toLowerCase()); break;
      case '--peers': {
        const ps = list(val());
        for (const p of ps) if (!PEERS.includes(p as PeerId)) throw new Error(`unknown peer "${p}"; peers: ${PEERS.join(', ')}`);
        a.peers = ps as PeerId[];
        break;
      }
      case '--no-peers': a.peers = []; break;
      case '--no-tfjs': a.peers = a.peers.filter((p) => PEER_DEFS[p].library !== 'tfjs'); break;
      case '--no-jax': a.peers = a.peers.filter((p) => PEER_DEFS[p].library !== 'jax'); break;
      case '--no-wgrad': a.wgrad = false; break;
      case '--no-ceiling': a.ceiling = false; break;
      case '--no-gpu-time': a.gpuTime = false; break;
      case '--wgrad-backend': {
        const b = val();
        if (b !== 'webgpu' && b !== 'cpu') throw new Error(`--wgrad-backend: "${b}" is not webgpu or cpu`);
        a.wgradBackend = b;
        break;
      }
      case '--budget': a.budget = num(); break;
      case '--repeats': a.repeats = num(); break;
      case '--host-repeats': a.hostRepeats = num(); break;
      case '--batch': {
        const b = num();
        if (!Number.isInteger(b) || b < 2) throw new Error(`--batch needs an integer ≥ 2 (NT-Xent needs two images), got ${b}`);
        a.batch = b;
        break;
      }
      case '--deadline': a.deadline = num(); break;
      case '--call-timeout': a.callTimeout = num(); break;
      case '--out': a.out = path.resolve(val()); break;
      case '--name': a.name = val(); break;
      case '--title': a.title = val(); break;
      case '--disable-robustness': a.disableRobustness = true; break;
      case '--no-roofline': a.roofline = false; break;
      case '-h': case '--help':
        console.log(readHelp());
        process.exit(0);
        break;
      default: throw new Error(`unknown option ${k} (see --help)`);
    }
  }
  if (!a.name) a.name = a.quick ? 'latest-quick' : 'latest';
  return a;
}
type Args = ReturnType<typeof parseArgs>;

function readHelp(): string {
  return `npm run bench -- [--quick] [--groups ${GROUPS.join(',')}] [--only text] [--peers ${PEERS.join(',')}] [--no-peers] [--no-jax] [--no-tfjs] [--no-wgrad] [--no-ceiling] [--no-gpu-time] [--wgrad-backend cpu] [--budget S] [--repeats N] [--batch N] [--host-repeats N] [--deadline S] [--call-timeout S] [--out DIR] [--name BASE] [--title TEXT] [--disable-robustness] [--no-roofline]`;
}

const errText = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0].slice(0, 300);

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: here, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '?';
  }
}

/** Copy-kernel sweep + host memcpy on wgrad's device, with the reduction shapes wgrad's tuning picked. */
async function rooflineOf(device: GPUDevice, quick: boolean, log: (s: string) => void): Promise<RunInfo['roofline']> {
  log('[memory] roofline: copy kernel over a few shapes, host memcpy');
  try {
    const r: Roofline = await measureRoofline(device, { quick, log });
    const t = reduceShapesFor({ device, limits: device.limits });
    log(`    best ${shapeName(r.best)}: ${r.best.gbps.toFixed(2)} GB/s; host memcpy ${r.hostGbps.toFixed(2)} GB/s; wgrad's reductions: ${t.kind}, ${t.rowLanes} lanes, ${t.vec4PerLane} vec4/lane`);
    return { ...r, tuning: `${t.kind} adapter: ${t.rowLanes}-lane workgroups (tree: ${t.groupLanes}), ≥ ${t.vec4PerLane} vec4 per invocation where rows allow, ≥ ${t.minWorkgroups} workgroups` };
  } catch (e) {
    return { error: errText(e) };
  }
}

/** Starts every peer's process at once; a peer that cannot start is reported and left out. */
async function startPeers(args: Args, log: (s: string) => void): Promise<{ procs: PeerProcess[]; info: RunInfo['peers'] }> {
  const opts = { quick: args.quick, trainBatch: args.batch, dawnFlags: args.disableRobustness ? ['enable-dawn-features=disable_robustness'] : [], gpuTime: args.gpuTime };
  const info: RunInfo['peers'] = {};
  const procs = args.peers.map((id) => new PeerProcess(id, opts, args.callTimeout));
  await Promise.all(procs.map(async (p) => {
    try {
      await p.start();
      info[p.id] = { describe: p.describe, adapter: p.adapter };
      log(`${peerLabel(p.id)}: ${p.describe}`);
    } catch (e) {
      info[p.id] = { error: errText(e) };
      log(`${peerLabel(p.id)}: not available: ${errText(e)}`);
    }
  }));
  return { procs: procs.filter((p) => p.alive), info };
}

/** The sides of one row: wgrad, each peer that implements it, the roofline copy (memory rows). */
function sidesOf(spec: RowSpec, wgSpan: Side['span'], procs: PeerProcess[], roof: { rf?: RunInfo['roofline']; dev?: GPUDevice }): { sides: Side[]; cannot: Record<string, SideResult> } {
  const sides: Side[] = [];
  const cannot: Record<string, SideResult> = {};
  if (spec.wgrad) sides.push({ name: 'wgrad', make: spec.wgrad, span: wgSpan });
  for (const p of procs) {
    const d = PEER_DEFS[p.id];
    if (!(d.library === 'jax' ? spec.jax : spec.tfjs)) continue;
    const why = spec.cannot?.[p.id];
    if (why) cannot[p.id] = { ok: false, cannot: true, error: why };
    else sides.push(p.side(spec));
  }
  const rf = roof.rf, dev = roof.dev;
  if (spec.group === 'memory' && rf && !('error' in rf) && dev) sides.push({ name: 'roofline', make: () => copySide(dev, rf.n, rf.best), work: 8 * rf.n });
  return { sides, cannot };
}

function logRow(r: RowResult, log: (s: string) => void): void {
  const v = (s: SideResult) => (s.ok ? `${s.value!.toPrecision(4)}${s.gpuMs !== undefined ? ` (GPU ${s.gpuMs.toPrecision(3)} ms)` : ''}` : s.cannot ? 'cannot run' : 'failed');
  const parts = [`wgrad ${v(r.wgrad)}`, ...Object.entries(r.peers).map(([id, s]) => `${id} ${v(s)}${s.check && s.check.status !== 'ok' ? ' CHECK FAIL' : ''}`)];
  log(`    ${parts.join(' | ')} ${r.metric} | vs fastest ${r.ratio?.toFixed(2) ?? '—'} | check ${r.check.status}${r.check.relErr !== undefined ? ` ${r.check.relErr.toExponential(1)}` : ''} | ${r.repeats} reps${r.host ? ` | host ${r.host.hostMs.toFixed(1)} ms, ${r.host.dispatches} dispatches` : ''}`);
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const t0 = performance.now();
  const log = (s: string) => console.error(s);
  const loadBefore = os.loadavg();
  const ctx: Ctx = { quick: args.quick, trainBatch: args.batch };
  if (args.disableRobustness) setDawnFlags(['enable-dawn-features=disable_robustness']);

  const { procs, info: peerInfo } = await startPeers(args, log);
  let adapter = Object.values(peerInfo).find((p) => p.adapter && !p.adapter.startsWith('CPU'))?.adapter ?? '?';
  let wgDevice: GPUDevice | undefined;
  let wgradName = 'not run';
  if (args.wgrad) {
    try {
      const h = await startWgrad(args.wgradBackend);
      ctx.wg = h.wg;
      wgDevice = h.device;
      wgradName = `${args.wgradBackend} backend, git ${git(['rev-parse', '--short', 'HEAD'])}`;
      if (args.wgradBackend === 'webgpu') adapter = h.adapter || adapter;
    } catch (e) {
      ctx.wgError = errText(e);
      log(`wgrad: not available: ${ctx.wgError}`);
    }
  } else ctx.wgError = 'left out (--no-wgrad)';

  const wgSpan = args.gpuTime && args.wgradBackend === 'webgpu' ? await gpuTimer(wgDevice) : undefined;
  const timing = `wall clock around each iteration, ended by a device sync (wgrad: wg.sync(); jax-js: blockUntilReady; TF.js WebGPU: submit + queue.onSubmittedWorkDone(); the Wasm backends compute synchronously); a peer times its runs in its own process. ` +
    (args.gpuTime ? 'GPU busy time from timestamp queries (every queue submit bracketed by two timestamp writes; Dawn\'s timestamp quantization off), in a few extra runs, or for rows slower than 2 s per iteration in the timed runs themselves' : 'no timestamp queries (--no-gpu-time)');

  const specs = buildRows(ctx, args.groups, args.only);
  const opts = {
    budgetS: Number.isFinite(args.budget) ? args.budget : args.quick ? 3 : 8,
    minRepeats: args.quick ? 2 : 3,
    maxRepeats: Number.isFinite(args.repeats) ? args.repeats : args.quick ? 5 : 15,
    gpuRepeats: args.quick ? 2 : 3,
    instrumentAboveMs: 2000,
    hostRepeats: Number.isFinite(args.hostRepeats) ? args.hostRepeats : args.quick ? 3 : 5,
    log,
  };
  log(`wgrad vs ${procs.map((p) => p.id).join(', ') || 'no peer'} — ${args.quick ? 'quick' : 'full'} run, ${specs.length} rows; adapter: ${adapter}`);
  const results: RowResult[] = [];
  const skipped: string[] = [];
  let roofline: RunInfo['roofline'];
  const meta = (): RunInfo => ({
    date: new Date().toISOString(), mode: args.quick ? 'quick' : 'full', title: args.title || undefined,
    command: `npm run bench --${process.argv.slice(2).length ? ' ' + process.argv.slice(2).join(' ') : ''}`.replace(/ --$/, ''),
    node: process.version, cpu: os.cpus()[0]?.model ?? '?', cores: os.cpus().length,
    loadBefore, loadAfter: os.loadavg(), adapter, wgradBackend: wgradName, wgradError: ctx.wgError,
    peers: peerInfo, timing, skipped,
    gitCommit: `${git(['rev-parse', '--short', 'HEAD'])}${git(['status', '--porcelain', '--untracked-files=no']) ? ' (+ uncommitted changes)' : ''}`,
    durationS: (performance.now() - t0) / 1000, ceilings: {}, notes: notes(), dawnFlags: dawnFlags(), roofline,
  });
  // Stopped from outside (bench:gpu's time limit): the rows measured so far are still written.
  const onTerm = () => {
    log('SIGTERM: writing the rows measured so far');
    for (const p of procs) p.close();
    skipped.push(...specs.filter((s) => !results.some((r) => r.id === s.id) && !skipped.includes(`${s.name} (${s.shape})`)).map((s) => `${s.name} (${s.shape}) — stopped`));
    writeReport(args, results, meta());
    process.exit(0);
  };
  process.once('SIGTERM', onTerm);
  for (const spec of specs) {
    if ((performance.now() - t0) / 1000 > args.deadline) {
      skipped.push(`${spec.name} (${spec.shape})`);
      continue;
    }
    // The roofline is measured on wgrad's device right before the first memory-bound row.
    if (spec.group === 'memory' && !roofline && args.roofline && wgDevice) roofline = await rooflineOf(wgDevice, args.quick, log);
    log(`[${spec.group}] ${spec.name} — ${spec.shape}`);
    const { sides, cannot } = sidesOf(spec, wgSpan, procs, { rf: roofline, dev: wgDevice });
    let r: RowResult;
    try {
      r = await runRow(spec, sides, opts);
    } catch (e) {
      // The harness catches per side; this is a last resort so that one row never ends the suite.
      const err = { ok: false, error: errText(e) };
      r = { group: spec.group, id: spec.id, name: spec.name, shape: spec.shape, metric: spec.metric, work: spec.work, repeats: 0, wgrad: err, peers: {}, check: { status: 'n/a', tol: spec.tol } };
    }
    Object.assign(r.peers, cannot);
    results.push(r);
    logRow(r, log);
  }
  process.removeListener('SIGTERM', onTerm);
  for (const p of procs) p.close();
  const ceilings: RunInfo['ceilings'] = args.ceiling ? measureCeilings(results, torchTasks(ctx), args.quick, log) : {};
  writeReport(args, results, { ...meta(), ceilings });
}

/** Fractions of the roofline, then the report: markdown (also printed), JSON, SVG. */
function writeReport(args: Args, results: RowResult[], info: RunInfo): void {
  const roofline = info.roofline;
  for (const r of results) {
    if (r.group !== 'memory' || !roofline || 'error' in roofline) continue;
    // The copy timed between this row's own repeats; the sweep's best where that failed.
    const g = r.rooflineSide?.value ?? roofline.best.gbps;
    const peers = Object.fromEntries(Object.entries(r.peers).filter(([, s]) => s.value !== undefined).map(([id, s]) => [id, s.value! / g]));
    r.roofline = { gbps: g, wgrad: r.wgrad.value !== undefined ? r.wgrad.value / g : undefined, peers };
  }
  mkdirSync(args.out, { recursive: true });
  const md = markdown(results, info, args.name);
  writeFileSync(path.join(args.out, `${args.name}.md`), md);
  writeFileSync(path.join(args.out, `${args.name}.json`), JSON.stringify({ info, rows: results }, null, 1) + '\n');
  writeFileSync(path.join(args.out, `${args.name}.svg`), svgChart(results, info));
  console.log(md);
  console.error(`wrote ${path.join(args.out, args.name)}.{md,json,svg} in ${info.durationS.toFixed(0)} s`);
}

function notes(): string[] {
  return [
    'Each peer runs in a process of its own (bench/peer-worker.ts), started once; the runner sends it one row at a time and it times its own runs. Only one side runs at any moment, so the sides do not compete for the cores.',
    'jax-js and TF.js run in Node on Dawn: `navigator` is set to `{ gpu, userAgent }` with the `webgpu` package\'s GPU object (and its GPUBufferUsage/GPUMapMode/... globals installed) before they are imported. TF.js: the umbrella `@tensorflow/tfjs` is imported because tfjs-core\'s Node bundle lacks the gradient functions; the tiny-op row turns WEBGPU_CPU_FORWARD off so that its ops run on the GPU. TF.js Wasm runs XNNPACK on one thread (Node gives it no worker threads).',
    'jax-js is written in its own idiom: functions take their arrays as arguments and consume them (`.ref` ownership); a training step is one pure function `(params, data) → [loss, params]` (valueAndGrad + SGD), wrapped whole in `jax.jit` for the jit columns. jax-js Wasm runs under jit.',
    'Layouts: wgrad and jax-js NCHW / OIHW, TF.js NHWC / HWIO, on the same numbers; TF.js results are converted on the host for the cross-check. Every peer is checked against wgrad (training rows: the losses of the first two SGD steps from the same weights).',
    'Repeats: after one cross-check run and one warm-up run per side (training rows: the two cross-check steps are the warm-up), each side gets clamp(budget / its warm-up time) repeats (at least 1 for sides slower than 10 s per iteration), interleaved across the sides with the order alternating.',
    'The machine may be shared: other processes may load its cores (load averages above). Interleaving the sides makes the ratios robust to slow changes of load; absolute numbers are not.',
  ];
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
