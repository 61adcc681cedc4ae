/**
 * CPU rules of gather and scatterAdd (its adjoint), both along one axis with int32 indices.
 * Shapes are split as x = [outer, dim, inner] and updates = [outer, nIndices, inner]:
 *   gather {axis}:            out[o, j, i] = x[o, indices[j], i]; an index < 0 or ≥ dim gives 0
 *                             (no wrap-around).
 *   scatterAdd {axis, size}:  out = zeros [outer, size, inner]; out[o, indices[j], i] += updates[o, j, i]
 *                             visiting updates in increasing flat order; out-of-range indices are
 *                             skipped. Float sums accumulate in doubles and round once; int32 /
 *                             uint32 sums wrap.
 */
import type { OutputSpec } from '../../core/backend.js';
import { numel } from '../../core/shape.js';
import { prodRange, readStrided, rowMajorSource } from './strided.js';
import { allocData, valueKind, type CpuContext, type CpuData, type CpuView } from './types.js';

export function gather([x, indices]: CpuView[], params: { axis: number }, out: OutputSpec, ctx: CpuContext): CpuData {
  const { axis } = params;
  const { data: xs, base } = rowMajorSource(x); // gathering a batch reads a few rows: don't copy all of x
  const idx = readStrided(indices);
  const outer = prodRange(x.shape, 0, axis);
  const dim = x.shape[axis];
  const inner = prodRange(x.shape, axis + 1);
  const result = allocData(out.dtype, numel(out.shape), ctx);
  let pos = 0;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < idx.length; j++) {
      const k = idx[j];
      const inRange = k >= 0 && k < dim;
      for (let i = 0; i < inner; i++, pos++) {
        result[pos] = inRange ? xs[base + (o * dim + k) * inner + i] : 0;
      }
    }
  }
  return result;
}

export function scatterAdd(
  [updates, indices]: CpuView[],
  params: { axis: number; size: number },
  out: OutputSpec,
  ctx: CpuContext,
): CpuData {
  const { axis, size } = params;
  const ups = readStrided(updates);
  const idx = readStrided(indices);
  const outer = prodRange(updates.shape, 0, axis);
  const inner = prodRange(updates.shape, axis + indices.shape.length);
  const kind = valueKind(out.dtype);
  const wrap = kind === 'int32' ? (v: number) => v | 0 : kind === 'uint32' ? (v: number) => v >>> 0 : (v: number) => v;
  const sums = new Float64Array(numel(out.shape));
  let pos = 0;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < idx.length; j++) {
      const k = idx[j];
      const inRange = k >= 0 && k < size;
      for (let i = 0; i < inner; i++, pos++) {
        if (inRange) {
          const target = (o * size + k) * inner + i;
          sums[target] = wrap(sums[target] + ups[pos]);
        }
      }
    }
  }
  const result = allocData(out.dtype, sums.length, ctx);
  result.set(sums);
  return result;
}
