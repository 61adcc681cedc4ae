/**
 * Latent reconstruction (APLR's pretext loss, see src/ssl/aplr.ts): how far a prediction p [N, K] of a
 * latent representation is from its target t [N, K].
 *
 *   'normalized' (default)  mean_n ‖ p_n/‖p_n‖ − t_n/‖t_n‖ ‖²   (summed over K; = mean_n (2 − 2·cos(p_n, t_n)), in [0, 4])
 *   'mse'                   mean over every element of (p − t)²   (PyTorch's MSELoss)
 *
 * No stop-gradient is applied here: the caller stops the target's gradient where the method asks.
 */
import { WgradError } from '../core/backend.js';
import { fmtShape } from '../core/shape.js';
import { mul, sub } from '../tensor/ops/elementwise.js';
import { l2Normalize } from '../tensor/ops/nn.js';
import { mean, sum } from '../tensor/ops/reduce.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';

/** How `latentReconstruction` measures distance (see the module header). */
export type LatentDistance = 'normalized' | 'mse';

/** Distance between predicted and target latent codes [N, K]: normalized (default) or plain MSE. */
export function latentReconstruction(prediction: Tensor, target: Tensor, opts: { distance?: LatentDistance } = {}): Tensor {
  const distance = opts.distance ?? 'normalized';
  if (prediction.rank !== 2 || prediction.shape.join() !== target.shape.join() || prediction.dtype !== 'float32' || target.dtype !== 'float32') {
    throw new WgradError('latentReconstruction', `expected float32 prediction and target [N, K] of one shape, got ${prediction.dtype} ${fmtShape(prediction.shape)} and ${target.dtype} ${fmtShape(target.shape)}`);
  }
  if (distance !== 'normalized' && distance !== 'mse') throw new WgradError('latentReconstruction', `distance must be 'normalized' or 'mse', got ${JSON.stringify(distance)}`);
  return tidy(() => {
    if (distance === 'mse') {
      const d = sub(prediction, target);
      return mean(mul(d, d));
    }
    const d = sub(l2Normalize(prediction, -1), l2Normalize(target, -1));
    return mean(sum(mul(d, d), -1));
  });
}
