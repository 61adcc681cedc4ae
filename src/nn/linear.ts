/**
 * Linear (dense) layer: y = x @ w + b, with w [in, out] so x [..., in] → y [..., out].
 * Default initialization is PyTorch's (weights and bias uniform in ±1/√in).
 */
import { add } from '../tensor/ops/elementwise.js';
import { matmul } from '../tensor/ops/linalg.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { split, type Key } from '../random/random.js';
import { type Initializer, torchDefault } from './initializers.js';

/** A linear layer's weight [in, out] and optional bias [out]. */
export type LinearParams = { w: Tensor; b?: Tensor };

/** A linear layer's sizes, bias and initializers. */
export interface LinearConfig {
  inFeatures: number;
  outFeatures: number;
  /** Default true. */
  bias?: boolean;
  /** Weight initializer, called with shape [in, out] (default: uniform ±1/√in). */
  weightInit?: Initializer;
  /** Bias initializer, called with shape [out] (default: uniform ±1/√in). */
  biasInit?: Initializer;
}

/** New linear-layer parameters (PyTorch's default initialization unless given). */
export function init(key: Key, config: LinearConfig): LinearParams {
  const { inFeatures: fin, outFeatures: fout, bias = true } = config;
  const [kw, kb] = split(key);
  const w = (config.weightInit ?? torchDefault)(kw, [fin, fout]);
  if (!bias) return { w };
  const b = config.biasInit ? config.biasInit(kb, [fout]) : torchDefault(kb, [fout], { fanIn: fin });
  return { w, b };
}

/** x·w + b, for x of shape [..., in]. */
export function apply(params: LinearParams, x: Tensor): Tensor {
  return tidy(() => {
    const y = matmul(x, params.w);
    return params.b ? add(y, params.b) : y;
  });
}
