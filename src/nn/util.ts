/**
 * Small helpers shared by the layers: option parsing and the parameter initialization of the
 * convolution layers. (Zero-copy aliases are tensor/alias.ts's alias and stopGradient.)
 */
import { split, type Key } from '../random/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { type Initializer, torchDefault } from './initializers.js';

export type Pair = number | readonly [number, number];
export const pair = (v: Pair): [number, number] => (typeof v === 'number' ? [v, v] : [v[0], v[1]]);

/** Configuration shared by the convolution layers (conv2d, convTranspose2d). */
export interface ConvLayerConfig {
  inChannels: number;
  outChannels: number;
  kernel: Pair;
  /** Default 1. */
  groups?: number;
  /** Default true. */
  bias?: boolean;
  /** Weight initializer, called with the layer's weight shape (default: uniform ±1/√fanIn). */
  weightInit?: Initializer;
  /** Bias initializer, called with [outChannels] (default: uniform ±1/√fanIn). */
  biasInit?: Initializer;
}

/**
 * Parameters of a convolution layer: w [lead, per/groups, kh, kw] and, unless `bias` is false,
 * b [outChannels]; by default both uniform ±1/√fanIn with fanIn = per/groups·kh·kw (PyTorch's).
 * conv2d: lead = outChannels, per = inChannels; convTranspose2d: lead = inChannels, per = outChannels.
 */
export function initConvParams(key: Key, config: ConvLayerConfig, lead: number, per: number): { w: Tensor; b?: Tensor } {
  const { outChannels, groups = 1, bias = true } = config;
  const [kh, kw] = pair(config.kernel);
  const [k1, k2] = split(key);
  const shape = [lead, per / groups, kh, kw];
  const w = (config.weightInit ?? torchDefault)(k1, shape);
  if (!bias) return { w };
  const b = config.biasInit ? config.biasInit(k2, [outChannels]) : torchDefault(k2, [outChannels], { fanIn: (per / groups) * kh * kw });
  return { w, b };
}
