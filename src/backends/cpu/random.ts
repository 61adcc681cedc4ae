/**
 * CPU rule of random {key, shape, dist}: element i (row-major) is
 *   bits_i = threefry2x32(key[0], key[1], i, 0)[0]
 * stored as uint32 for 'bits', or bitsToUniform(bits_i) (a float32 in [0, 1), exact) for 'uniform'
 * (widened unchanged in float64 mode). Counter based: element i depends only on the key and i.
 */
import type { OutputSpec } from '../../core/backend.js';
import { numel } from '../../core/shape.js';
import { bitsToUniform, threefry2x32 } from '../../random/threefry.js';
import { allocData, type CpuContext, type CpuData } from './types.js';

export function random(
  params: { key: [number, number]; shape: number[]; dist: 'bits' | 'uniform' },
  out: OutputSpec,
  ctx: CpuContext,
): CpuData {
  const [k0, k1] = params.key;
  const result = allocData(out.dtype, numel(out.shape), ctx);
  for (let i = 0; i < result.length; i++) {
    const bits = threefry2x32(k0, k1, i, 0)[0];
    result[i] = params.dist === 'bits' ? bits : bitsToUniform(bits);
  }
  return result;
}
