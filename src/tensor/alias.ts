/**
 * Aliases: new references to a tensor's storage and layout (no copy, no kernel), so a function can
 * hand back "the same" tensor as a reference its caller may dispose independently (every tensor a
 * function returns is then a fresh reference). The one way wgrad makes them.
 */
import { viewPrim } from './engine.js';
import { checkTensor, Tensor } from './tensor.js';

/** A new reference to `x`, recorded as an identity reshape, so gradients flow through it. */
export function alias(x: Tensor): Tensor {
  checkTensor('alias', x);
  return viewPrim('reshape', x, { shape: [...x.shape] }, x.shape, x._strides, x._offset);
}

/** stopGradient: the same values, cut out of the traced graph (a new reference without a recorded node). */
export function stopGradient(x: Tensor): Tensor {
  checkTensor('stopGradient', x);
  return new Tensor(x._ref.retain(), x.shape, x.dtype, x._strides, x._offset);
}
