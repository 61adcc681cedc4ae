/**
 * A learned, bounded noise generator (APLR's reading, see the README): an MLP g on the flattened
 * input gives
 *   L∞ (default)  δ = ε·tanh(g(x))                     (every |δᵢ| < ε)
 *   L2            δ = ε·tanh(‖u‖)·u/‖u‖, u = g(x)       (‖δ‖₂ < ε per example)
 * and x̃ = clip(x + δ) to the box (default [0, 1]; clipping only moves toward x, so x̃ − x stays in
 * the ball). The generator is trained by gradient ascent on a given loss of x̃ (`step`), alternating
 * with the encoder's descent. An `nn`-style namespace: `init(key, config) → params`,
 * `apply(params, x, opts) → x̃`, `perturbation(params, x, opts) → δ`, and
 * `step(params, optState, x, loss, opts) → { params, optState, loss }` (new trees; dispose the old
 * ones as in the optim pattern). The output layer starts at zero weights, so training starts
 * from δ = 0 (tanh(bias)·ε with a zero bias).
 */
import { WgradError } from '../core/backend.js';
import { fmtShape } from '../core/shape.js';
import { valueAndGrad } from '../autograd/transforms.js';
import { add, div, maximum, mul, neg, tanh } from '../tensor/ops/elementwise.js';
import { reshape } from '../tensor/ops/movement.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { type Key } from '../random/random.js';
import * as mlp from '../nn/mlp.js';
import { zeros } from '../nn/initializers.js';
import { applyUpdates } from '../optim/transforms.js';
import type { Optimizer } from '../optim/optimizers.js';
import { type BallOptions, checkBall, checkInput, clipBox, exampleNorm } from './common.js';

export type NoiseGeneratorParams = mlp.MlpParams;

export interface NoiseGeneratorConfig {
  /** The shape of one example (e.g. [1, 28, 28]). */
  shape: readonly number[];
  /** Hidden widths of g (default [256]). */
  hidden?: readonly number[];
}

export function init(key: Key, config: NoiseGeneratorConfig): NoiseGeneratorParams {
  const d = config.shape.reduce((a, b) => a * b, 1);
  if (!(d >= 1) || config.shape.some((v) => !Number.isInteger(v))) {
    throw new WgradError('noiseGenerator.init', `shape must be positive integers, got ${JSON.stringify(config.shape)}`);
  }
  const params = mlp.init(key, { widths: [d, ...(config.hidden ?? [256]), d] });
  const last = params.layers[params.layers.length - 1];
  const w = zeros(key, last.w.shape);
  last.w.dispose();
  params.layers[params.layers.length - 1] = { ...last, w };
  return params;
}

export type NoiseGeneratorOptions = BallOptions;

/** δ for inputs x [N, ...shape]. */
export function perturbation(params: NoiseGeneratorParams, x: Tensor, opts: NoiseGeneratorOptions): Tensor {
  checkInput('noiseGenerator', x);
  const { eps, norm } = checkBall('noiseGenerator', opts);
  const d = params.layers[0].w.shape[0];
  if (x.size / x.shape[0] !== d) throw new WgradError('noiseGenerator', `this generator takes examples of ${d} elements, got x ${fmtShape(x.shape)}`);
  return tidy(() => {
    const u = mlp.apply(params, reshape(x, [x.shape[0], d]), { activation: undefined });
    if (norm === 'linf') return reshape(mul(tanh(u), eps), x.shape);
    const len = maximum(exampleNorm(u), 1e-12);
    return reshape(mul(div(u, len), mul(tanh(len), eps)), x.shape);
  });
}

/** x̃ = clip(x + δ) to the box. */
export function apply(params: NoiseGeneratorParams, x: Tensor, opts: NoiseGeneratorOptions): Tensor {
  const { box } = checkBall('noiseGenerator', opts);
  return tidy(() => clipBox(add(x, perturbation(params, x, opts)), box));
}

export interface NoiseGeneratorStepOptions extends NoiseGeneratorOptions {
  optimizer: Optimizer;
}

/** One ascent step of the generator on `loss(x̃)` (a scalar); returns new params and optimizer state. */
export function step(
  params: NoiseGeneratorParams,
  optState: unknown[],
  x: Tensor,
  loss: (xTilde: Tensor) => Tensor,
  opts: NoiseGeneratorStepOptions,
): { params: NoiseGeneratorParams; optState: unknown[]; loss: Tensor } {
  return tidy(() => {
    const ascent = (p: NoiseGeneratorParams) => {
      const l = loss(apply(p, x, opts));
      if (l.rank !== 0 || l.dtype !== 'float32') throw new WgradError('noiseGenerator.step', `the loss must return a float32 scalar, got ${l.dtype} ${fmtShape(l.shape)}`);
      return neg(l);
    };
    const [negLoss, grads] = valueAndGrad(ascent)(params);
    const [updates, nextState] = opts.optimizer.update(grads, optState, params);
    return { params: applyUpdates(params, updates), optState: nextState, loss: neg(negLoss) };
  });
}
