/**
 * Layer normalization over the trailing axes: y = (x − μ)/√(σ² + eps)·scale + bias, with μ, σ²
 * (biased) over the last `shape.length` axes of x. Params { scale, bias } have the normalized shape
 * (ones and zeros at init); with `affine: false` the params are `{}` and apply takes `axes`.
 */
import { WgradError } from '../core/backend.js';
import { fmtShape } from '../core/shape.js';
import { full } from '../tensor/ops/creation.js';
import { add, mul, rsqrt, sub } from '../tensor/ops/elementwise.js';
import { mean } from '../tensor/ops/reduce.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';

/** LayerNorm's scale and bias (both absent without `affine`). */
export type LayerNormParams = { scale?: Tensor; bias?: Tensor };

/** A LayerNorm layer's normalized shape and whether it has scale and bias. */
export interface LayerNormConfig {
  /** The normalized (trailing) shape, e.g. the feature count. */
  shape: number | readonly number[];
  /** Learn scale and bias (default true). */
  affine?: boolean;
}

/** New LayerNorm parameters: scale 1 and bias 0 over `config.shape`. */
export function init(config: LayerNormConfig): LayerNormParams {
  const shape = typeof config.shape === 'number' ? [config.shape] : [...config.shape];
  if (config.affine === false) return {};
  return { scale: full(shape, 1), bias: full(shape, 0) };
}

/** Options of a LayerNorm call: ε and the axes normalized. */
export interface LayerNormOptions {
  /** Default 1e-5. */
  eps?: number;
  /** How many trailing axes to normalize over (default: the params' rank, or 1 without params). */
  axes?: number;
}

/** Normalizes the trailing axes of x to mean 0 and variance 1, then scales and shifts. */
export function apply(params: LayerNormParams, x: Tensor, opts: LayerNormOptions = {}): Tensor {
  const k = opts.axes ?? params.scale?.rank ?? params.bias?.rank ?? 1;
  if (k < 1 || k > x.rank) throw new WgradError('layerNorm', `cannot normalize the last ${k} axes of ${fmtShape(x.shape)}`);
  return tidy(() => {
    const axes = Array.from({ length: k }, (_, i) => x.rank - k + i);
    const mu = mean(x, axes, { keepdims: true });
    const centered = sub(x, mu);
    const v = mean(mul(centered, centered), axes, { keepdims: true });
    let y = mul(centered, rsqrt(add(v, opts.eps ?? 1e-5)));
    if (params.scale) y = mul(y, params.scale);
    if (params.bias) y = add(y, params.bias);
    return y;
  });
}
