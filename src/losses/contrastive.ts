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
 * (the six positive-pair diagonals summed and divided by 3N) and equals 2 × 'mean'.
 *
 * The gradient of the similarity matrix (`gradient`):
 *   'full' (default)  S = Z·Zᵀ/τ, differentiated through both operands (SimCLR's, IDAA's code):
 *                     z_i receives gradient from its own row and from every other anchor's row.
 *   'anchor'          S = Z·sg(Z)ᵀ/τ (RoCL's official `pairwise_similarity`): the right operand is
 *                     detached, so z_i receives gradient only from its own row i (as the anchor).
 * Per method: RoCL uses 'anchor' in its attack and both loss terms (ROCL_DEFAULTS.similarityGradient,
 * as its official code); SimCLR, IDAA and the noise/mask baselines use 'full' (SimCLR's and IDAA's
 * codes differentiate the whole matrix).
 * The value is the same; only the gradient differs. A stop-gradient on one *view* is not the same
 * thing as 'anchor': it removes that view's rows as anchors too (its z gets no gradient at all) and
 * keeps the gradient through the other views' columns.
 * RoCL's code also adds 1e-8 inside its logs and to the norms; that is not done here.
 *
 * N ≥ 2 samples are required: with one sample there are no negatives (at V = 2 the loss is then 0
 * whatever z is, and a training step would learn nothing), so N = 1 is refused.
 *
 * What it computes, per the papers and official code, and the readings chosen: docs/methods.md#nt-xent.
 */
import { WgradError } from '../core/backend.js';
import { fmtShape } from '../core/shape.js';
import { arange } from '../tensor/ops/creation.js';
import { cast, equal, logicalAnd, logicalNot, mod, mul, neg, sub, where } from '../tensor/ops/elementwise.js';
import { matmul } from '../tensor/ops/linalg.js';
import { concat, expandDims, transpose } from '../tensor/ops/movement.js';
import { cosineSimilarity, l2Normalize, logsumexp } from '../tensor/ops/nn.js';
import { mean, sum } from '../tensor/ops/reduce.js';
import { stopGradient } from '../tensor/alias.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { type Reduction, reduceLoss } from './reduce.js';

/** Options of `ntXent`: temperature, normalization, the positives and the similarity gradient. */
export interface NtXentOptions {
  /** τ (default 0.5, RoCL's and IDAA's). */
  temperature?: number;
  /** L2-normalize the projections first (default true). */
  normalize?: boolean;
  /** How an anchor's V − 1 positive terms combine (default 'mean'; see the header). */
  positives?: 'mean' | 'sum';
  /** Which operand of the similarity matrix is differentiated (default 'full'; see the header). */
  gradient?: 'full' | 'anchor';
}

/**
 * Refuses a batch without negatives: NT-Xent needs N ≥ 2 samples (`what` describes the input for
 * the message). The steps of the NT-Xent methods call it first, so they fail before any attack runs.
 */
export function checkNtXentBatch(op: string, n: number, what = `a batch of ${n}`): void {
  if (n < 2) throw new WgradError(op, `NT-Xent needs N ≥ 2 samples per view (the other samples are the negatives), got ${what}: a batch of 1 has no negatives and trains nothing`);
}

/** NT-Xent over V ≥ 2 views, each [N, D] (row n of every view is the same sample). */
export function ntXent(views: readonly Tensor[], opts: NtXentOptions = {}): Tensor {
  const { temperature = 0.5, normalize = true, positives = 'mean', gradient = 'full' } = opts;
  const v = views.length;
  if (v < 2) throw new WgradError('ntXent', `needs at least two views, got ${v}`);
  const [n, d] = views[0].shape;
  if (views.some((x) => x.rank !== 2 || x.shape[0] !== n || x.shape[1] !== d) || n < 1) {
    throw new WgradError('ntXent', `every view must be [N, D] with one N and D, got ${views.map((x) => fmtShape(x.shape)).join(', ')}`);
  }
  checkNtXentBatch('ntXent', n, `views of shape ${fmtShape(views[0].shape)}`);
  if (!(temperature > 0)) throw new WgradError('ntXent', `temperature must be positive, got ${temperature}`);
  if (gradient !== 'full' && gradient !== 'anchor') throw new WgradError('ntXent', `gradient must be 'full' or 'anchor', got ${JSON.stringify(gradient)}`);
  return tidy(() => {
    const m = v * n;
    const stacked = concat(views, 0);
    const z = normalize ? l2Normalize(stacked, -1) : stacked;
    const s = mul(matmul(z, transpose(gradient === 'anchor' ? stopGradient(z) : z)), 1 / temperature); // [M, M]
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

/** Options of `negativeCosine`: the feature axis and the reduction. */
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
