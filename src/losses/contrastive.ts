/**
 * Self-supervised losses: NT-Xent (SimCLR's contrastive loss, for V ≥ 2 views) and negative cosine
 * similarity (SimSiam/BYOL style).
 *
 * NT-Xent, exactly as computed here. Views z⁽¹⁾..z⁽ⱽ⁾, each [N, D], row n of every view being the
 * same sample. Stack them into Z [M = V·N, D] (view-major: row i = v·N + n), L2-normalize the rows
 * (unless `normalize: false`), and let s_ij = z_i·z_j/τ. For anchor i the positives P(i) are the
 * V − 1 rows of the same sample in the other views; the denominator runs over every k ≠ i (the
 * other positives and all negatives):
 *   ℓ(i, p) = −log( exp(s_ip) / Σ_{k≠i} exp(s_ik) )
 *   positives 'mean' (default):  L = (1/M) Σ_i (1/(V−1)) Σ_{p∈P(i)} ℓ(i, p)
 *   positives 'sum':             L = (1/M) Σ_i Σ_{p∈P(i)} ℓ(i, p)
 * For V = 2 both are SimCLR's loss. For V = 3, 'sum' is RoCL's official NT_xent with adv_type 'Rep'
 * (the six positive-pair diagonals summed and divided by 3N) and equals 2 × 'mean'. (RoCL's code also
 * detaches one operand of the similarity matmul and adds 1e-8 inside its logs; neither is done here:
 * apply stopGradient to a view yourself if you want the former.)
 */
import { WgradError } from '../core/backend.js';
import { fmtShape } from '../core/shape.js';
import { arange } from '../tensor/ops/creation.js';
import { cast, equal, logicalAnd, logicalNot, mod, mul, neg, sub, where } from '../tensor/ops/elementwise.js';
import { matmul } from '../tensor/ops/linalg.js';
import { concat, expandDims, transpose } from '../tensor/ops/movement.js';
import { cosineSimilarity, l2Normalize, logsumexp } from '../tensor/ops/nn.js';
import { mean, sum } from '../tensor/ops/reduce.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { type Reduction, reduceLoss } from './reduce.js';

export interface NtXentOptions {
  /** τ (default 0.5, RoCL's and IDAA's). */
  temperature?: number;
  /** L2-normalize the projections first (default true). */
  normalize?: boolean;
  /** How an anchor's V − 1 positive terms combine (default 'mean'; see the header). */
  positives?: 'mean' | 'sum';
}

/** NT-Xent over V ≥ 2 views, each [N, D] (row n of every view is the same sample). */
export function ntXent(views: readonly Tensor[], opts: NtXentOptions = {}): Tensor {
  const { temperature = 0.5, normalize = true, positives = 'mean' } = opts;
  const v = views.length;
  if (v < 2) throw new WgradError('ntXent', `needs at least two views, got ${v}`);
  const [n, d] = views[0].shape;
  if (views.some((x) => x.rank !== 2 || x.shape[0] !== n || x.shape[1] !== d) || n < 1) {
    throw new WgradError('ntXent', `every view must be [N, D] with one N and D, got ${views.map((x) => fmtShape(x.shape)).join(', ')}`);
  }
  if (!(temperature > 0)) throw new WgradError('ntXent', `temperature must be positive, got ${temperature}`);
  return tidy(() => {
    const m = v * n;
    const stacked = concat(views, 0);
    const z = normalize ? l2Normalize(stacked, -1) : stacked;
    const s = mul(matmul(z, transpose(z)), 1 / temperature); // [M, M]
    const idx = arange(0, m, 1, 'int32');
    const diag = equal(expandDims(idx, 1), expandDims(idx, 0));
    const sample = mod(idx, n);
    const positive = cast(logicalAnd(equal(expandDims(sample, 1), expandDims(sample, 0)), logicalNot(diag)), 'float32');
    // log Σ_{k≠i} exp(s_ik): the diagonal is pushed to a value whose exp is exactly 0.
    const lse = logsumexp(where(diag, -1e9, s), -1); // [M]
    const posSum = sum(mul(positive, s), -1); // Σ_{p∈P(i)} s_ip
    const perAnchor = positives === 'sum' ? sub(mul(lse, v - 1), posSum) : sub(lse, mul(posSum, 1 / (v - 1)));
    return mean(perAnchor);
  });
}

export interface NegativeCosineOptions {
  /** The feature axis (default −1). */
  axis?: number;
  reduction?: Reduction;
}

/**
 * −cos(p, z) along the feature axis, averaged over the rest (SimSiam's D(p, z); stop the gradient of
 * z yourself where the method asks for it).
 */
export function negativeCosineSimilarity(p: Tensor, z: Tensor, opts: NegativeCosineOptions = {}): Tensor {
  return tidy(() => reduceLoss(neg(cosineSimilarity(p, z, opts.axis ?? -1)), opts.reduction));
}
