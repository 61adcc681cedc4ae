/**
 * Elementwise ops: unary, binary (NumPy broadcasting), where, cast.
 * Binary operands must share a dtype; a plain number takes the dtype of the tensor beside it.
 * Gradients of broadcast operands are summed back to their shapes once, in the backward driver.
 */
import { WgradError } from '../../core/backend.js';
import type { DType } from '../../core/dtype.js';
import { type BinaryOp, COMPARISON_OPS, type UnaryOp } from '../../core/prims.js';
import { broadcastShapes, fmtShape } from '../../core/shape.js';
import { runPrim, viewPrim } from '../engine.js';
import { Tensor } from '../tensor.js';
import { constant } from './creation.js';

export type TensorLike = Tensor | number;

const FLOAT_ONLY = new Set<UnaryOp>(['exp', 'log', 'log1p', 'expm1', 'sqrt', 'rsqrt', 'reciprocal', 'sin', 'cos', 'tanh', 'floor', 'ceil', 'round']);

function unary(op: UnaryOp, x: Tensor): Tensor {
  x._check(op);
  if (FLOAT_ONLY.has(op) && x.dtype !== 'float32') {
    throw new WgradError(op, `expected a float32 tensor, got ${x.dtype} ${fmtShape(x.shape)}; cast it first`);
  }
  if ((op === 'neg' || op === 'abs' || op === 'sign') && x.dtype === 'bool') {
    throw new WgradError(op, `expected a numeric tensor, got bool ${fmtShape(x.shape)}`);
  }
  return runPrim(op, [x], {}, x.shape, op === 'logicalNot' ? 'bool' : x.dtype);
}

export const neg = (x: Tensor) => unary('neg', x);
export const abs = (x: Tensor) => unary('abs', x);
export const sign = (x: Tensor) => unary('sign', x);
export const exp = (x: Tensor) => unary('exp', x);
export const log = (x: Tensor) => unary('log', x);
export const log1p = (x: Tensor) => unary('log1p', x);
export const expm1 = (x: Tensor) => unary('expm1', x);
export const sqrt = (x: Tensor) => unary('sqrt', x);
export const rsqrt = (x: Tensor) => unary('rsqrt', x);
export const reciprocal = (x: Tensor) => unary('reciprocal', x);
export const sin = (x: Tensor) => unary('sin', x);
export const cos = (x: Tensor) => unary('cos', x);
export const tanh = (x: Tensor) => unary('tanh', x);
export const floor = (x: Tensor) => unary('floor', x);
export const ceil = (x: Tensor) => unary('ceil', x);
export const round = (x: Tensor) => unary('round', x);
export const logicalNot = (x: Tensor) => unary('logicalNot', x);
/** A contiguous copy (a no-op view is never returned: the result owns fresh storage). */
export const copy = (x: Tensor) => unary('copy', x);
/** `x` itself when already contiguous (a new reference), else a contiguous copy. */
export function contiguous(x: Tensor): Tensor {
  x._check('contiguous');
  return x.isContiguous ? copyView(x) : copy(x);
}
/** A new tensor sharing x's storage and layout (recorded as an identity reshape, so gradients flow). */
function copyView(x: Tensor): Tensor {
  return viewPrim('reshape', x, { shape: [...x.shape] }, x.shape, x._strides, x._offset);
}

/** @internal Turns the operands of a binary op into tensors of one dtype. */
export function operands(op: string, a: TensorLike, b: TensorLike): [Tensor, Tensor] {
  if (typeof a === 'number' && typeof b === 'number') {
    return [constant(a, 'float32'), constant(b, 'float32')];
  }
  if (typeof a === 'number') return [constant(a, (b as Tensor).dtype), b as Tensor];
  if (typeof b === 'number') return [a, constant(b, a.dtype)];
  a._check(op);
  b._check(op);
  if (a.dtype !== b.dtype) {
    throw new WgradError(op, `dtype mismatch: ${a.dtype} ${fmtShape(a.shape)} and ${b.dtype} ${fmtShape(b.shape)}; cast one of them first`);
  }
  return [a, b];
}

function binary(op: BinaryOp, a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = operands(op, a, b);
  const shape = broadcastShapes(op, x.shape, y.shape);
  const logical = op === 'logicalAnd' || op === 'logicalOr';
  if (logical && x.dtype !== 'bool') throw new WgradError(op, `expected bool tensors, got ${x.dtype}`);
  if (!logical && x.dtype === 'bool' && !COMPARISON_OPS.includes(op)) {
    throw new WgradError(op, `arithmetic on bool tensors is not defined; cast to int32 or float32 first`);
  }
  return runPrim(op, [x, y], {}, shape, COMPARISON_OPS.includes(op) ? 'bool' : x.dtype);
}

export const add = (a: TensorLike, b: TensorLike) => binary('add', a, b);
export const sub = (a: TensorLike, b: TensorLike) => binary('sub', a, b);
export const mul = (a: TensorLike, b: TensorLike) => binary('mul', a, b);
export const div = (a: TensorLike, b: TensorLike) => binary('div', a, b);
export const pow = (a: TensorLike, b: TensorLike) => binary('pow', a, b);
/** Floor modulo: the result has the sign of the divisor (NumPy's `mod`). */
export const mod = (a: TensorLike, b: TensorLike) => binary('mod', a, b);
export const maximum = (a: TensorLike, b: TensorLike) => binary('maximum', a, b);
export const minimum = (a: TensorLike, b: TensorLike) => binary('minimum', a, b);
export const equal = (a: TensorLike, b: TensorLike) => binary('eq', a, b);
export const notEqual = (a: TensorLike, b: TensorLike) => binary('ne', a, b);
export const less = (a: TensorLike, b: TensorLike) => binary('lt', a, b);
export const lessEqual = (a: TensorLike, b: TensorLike) => binary('le', a, b);
export const greater = (a: TensorLike, b: TensorLike) => binary('gt', a, b);
export const greaterEqual = (a: TensorLike, b: TensorLike) => binary('ge', a, b);
export const logicalAnd = (a: Tensor, b: Tensor) => binary('logicalAnd', a, b);
export const logicalOr = (a: Tensor, b: Tensor) => binary('logicalOr', a, b);
export const square = (x: Tensor) => mul(x, x);

/** cond ? a : b, all three broadcast; `cond` must be bool. */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  cond._check('where');
  if (cond.dtype !== 'bool') throw new WgradError('where', `condition must be bool, got ${cond.dtype} ${fmtShape(cond.shape)}`);
  const [x, y] = operands('where', a, b);
  const shape = broadcastShapes('where', cond.shape, x.shape, y.shape);
  return runPrim('where', [cond, x, y], {}, shape, x.dtype);
}

/** Converts to `dtype`: float → int truncates toward zero (saturating); anything → bool is x ≠ 0. */
export function cast(x: Tensor, dtype: DType): Tensor {
  x._check('cast');
  if (x.dtype === dtype) return copyView(x);
  return runPrim('cast', [x], { dtype }, x.shape, dtype);
}

/** Clamps into [lo, hi]. */
export function clip(x: Tensor, lo: TensorLike, hi: TensorLike): Tensor {
  return minimum(maximum(x, lo), hi);
}
