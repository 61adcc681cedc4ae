/**
 * Multi-layer perceptron: widths [in, h₁, ..., out] give linear layers between consecutive widths,
 * with `activation` (default relu) after every layer but the last (and `finalActivation`, if
 * given, after the last).
 */
import { WgradError } from '../core/backend.js';
import { relu } from '../tensor/ops/nn.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { split, type Key } from '../random/random.js';
import type { Initializer } from './initializers.js';
import * as linear from './linear.js';

/** A multilayer perceptron's linear layers, in order. */
export type MlpParams = { layers: linear.LinearParams[] };

/** An MLP's widths, bias and initializers. */
export interface MlpConfig {
  /** `[in, hidden..., out]`: at least two entries. */
  widths: readonly number[];
  /** Default true. */
  bias?: boolean;
  weightInit?: Initializer;
  biasInit?: Initializer;
}

/** New MLP parameters, one linear layer per consecutive pair of widths. */
export function init(key: Key, config: MlpConfig): MlpParams {
  const { widths } = config;
  if (widths.length < 2 || widths.some((w) => !Number.isInteger(w) || w < 1)) {
    throw new WgradError('mlp.init', `widths must be ≥ 2 positive integers [in, ..., out], got ${JSON.stringify(widths)}`);
  }
  const keys = split(key, widths.length - 1);
  return {
    layers: keys.map((k, i) => linear.init(k, { ...config, inFeatures: widths[i], outFeatures: widths[i + 1] })),
  };
}

/** Options of `apply`: the activations between layers and after the last. */
export interface MlpOptions {
  /** Between layers (default relu). */
  activation?: (x: Tensor) => Tensor;
  /** After the last layer (default none). */
  finalActivation?: (x: Tensor) => Tensor;
}

/** The MLP on x: linear layers with the activation between them. */
export function apply(params: MlpParams, x: Tensor, opts: MlpOptions = {}): Tensor {
  const act = opts.activation ?? relu;
  return tidy(() => {
    let h = x;
    params.layers.forEach((layer, i) => {
      h = linear.apply(layer, h);
      if (i < params.layers.length - 1) h = act(h);
    });
    return opts.finalActivation ? opts.finalActivation(h) : h;
  });
}
