/**
 * 2-D convolution layer (NCHW, cross-correlation as in PyTorch): params { w [O, C/groups, kh, kw],
 * b? [O] }. The geometry (stride, padding, dilation) is given at apply time, like F.conv2d; groups
 * is read off the shapes. Default initialization is PyTorch's (uniform ±1/√(C/groups·kh·kw)).
 */
import { add } from '../tensor/ops/elementwise.js';
import { conv2d as conv2dOp, type Conv2dOptions } from '../tensor/ops/linalg.js';
import { reshape } from '../tensor/ops/movement.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Key } from '../random/random.js';
import { initConvParams, type ConvLayerConfig } from './util.js';

/** A convolution's weight [O, C/groups, kh, kw] and optional bias. */
export type Conv2dParams = { w: Tensor; b?: Tensor };

/** weightInit is called with [O, C/groups, kh, kw]. */
export type Conv2dConfig = ConvLayerConfig;

/** New convolution parameters for `config`. */
export function init(key: Key, config: Conv2dConfig): Conv2dParams {
  return initConvParams(key, config, config.outChannels, config.inChannels);
}

/** Options of `apply`: stride, padding and dilation. */
export type Conv2dApplyOptions = Omit<Conv2dOptions, 'groups'>;

/** x [N, C, H, W] → [N, O, Ho, Wo]; groups = C / w.shape[1]. */
export function apply(params: Conv2dParams, x: Tensor, opts: Conv2dApplyOptions = {}): Tensor {
  return tidy(() => {
    const groups = x.rank === 4 && params.w.rank === 4 ? x.shape[1] / params.w.shape[1] : 1;
    const y = conv2dOp(x, params.w, { ...opts, groups: Number.isInteger(groups) ? groups : 1 });
    return params.b ? add(y, reshape(params.b, [1, -1, 1, 1])) : y;
  });
}
