/**
 * checkGrads: compares reverse-mode gradients with central finite differences, in float64, on the
 * float64 reference backend (the CPU one, which init.ts registers with the engine), so rounding does
 * not mask or fake an error. The same checker the test suite uses.
 *
 * For f: (x₁..xₙ) → y it checks L(x) = Σ y ⊙ v for a fixed random cotangent v (so non-scalar
 * outputs are covered). Each input coordinate is perturbed when an input is small; otherwise the
 * check runs along `directions` random directions, comparing ⟨∇L, d⟩ with (L(x+εd) − L(x−εd)) / 2ε.
 * With `order: 2` it checks the gradient of ⟨∇L, w⟩ too (grad of grad).
 *
 * A non-finite autodiff or numeric value is always a mismatch (NaN compares false with every
 * tolerance, so it must be caught explicitly) unless `allowSameNonFinite` is set and both sides
 * are the same non-finite value. Every gradient must have its input's shape and dtype: a gradient
 * of the wrong length would otherwise turn into NaN (or pass) in the directional dot product.
 */
import { WgradError } from '../core/backend.js';
import { mulberry32 } from '../core/random/mulberry.js';
import { float64Backend, fromStorageArray, withBackend } from '../tensor/engine.js';
import { add, mul } from '../tensor/ops/elementwise.js';
import { sum } from '../tensor/ops/reduce.js';
import { dispose, tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { grad } from './transforms.js';

/** Options of `checkGrads`: the finite-difference step, the tolerances, and which coordinates and directions are checked. */
export interface CheckGradsOptions {
  /** Finite-difference step (default 1e-5). */
  eps?: number;
  /** Tolerances on |autodiff − numeric| ≤ atol + rtol·|numeric| (defaults 1e-6, 1e-4). */
  atol?: number;
  rtol?: number;
  /** Inputs with at most this many elements are checked coordinate by coordinate (default 64). */
  maxCoords?: number;
  /** Random directions for larger inputs (default 6). */
  directions?: number;
  /** 2 also checks second derivatives (default 1). */
  order?: 1 | 2;
  /** Seed of the random cotangent and directions (default 0). */
  seed?: number;
  /**
   * Accept a check where autodiff and finite differences give the same non-finite value (both NaN,
   * or the same infinity), e.g. at a pole where both blow up the same way. Off by default: any
   * other non-finite value on either side is a mismatch.
   */
  allowSameNonFinite?: boolean;
}

/** What `checkGrads` compared: the number of checks and the largest absolute and relative errors. */
export interface CheckGradsReport {
  checks: number;
  maxAbsError: number;
  maxRelError: number;
}

/** Throws a WgradError listing the worst mismatch when autodiff and finite differences disagree. */
export async function checkGrads(f: (...xs: Tensor[]) => Tensor, inputs: Tensor[], opts: CheckGradsOptions = {}): Promise<CheckGradsReport> {
  const hosts = await Promise.all(inputs.map(readAll));
  const ref = float64Backend();
  // Only synchronous steps run on the reference backend: `withBackend` must not span an await.
  const onRef = <T>(fn: () => T): T => withBackend(ref, fn);
  const shapes = inputs.map((x) => x.shape);
  const report = await checkAt(onRef, f, hosts, shapes, opts);
  if (opts.order === 2) {
    const rng = mulberry32((opts.seed ?? 0) + 7919);
    const ws = hosts.map((h) => h.map(() => rng() * 2 - 1));
    const wTensors = onRef(() => ws.map((w, i) => fromStorageArray(w as unknown as Float32Array, shapes[i], 'float32')));
    const g = (...xs: Tensor[]) => {
      const gs = grad((...ys: Tensor[]) => scalarize(f(...ys), opts.seed ?? 0), { argnums: xs.map((_, i) => i) })(...xs) as Tensor[];
      return gs.reduce((acc: Tensor | undefined, gi, i) => (acc ? add(acc, sum(mul(gi, wTensors[i]))) : sum(mul(gi, wTensors[i]))), undefined)!;
    };
    try {
      const second = await checkAt(onRef, g, hosts, shapes, opts);
      return { checks: report.checks + second.checks, maxAbsError: Math.max(report.maxAbsError, second.maxAbsError), maxRelError: Math.max(report.maxRelError, second.maxRelError) };
    } finally {
      dispose(wTensors);
    }
  }
  return report;
}

/** L = Σ f(x) ⊙ v with a deterministic pseudo-random v in [−1, 1]. */
function scalarize(y: Tensor, seed: number): Tensor {
  const rng = mulberry32(seed + 17);
  const v = Float64Array.from({ length: y.size }, () => rng() * 2 - 1);
  const vt = fromStorageArray(v as unknown as Float32Array, y.shape, 'float32');
  const out = sum(mul(y, vt));
  vt.dispose();
  return out;
}

type OnRef = <T>(fn: () => T) => T;

/** The gradient of L = Σ f(x) ⊙ v at `hosts`, each checked for its input's shape and dtype. */
async function analyticGrads(onRef: OnRef, f: (...xs: Tensor[]) => Tensor, hosts: Float64Array[], shapes: (readonly number[])[], seed: number): Promise<Float64Array[]> {
  const gs = onRef(() => tidy(() => {
    const ts = hosts.map((x, i) => fromStorageArray(x as unknown as Float32Array, shapes[i], 'float32'));
    return grad((...ys: Tensor[]) => scalarize(f(...ys), seed), { argnums: ts.map((_, i) => i) })(...ts) as Tensor[];
  }));
  try {
    gs.forEach((g, i) => {
      if (g.dtype !== 'float32' || g.shape.length !== shapes[i].length || g.shape.some((d, j) => d !== shapes[i][j])) {
        throw new WgradError('checkGrads', `the gradient of input ${i} is ${g.dtype} ${JSON.stringify(g.shape)}, expected float32 ${JSON.stringify(shapes[i])} (the input's)`);
      }
    });
    return await Promise.all(gs.map(readAll));
  } finally {
    dispose(gs);
  }
}

async function checkAt(onRef: OnRef, f: (...xs: Tensor[]) => Tensor, hosts: Float64Array[], shapes: (readonly number[])[], opts: CheckGradsOptions): Promise<CheckGradsReport> {
  const { eps = 1e-5, atol = 1e-6, rtol = 1e-4, maxCoords = 64, directions = 6, seed = 0, allowSameNonFinite = false } = opts;
  const loss = async (xs: Float64Array[]): Promise<number> => {
    const l = onRef(() => tidy(() => scalarize(f(...xs.map((x, i) => fromStorageArray(x as unknown as Float32Array, shapes[i], 'float32'))), seed)));
    try {
      return (await readAll(l))[0];
    } finally {
      l.dispose();
    }
  };
  const analytic = await analyticGrads(onRef, f, hosts, shapes, seed);
  const rng = mulberry32(seed + 1);
  let checks = 0, maxAbsError = 0, maxRelError = 0;
  let worst = '';
  for (const [i, x] of hosts.entries()) {
    const dirs: Float64Array[] = x.length <= maxCoords
      ? Array.from({ length: x.length }, (_, j) => { const d = new Float64Array(x.length); d[j] = 1; return d; })
      : Array.from({ length: directions }, () => x.map(() => rng() * 2 - 1));
    for (const d of dirs) {
      const plus = hosts.map((h, k) => (k === i ? h.map((v, j) => v + eps * d[j]) : h));
      const minus = hosts.map((h, k) => (k === i ? h.map((v, j) => v - eps * d[j]) : h));
      const numeric = ((await loss(plus)) - (await loss(minus))) / (2 * eps);
      const auto = analytic[i].reduce((s, g, j) => s + g * d[j], 0);
      checks++;
      if (!Number.isFinite(auto) || !Number.isFinite(numeric)) {
        if (allowSameNonFinite && (Object.is(auto, numeric) || (Number.isNaN(auto) && Number.isNaN(numeric)))) continue;
        maxAbsError = Infinity;
        worst ||= `input ${i} ${JSON.stringify(shapes[i])}: autodiff ${auto} vs finite differences ${numeric} (non-finite)`;
        continue;
      }
      const err = Math.abs(auto - numeric);
      const rel = err / Math.max(Math.abs(numeric), 1e-12);
      maxAbsError = Math.max(maxAbsError, err);
      if (err > atol) maxRelError = Math.max(maxRelError, rel);
      if (err > atol + rtol * Math.abs(numeric) && !worst) {
        worst = `input ${i} ${JSON.stringify(shapes[i])}: autodiff ${auto} vs finite differences ${numeric} (|error| ${err.toExponential(2)})`;
      }
    }
  }
  if (worst) throw new WgradError('checkGrads', `gradient mismatch at ${worst}`);
  return { checks, maxAbsError, maxRelError };
}

/** A tensor's values in float64 (the reference backend holds float32 tensors in float64). */
async function readAll(t: Tensor): Promise<Float64Array> {
  return Float64Array.from((await t.backend.read(t._view('checkGrads'))) as ArrayLike<number>);
}
