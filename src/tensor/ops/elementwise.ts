/**
 * Elementwise ops: unary, binary (NumPy broadcasting), where, cast.
 * Binary operands must share a dtype; a plain number is weakly typed (JAX's rule, see `weakDType`).
 * Gradients of broadcast operands are summed back to their shapes once, in the backward driver.
 */
import { WgradError } from '../../core/backend.js';
import { checkDType, type DType } from '../../core/dtype.js';
import { BINARY_DOMAIN, type BinaryOp, checkDomain, checkSameDType, elementwiseDType, type UnaryOp } from '../../core/prims.js';
import { broadcastShapes, fmtShape } from '../../core/shape.js';
import { alias } from '../alias.js';
import { runPrim } from '../engine.js';
import { checkTensor, Tensor } from '../tensor.js';
import { constant } from './creation.js';

/** A tensor, or a number (weakly typed: it takes the tensor's dtype). */
export type TensorLike = Tensor | number;

/** A unary op; the dtypes each accepts (e.g. exp float32 only; floor the identity on integers) are core's UNARY_DOMAIN. */
function unary(op: UnaryOp, x: Tensor): Tensor {
  checkTensor(op, x);
  return runPrim(op, [x], {}, x.shape, elementwiseDType(op, [x], {}));
}

/** −x, elementwise. */
export const neg = (x: Tensor) => unary('neg', x);
/** |x|, elementwise. */
export const abs = (x: Tensor) => unary('abs', x);
/** −1, 0 or 1 by the sign of x, elementwise. */
export const sign = (x: Tensor) => unary('sign', x);
/** eˣ, elementwise. */
export const exp = (x: Tensor) => unary('exp', x);
/** Natural logarithm, elementwise. */
export const log = (x: Tensor) => unary('log', x);
/** log(1 + x), accurate for small x, elementwise. */
export const log1p = (x: Tensor) => unary('log1p', x);
/** eˣ − 1, accurate for small x, elementwise. */
export const expm1 = (x: Tensor) => unary('expm1', x);
/** √x, elementwise. */
export const sqrt = (x: Tensor) => unary('sqrt', x);
/** 1/√x, elementwise. */
export const rsqrt = (x: Tensor) => unary('rsqrt', x);
/** 1/x, elementwise. */
export const reciprocal = (x: Tensor) => unary('reciprocal', x);
/** sin x, elementwise. */
export const sin = (x: Tensor) => unary('sin', x);
/** cos x, elementwise. */
export const cos = (x: Tensor) => unary('cos', x);
/** tanh x, elementwise. */
export const tanh = (x: Tensor) => unary('tanh', x);
/** Largest integer ≤ x, elementwise. */
export const floor = (x: Tensor) => unary('floor', x);
/** Smallest integer ≥ x, elementwise. */
export const ceil = (x: Tensor) => unary('ceil', x);
/** x rounded to the nearest integer, halves to even (as NumPy), elementwise. */
export const round = (x: Tensor) => unary('round', x);
/** Logical not of a bool tensor, elementwise. */
export const logicalNot = (x: Tensor) => unary('logicalNot', x);
/** A contiguous copy (a no-op view is never returned: the result owns fresh storage). */
export const copy = (x: Tensor) => unary('copy', x);
/** `x` itself when already contiguous (a new reference), else a contiguous copy. */
export function contiguous(x: Tensor): Tensor {
  checkTensor('contiguous', x);
  return x.isContiguous ? alias(x) : copy(x);
}

/**
 * Weak typing of JS numbers (JAX's rule): a number beside a tensor takes the tensor's dtype when it
 * is exactly a value of that dtype (any number for float32; an in-range integer for int32/uint32;
 * 0 or 1 for bool). A non-integer number (1.5, NaN, ±Infinity) beside an int32/uint32/bool tensor
 * promotes both to float32; another integer beside a bool tensor promotes it to int32 (for
 * comparisons and where: arithmetic on bool raises first); an integer outside the int32/uint32
 * range raises. Two numbers are float32. Tensors of different dtypes raise (cast one first): only
 * numbers are weak.
 */
function weakDType(op: string, value: number, t: Tensor): DType {
  const d = t.dtype;
  if (d === 'float32') return d;
  if (!Number.isInteger(value)) return 'float32';
  if (d === 'bool') return value === 0 || value === 1 ? 'bool' : 'int32';
  const [lo, hi] = d === 'int32' ? [-(2 ** 31), 2 ** 31 - 1] : [0, 2 ** 32 - 1];
  if (value < lo || value > hi) {
    throw new WgradError(op, `the number ${value} is outside the ${d} range [${lo}, ${hi}] of the other operand (${d} ${fmtShape(t.shape)}); cast the tensor to float32 first`);
  }
  return d;
}

function checkOperand(op: string, v: unknown, position: string): asserts v is TensorLike {
  if (v instanceof Tensor) return v._check(op);
  if (typeof v === 'number') return;
  const what = v === null ? 'null' : Array.isArray(v) ? 'a JS array (wrap it with tensor([...]))' : typeof v;
  throw new WgradError(op, `the ${position} operand must be a Tensor or a number, got ${what}`);
}

/**
 * @internal Turns the operands of a binary op into tensors of one dtype (see `weakDType`). The
 * callback receives them; temporaries made by a promotion are disposed after it returns.
 */
export function withOperands<T>(op: string, a: TensorLike, b: TensorLike, fn: (x: Tensor, y: Tensor) => T): T {
  checkOperand(op, a, 'first');
  checkOperand(op, b, 'second');
  if (typeof a === 'number' && typeof b === 'number') return fn(constant(a, 'float32'), constant(b, 'float32'));
  if (typeof a !== 'number' && typeof b !== 'number') {
    checkSameDType(op, a, b);
    return fn(a, b);
  }
  const t = (typeof a === 'number' ? b : a) as Tensor;
  const n = (typeof a === 'number' ? a : b) as number;
  const dtype = weakDType(op, n, t);
  const promoted = dtype === t.dtype ? t : runPrim('cast', [t], { dtype }, t.shape, dtype);
  try {
    const c = constant(n, dtype);
    return typeof a === 'number' ? fn(c, promoted) : fn(promoted, c);
  } finally {
    if (promoted !== t) promoted.dispose();
  }
}

/** A binary op; the dtypes each accepts (e.g. add not bool) are core's BINARY_DOMAIN. */
function binary(op: BinaryOp, a: TensorLike, b: TensorLike): Tensor {
  // A tensor beside a number is checked before the number can promote it, so add(bool, 1) and
  // add(bool, 2) both raise (rather than the second computing in int32).
  const single = typeof a === 'number' ? b : typeof b === 'number' ? a : undefined;
  if (single instanceof Tensor) checkDomain(op, BINARY_DOMAIN[op], single, 'the operands');
  return withOperands(op, a, b, (x, y) => {
    const shape = broadcastShapes(op, x.shape, y.shape);
    return runPrim(op, [x, y], {}, shape, elementwiseDType(op, [x, y], {}));
  });
}

/** a + b, elementwise with broadcasting. */
export const add = (a: TensorLike, b: TensorLike) => binary('add', a, b);
/** a − b, elementwise with broadcasting. */
export const sub = (a: TensorLike, b: TensorLike) => binary('sub', a, b);
/** a · b, elementwise with broadcasting. */
export const mul = (a: TensorLike, b: TensorLike) => binary('mul', a, b);
/** a / b, elementwise with broadcasting. */
export const div = (a: TensorLike, b: TensorLike) => binary('div', a, b);
/** a raised to the power b, elementwise with broadcasting. */
export const pow = (a: TensorLike, b: TensorLike) => binary('pow', a, b);
/** Floor modulo: the result has the sign of the divisor (NumPy's `mod`). */
export const mod = (a: TensorLike, b: TensorLike) => binary('mod', a, b);
/** The larger of a and b (NaN if either is NaN), elementwise with broadcasting. */
export const maximum = (a: TensorLike, b: TensorLike) => binary('maximum', a, b);
/** The smaller of a and b (NaN if either is NaN), elementwise with broadcasting. */
export const minimum = (a: TensorLike, b: TensorLike) => binary('minimum', a, b);
/** a == b, as bool, elementwise with broadcasting. */
export const equal = (a: TensorLike, b: TensorLike) => binary('eq', a, b);
/** a != b, as bool, elementwise with broadcasting. */
export const notEqual = (a: TensorLike, b: TensorLike) => binary('ne', a, b);
/** a < b, as bool, elementwise with broadcasting. */
export const less = (a: TensorLike, b: TensorLike) => binary('lt', a, b);
/** a ≤ b, as bool, elementwise with broadcasting. */
export const lessEqual = (a: TensorLike, b: TensorLike) => binary('le', a, b);
/** a > b, as bool, elementwise with broadcasting. */
export const greater = (a: TensorLike, b: TensorLike) => binary('gt', a, b);
/** a ≥ b, as bool, elementwise with broadcasting. */
export const greaterEqual = (a: TensorLike, b: TensorLike) => binary('ge', a, b);
/** a and b, of bool tensors, elementwise with broadcasting. */
export const logicalAnd = (a: Tensor, b: Tensor) => binary('logicalAnd', a, b);
/** a or b, of bool tensors, elementwise with broadcasting. */
export const logicalOr = (a: Tensor, b: Tensor) => binary('logicalOr', a, b);
/** x · x, elementwise. */
export const square = (x: Tensor) => mul(x, x);

/** cond ? a : b, all three broadcast; `cond` must be bool. */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  if (!(cond instanceof Tensor)) throw new WgradError('where', `the condition must be a bool Tensor, got ${cond === null ? 'null' : typeof cond}`);
  cond._check('where');
  return withOperands('where', a, b, (x, y) => {
    const shape = broadcastShapes('where', cond.shape, x.shape, y.shape);
    return runPrim('where', [cond, x, y], {}, shape, elementwiseDType('where', [cond, x, y], {}));
  });
}

/** Converts to `dtype`: float → int truncates toward zero (saturating); anything → bool is x ≠ 0. */
export function cast(x: Tensor, dtype: DType): Tensor {
  checkTensor('cast', x);
  checkDType('cast', dtype);
  if (x.dtype === dtype) return alias(x);
  return runPrim('cast', [x], { dtype }, x.shape, dtype);
}

/** Clamps into [lo, hi]. */
export function clip(x: Tensor, lo: TensorLike, hi: TensorLike): Tensor {
  return minimum(maximum(x, lo), hi);
}
