/**
 * The closed primitive set. Everything else in wgrad (softmax, losses, layers, attacks) is composed
 * from these in the front end. Each primitive has, in one rule table per transformation:
 *   - a CPU reference implementation        (src/backends/cpu/rules.ts,   `{ [P in ComputePrim]: ... }`)
 *   - a WGSL lowering: for elementwise primitives their WGSL op, which always runs through fusion
 *     (src/kernels/elementwise-ops.ts, `{ [P in ElementwisePrim]: ... }`), for the others a kernel
 *     (src/backends/webgpu/rules.ts, `{ [P in Exclude<ComputePrim, ElementwisePrim>]: ... }`)
 *   - a VJP rule                            (src/autograd/vjp.ts,          `{ [P in Prim]: ... }`)
 * so adding a primitive without all three fails `tsc`.
 *
 * View primitives (reshape, permute, expand, slice) never run a kernel: they only change the
 * shape/strides/offset of a tensor over the same storage. Compute primitives read strided views and
 * write a fresh contiguous (row-major) output.
 */
import { checkDType, type DType } from './dtype.js';
import { WgradError } from './errors.js';
import { fmtShape } from './shape.js';

export const UNARY_OPS = [
  'neg', 'abs', 'sign', 'exp', 'log', 'log1p', 'expm1', 'sqrt', 'rsqrt', 'reciprocal',
  'sin', 'cos', 'tanh', 'floor', 'ceil', 'round', 'logicalNot', 'copy',
] as const;
export type UnaryOp = (typeof UNARY_OPS)[number];

export const BINARY_OPS = [
  'add', 'sub', 'mul', 'div', 'pow', 'mod', 'maximum', 'minimum',
  'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'logicalAnd', 'logicalOr',
] as const;
export type BinaryOp = (typeof BINARY_OPS)[number];
/** Binary ops whose result is bool whatever the input dtype. */
export const COMPARISON_OPS: readonly BinaryOp[] = ['eq', 'ne', 'lt', 'le', 'gt', 'ge', 'logicalAnd', 'logicalOr'];

export const REDUCE_OPS = ['sum', 'prod', 'max', 'min', 'argmax', 'argmin'] as const;
export type ReduceOp = (typeof REDUCE_OPS)[number];

export interface Conv2dGeometry {
  stride: [number, number];
  /** Zero padding added on both sides of H and W. */
  padding: [number, number];
  dilation: [number, number];
  groups: number;
}

/** Parameters of every primitive, by name. Inputs are listed in each comment. */
export interface PrimParams {
  // ---- elementwise (inputs broadcast together; output has the broadcast shape) ----
  neg: {}; abs: {}; sign: {}; exp: {}; log: {}; log1p: {}; expm1: {}; sqrt: {}; rsqrt: {};
  reciprocal: {}; sin: {}; cos: {}; tanh: {}; floor: {}; ceil: {}; round: {};
  logicalNot: {};
  /** Materializes a strided view into a contiguous buffer. */
  copy: {};
  add: {}; sub: {}; mul: {}; div: {}; pow: {}; mod: {}; maximum: {}; minimum: {};
  eq: {}; ne: {}; lt: {}; le: {}; gt: {}; ge: {}; logicalAnd: {}; logicalOr: {};
  /** (x) → x converted to `dtype` (float→int truncates toward zero; bool is x != 0). */
  cast: { dtype: DType };
  /** (cond: bool, a, b) → cond ? a : b. */
  where: {};
  // ---- reductions over `axes` (sorted, unique, non-empty); the reduced axes are removed ----
  sum: { axes: number[] }; prod: { axes: number[] }; max: { axes: number[] }; min: { axes: number[] };
  /** int32 index of the first maximum along `axes` (exactly one axis). */
  argmax: { axes: number[] }; argmin: { axes: number[] };
  // ---- movement ----
  /** View: same elements, new shape (input must be contiguous; the front end copies otherwise). */
  reshape: { shape: number[] };
  /** View: output axis i is input axis perm[i]. */
  permute: { perm: number[] };
  /** View: size-1 (or missing leading) axes broadcast to `shape` with stride 0. */
  expand: { shape: number[] };
  /** View: per axis, elements start, start+step, ... while < stop (step > 0) or > stop (step < 0). */
  slice: { starts: number[]; stops: number[]; steps: number[] };
  /** (x) → x padded with `value`: `widths[i] = [before, after]`, both ≥ 0. */
  pad: { widths: [number, number][]; value: number };
  /** (...xs) → xs joined along `axis` (all other dims equal). */
  concat: { axis: number };
  // ---- gather / scatter ----
  /** (x, indices: int32) → out[..., idx..., ...] = x[..., indices[idx...], ...] along `axis`. */
  gather: { axis: number };
  /** (updates, indices: int32) → zeros with dim `axis` = `size`, updates summed into rows `indices`;
   *  the adjoint of gather. updates.shape = prefix + indices.shape + suffix. */
  scatterAdd: { axis: number; size: number };
  // ---- contractions ----
  /** (a: [...b, M, K], b: [...b, K, N]) → [...broadcast(b), M, N]. */
  matmul: {};
  /** (x: [N, C, H, W], w: [O, C/groups, kh, kw]) → [N, O, Ho, Wo]. */
  conv2d: Conv2dGeometry;
  /** (gy: [N, O, Ho, Wo], w: [O, C/groups, kh, kw]) → [N, C, H, W]: the adjoint of conv2d in x,
   *  i.e. a transposed convolution. `inputSize` = [H, W] disambiguates the output size. */
  conv2dInputGrad: Conv2dGeometry & { inputSize: [number, number] };
  /** (x: [N, C, H, W], gy: [N, O, Ho, Wo]) → [O, C/groups, kh, kw]: the adjoint of conv2d in w. */
  conv2dWeightGrad: Conv2dGeometry & { kernelSize: [number, number] };
  // ---- sorting ----
  /** (x) → int32 indices that stably sort x along its last axis. */
  argsort: { descending: boolean };
  // ---- randomness (counter based: element i of the output depends only on key and i) ----
  /** () → `shape` of uint32 bits ('bits'), float32 uniform in [0, 1) ('uniform') or standard
   *  normal ('normal', integer-only Box–Muller: src/core/random/normal.ts). */
  random: { key: [number, number]; shape: number[]; dist: 'bits' | 'uniform' | 'normal' };
}

export type Prim = keyof PrimParams;
export const VIEW_PRIMS = ['reshape', 'permute', 'expand', 'slice'] as const;
export type ViewPrim = (typeof VIEW_PRIMS)[number];
export type ComputePrim = Exclude<Prim, ViewPrim>;

/** Inputs broadcast together, one output element per index: fused into one kernel on WebGPU. */
export const ELEMENTWISE_PRIMS = [...UNARY_OPS, ...BINARY_OPS, 'cast', 'where'] as const;
export type ElementwisePrim = (typeof ELEMENTWISE_PRIMS)[number];

export const isViewPrim = (p: Prim): p is ViewPrim => (VIEW_PRIMS as readonly string[]).includes(p);
export const isUnaryOp = (p: string): p is UnaryOp => (UNARY_OPS as readonly string[]).includes(p);
export const isBinaryOp = (p: string): p is BinaryOp => (BINARY_OPS as readonly string[]).includes(p);
export const isElementwisePrim = (p: string): p is ElementwisePrim => (ELEMENTWISE_PRIMS as readonly string[]).includes(p);
export const isReduceOp = (p: string): p is ReduceOp => (REDUCE_OPS as readonly string[]).includes(p);

// ---- The dtypes of the elementwise primitives ----

/**
 * The dtypes an elementwise op is defined on, declared here once: the front end raises on any other,
 * both backends refuse it (the CPU rules and the WGSL table call `checkElementwiseCall`), the CPU's
 * scalar table is typed by it (`FloatOnlyOp`), and the tests enumerate it.
 *   'float'    float32 only: the transcendental functions, sqrt, rsqrt, reciprocal. NumPy and JAX
 *              promote an integer input to float; wgrad asks for the cast, so that an integer
 *              tensor never turns float unseen.
 *   'numeric'  float32, int32, uint32: arithmetic. bool has none (JAX would promote it to int32).
 *   'bool'     bool only: logicalAnd, logicalOr (JAX tests any other dtype for x ≠ 0).
 *   'any'      every dtype.
 * floor and ceil return an int32, uint32 or bool input unchanged, in its own dtype, and so does
 * round for int32 and uint32: jax.numpy's rule (jnp.floor and jnp.ceil since JAX 0.4.31, jnp.round
 * always; jnp.round rejects bool, as lax.round does), which NumPy adopted for floor and ceil in 2.1.
 */
export type DTypeDomain = 'float' | 'numeric' | 'bool' | 'any';

export const UNARY_DOMAIN = {
  neg: 'numeric', abs: 'numeric', sign: 'numeric',
  exp: 'float', log: 'float', log1p: 'float', expm1: 'float', sqrt: 'float', rsqrt: 'float',
  reciprocal: 'float', sin: 'float', cos: 'float', tanh: 'float',
  floor: 'any', ceil: 'any', round: 'numeric',
  logicalNot: 'any', copy: 'any',
} as const satisfies { [op in UnaryOp]: DTypeDomain };

/** Both operands of a binary op have one dtype (a JS number takes the tensor's: see the front end). */
export const BINARY_DOMAIN = {
  add: 'numeric', sub: 'numeric', mul: 'numeric', div: 'numeric', pow: 'numeric', mod: 'numeric',
  maximum: 'numeric', minimum: 'numeric',
  eq: 'any', ne: 'any', lt: 'any', le: 'any', gt: 'any', ge: 'any',
  logicalAnd: 'bool', logicalOr: 'bool',
} as const satisfies { [op in BinaryOp]: DTypeDomain };

/** The unary ops defined on float32 alone. */
export type FloatOnlyOp = { [op in UnaryOp]: (typeof UNARY_DOMAIN)[op] extends 'float' ? op : never }[UnaryOp];

export function inDomain(domain: DTypeDomain, dtype: DType): boolean {
  switch (domain) {
    case 'float': return dtype === 'float32';
    case 'numeric': return dtype !== 'bool';
    case 'bool': return dtype === 'bool';
    case 'any': return true;
  }
}

/** What an elementwise check needs of an input: a tensor and a backend's view both have it. */
export interface Typed {
  readonly dtype: DType;
  readonly shape: readonly number[];
}

/** The dtypes of each domain that can refuse one, and what to do instead. */
const DOMAIN_NAME: Record<Exclude<DTypeDomain, 'any'>, string> = { float: 'float32', numeric: 'float32, int32 or uint32', bool: 'bool' };
const DOMAIN_HINT: Record<Exclude<DTypeDomain, 'any'>, string> = {
  float: 'cast it to float32 first',
  numeric: 'arithmetic on bool is not defined: cast it to int32 or float32 first',
  bool: 'compare it first, e.g. notEqual(x, 0)',
};

/** Raises a WgradError naming `op` unless `x`'s dtype is in `domain`; `role` names the input. */
export function checkDomain(op: string, domain: DTypeDomain, x: Typed, role = 'the input'): void {
  if (domain === 'any' || inDomain(domain, x.dtype)) return;
  throw new WgradError(op, `${role} must be ${DOMAIN_NAME[domain]}, got ${x.dtype} ${fmtShape(x.shape)}; ${DOMAIN_HINT[domain]}`);
}

/** Raises a WgradError naming `op` unless `a` and `b` have one dtype. */
export function checkSameDType(op: string, a: Typed, b: Typed): void {
  if (a.dtype === b.dtype) return;
  throw new WgradError(op, `dtype mismatch: ${a.dtype} ${fmtShape(a.shape)} and ${b.dtype} ${fmtShape(b.shape)}; cast one of them first`);
}

/**
 * The dtype elementwise primitive `prim` gives for `inputs` (in PrimParams' order); raises a
 * WgradError naming the op, the inputs and what it expects where the op is not defined for them.
 */
export function elementwiseDType<P extends ElementwisePrim>(prim: P, inputs: readonly Typed[], params: PrimParams[P]): DType {
  if (isUnaryOp(prim)) {
    const [x] = inputs;
    checkDomain(prim, UNARY_DOMAIN[prim], x);
    return prim === 'logicalNot' ? 'bool' : x.dtype;
  }
  if (isBinaryOp(prim)) {
    const [a, b] = inputs;
    checkSameDType(prim, a, b);
    checkDomain(prim, BINARY_DOMAIN[prim], a, 'the operands');
    return COMPARISON_OPS.includes(prim) ? 'bool' : a.dtype;
  }
  if (prim === 'cast') return checkDType('cast', (params as PrimParams['cast']).dtype);
  const [cond, a, b] = inputs; // where; JAX would take any condition and test it for x ≠ 0
  checkDomain(prim, 'bool', cond, 'the condition');
  checkSameDType(prim, a, b);
  return a.dtype;
}

/** A backend's check of its call of elementwise `prim`: the inputs' dtypes, and the output dtype it was asked for. */
export function checkElementwiseCall<P extends ElementwisePrim>(prim: P, inputs: readonly Typed[], params: PrimParams[P], out: DType): void {
  const want = elementwiseDType(prim, inputs, params);
  if (out !== want) throw new WgradError(prim, `gives ${want} for ${inputs.map((v) => v.dtype).join(', ')} inputs, but the output was declared ${out}`);
}
