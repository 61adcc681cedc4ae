/**
 * Soft-HGR (Wang, Wu, Huang, Liu, Zheng, Tao, "An Efficient Approach to Informative Feature
 * Extraction from Multimodal Data", AAAI 2019): a differentiable surrogate of the multi-dimensional
 * Hirschfeld-Gebelein-Rényi maximal correlation between two feature maps f(X), g(Y) [N, K]:
 *
 *   SoftHGR(f, g) = E[f₀(X)ᵀ g₀(Y)] − ½·tr(cov(f₀) · cov(g₀))
 *
 * exactly as their implementation computes it on a batch: f₀, g₀ are f and g centered over the batch
 * (rows), E[·] is the batch mean of the row-wise dot product Σ_k f₀[n,k]·g₀[n,k] (divided by N), and
 * cov(f₀) = f₀ᵀf₀/(N − 1) (the unbiased estimate, as torch.cov). The trace of the product of two
 * symmetric matrices is the sum of their elementwise product, which is how it is evaluated here.
 * Maximizing it over f and g gives the top-K HGR features (no whitening constraint is needed: the
 * trace term plays its part); `softHgrLoss` is its negative (what a minimizer takes). Needs N ≥ 2.
 *
 * What it computes, per the papers and official code, and the readings chosen: docs/methods.md#soft-hgr.
 */
import { WgradError } from '../core/backend.js';
import { fmtShape } from '../core/shape.js';
import { mul, sub } from '../tensor/ops/elementwise.js';
import { matmul } from '../tensor/ops/linalg.js';
import { transpose } from '../tensor/ops/movement.js';
import { mean, sum } from '../tensor/ops/reduce.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';

function check(op: string, f: Tensor, g: Tensor): void {
  if (f.rank !== 2 || g.rank !== 2 || f.shape[0] !== g.shape[0] || f.shape[1] !== g.shape[1] || f.dtype !== 'float32' || g.dtype !== 'float32') {
    throw new WgradError(op, `expected two float32 feature batches [N, K] of one shape, got ${f.dtype} ${fmtShape(f.shape)} and ${g.dtype} ${fmtShape(g.shape)}`);
  }
  if (f.shape[0] < 2) throw new WgradError(op, `needs a batch of at least 2 rows (covariances divide by N − 1), got ${fmtShape(f.shape)}`);
}

/** The Soft-HGR objective of two feature batches f, g [N, K] (a float32 scalar; higher = more correlated). */
export function softHgr(f: Tensor, g: Tensor): Tensor {
  check('softHgr', f, g);
  const n = f.shape[0];
  return tidy(() => {
    const f0 = sub(f, mean(f, 0, { keepdims: true }));
    const g0 = sub(g, mean(g, 0, { keepdims: true }));
    const corr = mean(sum(mul(f0, g0), -1));
    const covF = mul(matmul(transpose(f0), f0), 1 / (n - 1));
    const covG = mul(matmul(transpose(g0), g0), 1 / (n - 1));
    return sub(corr, mul(sum(mul(covF, covG)), 0.5));
  });
}

/** −SoftHGR(f, g): the loss to minimize (Wang et al.'s `neg_hscore`). */
export function softHgrLoss(f: Tensor, g: Tensor): Tensor {
  check('softHgrLoss', f, g);
  return tidy(() => mul(softHgr(f, g), -1));
}
