/** The reduction option shared by the losses. */
import { mean, sum } from '../tensor/ops/reduce.js';
import type { Tensor } from '../tensor/tensor.js';

/** 'mean' (default) and 'sum' give a scalar; 'none' keeps the per-example losses. */
export type Reduction = 'mean' | 'sum' | 'none';

export function reduceLoss(perExample: Tensor, reduction: Reduction = 'mean'): Tensor {
  return reduction === 'mean' ? mean(perExample) : reduction === 'sum' ? sum(perExample) : perExample;
}
