/**
 * Parameter initializers: each is `(key, shape, opts) → Tensor` (float32), a pure function of the
 * key, so the same key gives the same parameters on every backend.
 *
 * Fan convention (matches the layouts of this library's layers; override with `fanIn`/`fanOut`):
 *   rank 0        fanIn = fanOut = 1
 *   rank 1        fanIn = fanOut = shape[0]
 *   rank 2        [in, out]               (linear weights: y = x @ w)
 *   rank ≥ 3      [out, in, ...receptive] (conv2d weights [O, C/groups, kh, kw]; for
 *                 convTranspose2d's [Cin, Cout/groups, kh, kw] this gives PyTorch's fans too)
 *
 * Formulas (PyTorch's, which agree with JAX's variance_scaling):
 *   he (Kaiming)      normal: std = gain/√fan            uniform: bound = gain·√(3/fan)    gain √2
 *   xavier (Glorot)   normal: std = gain·√(2/(in+out))   uniform: bound = gain·√(6/(in+out))
 *   lecun             normal: std = 1/√fanIn             uniform: bound = √(3/fanIn)
 *   torchDefault      uniform bound 1/√fanIn: PyTorch's default for Linear/Conv weights and biases
 *   orthogonal        see below
 * All normals are plain (untruncated) Gaussians, as in PyTorch.
 */
import { WgradError } from '../core/backend.js';
import { fmtShape, numel } from '../core/shape.js';
import { full } from '../tensor/ops/creation.js';
import { add, div, mul, sqrt, sub } from '../tensor/ops/elementwise.js';
import { matmul } from '../tensor/ops/linalg.js';
import { oneHot, reshape, slice, transpose } from '../tensor/ops/movement.js';
import { sum } from '../tensor/ops/reduce.js';
import { tensor } from '../tensor/ops/creation.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import * as random from '../random/random.js';
import type { Key } from '../random/random.js';

/** Any initializer: a pure function of the key and the shape. */
export type Initializer = (key: Key, shape: readonly number[]) => Tensor;

/** Overrides of the fans an initializer computes from the shape. */
export interface FanOptions {
  /** Overrides the fan-in computed from the shape. */
  fanIn?: number;
  /** Overrides the fan-out computed from the shape. */
  fanOut?: number;
}
/** Which fan a variance-scaling initializer divides by. */
export type FanMode = 'fanIn' | 'fanOut' | 'fanAvg';

/** Fan-in and fan-out of a weight of this shape (see the header for the layout convention). */
export function fans(shape: readonly number[], opts: FanOptions = {}): { fanIn: number; fanOut: number } {
  let fanIn: number, fanOut: number;
  if (shape.length === 0) fanIn = fanOut = 1;
  else if (shape.length === 1) fanIn = fanOut = shape[0];
  else if (shape.length === 2) [fanIn, fanOut] = [shape[0], shape[1]];
  else {
    const receptive = numel(shape.slice(2));
    fanIn = shape[1] * receptive;
    fanOut = shape[0] * receptive;
  }
  return { fanIn: opts.fanIn ?? fanIn, fanOut: opts.fanOut ?? fanOut };
}

function fanFor(op: string, shape: readonly number[], mode: FanMode, opts: FanOptions): number {
  const { fanIn, fanOut } = fans(shape, opts);
  const fan = mode === 'fanIn' ? fanIn : mode === 'fanOut' ? fanOut : (fanIn + fanOut) / 2;
  if (!(fan > 0)) throw new WgradError(op, `fan is ${fan} for shape ${fmtShape(shape)}; pass fanIn/fanOut`);
  return fan;
}

/** All zeros (the key is unused; it is taken so every initializer has one signature). */
export function zeros(_key: Key, shape: readonly number[]): Tensor {
  return full(shape, 0);
}

/** All ones. */
export function ones(_key: Key, shape: readonly number[]): Tensor {
  return full(shape, 1);
}

/** Every element `value`. */
export function constant(value: number): Initializer {
  return (_key, shape) => full(shape, value);
}

/** Uniform in [minval, maxval) (default [0, 1)). */
export function uniform(key: Key, shape: readonly number[], opts: { minval?: number; maxval?: number } = {}): Tensor {
  return random.uniform(key, shape, opts);
}

/** Gaussian with the given mean and standard deviation (default N(0, 1)). */
export function normal(key: Key, shape: readonly number[], opts: { mean?: number; stddev?: number } = {}): Tensor {
  return random.normal(key, shape, opts);
}

/** Options of `varianceScaling`: scale, fan mode and distribution. */
export interface VarianceScalingOptions extends FanOptions {
  /** Target variance is scale / fan (default 1). */
  scale?: number;
  mode?: FanMode;
  distribution?: 'normal' | 'uniform';
}

/** The family behind he/xavier/lecun: variance `scale / fan`, Gaussian or uniform (JAX's variance_scaling, untruncated). */
export function varianceScaling(key: Key, shape: readonly number[], opts: VarianceScalingOptions = {}): Tensor {
  const { scale = 1, mode = 'fanIn', distribution = 'normal' } = opts;
  const variance = scale / fanFor('varianceScaling', shape, mode, opts);
  if (distribution === 'normal') return random.normal(key, shape, { stddev: Math.sqrt(variance) });
  const bound = Math.sqrt(3 * variance);
  return random.uniform(key, shape, { minval: -bound, maxval: bound });
}

/** Options of the He (Kaiming) initializers: fan mode and gain. */
export interface HeOptions extends FanOptions {
  /** 'fanIn' (default) preserves forward variance; 'fanOut' backward (torchvision's ResNet init). */
  mode?: 'fanIn' | 'fanOut';
  /** Default √2 (ReLU). */
  gain?: number;
}

/** Kaiming/He normal: std = gain / √fan. */
export function heNormal(key: Key, shape: readonly number[], opts: HeOptions = {}): Tensor {
  const { gain = Math.SQRT2, mode = 'fanIn' } = opts;
  return varianceScaling(key, shape, { ...opts, scale: gain * gain, mode, distribution: 'normal' });
}

/** Kaiming/He uniform: bound = gain · √(3 / fan). */
export function heUniform(key: Key, shape: readonly number[], opts: HeOptions = {}): Tensor {
  const { gain = Math.SQRT2, mode = 'fanIn' } = opts;
  return varianceScaling(key, shape, { ...opts, scale: gain * gain, mode, distribution: 'uniform' });
}

/** Options of the Xavier (Glorot) initializers: the gain. */
export interface XavierOptions extends FanOptions {
  /** Default 1. */
  gain?: number;
}

/** Xavier/Glorot normal: std = gain · √(2 / (fanIn + fanOut)). */
export function xavierNormal(key: Key, shape: readonly number[], opts: XavierOptions = {}): Tensor {
  const g = opts.gain ?? 1;
  return varianceScaling(key, shape, { ...opts, scale: g * g, mode: 'fanAvg', distribution: 'normal' });
}

/** Xavier/Glorot uniform: bound = gain · √(6 / (fanIn + fanOut)). */
export function xavierUniform(key: Key, shape: readonly number[], opts: XavierOptions = {}): Tensor {
  const g = opts.gain ?? 1;
  return varianceScaling(key, shape, { ...opts, scale: g * g, mode: 'fanAvg', distribution: 'uniform' });
}

/** `xavierNormal` under its other name. */
export const glorotNormal = xavierNormal;
/** `xavierUniform` under its other name. */
export const glorotUniform = xavierUniform;

/** LeCun normal: std = 1/√fanIn. */
export function lecunNormal(key: Key, shape: readonly number[], opts: FanOptions = {}): Tensor {
  return varianceScaling(key, shape, { ...opts, scale: 1, mode: 'fanIn', distribution: 'normal' });
}

/** LeCun uniform: bound = √(3/fanIn). */
export function lecunUniform(key: Key, shape: readonly number[], opts: FanOptions = {}): Tensor {
  return varianceScaling(key, shape, { ...opts, scale: 1, mode: 'fanIn', distribution: 'uniform' });
}

/**
 * PyTorch's default for nn.Linear / nn.Conv2d weights and biases: uniform in ±1/√fanIn (kaiming
 * uniform with a = √5). For a bias pass the weight's fan-in: `torchDefault(k, [out], { fanIn })`.
 */
export function torchDefault(key: Key, shape: readonly number[], opts: FanOptions = {}): Tensor {
  return varianceScaling(key, shape, { ...opts, scale: 1 / 3, mode: 'fanIn', distribution: 'uniform' });
}

/**
 * Orthogonal initialization (Saxe et al. 2014), as PyTorch's `orthogonal_`: the weight is viewed as
 * a matrix [shape[0], ∏ shape[1:]]; a Gaussian matrix of the taller orientation [max, min] is
 * orthonormalized column by column, transposed back if needed, reshaped and multiplied by `gain`.
 * The rows (if rows ≤ cols) or columns (otherwise) of the result are orthonormal.
 *
 * The QR step runs on the device, with tensor ops, as classical Gram–Schmidt applied twice per
 * column ("CGS2", as orthogonal as Householder QR to working precision). Gram–Schmidt produces the Q
 * of the QR factorization whose R has a positive diagonal, which is exactly the sign fix that makes
 * the result Haar-distributed. Cost O(rows·cols·min(rows, cols)) with min(rows, cols) small steps,
 * meant for initialization, not for inner loops.
 */
export function orthogonal(key: Key, shape: readonly number[], opts: { gain?: number } = {}): Tensor {
  if (shape.length < 2) throw new WgradError('orthogonal', `needs a shape of rank ≥ 2, got ${fmtShape(shape)}`);
  const rows = shape[0];
  const cols = numel(shape) / rows;
  const [m, k] = rows >= cols ? [rows, cols] : [cols, rows];
  return tidy(() => {
    const a = random.normal(key, [m, k]);
    let q = full([m, k], 0);
    for (let j = 0; j < k; j++) {
      const next = tidy(() => {
        let v = slice(a, [{}, { start: j, stop: j + 1 }]); // [m, 1]
        // Two passes of v ← v − Q (Qᵀ v); columns of Q not yet filled are zero and drop out.
        for (let pass = 0; pass < 2; pass++) v = sub(v, matmul(q, matmul(transpose(q), v)));
        const unit = div(v, sqrt(sum(mul(v, v))));
        const ej = oneHot(tensor([j], { dtype: 'int32' }), k); // [1, k]
        return add(q, matmul(unit, ej));
      });
      q.dispose();
      q = next;
    }
    const mat = rows >= cols ? q : transpose(q);
    const g = opts.gain ?? 1;
    return reshape(g === 1 ? mat : mul(mat, g), shape);
  });
}
