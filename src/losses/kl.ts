/**
 * KL divergence of a diagonal Gaussian q = N(μ, diag(σ²)), given μ and log σ², from N(0, I):
 *   KL_i = −½ Σ_d (1 + log σ²_id − μ²_id − σ²_id)
 * summed over the latent dims (every axis after the first), then averaged over the batch. With
 * `normalizeBy: n` the total over batch and latent dims is divided by n instead — IDAA's VAE
 * (train_vae.py) divides by batch · channels · latent size.
 *
 * What it computes, per the papers and official code, and the readings chosen: docs/methods.md#idaa-vae.
 */
import { WgradError } from '../core/backend.js';
import { fmtShape } from '../core/shape.js';
import { add, div, exp, mul, sub } from '../tensor/ops/elementwise.js';
import { sum } from '../tensor/ops/reduce.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { type Reduction, reduceLoss } from './reduce.js';

/** Options of `gaussianKl`: a normalizing count or the reduction. */
export interface GaussianKlOptions {
  /** Divide the total (over batch and latent dims) by this count instead of taking the batch mean. */
  normalizeBy?: number;
  /** Without normalizeBy: 'mean' over the batch (default), 'sum', or 'none' (per-example [N]). */
  reduction?: Reduction;
}

/** mu, logVar [N, ...latent] → scalar (or [N] with reduction 'none'). */
export function gaussianKl(mu: Tensor, logVar: Tensor, opts: GaussianKlOptions = {}): Tensor {
  if (mu.rank < 1 || mu.shape.join() !== logVar.shape.join()) {
    throw new WgradError('gaussianKl', `mu and logVar must have one shape [N, ...], got ${fmtShape(mu.shape)} and ${fmtShape(logVar.shape)}`);
  }
  if (opts.normalizeBy !== undefined && !(opts.normalizeBy > 0)) throw new WgradError('gaussianKl', `normalizeBy must be positive, got ${opts.normalizeBy}`);
  return tidy(() => {
    const elem = mul(sub(add(logVar, 1), add(mul(mu, mu), exp(logVar))), -0.5);
    if (opts.normalizeBy !== undefined) return div(sum(elem), opts.normalizeBy);
    const axes = mu.shape.map((_, i) => i).slice(1);
    return reduceLoss(axes.length ? sum(elem, axes) : elem, opts.reduction);
  });
}
