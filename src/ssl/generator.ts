/**
 * APLR's noise generator g (see ./aplr.ts): a network of the input alone that gives a bounded
 * perturbation of the same shape,
 *   L∞ (default)  δ = ε·tanh(u),                        u = g(x)   (every |δᵢ| < ε)
 *   L2            δ = ε·tanh(‖u‖)·u/‖u‖  per example                 (‖δ‖₂ < ε)
 * and x̃ = x + δ, clipped to `box` when one is given (clipping moves every coordinate toward x, so
 * x̃ − x stays in the ball). Two architectures:
 *   'mlp'   for vectors (tabular rows), or any input flattened: [D] → hidden (relu) → [D]
 *           (attacks.noiseGenerator's network, default hidden [256]);
 *   'conv'  for images and spectrograms [C, H, W]: conv 3×3 (C→w) → relu → conv 3×3 (w→w) → relu
 *           → conv 3×3 (w→C), padding 1, so any H, W keeps its shape (default w = 16).
 * The output layer starts at zero weights and bias, so δ = 0 at initialization: training starts
 * from the clean pretext task and the generator's ascent moves it away. g has no BatchNorm and no
 * noise input: δ is a deterministic function of x (a reading; the paper does not say).
 *
 * `diversity(δ, ε)` is the optional term the generator may maximize beside L_rec: the batch
 * variance of the noise relative to the ball, mean_n ‖δ_n − δ̄‖² / (ε²·D) for L∞ (∈ [0, 1]) and
 * mean_n ‖δ_n − δ̄‖² / ε² for L2 — high when the noise differs between examples, 0 when g gives
 * every example the same δ.
 */
import { WgradError } from '../core/backend.js';
import { fmtShape } from '../core/shape.js';
import { add, clip, div, maximum, mul, sqrt, sub, tanh } from '../tensor/ops/elementwise.js';
import { reshape } from '../tensor/ops/movement.js';
import { relu } from '../tensor/ops/nn.js';
import { mean, sum } from '../tensor/ops/reduce.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { split, type Key } from '../random/random.js';
import * as conv2d from '../nn/conv2d.js';
import * as mlp from '../nn/mlp.js';
import { zeros } from '../nn/initializers.js';

export type GeneratorKind = 'mlp' | 'conv';
export type GeneratorParams = mlp.MlpParams | { convs: conv2d.Conv2dParams[] };

export interface GeneratorConfig {
  /** 'mlp' (vectors) or 'conv' (images, spectrograms [C, H, W]). */
  kind: GeneratorKind;
  /** The shape of one example ([D] or [C, H, W]). */
  shape: readonly number[];
  /** MLP hidden widths (default [256]). */
  hidden?: readonly number[];
  /** Conv channels (default 16). */
  width?: number;
}

export interface NoiseOptions {
  /** Radius ε of the ball (≥ 0). */
  eps: number;
  /** 'linf' (default) or 'l2'. */
  norm?: 'linf' | 'l2';
  /** Clip x̃ to [lo, hi] (default null: no box; a domain-agnostic method knows no valid range). */
  box?: readonly [number, number] | null;
}

export function checkNoise(op: string, o: NoiseOptions): { eps: number; norm: 'linf' | 'l2'; box: readonly [number, number] | null } {
  const { eps, norm = 'linf', box = null } = o;
  if (!(typeof eps === 'number' && eps >= 0 && Number.isFinite(eps))) throw new WgradError(op, `eps must be a finite number ≥ 0, got ${eps}`);
  if (norm !== 'linf' && norm !== 'l2') throw new WgradError(op, `norm must be 'linf' or 'l2', got ${JSON.stringify(norm)}`);
  if (box !== null && !(Array.isArray(box) && box.length === 2 && box[0] < box[1])) throw new WgradError(op, `box must be [lo, hi] with lo < hi, or null, got ${JSON.stringify(box)}`);
  return { eps, norm, box };
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

export function init(key: Key, config: GeneratorConfig): GeneratorParams {
  const { kind, shape } = config;
  if (!Array.isArray(shape) || shape.length < 1 || shape.some((v) => !Number.isInteger(v) || v < 1)) {
    throw new WgradError('ssl.generator.init', `shape must be positive integers, got ${JSON.stringify(shape)}`);
  }
  if (kind === 'mlp') {
    const d = size(shape);
    const params = mlp.init(key, { widths: [d, ...(config.hidden ?? [256]), d] });
    const last = params.layers[params.layers.length - 1];
    params.layers[params.layers.length - 1] = { w: zeros(key, last.w.shape), b: last.b && zeros(key, last.b.shape) };
    last.w.dispose();
    last.b?.dispose();
    return params;
  }
  if (kind !== 'conv') throw new WgradError('ssl.generator.init', `kind must be 'mlp' or 'conv', got ${JSON.stringify(kind)}`);
  if (shape.length !== 3) throw new WgradError('ssl.generator.init', `the conv generator needs an example shape [C, H, W], got ${JSON.stringify(shape)}`);
  const w = config.width ?? 16;
  const [k1, k2, k3] = split(key, 3);
  return {
    convs: [
      conv2d.init(k1, { inChannels: shape[0], outChannels: w, kernel: 3 }),
      conv2d.init(k2, { inChannels: w, outChannels: w, kernel: 3 }),
      conv2d.init(k3, { inChannels: w, outChannels: shape[0], kernel: 3, weightInit: zeros, biasInit: zeros }),
    ],
  };
}

const isConv = (p: GeneratorParams): p is { convs: conv2d.Conv2dParams[] } => 'convs' in p;

/** The unbounded output u = g(x), x's shape. */
export function raw(params: GeneratorParams, x: Tensor): Tensor {
  if (x.dtype !== 'float32' || x.rank < 2 || x.shape[0] < 1) throw new WgradError('ssl.generator', `x must be a float32 batch [N, ...], got ${x.dtype} ${fmtShape(x.shape)}`);
  return tidy(() => {
    if (isConv(params)) {
      const c = params.convs[0].w.shape[1];
      if (x.rank !== 4 || x.shape[1] !== c) throw new WgradError('ssl.generator', `the conv generator takes [N, ${c}, H, W], got ${fmtShape(x.shape)}`);
      let h = x;
      params.convs.forEach((layer, i) => {
        h = conv2d.apply(layer, h, { padding: 1 });
        if (i < params.convs.length - 1) h = relu(h);
      });
      return h;
    }
    const d = params.layers[0].w.shape[0];
    if (x.size !== x.shape[0] * d) throw new WgradError('ssl.generator', `this generator takes examples of ${d} elements, got x ${fmtShape(x.shape)}`);
    return reshape(mlp.apply(params, reshape(x, [x.shape[0], d])), x.shape);
  });
}

/** ‖t_n‖₂ per example, [N, 1, ..., 1]. */
const exampleNorm = (t: Tensor) => sqrt(sum(mul(t, t), t.shape.map((_, i) => i).slice(1), { keepdims: true }));

/** u → δ in the ε-ball (see the header). */
export function bound(u: Tensor, opts: NoiseOptions): Tensor {
  const { eps, norm } = checkNoise('ssl.generator', opts);
  return tidy(() => {
    if (norm === 'linf') return mul(tanh(u), eps);
    const len = maximum(exampleNorm(u), 1e-12);
    return mul(div(u, len), mul(tanh(len), eps));
  });
}

/** δ = bound(g(x)). */
export function perturbation(params: GeneratorParams, x: Tensor, opts: NoiseOptions): Tensor {
  return tidy(() => bound(raw(params, x), opts));
}

/** x + δ, clipped to the box when one is given. */
export function perturb(x: Tensor, delta: Tensor, opts: NoiseOptions): Tensor {
  const { box } = checkNoise('ssl.generator', opts);
  return tidy(() => (box ? clip(add(x, delta), box[0], box[1]) : add(x, delta)));
}

/** x̃ = x + g's δ (clipped to the box when given). */
export function apply(params: GeneratorParams, x: Tensor, opts: NoiseOptions): Tensor {
  return tidy(() => perturb(x, perturbation(params, x, opts), opts));
}

/** The diversity of a batch of noise δ [N, ...] (see the header); 0 when ε = 0. */
export function diversity(delta: Tensor, opts: NoiseOptions): Tensor {
  const { eps, norm } = checkNoise('ssl.generator.diversity', opts);
  return tidy(() => {
    const d = reshape(delta, [delta.shape[0], -1]);
    const centered = sub(d, mean(d, 0, { keepdims: true }));
    const spread = mean(sum(mul(centered, centered), -1));
    if (eps === 0) return mul(spread, 0);
    return mul(spread, 1 / (eps * eps * (norm === 'linf' ? d.shape[1] : 1)));
  });
}
