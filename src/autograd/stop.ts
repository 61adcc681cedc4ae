/** stopGradient: the same values, cut out of the traced graph (a view without a recorded node). */
import { Tensor } from '../tensor/tensor.js';

export function stopGradient(x: Tensor): Tensor {
  x._check('stopGradient');
  return new Tensor(x._ref.retain(), x.shape, x.dtype, x._strides, x._offset);
}
