/**
 * CPU rules of the elementwise primitives: unary ops, binary ops, cast and where. Inputs are read
 * broadcast (NumPy rules) to the output shape, then combined element by element with the scalar
 * functions of scalar.ts, which spell out the exact semantics. Float results are computed on
 * doubles and rounded once when stored into the float32 output (no rounding in float64 mode).
 *
 * cast {dtype} (the WGSL cast kernel mirrors this):
 *   float → int32 / uint32   truncate toward zero, saturate to [-2^31, 2^31-1] / [0, 2^32-1], NaN → 0.
 *   int32 ↔ uint32           reinterpret the 32 bits (modulo 2^32).
 *   anything → bool          x != 0 (NaN → 1).
 *   bool → anything          0 / 1.   int → float: nearest float32.
 */
import type { OutputSpec } from '../../core/backend.js';
import type { DType } from '../../core/dtype.js';
import { checkElementwiseCall, type BinaryOp, type UnaryOp } from '../../core/prims.js';
import { numel } from '../../core/shape.js';
import { BINARY_FNS, UNARY_FNS, scalarFn } from './scalar.js';
import { readStrided } from './strided.js';
import { allocData, valueKind, type CpuContext, type CpuData, type CpuView } from './types.js';

export function unary(op: UnaryOp, [x]: CpuView[], out: OutputSpec, ctx: CpuContext): CpuData {
  checkElementwiseCall(op, [x], {}, out.dtype);
  const fn = scalarFn(op, UNARY_FNS[op], valueKind(x.dtype));
  const xs = readStrided(x, out.shape);
  const result = allocData(out.dtype, xs.length, ctx);
  for (let i = 0; i < xs.length; i++) result[i] = fn(xs[i]);
  return result;
}

export function binary(op: BinaryOp, [a, b]: CpuView[], out: OutputSpec, ctx: CpuContext): CpuData {
  checkElementwiseCall(op, [a, b], {}, out.dtype);
  const fn = scalarFn(op, BINARY_FNS[op], valueKind(a.dtype));
  const as = readStrided(a, out.shape);
  const bs = readStrided(b, out.shape);
  const result = allocData(out.dtype, as.length, ctx);
  for (let i = 0; i < as.length; i++) result[i] = fn(as[i], bs[i]);
  return result;
}

/** Float value → integer dtype: truncate, saturate, NaN → 0. */
function floatToInt(x: number, min: number, max: number): number {
  if (Number.isNaN(x)) return 0;
  return Math.min(max, Math.max(min, Math.trunc(x)));
}

function castFn(from: DType, to: DType): (x: number) => number {
  if (to === 'bool') return (x) => (x !== 0 ? 1 : 0);
  if (from === 'float32' && to === 'int32') return (x) => floatToInt(x, -0x80000000, 0x7fffffff);
  if (from === 'float32' && to === 'uint32') return (x) => floatToInt(x, 0, 0xffffffff);
  if (to === 'int32') return (x) => x | 0;
  if (to === 'uint32') return (x) => x >>> 0;
  return (x) => x; // → float32 (rounded by the store)
}

export function cast([x]: CpuView[], params: { dtype: DType }, out: OutputSpec, ctx: CpuContext): CpuData {
  checkElementwiseCall('cast', [x], params, out.dtype);
  const fn = castFn(x.dtype, params.dtype);
  const xs = readStrided(x, out.shape);
  const result = allocData(params.dtype, xs.length, ctx);
  for (let i = 0; i < xs.length; i++) result[i] = fn(xs[i]);
  return result;
}

/** where(cond, a, b): cond nonzero picks a, else b; all three broadcast to the output. */
export function where([cond, a, b]: CpuView[], out: OutputSpec, ctx: CpuContext): CpuData {
  checkElementwiseCall('where', [cond, a, b], {}, out.dtype);
  const cs = readStrided(cond, out.shape);
  const as = readStrided(a, out.shape);
  const bs = readStrided(b, out.shape);
  const result = allocData(out.dtype, numel(out.shape), ctx);
  for (let i = 0; i < result.length; i++) result[i] = cs[i] !== 0 ? as[i] : bs[i];
  return result;
}
