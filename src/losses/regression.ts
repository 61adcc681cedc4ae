/** Mean squared error: mean over all elements of (prediction − target)² (sum or per-element with `reduction`). */
import { WgradError } from '../core/backend.js';
import { fmtShape } from '../core/shape.js';
import { mul, sub } from '../tensor/ops/elementwise.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { type Reduction, reduceLoss } from './reduce.js';

/** Mean squared error of prediction and target of one shape (`reduction`: mean, sum or none). */
export function mse(prediction: Tensor, target: Tensor, opts: { reduction?: Reduction } = {}): Tensor {
  if (prediction.shape.join() !== target.shape.join()) {
    throw new WgradError('mse', `prediction ${fmtShape(prediction.shape)} and target ${fmtShape(target.shape)} must have the same shape`);
  }
  return tidy(() => {
    const d = sub(prediction, target);
    return reduceLoss(mul(d, d), opts.reduction);
  });
}
