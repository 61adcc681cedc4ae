/**
 * Inverted dropout with an explicit key: in training, each element is zeroed with probability
 * `rate` and the survivors are scaled by 1/(1 − rate), so the expectation is unchanged; otherwise
 * (or with rate 0) the input comes back unchanged (as a fresh zero-copy reference). The mask is a
 * pure function of the key: the same key drops the same elements on every backend.
 */
import { WgradError } from '../core/backend.js';
import { mul, where } from '../tensor/ops/elementwise.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { bernoulli, type Key } from '../random/random.js';
import { alias } from '../tensor/alias.js';

/** Inverted dropout of `x` with rate `rate` when `training` (see the module header). */
export function dropout(key: Key, x: Tensor, rate: number, training: boolean): Tensor {
  if (!(rate >= 0 && rate <= 1)) throw new WgradError('dropout', `rate must be in [0, 1], got ${rate}`);
  if (!training || rate === 0) return alias(x);
  return tidy(() => {
    if (rate === 1) return mul(x, 0);
    const keepMask = bernoulli(key, 1 - rate, x.shape);
    return where(keepMask, mul(x, 1 / (1 - rate)), 0);
  });
}
