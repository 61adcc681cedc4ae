/**
 * CPU rule of argsort {descending}: int32 indices that stably sort each row along the LAST axis.
 * Order: NaN is greater than every number (+Infinity included), so NaNs go last ascending and first
 * descending (like torch.sort). Equal keys (NaNs among themselves too) keep their original order in
 * both directions. A rank-0 input is one row of one element.
 */
import type { OutputSpec } from '../../core/backend.js';
import { numel } from '../../core/shape.js';
import { readStrided } from './strided.js';
import { allocData, type CpuContext, type CpuData, type CpuView } from './types.js';

/** Total order with NaN above everything: negative, zero or positive like a comparator. */
function compareNanLast(a: number, b: number): number {
  const aNan = Number.isNaN(a);
  const bNan = Number.isNaN(b);
  if (aNan || bNan) return aNan === bNan ? 0 : aNan ? 1 : -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

export function argsort([x]: CpuView[], params: { descending: boolean }, out: OutputSpec, ctx: CpuContext): CpuData {
  const xs = readStrided(x);
  const rowLength = x.shape.length === 0 ? 1 : x.shape[x.shape.length - 1];
  const result = allocData(out.dtype, numel(out.shape), ctx);
  const sign = params.descending ? -1 : 1;
  const order = Array.from({ length: rowLength }, (_, i) => i);
  for (let start = 0; start < xs.length; start += rowLength) {
    for (let i = 0; i < rowLength; i++) order[i] = i;
    order.sort((i, j) => sign * compareNanLast(xs[start + i], xs[start + j]) || i - j);
    for (let i = 0; i < rowLength; i++) result[start + i] = order[i];
  }
  return result;
}
