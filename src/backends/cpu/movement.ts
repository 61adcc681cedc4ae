/**
 * CPU rules of the data-moving primitives that need a kernel: pad and concat. (reshape, permute,
 * expand and slice are views and never reach a backend.)
 *   pad {widths, value}: out[i + before] = x[i]; every other element is `value` (stored in the
 *     output dtype).
 *   concat {axis}: inputs laid end to end along `axis`, in argument order.
 */
import type { OutputSpec } from '../../core/backend.js';
import { contiguousStrides, numel } from '../../core/shape.js';
import { prodRange, readStrided } from './strided.js';
import { allocData, type CpuContext, type CpuData, type CpuView } from './types.js';

export function pad(
  [x]: CpuView[],
  params: { widths: [number, number][]; value: number },
  out: OutputSpec,
  ctx: CpuContext,
): CpuData {
  const result = allocData(out.dtype, numel(out.shape), ctx);
  result.fill(params.value);
  const xs = readStrided(x);
  const rank = x.shape.length;
  const outStrides = contiguousStrides(out.shape);
  // Walk the input in row-major order, tracking where each element lands in the output.
  const index = new Array<number>(rank).fill(0);
  let pos = params.widths.reduce((acc, [before], d) => acc + before * outStrides[d], 0);
  for (let i = 0; i < xs.length; i++) {
    result[pos] = xs[i];
    for (let d = rank - 1; d >= 0; d--) {
      index[d]++;
      pos += outStrides[d];
      if (index[d] < x.shape[d]) break;
      pos -= outStrides[d] * x.shape[d];
      index[d] = 0;
    }
  }
  return result;
}

export function concat(inputs: CpuView[], params: { axis: number }, out: OutputSpec, ctx: CpuContext): CpuData {
  const { axis } = params;
  const result = allocData(out.dtype, numel(out.shape), ctx);
  const outer = prodRange(out.shape, 0, axis);
  const outRow = prodRange(out.shape, axis); // elements of one outer slice of the output
  let rowStart = 0; // where the current input's block starts inside an output slice
  for (const input of inputs) {
    const xs = readStrided(input);
    const inRow = prodRange(input.shape, axis);
    for (let o = 0; o < outer; o++) {
      result.set(xs.subarray(o * inRow, (o + 1) * inRow), o * outRow + rowStart);
    }
    rowStart += inRow;
  }
  return result;
}
