/**
 * CPU rules of the reductions sum / prod / max / min / argmax / argmin over `params.axes`.
 *
 * The input is read with the kept axes first and the reduced axes last, so each output element
 * reduces one contiguous row, in row-major order of the reduced axes.
 * Semantics (the WGSL reduce kernels mirror them):
 *   - float sum / prod accumulate in doubles and round once to float32 (WGSL accumulates in f32
 *     with another order: compare with a tolerance).
 *   - int32 / uint32 sum and prod wrap modulo 2^32; bool sums count (as uint32).
 *   - empty reductions: sum 0, prod 1, max -Infinity / min +Infinity for floats (int32 max/min:
 *     -2^31 / 2^31-1; uint32: 0 / 2^32-1); the front end forbids empty max/min anyway.
 *   - float max / min propagate NaN.
 *   - argmax / argmin (exactly one axis, int32 output): index of the first extreme value; if the
 *     row holds a NaN, the index of the first NaN (NumPy). Empty rows give 0.
 */
import type { OutputSpec } from '../../core/backend.js';
import type { ReduceOp } from '../../core/prims.js';
import { numel } from '../../core/shape.js';
import { permuteView, readStrided } from './strided.js';
import { allocData, valueKind, type CpuContext, type CpuData, type CpuView, type ValueKind } from './types.js';

type Reducer = (row: CpuData, start: number, length: number) => number;

function emptyExtreme(kind: ValueKind, isMax: boolean): number {
  if (kind === 'float') return isMax ? -Infinity : Infinity;
  if (kind === 'int32') return isMax ? -0x80000000 : 0x7fffffff;
  return isMax ? 0 : 0xffffffff;
}

function reducer(op: ReduceOp, kind: ValueKind): Reducer {
  const wrap = kind === 'int32' ? (x: number) => x | 0 : kind === 'uint32' ? (x: number) => x >>> 0 : (x: number) => x;
  switch (op) {
    case 'sum':
      return (row, start, length) => {
        let acc = 0;
        for (let i = start; i < start + length; i++) acc = wrap(acc + row[i]);
        return acc;
      };
    case 'prod':
      return (row, start, length) => {
        let acc = 1;
        for (let i = start; i < start + length; i++) acc = kind === 'float' ? acc * row[i] : wrap(Math.imul(acc, row[i]));
        return acc;
      };
    case 'max':
    case 'min': {
      const pick = op === 'max' ? Math.max : Math.min; // both propagate NaN
      return (row, start, length) => {
        let acc = emptyExtreme(kind, op === 'max');
        for (let i = start; i < start + length; i++) acc = pick(acc, row[i]);
        return acc;
      };
    }
    case 'argmax':
    case 'argmin': {
      const better = op === 'argmax' ? (a: number, b: number) => a > b : (a: number, b: number) => a < b;
      return (row, start, length) => {
        let best = 0;
        for (let i = 0; i < length; i++) {
          const v = row[start + i];
          if (Number.isNaN(v)) return i; // the first NaN wins
          if (better(v, row[start + best])) best = i;
        }
        return best;
      };
    }
  }
}

export function reduce(op: ReduceOp, [x]: CpuView[], params: { axes: number[] }, out: OutputSpec, ctx: CpuContext): CpuData {
  const reduced = new Set(params.axes);
  const kept = x.shape.map((_, i) => i).filter((i) => !reduced.has(i));
  const rowLength = numel(params.axes.map((a) => x.shape[a]));
  const rows = readStrided(permuteView(x, [...kept, ...params.axes]));
  const fn = reducer(op, valueKind(x.dtype));
  const result = allocData(out.dtype, numel(out.shape), ctx);
  for (let r = 0; r < result.length; r++) result[r] = fn(rows, r * rowLength, rowLength);
  return result;
}
