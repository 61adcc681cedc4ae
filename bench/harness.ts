/**
 * The benchmark harness: one row = the same work done by wgrad and by TensorFlow.js (WebGPU backend)
 * on the same adapter, in one process.
 *
 * Per row and side: set up (upload inputs), `check()` once (the first run: compiles pipelines and
 * returns values that are compared between the two sides), one warm-up `run()`, then `repeats`
 * timed runs, interleaved wgrad / TF.js (the order alternates every repeat, so a change of machine
 * load hits both sides alike), and the median of each side is reported.
 *
 * Timing is wall clock around `run()`, which enqueues the work and waits until the device has
 * finished it (`wg.sync()` / TF.js: submit + `queue.onSubmittedWorkDone()`); the ratio of a row is
 * the ratio of the wall-clock medians (what a user waits for). Where the adapter has
 * `timestamp-query`, a few extra runs per side are instrumented (gpu.ts brackets every queue submit
 * with two timestamp writes) and their median GPU busy time is reported beside the wall time; these
 * runs are kept out of the wall-clock samples because the instrumentation adds work per submit.
 *
 * A side that throws (a kernel that does not exist yet, a device error) fails its row; the suite
 * goes on.
 */

export type Metric = 'GFLOP/s' | 'GB/s' | 'ops/s' | 'steps/s';
export type Group = 'matmul' | 'conv' | 'memory' | 'dispatch' | 'train';
export const GROUPS: Group[] = ['matmul', 'conv', 'memory', 'dispatch', 'train'];

/** One side's implementation of a row. */
export interface SideImpl {
  /** One timed iteration: enqueue the work and wait until it has finished on the device. */
  run(): Promise<void>;
  /** Values compared with the other side (called once, before warm-up; may advance state). */
  check(): Promise<ArrayLike<number>>;
  dispose(): void;
}

/** Measures the GPU busy time of `fn` (ms) with timestamp queries, or null when unavailable. */
export type SpanTimer = (fn: () => Promise<void>) => Promise<number | null>;

export interface Side {
  /** 'roofline': the run's best copy kernel, timed interleaved with the row (memory rows). */
  name: 'wgrad' | 'tfjs' | 'roofline';
  /** Units of work per iteration when not the row's (the roofline side moves its own bytes). */
  work?: number;
  /** Builds the row's implementation on this side. */
  make: () => Promise<SideImpl>;
  /** Brackets a run with timestamp queries on this side's device (null: wall time only). */
  span?: SpanTimer;
}

export interface RowSpec {
  group: Group;
  /** Stable id, also used to match the CPU ceilings (e.g. 'train.cnn'). */
  id: string;
  name: string;
  shape: string;
  metric: Metric;
  /** Units of work per iteration: FLOPs (GFLOP/s), bytes (GB/s), ops (ops/s) or steps (steps/s). */
  work: number;
  /** Relative tolerance of the cross-check: max|a − b| / max|b| over the check values. */
  tol: number;
  /** Images per step (training rows), to print images/s. */
  batch?: number;
  /** Upper bound on timed repeats for this row (slow rows). */
  maxRepeats?: number;
  /** `check()` does this many iterations (training rows: 2 steps); it then also serves as the
   *  warm-up, and the warm-up time is its time divided by this. */
  checkRuns?: number;
  note?: string;
  /** GEMM rows: batch, M, K, N (the CPU ceiling runs the same product in numpy). */
  gemm?: [number, number, number, number];
  wgrad?: () => Promise<SideImpl>;
  tfjs?: () => Promise<SideImpl>;
}

export interface SideResult {
  ok: boolean;
  error?: string;
  /** Median wall time of one iteration, ms. */
  ms?: number;
  /** All timed wall times, ms. */
  samples?: number[];
  /** Median GPU busy time of one iteration (timestamp queries), ms. */
  gpuMs?: number;
  /** Throughput in the row's metric (from the wall-clock median). */
  value?: number;
  /** Setup + check + warm-up time, ms. */
  firstMs?: number;
}

export interface RowResult extends Pick<RowSpec, 'group' | 'id' | 'name' | 'shape' | 'metric' | 'work' | 'batch' | 'note' | 'gemm'> {
  repeats: number;
  /** GPU time measured in the wall-clock runs themselves (slow rows) rather than in extra runs. */
  gpuTimeFromWallRuns?: boolean;
  wgrad: SideResult;
  tfjs: SideResult;
  /** The copy kernel timed between this row's repeats (memory rows; GB/s of the copy). */
  rooflineSide?: SideResult;
  /** wgrad / TF.js throughput (wall clock). */
  ratio?: number;
  /** wgrad / TF.js throughput from the GPU busy times. */
  gpuRatio?: number;
  check: { status: 'ok' | 'FAIL' | 'n/a'; relErr?: number; tol: number; detail?: string };
  /** CPU ceiling (PyTorch / OpenBLAS) in the row's metric, where measured. */
  ceiling?: { name: string; value: number; ratio?: number };
  /** Memory-bound rows: the run's roofline (best copy kernel, GB/s) and wgrad's / TF.js's fraction of it. */
  roofline?: { gbps: number; wgrad?: number; tfjs?: number };
}

export interface HarnessOptions {
  /** Target seconds of timed work per side per row; repeats = clamp(budget / warm-up time). */
  budgetS: number;
  minRepeats: number;
  maxRepeats: number;
  /** Extra runs timed with timestamp queries (at most). */
  gpuRepeats: number;
  /** Above this warm-up time (ms), the wall-clock runs are instrumented instead of extra runs. */
  instrumentAboveMs: number;
  log: (line: string) => void;
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Throughput in the metric's unit for `work` units done in `ms` milliseconds. */
export function throughput(metric: Metric, work: number, ms: number): number {
  const perS = work / (ms / 1000);
  return metric === 'GFLOP/s' || metric === 'GB/s' ? perS / 1e9 : perS;
}

/** max|a − b| / max|b| (b is the reference); Infinity on length mismatch or non-finite values. */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!Number.isFinite(a[i]) || !Number.isFinite(b[i])) return Infinity;
    if (d > num) num = d;
    if (Math.abs(b[i]) > den) den = Math.abs(b[i]);
  }
  return num / Math.max(den, 1e-30);
}

const errText = (e: unknown): string => {
  const s = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return s.split('\n')[0].slice(0, 300);
};

interface Live {
  side: Side;
  impl?: SideImpl;
  result: SideResult;
  checkValues?: ArrayLike<number>;
  warmMs?: number;
  samples: number[];
  spans: number[];
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** Runs one row on the given sides (wgrad first, TF.js second when both are present). */
export async function runRow(spec: RowSpec, sides: Side[], opts: HarnessOptions): Promise<RowResult> {
  const lives: Live[] = sides.map((side) => ({ side, result: { ok: false }, samples: [], spans: [] }));
  // Set-up, check and one warm-up run, side by side.
  for (const l of lives) {
    const t0 = performance.now();
    try {
      l.impl = await l.side.make();
      const checkMs = await timed(async () => (l.checkValues = await l.impl!.check()));
      // A check of several iterations is a warm-up too; one more run is timed when that is cheap
      // (the check's time includes pipeline compilation, which would understate the repeats).
      const perRun = spec.checkRuns ? checkMs / spec.checkRuns : Infinity;
      l.warmMs = perRun > 5 * opts.instrumentAboveMs && Number.isFinite(perRun) ? perRun : await timed(() => l.impl!.run());
      l.result.ok = true;
    } catch (e) {
      l.result.error = errText(e);
      opts.log(`    ${l.side.name}: FAILED ${l.result.error}`);
      try { l.impl?.dispose(); } catch { /* ignore */ }
      l.impl = undefined;
    }
    l.result.firstMs = performance.now() - t0;
  }
  const ok = lives.filter((l) => l.result.ok);
  const slowest = Math.max(1e-3, ...ok.map((l) => l.warmMs!));
  const cap = Math.min(opts.maxRepeats, spec.maxRepeats ?? Infinity);
  // Very slow rows (seconds per iteration) get at least 2 repeats instead of minRepeats.
  const floor = slowest > 4000 ? Math.min(2, opts.minRepeats) : opts.minRepeats;
  const repeats = ok.length ? Math.max(floor, Math.min(cap, Math.round((opts.budgetS * 1000) / slowest))) : 0;

  // Slow rows (seconds per iteration): the wall-clock runs themselves are instrumented with
  // timestamp queries (the added work per submit is far below 1 % there) instead of extra runs.
  const instrumentWall = slowest > opts.instrumentAboveMs;
  const runOnce = async (l: Live, r: number, mode: 'wall' | 'gpu' | 'both') => {
    if (!l.result.ok) return;
    try {
      if (mode !== 'wall' && l.side.span) {
        let wall = 0;
        const span = await l.side.span(async () => {
          wall = await timed(() => l.impl!.run());
        });
        if (span !== null) l.spans.push(span);
        if (mode === 'both') l.samples.push(wall);
      } else if (mode !== 'gpu') {
        l.samples.push(await timed(() => l.impl!.run()));
      }
    } catch (e) {
      l.result.ok = false;
      l.result.error = `during ${mode === 'gpu' ? 'GPU-timed ' : ''}repeat ${r + 1}: ${errText(e)}`;
      opts.log(`    ${l.side.name}: FAILED ${l.result.error}`);
    }
  };
  // Wall-clock repeats, interleaved; the order alternates.
  for (let r = 0; r < repeats; r++) {
    for (const l of r % 2 === 0 ? ok : [...ok].reverse()) await runOnce(l, r, instrumentWall ? 'both' : 'wall');
  }
  // Otherwise separate runs are instrumented with timestamp queries (they add a little work per
  // submit, which matters for fast rows, so they are kept out of the wall-clock samples).
  const timedSides = ok.filter((l) => l.side.span);
  const gpuRepeats = timedSides.length && !instrumentWall ? Math.max(1, Math.min(opts.gpuRepeats, repeats, Math.round((opts.budgetS * 250) / slowest))) : 0;
  for (let r = 0; r < gpuRepeats; r++) {
    for (const l of r % 2 === 0 ? timedSides : [...timedSides].reverse()) await runOnce(l, r, 'gpu');
  }
  for (const l of lives) {
    try { l.impl?.dispose(); } catch { /* ignore */ }
    if (l.result.ok && l.samples.length) {
      l.result.samples = l.samples.map((x) => +x.toFixed(3));
      l.result.ms = median(l.samples);
      l.result.value = throughput(spec.metric, l.side.work ?? spec.work, l.result.ms);
      if (l.spans.length) l.result.gpuMs = median(l.spans);
    } else if (l.result.ok) {
      l.result.ok = false;
      l.result.error = 'no timed repeat';
    }
  }
  const get = (name: Side['name']) => lives.find((l) => l.side.name === name);
  const w = get('wgrad'), t = get('tfjs'), rf = get('roofline');
  const none: SideResult = { ok: false, error: 'not run' };
  const res: RowResult = {
    group: spec.group, id: spec.id, name: spec.name, shape: spec.shape, metric: spec.metric, work: spec.work,
    batch: spec.batch, note: spec.note, gemm: spec.gemm, repeats, gpuTimeFromWallRuns: instrumentWall && timedSides.length > 0,
    wgrad: w?.result ?? none, tfjs: t?.result ?? none, rooflineSide: rf?.result,
    check: { status: 'n/a', tol: spec.tol },
  };
  if (res.wgrad.value && res.tfjs.value) res.ratio = res.wgrad.value / res.tfjs.value;
  if (res.wgrad.gpuMs && res.tfjs.gpuMs) res.gpuRatio = res.tfjs.gpuMs / res.wgrad.gpuMs;
  if (w?.checkValues && t?.checkValues) {
    const err = relError(w.checkValues, t.checkValues);
    res.check = { status: err <= spec.tol ? 'ok' : 'FAIL', relErr: err, tol: spec.tol };
    if (w.checkValues.length <= 4) {
      res.check.detail = `wgrad ${Array.from(w.checkValues, (x) => x.toPrecision(6)).join(', ')}; tfjs ${Array.from(t.checkValues, (x) => x.toPrecision(6)).join(', ')}`;
    }
  }
  return res;
}
