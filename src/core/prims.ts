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
import type { DType } from './dtype.js';

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
