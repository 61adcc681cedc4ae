/**
 * wgrad vs TensorFlow.js (WebGPU backend), side by side, in one process on one adapter.
 *
 *   npm run bench                      # the full suite (≈ 10 min on a 2-core lavapipe machine)
 *   npm run bench -- --quick           # smaller shapes, fewer repeats (≈ 3 min)
 *   npm run bench -- --groups matmul,train --only cnn
 *
 * Options:
 *   --quick                 smaller shapes and fewer repeats; writes bench/results/latest-quick.*
 *   --groups a,b            any of matmul, conv, memory, dispatch, train (default: all)
 *   --only text             only rows whose id or name contains one of the comma-separated texts
 *   --no-tfjs / --no-wgrad  leave one side out (its column stays empty)
 *   --no-ceiling            skip the CPU ceilings (numpy sgemm, PyTorch training steps)
 *   --no-gpu-time           skip the extra runs timed with timestamp queries
 *   --wgrad-backend cpu     run wgrad on its CPU reference backend (to test the suite itself)
 *   --budget S              seconds of timed work per side per row (default 8, quick 3)
 *   --repeats N             most timed repeats per row (default 15, quick 5)
 *   --out DIR --name BASE   where to write BASE.md, BASE.json, BASE.svg (default bench/results, latest)
 *   --disable-robustness    create the Dawn GPU object with `enable-dawn-features=disable_robustness`
 *                           (both libraries; bounds clamps off, see README); default: robustness on
 *   --no-roofline           skip the roofline measurement (copy-kernel sweep + host memcpy)
 *
 * Outputs the markdown table (also printed), JSON with every sample, and an SVG chart of ratios.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GROUPS, type Group, type RowResult, type RowSpec, type Side, runRow } from './harness.js';
import { dawnFlags, gpuTimer, setDawnFlags, startTfjs, startWgrad } from './gpu.js';
import { copySide, measureRoofline, shapeName, type Roofline } from './roofline.js';
import { reduceShapesFor } from '../src/kernels/tuning.js';
import { markdown, svgChart, type RunInfo } from './report.js';
import type { Ctx } from './suite/context.js';
import { convRows, dispatchRows, matmulRows, memoryRows } from './suite/ops.js';
import { torchTasks, trainRows } from './suite/train.js';

const here = path.dirname(fileURLToPath(import.meta.url));

function parseArgs(argv: string[]) {
  const a = {
    quick: false, groups: [...GROUPS] as Group[], only: [] as string[], tfjs: true, wgrad: true, ceiling: true,
    gpuTime: true, wgradBackend: 'webgpu' as 'webgpu' | 'cpu', budget: NaN, repeats: NaN,
    out: path.join(here, 'results'), name: '', disableRobustness: false, roofline: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${k} needs a value`);
      return v;
    };
    switch (k) {
      case '--quick': a.quick = true; break;
      case '--groups': case '--group': {
        const gs = val().split(',').map((s) => s.trim()).filter(Boolean);
        for (const g of gs) if (!GROUPS.includes(g as Group)) throw new Error(`unknown group "${g}"; groups: ${GROUPS.join(', ')}`);
        a.groups = gs as Group[];
        break;
      }
      case '--only': a.only = val().split(',').map((s) => s.trim().toLowerCase()).filter(Boolean); break;
      case '--no-tfjs': a.tfjs = false; break;
      case '--no-wgrad': a.wgrad = false; break;
      case '--no-ceiling': a.ceiling = false; break;
      case '--no-gpu-time': a.gpuTime = false; break;
      case '--wgrad-backend': a.wgradBackend = val() as 'webgpu' | 'cpu'; break;
      case '--budget': a.budget = Number(val()); break;
      case '--repeats': a.repeats = Number(val()); break;
      case '--out': a.out = path.resolve(val()); break;
      case '--name': a.name = val(); break;
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

function readHelp(): string {
  return 'npm run bench -- [--quick] [--groups matmul,conv,memory,dispatch,train] [--only text] [--no-tfjs] [--no-wgrad] [--no-ceiling] [--no-gpu-time] [--wgrad-backend cpu] [--budget S] [--repeats N] [--out DIR] [--name BASE] [--disable-robustness] [--no-roofline]';
}

const errText = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0].slice(0, 300);

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: here, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '?';
  }
}

/** The first Python interpreter that can import `module` (Debian's first). */
function pythonWith(module: string): string | undefined {
  for (const py of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(py, ['-c', `import ${module}`], { stdio: 'ignore', timeout: 60_000 });
    if (r.status === 0) return py;
  }
  return undefined;
}

function runPython(py: string, script: string, args: string[], timeoutMs: number): unknown {
  const r = spawnSync(py, [path.join(here, 'ceiling', script), ...args], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`${script} failed (${r.signal ?? r.status}): ${(r.stderr || '').trim().split('\n').slice(-1)[0] ?? ''}`);
  return JSON.parse(r.stdout.trim().split('\n').slice(-1)[0]);
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

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const t0 = performance.now();
  const log = (s: string) => console.error(s);
  const loadBefore = os.loadavg();
  const ctx: Ctx = { quick: args.quick };
  const notes: string[] = [];
  if (args.disableRobustness) setDawnFlags(['enable-dawn-features=disable_robustness']);

  // Start both libraries on the shared Dawn GPU object.
  let adapter = '?';
  let wgDevice: GPUDevice | undefined, tfDevice: GPUDevice | undefined;
  let tfjsName = 'not run';
  if (args.tfjs) {
    try {
      const h = await startTfjs();
      ctx.tf = h;
      tfDevice = h.device;
      tfjsName = `@tensorflow/tfjs ${h.version} with @tensorflow/tfjs-backend-webgpu (navigator.gpu = Dawn from the webgpu package)`;
      if (h.adapter) adapter = h.adapter;
    } catch (e) {
      ctx.tfError = errText(e);
      log(`TF.js: not available: ${ctx.tfError}`);
    }
  } else ctx.tfError = 'left out (--no-tfjs)';
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
  const tfSpan = args.gpuTime ? await gpuTimer(tfDevice) : undefined;
  const timing = `wall clock around each iteration, ended by a device sync (wgrad: wg.sync(); TF.js: submit + queue.onSubmittedWorkDone()); ` +
    (wgSpan || tfSpan
      ? `GPU busy time from timestamp queries (every queue submit bracketed by two timestamp writes; Dawn's timestamp quantization off), in a few extra runs, or for rows slower than 2 s per iteration in the timed runs themselves`
      : 'no timestamp queries (adapter lacks timestamp-query, or --no-gpu-time)');

  const builders: Record<Group, (c: Ctx) => RowSpec[]> = { matmul: matmulRows, conv: convRows, memory: memoryRows, dispatch: dispatchRows, train: trainRows };
  let specs = args.groups.flatMap((g) => builders[g](ctx));
  if (args.only.length) specs = specs.filter((s) => args.only.some((o) => s.id.toLowerCase().includes(o) || s.name.toLowerCase().includes(o)));

  const opts = {
    budgetS: Number.isFinite(args.budget) ? args.budget : args.quick ? 3 : 8,
    minRepeats: args.quick ? 2 : 3,
    maxRepeats: Number.isFinite(args.repeats) ? args.repeats : args.quick ? 5 : 15,
    gpuRepeats: args.quick ? 2 : 3,
    instrumentAboveMs: 2000,
    log,
  };
  log(`wgrad vs TF.js — ${args.quick ? 'quick' : 'full'} run, ${specs.length} rows; adapter: ${adapter}`);
  const results: RowResult[] = [];
  let roofline: RunInfo['roofline'];
  for (const spec of specs) {
    // The roofline is measured on wgrad's device right before the first memory-bound row.
    if (spec.group === 'memory' && !roofline && args.roofline && wgDevice) roofline = await rooflineOf(wgDevice, args.quick, log);
    log(`[${spec.group}] ${spec.name} — ${spec.shape}`);
    const sides: Side[] = [];
    if (spec.wgrad) sides.push({ name: 'wgrad', make: spec.wgrad, span: wgSpan });
    if (spec.tfjs) sides.push({ name: 'tfjs', make: spec.tfjs, span: tfSpan });
    if (spec.group === 'memory' && roofline && !('error' in roofline) && wgDevice) {
      const rf = roofline, dev = wgDevice;
      sides.push({ name: 'roofline', make: () => copySide(dev, rf.n, rf.best), work: 8 * rf.n });
    }
    let r: RowResult;
    try {
      r = await runRow(spec, sides, opts);
    } catch (e) {
      // The harness catches per side; this is a last resort so that one row never ends the suite.
      const err = { ok: false, error: errText(e) };
      r = { group: spec.group, id: spec.id, name: spec.name, shape: spec.shape, metric: spec.metric, work: spec.work, repeats: 0, wgrad: err, tfjs: err, check: { status: 'n/a', tol: spec.tol } };
    }
    results.push(r);
    const v = (s: RowResult['wgrad']) => (s.ok ? `${s.value!.toPrecision(4)} ${spec.metric} (${s.ms!.toPrecision(4)} ms${s.gpuMs !== undefined ? `, GPU ${s.gpuMs.toPrecision(4)} ms` : ''})` : 'failed');
    log(`    wgrad ${v(r.wgrad)} | TF.js ${v(r.tfjs)} | ratio ${r.ratio?.toFixed(2) ?? '—'} | check ${r.check.status}${r.check.relErr !== undefined ? ` ${r.check.relErr.toExponential(1)}` : ''} | ${r.repeats} reps${r.rooflineSide?.value ? ` | copy ${r.rooflineSide.value.toPrecision(3)} GB/s` : ''}`);
  }

  // CPU ceilings, in subprocesses, after the GPU rows.
  const ceilings: RunInfo['ceilings'] = {};
  if (args.ceiling) {
    const gemmKey = (r: RowResult) => (r.gemm ? (r.gemm[0] === 1 && r.gemm[1] === r.gemm[2] && r.gemm[2] === r.gemm[3] ? `${r.gemm[1]}` : r.gemm.join('x')) : undefined);
    const squares = [...new Set(results.map(gemmKey).filter((k): k is string => k !== undefined))];
    if (squares.length) {
      const py = pythonWith('numpy');
      if (!py) ceilings.numpy = { error: 'no python3 with numpy (Debian: apt-get install python3-numpy libopenblas0-pthread)' };
      else {
        try {
          log(`CPU ceiling: numpy sgemm ${squares.join(', ')} (${py})`);
          ceilings.numpy = runPython(py, 'numpy_sgemm.py', squares, 300_000) as RunInfo['ceilings']['numpy'];
        } catch (e) {
          ceilings.numpy = { error: errText(e) };
        }
      }
    }
    const tasks = torchTasks(ctx).filter((t) => results.some((r) => r.id === t.id));
    if (tasks.length) {
      const py = pythonWith('torch');
      if (!py) ceilings.torch = { error: 'no python3 with torch (Debian: apt-get install python3-torch)' };
      else {
        try {
          log(`CPU ceiling: PyTorch training steps ${tasks.map((t) => t.id).join(', ')} (${py})`);
          ceilings.torch = runPython(py, 'torch_steps.py', [JSON.stringify(tasks), args.quick ? '1.5' : '3'], 600_000) as RunInfo['ceilings']['torch'];
        } catch (e) {
          ceilings.torch = { error: errText(e) };
        }
      }
    }
    ceilings.loadDuring = os.loadavg();
    const np = ceilings.numpy, th = ceilings.torch;
    for (const r of results) {
      let c: { name: string; value: number } | undefined;
      const gk = gemmKey(r);
      if (np && 'results' in np && gk) {
        const e = np.results[gk];
        if (e) c = { name: 'numpy sgemm', value: e.gflops };
      }
      if (th && 'results' in th && r.group === 'train') {
        const e = th.results[r.id];
        if (e?.steps_per_s) c = { name: 'PyTorch CPU', value: e.steps_per_s };
      }
      if (c) r.ceiling = { ...c, ratio: r.wgrad.value ? r.wgrad.value / c.value : undefined };
    }
  }

  for (const r of results) {
    if (r.group !== 'memory' || !roofline || 'error' in roofline) continue;
    // The copy timed between this row's own repeats; the sweep's best where that failed.
    const g = r.rooflineSide?.value ?? roofline.best.gbps;
    r.roofline = { gbps: g, wgrad: r.wgrad.value !== undefined ? r.wgrad.value / g : undefined, tfjs: r.tfjs.value !== undefined ? r.tfjs.value / g : undefined };
  }
  if (ctx.tf) notes.push('TF.js runs in Node on Dawn: `navigator.gpu` is set to the `webgpu` package\'s GPU object (and its GPUBufferUsage/GPUMapMode/... globals installed) before `@tensorflow/tfjs-backend-webgpu` is imported; `tf.setBackend(\'webgpu\')` then works unchanged. The umbrella `@tensorflow/tfjs` is imported because tfjs-core\'s Node bundle lacks the gradient functions. The tiny-op row turns TF.js\'s WEBGPU_CPU_FORWARD off so that its ops run on the GPU.');
  notes.push('Each library runs in its native layout (wgrad NCHW / OIHW, TF.js NHWC / HWIO) on the same numbers; TF.js results are converted on the host for the cross-check.');
  notes.push('Repeats: after one cross-check run and one warm-up run per side (training rows: the two cross-check steps are the warm-up), repeats = clamp(budget / slower side\'s warm-up time, at least 2–3); slow rows (large matmuls, training steps) get fewer repeats, shown per row.');
  notes.push('The machine is shared: other processes may load its 2 cores (load averages above). Interleaving wgrad and TF.js repeats makes the ratio robust to slow changes of load; absolute numbers are not.');

  const info: RunInfo = {
    date: new Date().toISOString(), mode: args.quick ? 'quick' : 'full',
    command: `npm run bench --${process.argv.slice(2).length ? ' ' + process.argv.slice(2).join(' ') : ''}`.replace(/ --$/, ''),
    node: process.version, cpu: os.cpus()[0]?.model ?? '?', cores: os.cpus().length,
    loadBefore, loadAfter: os.loadavg(), adapter, wgradBackend: wgradName, wgradError: ctx.wgError,
    tfjs: tfjsName, tfjsError: ctx.tfError, timing,
    gitCommit: `${git(['rev-parse', '--short', 'HEAD'])}${git(['status', '--porcelain', '--untracked-files=no']) ? ' (+ uncommitted changes)' : ''}`,
    durationS: (performance.now() - t0) / 1000, ceilings, notes, dawnFlags: dawnFlags(), roofline,
  };
  mkdirSync(args.out, { recursive: true });
  const md = markdown(results, info, args.name);
  writeFileSync(path.join(args.out, `${args.name}.md`), md);
  writeFileSync(path.join(args.out, `${args.name}.json`), JSON.stringify({ info, rows: results }, null, 1) + '\n');
  writeFileSync(path.join(args.out, `${args.name}.svg`), svgChart(results, info));
  console.log(md);
  log(`wrote ${path.join(args.out, args.name)}.{md,json,svg} in ${info.durationS.toFixed(0)} s`);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
