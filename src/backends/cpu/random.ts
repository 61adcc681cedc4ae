/**
 * CPU rule of random {key, shape, dist}: element i (row-major) is
 *   [w0_i, w1_i] = threefry2x32(key[0], key[1], i, 0)
 * stored as w0_i (uint32) for 'bits', bitsToUniform(w0_i) (a float32 in [0, 1), exact) for
 * 'uniform', normalFromBits(w0_i, w1_i) (integer-only Box–Muller, a float32) for 'normal'
 * (widened unchanged in float64 mode). Counter based: element i depends only on the key and i.
 */
import type { OutputSpec } from '../../core/backend.js';
import { numel } from '../../core/shape.js';
import { normalFromBits } from '../../core/random/normal.js';
import { bitsToUniform, threefry2x32 } from '../../core/random/threefry.js';
import { allocData, type CpuContext, type CpuData } from './types.js';

export function random(
  params: { key: [number, number]; shape: number[]; dist: 'bits' | 'uniform' | 'normal' },
  out: OutputSpec,
  ctx: CpuContext,
): CpuData {
  const [k0, k1] = params.key;
  const result = allocData(out.dtype, numel(out.shape), ctx);
  for (let i = 0; i < result.length; i++) {
    const [w0, w1] = threefry2x32(k0, k1, i, 0);
    result[i] = params.dist === 'bits' ? w0 : params.dist === 'uniform' ? bitsToUniform(w0) : normalFromBits(w0, w1);
  }
  return result;
}
