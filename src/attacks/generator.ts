/**
 * A learned, bounded noise generator g — APLR's adversary (ssl/aplr.ts) — and the random noise of
 * the same ball that APLR's ablation trains on. g is a network of the input alone that gives a
 * perturbation of the same shape,
 *   L∞ (default)  δ = ε·tanh(u),                        u = g(x)   (every |δᵢ| < ε)
 *   L2            δ = ε·tanh(‖u‖)·u/‖u‖  per example                 (‖δ‖₂ < ε)
 * and x̃ = x + δ clipped to the box, as every attack here (./common.ts: default [0, 1], `box: null`
 * for none; clipping moves every coordinate toward x, so x̃ − x stays in the ball). Two networks:
 *   'mlp'   (default) for vectors (tabular rows), or any input flattened: [D] → hidden (relu) → [D]
 *           (default hidden [256]);
 *   'conv'  for images and spectrograms [C, H, W]: conv 3×3 (C→w) → relu → conv 3×3 (w→w) → relu
 *           → conv 3×3 (w→C), padding 1, so any H, W keeps its shape (default w = 16).
 * The output layer starts at zero weights and bias, so δ = 0 at initialization: training starts
 * from the clean input and the generator's ascent moves it away. g has no BatchNorm and no noise
 * input: δ is a deterministic function of x.
 *
 * An `nn`-style namespace: `init(key, config) → params`, `perturbation(params, x, opts) → δ`,
 * `apply(params, x, opts) → x̃`, and `step(params, optState, x, objective, opts)`, one ascent step of
 * g on a scalar objective of (x̃, δ) (new trees; dispose the old ones as in the optim pattern).
 *
 * `diversity(δ, opts)` is an optional term a generator may maximize beside its objective: the batch
 * variance of the noise relative to the ball, mean_n ‖δ_n − δ̄‖² / (ε²·D) for L∞ (∈ [0, 1]) and
 * mean_n ‖δ_n − δ̄‖² / ε² for L2 — high when the noise differs between examples, 0 when g gives
 * every example the same δ. `uniformNoise(key, shape, opts)` draws δ uniformly from the ball, and
 * `meanNorm(δ, norm)` measures a batch of noise (the mean over examples of ‖δ_n‖ in the ball's norm).
 *
 * What it computes, per the papers and official code, and the readings chosen: docs/methods.md#aplr-generator.
 */
import { WgradError } from '../core/backend.js';
import { fmtShape } from '../core/shape.js';
import { valueAndGrad } from '../autograd/transforms.js';
import { add, abs, div, maximum, mul, neg, pow, sub, tanh } from '../tensor/ops/elementwise.js';
import { reshape } from '../tensor/ops/movement.js';
import { relu } from '../tensor/ops/nn.js';
import { max, mean, sum } from '../tensor/ops/reduce.js';
import { tidy } from '../tensor/scope.js';
import { Tensor } from '../tensor/tensor.js';
import { normal, split, uniform, type Key } from '../random/random.js';
import * as conv2d from '../nn/conv2d.js';
import * as mlp from '../nn/mlp.js';
import { zeros } from '../nn/initializers.js';
import { applyUpdates } from '../optim/transforms.js';
import type { Optimizer } from '../optim/optimizers.js';
import { type BallOptions, checkBall, checkInput, clipBox, exampleNorm, type Norm } from './common.js';

/** The generator network: a fully connected one, or a convolutional one for [C, H, W] inputs. */
export type GeneratorKind = 'mlp' | 'conv';
/** The parameters of a noise generator (its layers), as `init` makes them. */
export type GeneratorParams = mlp.MlpParams | { convs: conv2d.Conv2dParams[] };

/** The shape of a noise generator: its kind and the shape of one example. */
export interface GeneratorConfig {
  /** 'mlp' (default: vectors, or any input flattened) or 'conv' (images, spectrograms [C, H, W]). */
  kind?: GeneratorKind;
  /** The shape of one example ([D], [C, H, W], ...). */
  shape: readonly number[];
  /** MLP hidden widths (default [256]). */
  hidden?: readonly number[];
  /** Conv channels (default 16). */
  width?: number;
}

/** The ball and the box (./common.ts's BallOptions: box default [0, 1], null for none). */
export type GeneratorOptions = BallOptions;

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** New generator parameters for `config`; throws a WgradError on a shape that is not positive integers. */
export function init(key: Key, config: GeneratorConfig): GeneratorParams {
  const { kind = 'mlp', shape } = config;
  if (!Array.isArray(shape) || shape.length < 1 || shape.some((v) => !Number.isInteger(v) || v < 1)) {
    throw new WgradError('noiseGenerator.init', `shape must be positive integers, got ${JSON.stringify(shape)}`);
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
  if (kind !== 'conv') throw new WgradError('noiseGenerator.init', `kind must be 'mlp' or 'conv', got ${JSON.stringify(kind)}`);
  if (shape.length !== 3) throw new WgradError('noiseGenerator.init', `the conv generator needs an example shape [C, H, W], got ${JSON.stringify(shape)}`);
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
  checkInput('noiseGenerator', x);
  if (x.rank < 2) throw new WgradError('noiseGenerator', `x must be a batch [N, ...example], got ${x.dtype} ${fmtShape(x.shape)}`);
  return tidy(() => {
    if (isConv(params)) {
      const c = params.convs[0].w.shape[1];
      if (x.rank !== 4 || x.shape[1] !== c) throw new WgradError('noiseGenerator', `the conv generator takes [N, ${c}, H, W], got ${fmtShape(x.shape)}`);
      let h = x;
      params.convs.forEach((layer, i) => {
        h = conv2d.apply(layer, h, { padding: 1 });
        if (i < params.convs.length - 1) h = relu(h);
      });
      return h;
    }
    const d = params.layers[0].w.shape[0];
    if (x.size !== x.shape[0] * d) throw new WgradError('noiseGenerator', `this generator takes examples of ${d} elements, got x ${fmtShape(x.shape)}`);
    return reshape(mlp.apply(params, reshape(x, [x.shape[0], d])), x.shape);
  });
}

/** u → δ in the ε-ball (see the header). */
export function bound(u: Tensor, opts: GeneratorOptions): Tensor {
  const { eps, norm } = checkBall('noiseGenerator', opts);
  return tidy(() => {
    if (norm === 'linf') return mul(tanh(u), eps);
    const len = maximum(exampleNorm(u), 1e-12);
    return mul(div(u, len), mul(tanh(len), eps));
  });
}

/** δ = bound(g(x)). */
export function perturbation(params: GeneratorParams, x: Tensor, opts: GeneratorOptions): Tensor {
  return tidy(() => bound(raw(params, x), opts));
}

/** x + δ, clipped to the box. */
export function perturb(x: Tensor, delta: Tensor, opts: GeneratorOptions): Tensor {
  const { box } = checkBall('noiseGenerator', opts);
  return tidy(() => clipBox(add(x, delta), box));
}

/** x̃ = x + g's δ, clipped to the box. */
export function apply(params: GeneratorParams, x: Tensor, opts: GeneratorOptions): Tensor {
  return tidy(() => perturb(x, perturbation(params, x, opts), opts));
}

/** The diversity of a batch of noise δ [N, ...] (see the header); 0 when ε = 0. */
export function diversity(delta: Tensor, opts: GeneratorOptions): Tensor {
  const { eps, norm } = checkBall('noiseGenerator.diversity', opts);
  return tidy(() => {
    const d = reshape(delta, [delta.shape[0], -1]);
    const centered = sub(d, mean(d, 0, { keepdims: true }));
    const spread = mean(sum(mul(centered, centered), -1));
    if (eps === 0) return mul(spread, 0);
    return mul(spread, 1 / (eps * eps * (norm === 'linf' ? d.shape[1] : 1)));
  });
}

/**
 * δ drawn uniformly from the ε-ball for a batch of `shape` `[N, ...]`: L∞ U(−ε, ε) per element; L2
 * ε·r·n/‖n‖ per example with n ~ N(0, I) and r = U(0, 1)^(1/D), D the elements of an example (the
 * radius a uniform draw from a D-ball has; ./common.ts's randomStart draws r ~ U(0, 1) instead).
 */
export function uniformNoise(key: Key, shape: readonly number[], opts: GeneratorOptions): Tensor {
  const { eps, norm } = checkBall('noiseGenerator.uniformNoise', opts);
  if (shape.length < 2) throw new WgradError('noiseGenerator.uniformNoise', `shape must be a batch [N, ...example], got ${fmtShape(shape)}`);
  if (norm === 'linf') return uniform(key, shape, { minval: -eps, maxval: eps });
  const [kn, kr] = split(key);
  return tidy(() => {
    const n = normal(kn, shape);
    const r = pow(uniform(kr, [shape[0], ...shape.slice(1).map(() => 1)]), 1 / size(shape.slice(1)));
    return mul(div(n, maximum(exampleNorm(n), 1e-12)), mul(r, eps));
  });
}

/** The mean over the batch of ‖δ_n‖ in `norm` (max |δ| per example for L∞), a float32 scalar. */
export function meanNorm(delta: Tensor, norm: Norm): Tensor {
  return tidy(() => {
    const rows = reshape(delta, [delta.shape[0], -1]);
    return mean(norm === 'linf' ? max(abs(rows), -1) : exampleNorm(rows));
  });
}

/** What the generator maximizes: a float32 scalar of (x̃, δ), or [scalar, named diagnostics]. */
export type GeneratorObjective = (xTilde: Tensor, delta: Tensor) => Tensor | [Tensor, Record<string, Tensor>];

export interface GeneratorStepOptions extends GeneratorOptions {
  optimizer: Optimizer;
}

/**
 * One ascent step of g on `objective(x̃, δ)`. Returns g's new params and optimizer state, the
 * objective's value before the step and its diagnostics there (new tensors).
 */
export function step(
  params: GeneratorParams, optState: unknown, x: Tensor, objective: GeneratorObjective, opts: GeneratorStepOptions,
): { params: GeneratorParams; optState: unknown; value: Tensor; parts: Record<string, Tensor> } {
  return tidy(() => {
    const descend = (p: GeneratorParams): [Tensor, Record<string, Tensor>] => {
      const delta = perturbation(p, x, opts);
      const out = objective(perturb(x, delta, opts), delta);
      const [v, parts] = out instanceof Tensor ? [out, {}] : out;
      if (!(v instanceof Tensor) || v.rank !== 0 || v.dtype !== 'float32') {
        throw new WgradError('noiseGenerator.step', `the objective must return a float32 scalar, got ${v instanceof Tensor ? `${v.dtype} ${fmtShape(v.shape)}` : typeof v}`);
      }
      return [neg(v), parts];
    };
    const [[negValue, parts], grads] = valueAndGrad(descend, { hasAux: true })(params);
    const [updates, nextState] = opts.optimizer.update(grads as never, optState as never, params as never);
    return { params: applyUpdates(params, updates as GeneratorParams), optState: nextState, value: neg(negValue), parts };
  });
}
