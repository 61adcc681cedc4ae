/**
 * Neural-network functions composed from primitives: activations, numerically stable softmax
 * family, normalization, similarity, pooling. Each is differentiable because its parts are.
 */
import { WgradError } from '../../core/backend.js';
import { checkInt, fmtShape, fmtValue, normAxis } from '../../core/shape.js';
import { checkTensor, type Tensor } from '../tensor.js';
import { tidy } from '../scope.js';
import { constant } from './creation.js';
import {
  abs, add, div, exp, greater, less, lessEqual, log, log1p, maximum, mul, neg, rsqrt, sub, tanh, where,
} from './elementwise.js';
import { conv2d, type Conv2dOptions } from './linalg.js';
import { broadcastTo, pad, reshape, slice, stack } from './movement.js';
import { stopGradient } from '../alias.js';
import { max, mean, sum } from './reduce.js';

/** max(x, 0); NaN stays NaN (as in PyTorch and JAX: a diverging run is not hidden); relu'(0) = 0. */
export const relu = (x: Tensor) => tidy(() => where(lessEqual(x, 0), 0, x));
/** x where x > 0, else slope·x. */
export const leakyRelu = (x: Tensor, slope = 0.01) => tidy(() => where(greater(x, 0), x, mul(x, slope)));
/** 1 / (1 + e^−x), computed from tanh so it never overflows: σ(x) = (1 + tanh(x/2)) / 2. */
export const sigmoid = (x: Tensor) => tidy(() => mul(add(tanh(mul(x, 0.5)), 1), 0.5));
/** log(1 + e^x) = max(x, 0) + log1p(e^−|x|), stable for large |x|. */
export const softplus = (x: Tensor) => tidy(() => add(maximum(x, 0), log1p(exp(neg(abs(x))))));
/** GELU, tanh approximation (JAX's default): x/2 · (1 + tanh(√(2/π)·(x + 0.044715 x³))). */
export const gelu = (x: Tensor) =>
  tidy(() => {
    const inner = mul(add(x, mul(mul(mul(x, x), x), 0.044715)), Math.sqrt(2 / Math.PI));
    return mul(mul(x, 0.5), add(tanh(inner), 1));
  });

/**
 * log Σ exp(x) along `axis`, shifted by the (gradient-free) max for stability. A non-finite max
 * shifts by 0 instead (JAX's rule), so an all −∞ row gives −∞ and a row holding +∞ gives +∞ (the
 * shift by ±∞ would give ∞ − ∞ = NaN).
 */
export function logsumexp(x: Tensor, axis = -1, opts: { keepdims?: boolean } = {}): Tensor {
  return tidy(() => {
    const a = normAxis('logsumexp', axis, x.rank);
    const mx = stopGradientMax(x, a);
    const m = where(less(abs(mx), Infinity), mx, 0);
    const s = add(log(sum(exp(sub(x, m)), a, { keepdims: true })), m);
    return opts.keepdims ? s : reshape(s, x.shape.filter((_, i) => i !== a));
  });
}

/** The max along `axis` (kept), as a constant: shifting by it leaves softmax/logsumexp unchanged. */
function stopGradientMax(x: Tensor, axis: number): Tensor {
  return stopGradient(max(x, axis, { keepdims: true }));
}

/** log(softmax(x)) along `axis`, computed stably as x − logsumexp(x). */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return tidy(() => sub(x, logsumexp(x, axis, { keepdims: true })));
}

/** exp(x) / Σ exp(x) along `axis`, with the maximum subtracted first. */
export function softmax(x: Tensor, axis = -1): Tensor {
  return tidy(() => {
    const a = normAxis('softmax', axis, x.rank);
    const e = exp(sub(x, stopGradientMax(x, a)));
    return div(e, sum(e, a, { keepdims: true }));
  });
}

/**
 * x / max(‖x‖₂, eps) along `axis`, computed as x · rsqrt(max(‖x‖², eps²)): the same values, but the
 * gradient stays finite at a zero vector (the derivative of √ at 0 made it NaN).
 */
export function l2Normalize(x: Tensor, axis = -1, eps = 1e-12): Tensor {
  return tidy(() => {
    const sq = sum(mul(x, x), axis, { keepdims: true });
    return mul(x, rsqrt(maximum(sq, eps * eps)));
  });
}

/** Cosine similarity of a and b along `axis` (broadcasting). */
export function cosineSimilarity(a: Tensor, b: Tensor, axis = -1, eps = 1e-8): Tensor {
  return tidy(() => sum(mul(l2Normalize(a, axis, eps), l2Normalize(b, axis, eps)), axis));
}

/** Options of the 2-D pooling ops: kernel, stride and padding. */
export interface Pool2dOptions {
  kernel: number | [number, number];
  stride?: number | [number, number];
  padding?: number | [number, number];
}

/** A pool option as a pair of integers ≥ min (a number means both axes). */
function pair(op: string, name: string, v: unknown, d: [number, number], min: number): [number, number] {
  if (v === undefined) return d;
  const p = typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(p) || p.length !== 2) throw new WgradError(op, `${name} must be an integer or a pair of integers ≥ ${min}, got ${fmtValue(v)}`);
  return [checkInt(op, name, p[0], min), checkInt(op, name, p[1], min)];
}

function poolGeometry(op: string, x: Tensor, opts: Pool2dOptions) {
  checkTensor(op, x);
  if (x.rank !== 4) throw new WgradError(op, `expected x [N, C, H, W], got ${fmtShape(x.shape)}`);
  if (typeof opts !== 'object' || opts === null) throw new WgradError(op, `expected options { kernel, stride?, padding? }, got ${fmtValue(opts)}`);
  if (opts.kernel === undefined) throw new WgradError(op, 'the kernel option is required');
  const k = pair(op, 'kernel', opts.kernel, [1, 1], 1);
  const s = pair(op, 'stride', opts.stride, k, 1);
  const p = pair(op, 'padding', opts.padding, [0, 0], 0);
  if (p[0] * 2 > k[0] || p[1] * 2 > k[1]) throw new WgradError(op, `padding ${p} must be at most half the kernel ${k}`);
  const ho = Math.floor((x.shape[2] + 2 * p[0] - k[0]) / s[0]) + 1;
  const wo = Math.floor((x.shape[3] + 2 * p[1] - k[1]) / s[1]) + 1;
  if (ho <= 0 || wo <= 0) throw new WgradError(op, `kernel ${k} does not fit input ${fmtShape(x.shape)}`);
  return { k, s, p, ho, wo };
}

/**
 * Max pooling as a max reduction over each window, so its gradient is max's: the cotangent is split
 * evenly between the tied entries of a window (PyTorch gives it all to one of them). Tiles
 * (see asTiles) reduce in place; other windows stack their kh·kw strided views on a new last axis
 * and reduce that — no window primitive is needed. Padding reads −∞, so only in a window whose
 * entries are all −∞ does a padded position share the tie (its share is dropped).
 */
export function maxPool2d(x: Tensor, opts: Pool2dOptions): Tensor {
  return tidy(() => {
    const { k, s, p, ho, wo } = poolGeometry('maxPool2d', x, opts);
    const tiles = asTiles(x, k, s, p, ho, wo);
    if (tiles) return max(tiles, [3, 5]);
    const xp = p[0] || p[1] ? pad(x, [[0, 0], [0, 0], [p[0], p[0]], [p[1], p[1]]], -Infinity) : x;
    const windows: Tensor[] = [];
    for (let i = 0; i < k[0]; i++) {
      for (let j = 0; j < k[1]; j++) {
        windows.push(slice(xp, [{}, {}, { start: i, stop: i + (ho - 1) * s[0] + 1, step: s[0] }, { start: j, stop: j + (wo - 1) * s[1] + 1, step: s[1] }]));
      }
    }
    return max(stack(windows, 4), 4);
  });
}

/** Average pooling (zero padding counted, as PyTorch's default) as a depthwise convolution. */
export function avgPool2d(x: Tensor, opts: Pool2dOptions): Tensor {
  return tidy(() => {
    const { k, s, p, ho, wo } = poolGeometry('avgPool2d', x, opts);
    const tiles = asTiles(x, k, s, p, ho, wo);
    if (tiles) return mean(tiles, [3, 5]);
    const c = x.shape[1];
    const w = mul(constant(1 / (k[0] * k[1]), 'float32'), onesKernel(c, k));
    const conv: Conv2dOptions = { stride: s, padding: p, groups: c };
    return conv2d(x, w, conv);
  });
}

/**
 * Non-overlapping, unpadded windows (stride = kernel, the common 2×2 case) are the tiles of a
 * reshape [N, C, Ho, kh, Wo, kw], so pooling is one reduction over axes 3 and 5 — forward and
 * backward far cheaper than kh·kw window views. Returns undefined for other geometries.
 */
function asTiles(x: Tensor, k: [number, number], s: [number, number], p: [number, number], ho: number, wo: number): Tensor | undefined {
  if (s[0] !== k[0] || s[1] !== k[1] || p[0] !== 0 || p[1] !== 0) return undefined;
  const [n, c] = x.shape;
  const fit = ho * k[0] === x.shape[2] && wo * k[1] === x.shape[3] ? x : slice(x, [{}, {}, { stop: ho * k[0] }, { stop: wo * k[1] }]);
  return reshape(fit, [n, c, ho, k[0], wo, k[1]]);
}

function onesKernel(c: number, k: [number, number]): Tensor {
  return reshape(broadcastOne(c * k[0] * k[1]), [c, 1, k[0], k[1]]);
}
const broadcastOne = (n: number) => broadcastTo(constant(1, 'float32'), [n]);
