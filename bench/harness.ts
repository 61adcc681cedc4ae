/**
 * The benchmark harness: one row = the same work done by wgrad and by each peer (jax-js, TF.js; see
 * peers.ts), wgrad in this process, each peer in a process of its own (peer-client.ts).
 *
 * Per row and side: set up (upload inputs), `check()` once (the first run: compiles pipelines and
 * returns values that are compared with wgrad's), one warm-up `run()`, then timed runs, interleaved
 * across the sides (the order alternates every repeat, so a change of machine load hits all sides
 * alike), and the median of each side is reported. Each side gets its own number of repeats,
 * budget / its warm-up time, so that one slow peer does not cut the repeats of the fast ones.
 *
 * Timing is wall clock around `run()`, which enqueues the work and waits until the device has
 * finished it (`wg.sync()` / a peer's own sync); a side in another process times its run there and
 * returns the time (the message round trip is not counted). The ratio of a row is wgrad's
 * throughput over the fastest peer's (wall-clock medians: what a user waits for). Where the adapter
 * has `timestamp-query`, a few extra runs per WebGPU side are instrumented (gpu.ts brackets every
 * queue submit with two timestamp writes) and their median GPU busy time is reported beside the
 * wall time; these runs are kept out of the wall-clock samples (the instrumentation adds work per
 * submit).
 *
 * A side that throws (a kernel that does not exist, a device error) fails its row with the message
 * (shown as "cannot run" in the report); the suite goes on.
 */

export type Metric = 'GFLOP/s' | 'GB/s' | 'ops/s' | 'steps/s';
export type Group = 'matmul' | 'conv' | 'memory' | 'dispatch' | 'train';
export const GROUPS: Group[] = ['matmul', 'conv', 'memory', 'dispatch', 'train'];

/** Host time of one training step: the JavaScript that traces, fuses, encodes and submits it. */
export interface HostSample {
  /** Milliseconds of the step's synchronous work plus the synchronous part of the sync (the last submit). */
  hostMs: number;
  /** Milliseconds waiting for the device after that. */
  waitMs: number;
  dispatches: number;
  submits: number;
}

/** One side's implementation of a row. */
export interface SideImpl {
  /**
   * One timed iteration: enqueue the work and wait until it has finished on the device. A side in
   * another process returns the milliseconds it measured there.
   */
  run(): Promise<void | number>;
  /** Values compared with the other sides (called once, before warm-up; may advance state). */
  check(): Promise<ArrayLike<number>>;
  dispose(): void | Promise<void>;
  /** One run under the side's own GPU timer (a side in another process): wall and GPU ms. */
  spanRun?(): Promise<{ wallMs: number; gpuMs: number | null }>;
  /** One run split into host time and device wait (wgrad's training steps). */
  host?(): Promise<HostSample>;
}

/** Measures the GPU busy time of `fn` (ms) with timestamp queries, or null when unavailable. */
export type SpanTimer = (fn: () => Promise<void>) => Promise<number | null>;

export interface Side {
  /** 'wgrad', a peer id (peers.ts), or 'roofline': the run's best copy kernel, timed interleaved with the row (memory rows). */
  name: string;
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
  /** TF.js (the same code on its WebGPU and Wasm backends). */
  tfjs?: () => Promise<SideImpl>;
  /** jax-js (the same code on WebGPU and Wasm, eager or under `jit`). */
  jax?: () => Promise<SideImpl>;
  /** Why a peer cannot run this row at all (it is not attempted; the report says so). */
  cannot?: Record<string, string>;
}

export interface SideResult {
  ok: boolean;
  error?: string;
  /** The side cannot run this row at all (RowSpec.cannot; `error` says why); it was not attempted. */
  cannot?: boolean;
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
  /** Timed repeats of this side. */
  repeats?: number;
  /** The cross-check against the reference side (wgrad, or the first side that ran). */
  check?: { status: 'ok' | 'FAIL'; relErr: number; detail?: string };
}

/** Host-time samples of wgrad's training steps (medians). */
export interface HostResult {
  hostMs: number;
  waitMs: number;
  dispatches: number;
  submits: number;
  usPerDispatch: number;
  samples: number;
}

export interface RowResult extends Pick<RowSpec, 'group' | 'id' | 'name' | 'shape' | 'metric' | 'work' | 'batch' | 'note' | 'gemm'> {
  /** The most timed repeats of any side. */
  repeats: number;
  /** GPU time measured in the wall-clock runs themselves (slow rows) rather than in extra runs. */
  gpuTimeFromWallRuns?: boolean;
  wgrad: SideResult;
  /** Each peer's result, by peer id (peers.ts); a peer that was not run is absent. */
  peers: Record<string, SideResult>;
  /** The copy kernel timed between this row's repeats (memory rows; GB/s of the copy). */
  rooflineSide?: SideResult;
  /** The fastest peer (wall clock) and its throughput. */
  best?: { peer: string; value: number; gpuMs?: number };
  /** wgrad / the fastest peer's throughput (wall clock). */
  ratio?: number;
  /** wgrad / the fastest peer's throughput from the GPU busy times (both WebGPU sides timed). */
  gpuRatio?: number;
  /** The worst cross-check of the row (each side's own is in its SideResult). */
  check: { status: 'ok' | 'FAIL' | 'n/a'; relErr?: number; tol: number; detail?: string };
  /** wgrad's host time per step (training rows on WebGPU). */
  host?: HostResult;
  /** CPU ceiling (PyTorch / OpenBLAS) in the row's metric, where measured. */
  ceiling?: { name: string; value: number; ratio?: number };
  /** Memory-bound rows: the run's roofline (best copy kernel, GB/s) and each side's fraction of it. */
  roofline?: { gbps: number; wgrad?: number; peers: Record<string, number> };
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
  /** Host-time samples per training step (sides with `host()`; 0: none). */
  hostRepeats?: number;
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
  repeats: number;
  samples: number[];
  spans: number[];
}

/** Wall milliseconds of `fn`, or the milliseconds it returns (a side that timed itself elsewhere). */
async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  const r = await fn();
  return typeof r === 'number' ? r : performance.now() - t0;
}

/** Set-up, check and one warm-up run of one side; a failure is recorded on the side. */
async function prepare(l: Live, spec: RowSpec, opts: HarnessOptions): Promise<void> {
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
    try { await l.impl?.dispose(); } catch { /* ignore */ }
    l.impl = undefined;
  }
  l.result.firstMs = performance.now() - t0;
}

/** Timed repeats of a side: budget / its warm-up time, clamped (very slow sides: at least one). */
function repeatsOf(l: Live, spec: RowSpec, opts: HarnessOptions): number {
  if (!l.result.ok) return 0;
  const warm = Math.max(1e-3, l.warmMs!);
  const cap = Math.min(opts.maxRepeats, spec.maxRepeats ?? Infinity);
  const floor = warm > 10_000 ? 1 : warm > 4000 ? Math.min(2, opts.minRepeats) : opts.minRepeats;
  return Math.max(floor, Math.min(cap, Math.round((opts.budgetS * 1000) / warm)));
}

const canSpan = (l: Live) => !!(l.side.span || l.impl?.spanRun);

/** One run of a side: wall clock, GPU-timed, or both (slow rows). */
async function runOnce(l: Live, r: number, mode: 'wall' | 'gpu' | 'both', log: (s: string) => void): Promise<void> {
  if (!l.result.ok) return;
  try {
    if (mode !== 'wall' && canSpan(l)) {
      let wall = 0;
      let span: number | null;
      if (l.impl!.spanRun) ({ wallMs: wall, gpuMs: span } = await l.impl!.spanRun());
      else span = await l.side.span!(async () => { wall = await timed(() => l.impl!.run()); });
      if (span !== null) l.spans.push(span);
      if (mode === 'both') l.samples.push(wall);
    } else if (mode !== 'gpu') {
      l.samples.push(await timed(() => l.impl!.run()));
    }
  } catch (e) {
    l.result.ok = false;
    l.result.error = `during ${mode === 'gpu' ? 'GPU-timed ' : ''}repeat ${r + 1}: ${errText(e)}`;
    log(`    ${l.side.name}: FAILED ${l.result.error}`);
  }
}

/** Runs one row on the given sides (wgrad first when present: it is the cross-check's reference). */
export async function runRow(spec: RowSpec, sides: Side[], opts: HarnessOptions): Promise<RowResult> {
  const lives: Live[] = sides.map((side) => ({ side, result: { ok: false }, repeats: 0, samples: [], spans: [] }));
  for (const l of lives) await prepare(l, spec, opts);
  const ok = lives.filter((l) => l.result.ok);
  for (const l of ok) l.repeats = l.result.repeats = repeatsOf(l, spec, opts);
  const repeats = Math.max(0, ...ok.map((l) => l.repeats));
  const slowest = Math.max(1e-3, ...ok.map((l) => l.warmMs!));

  // Slow rows (seconds per iteration): the wall-clock runs themselves are instrumented with
  // timestamp queries (the added work per submit is far below 1 % there) instead of extra runs.
  const instrumentWall = slowest > opts.instrumentAboveMs;
  // Wall-clock repeats, interleaved; the order alternates.
  for (let r = 0; r < repeats; r++) {
    for (const l of r % 2 === 0 ? ok : [...ok].reverse()) {
      if (r < l.repeats) await runOnce(l, r, instrumentWall ? 'both' : 'wall', opts.log);
    }
  }
  // Otherwise separate runs are instrumented with timestamp queries (they add a little work per
  // submit, which matters for fast rows, so they are kept out of the wall-clock samples).
  const timedSides = ok.filter((l) => l.result.ok && canSpan(l));
  const gpuRepeats = timedSides.length && !instrumentWall ? Math.max(1, Math.min(opts.gpuRepeats, repeats, Math.round((opts.budgetS * 250) / slowest))) : 0;
  for (let r = 0; r < gpuRepeats; r++) {
    for (const l of r % 2 === 0 ? timedSides : [...timedSides].reverse()) await runOnce(l, r, 'gpu', opts.log);
  }
  const host = await hostSamples(ok, opts);
  for (const l of lives) {
    try { await l.impl?.dispose(); } catch { /* ignore */ }
    finish(l, spec);
  }
  return rowResult(spec, lives, repeats, instrumentWall && timedSides.length > 0, host);
}

/** Host-time samples of the sides that can split a run into host and device time (medians). */
async function hostSamples(ok: Live[], opts: HarnessOptions): Promise<HostResult | undefined> {
  const l = ok.find((x) => x.result.ok && x.impl?.host);
  if (!l || !opts.hostRepeats) return undefined;
  const xs: HostSample[] = [];
  try {
    for (let i = 0; i < opts.hostRepeats; i++) xs.push(await l.impl!.host!());
  } catch (e) {
    opts.log(`    ${l.side.name}: host-time sample failed: ${errText(e)}`);
    return undefined;
  }
  const m = (f: (s: HostSample) => number) => median(xs.map(f));
  const hostMs = m((s) => s.hostMs), dispatches = m((s) => s.dispatches);
  return { hostMs, waitMs: m((s) => s.waitMs), dispatches, submits: m((s) => s.submits), usPerDispatch: dispatches ? (1000 * hostMs) / dispatches : NaN, samples: xs.length };
}

/** A side's medians and throughput from its samples. */
function finish(l: Live, spec: RowSpec): void {
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

/** The row's result: every side, the fastest peer, wgrad's ratio to it, and the cross-checks. */
function rowResult(spec: RowSpec, lives: Live[], repeats: number, gpuTimeFromWallRuns: boolean, host: HostResult | undefined): RowResult {
  const w = lives.find((l) => l.side.name === 'wgrad');
  const rf = lives.find((l) => l.side.name === 'roofline');
  const peerLives = lives.filter((l) => l !== w && l !== rf);
  const res: RowResult = {
    group: spec.group, id: spec.id, name: spec.name, shape: spec.shape, metric: spec.metric, work: spec.work,
    batch: spec.batch, note: spec.note, gemm: spec.gemm, repeats, gpuTimeFromWallRuns,
    wgrad: w?.result ?? { ok: false, error: 'not run' },
    peers: Object.fromEntries(peerLives.map((l) => [l.side.name, l.result])), rooflineSide: rf?.result,
    check: { status: 'n/a', tol: spec.tol }, host,
  };
  for (const l of peerLives) {
    if (l.result.value !== undefined && (!res.best || l.result.value > res.best.value)) res.best = { peer: l.side.name, value: l.result.value, gpuMs: l.result.gpuMs };
  }
  if (res.wgrad.value && res.best) res.ratio = res.wgrad.value / res.best.value;
  if (res.wgrad.gpuMs && res.best?.gpuMs) res.gpuRatio = res.best.gpuMs / res.wgrad.gpuMs;
  crossCheck(spec, w?.checkValues ? w : peerLives.find((l) => l.checkValues), peerLives, res);
  return res;
}

/** Compares every side's check values with the reference side's; the row's check is the worst. */
function crossCheck(spec: RowSpec, ref: Live | undefined, peers: Live[], res: RowResult): void {
  if (!ref?.checkValues) return;
  const fmtVals = (v: ArrayLike<number>) => Array.from(v, (x) => x.toPrecision(6)).join(', ');
  for (const l of peers) {
    if (l === ref || !l.checkValues) continue;
    const err = relError(l.checkValues, ref.checkValues);
    l.result.check = { status: err <= spec.tol ? 'ok' : 'FAIL', relErr: err };
    if (ref.checkValues.length <= 4) l.result.check.detail = fmtVals(l.checkValues);
    // One tolerance for the row: the largest error is the worst check.
    if (res.check.relErr === undefined || err > res.check.relErr) res.check = { status: l.result.check.status, relErr: err, tol: spec.tol };
  }
  if (res.check.status !== 'n/a' && ref.checkValues.length <= 4) {
    const parts = [`${ref.side.name} ${fmtVals(ref.checkValues)}`, ...peers.filter((l) => l.result.check?.detail).map((l) => `${l.side.name} ${l.result.check!.detail}`)];
    res.check.detail = parts.join('; ');
  }
}
