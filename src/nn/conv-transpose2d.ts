/**
 * Transposed 2-D convolution layer (PyTorch's ConvTranspose2d): params { w [Cin, Cout/groups, kh,
 * kw], b? [Cout] }; output size (H − 1)·stride − 2·padding + dilation·(kh − 1) + outputPadding + 1.
 * The geometry is given at apply time. Default initialization is PyTorch's (uniform ±1/√fanIn with
 * fanIn = Cout/groups·kh·kw, PyTorch's convention for this layer).
 */
import { add } from '../tensor/ops/elementwise.js';
import { convTranspose2d as convTransposeOp, type Conv2dOptions } from '../tensor/ops/linalg.js';
import { reshape } from '../tensor/ops/movement.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Key } from '../random/random.js';
import { initConvParams, type ConvLayerConfig } from './util.js';

/** A transposed convolution's weight [Cin, Cout/groups, kh, kw] and optional bias. */
export type ConvTranspose2dParams = { w: Tensor; b?: Tensor };

/** weightInit is called with [Cin, Cout/groups, kh, kw]; pass the same groups to apply. */
export type ConvTranspose2dConfig = ConvLayerConfig;

/** New transposed-convolution parameters for `config`. */
export function init(key: Key, config: ConvTranspose2dConfig): ConvTranspose2dParams {
  return initConvParams(key, config, config.inChannels, config.outChannels);
}

/** Options of `apply`: conv2d's options and the output padding. */
export type ConvTranspose2dApplyOptions = Conv2dOptions & { outputPadding?: number | [number, number] };

/** x [N, Cin, H, W] → [N, Cout, Ho, Wo]. */
export function apply(params: ConvTranspose2dParams, x: Tensor, opts: ConvTranspose2dApplyOptions = {}): Tensor {
  return tidy(() => {
    const y = convTransposeOp(x, params.w, opts);
    return params.b ? add(y, reshape(params.b, [1, -1, 1, 1])) : y;
  });
}
