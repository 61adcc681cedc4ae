/**
 * Softmax cross-entropy with integer labels: loss_i = −Σ_c t_ic · log softmax(z_i)_c, where t is the
 * one-hot label, or with label smoothing α the mixture (1 − α)·onehot + α/C (PyTorch's and Optax's
 * convention: the α mass is spread over all C classes, the true one included). Mean over the batch
 * by default.
 */
import { WgradError } from '../core/backend.js';
import { fmtShape } from '../core/shape.js';
import { add, mul, neg } from '../tensor/ops/elementwise.js';
import { oneHot } from '../tensor/ops/movement.js';
import { logSoftmax } from '../tensor/ops/nn.js';
import { sum } from '../tensor/ops/reduce.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { type Reduction, reduceLoss } from './reduce.js';

export interface CrossEntropyOptions {
  /** α in [0, 1) (default 0). */
  labelSmoothing?: number;
  reduction?: Reduction;
}

/** logits [..., C] float32, labels [...] int32 in [0, C). */
export function softmaxCrossEntropy(logits: Tensor, labels: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const { labelSmoothing = 0, reduction = 'mean' } = opts;
  if (labels.dtype !== 'int32') throw new WgradError('softmaxCrossEntropy', `labels must be int32 class indices, got ${labels.dtype}`);
  if (logits.rank !== labels.rank + 1 || labels.shape.some((d, i) => d !== logits.shape[i])) {
    throw new WgradError('softmaxCrossEntropy', `expected logits [..., C] and labels [...], got ${fmtShape(logits.shape)} and ${fmtShape(labels.shape)}`);
  }
  if (!(labelSmoothing >= 0 && labelSmoothing < 1)) throw new WgradError('softmaxCrossEntropy', `labelSmoothing must be in [0, 1), got ${labelSmoothing}`);
  return tidy(() => {
    const c = logits.shape[logits.rank - 1];
    let targets = oneHot(labels, c);
    if (labelSmoothing > 0) targets = add(mul(targets, 1 - labelSmoothing), labelSmoothing / c);
    const perExample = neg(sum(mul(targets, logSoftmax(logits, -1)), -1));
    return reduceLoss(perExample, reduction);
  });
}
