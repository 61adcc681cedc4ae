/// <reference lib="esnext.disposable" preserve="true" />
// (Tensor implements Symbol.dispose, for `using`: the published types say where that comes from.)
/**
 * wgrad: functional tensors and reverse-mode autodiff on WebGPU.
 *
 *   import * as wg from 'wgrad';        // browser (navigator.gpu)
 *   import * as wg from 'wgrad/node';   // Node (Dawn, from the `webgpu` package)
 *   await wg.init();
 *   const g = wg.grad((x) => wg.sum(wg.mul(x, x)))(wg.tensor([1, 2, 3]));
 */
import { ops } from './tensor/engine.js';
import * as creationOps from './tensor/ops/creation.js';
import * as elementwiseOps from './tensor/ops/elementwise.js';
import * as reduceOps from './tensor/ops/reduce.js';
import * as movementOps from './tensor/ops/movement.js';
import * as linalgOps from './tensor/ops/linalg.js';
import * as sortOps from './tensor/ops/sort.js';

export { init, backendInfo, memoryStats, sync, type InitOptions, type GpuEntryPoint, type MemoryStats } from './init.js';
export { Tensor, type NestedArray, type ReadbackArray } from './tensor/tensor.js';
export { WgradError, type AdapterReport } from './core/backend.js';
export type { DType } from './core/dtype.js';
export type { KernelDumpSink, DumpedCommand } from './backends/webgpu/kernel-dump.js';

// The tensor ops, each wrapped by `op` (src/tensor/engine.ts): a failed call frees the tensors it
// created and its backend errors name the op called.
export type { Data } from './tensor/ops/creation.js';
export type { TensorLike } from './tensor/ops/elementwise.js';
export type { ReduceOptions } from './tensor/ops/reduce.js';
export type { SliceSpec, TakeOptions, ScatterAddOptions } from './tensor/ops/movement.js';
export type { Conv2dOptions } from './tensor/ops/linalg.js';
export const { tensor, zeros, ones, full, arange, linspace, eye, zerosLike, onesLike, fullLike } = ops(creationOps);
export const {
  neg, abs, sign, exp, log, log1p, expm1, sqrt, rsqrt, reciprocal, sin, cos, tanh, floor, ceil, round,
  logicalNot, logicalAnd, logicalOr, copy, contiguous, add, sub, mul, div, pow, mod, maximum, minimum,
  equal, notEqual, less, lessEqual, greater, greaterEqual, square, where, cast, clip,
} = ops(elementwiseOps);
export const { sum, prod, max, min, argmax, argmin, mean, variance } = ops(reduceOps);
export { variance as var };
export const {
  reshape, transpose, permute, mT, broadcastTo, expandDims, squeeze, slice, flip, pad, concat, stack,
  take, scatterAdd, oneHot,
} = ops(movementOps);
export const { matmul, conv2d, convTranspose2d } = ops(linalgOps);
export const { argsort, sort, topk, takeAlongAxis } = ops(sortOps);

export { grad, valueAndGrad, vjp, jvp, type GradOf, type GradOptions } from './autograd/transforms.js';
export { stopGradient } from './tensor/alias.js';
export { jit, type Jitted, type JitOptions } from './tensor/jit.js';
export { checkGrads, type CheckGradsOptions, type CheckGradsReport } from './autograd/check.js';
/** Debugging aids: `debug.graph(f)(...args)` prints the primitives f applies (src/autograd/graph.ts). */
export * as debug from './autograd/graph.js';
export { tidy, keep, dispose } from './tensor/scope.js';
export { treeMap, treeLeaves, treeUnflatten, type Tree } from './tensor/tree.js';

export * as nn from './nn/index.js';
export * as optim from './optim/index.js';
export * as losses from './losses/index.js';
export * as data from './data/index.js';
export * as io from './io/index.js';
export * as random from './random/random.js';
export * as attacks from './attacks/index.js';
export * as evaluation from './eval/index.js';
export * as ssl from './ssl/index.js';
export type { Key } from './random/random.js';
