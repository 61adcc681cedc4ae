/**
 * The kernels of the primitives that are not elementwise: one entry per such compute primitive (a
 * primitive without one fails tsc). Elementwise primitives have no entry here: their WGSL is the
 * typed table of src/kernels/elementwise-ops.ts and they always run through fusion (fusion.ts).
 *
 * Each rule receives the runtime, the input views (order as PrimParams documents), the params and
 * the already-validated output spec, and returns a fresh contiguous GpuStorage of
 * numel(out.shape) elements. Semantics are those of the CPU reference (src/backends/cpu/*), which
 * the kernel tests check.
 *
 * Fused inputs: a rule of a primitive for which `readsFused` holds (the reductions) may get an input
 * that is an unrealized fused value (where `readsInPlace` says reading it in place is cheap): `sources[k]` is then its expression, which the kernel
 * evaluates at every address it reads instead of loading a buffer (so softmax's Σ exp(x − max)
 * never stores exp(x − max)), and `inputs[k]` gives only its geometry (shape, strides, offset,
 * dtype), not a buffer. Every other input is realized before the rule runs.
 */
import type { OutputSpec } from '../../core/backend.js';
import { isReduceOp, type ComputePrim, type ElementwisePrim, type PrimParams, type ReduceOp } from '../../core/prims.js';
import { runConv2d, runConv2dInputGrad, runConv2dWeightGrad } from '../../kernels/conv.js';
import type { OpNode } from '../../kernels/expr.js';
import { runGather, runScatterAdd } from '../../kernels/gather.js';
import { runMatmul } from '../../kernels/matmul.js';
import { runConcat, runPad } from '../../kernels/movement.js';
import { runRandom } from '../../kernels/random.js';
import { readsSourceInPlace, runReduce } from '../../kernels/reduce.js';
import type { GpuRuntime, GpuStorage, GpuView } from '../../kernels/runtime.js';
import { runArgsort } from '../../kernels/sort.js';

/** A compute primitive that runs a kernel of its own (not through the elementwise table). */
export type KernelPrim = Exclude<ComputePrim, ElementwisePrim>;

export type GpuRule<P extends KernelPrim> = (
  rt: GpuRuntime,
  inputs: GpuView[],
  params: PrimParams[P],
  out: OutputSpec,
  /** Per input, its unrealized fused expression (only for `readsFused` primitives; see header). */
  sources: readonly (OpNode | null)[],
) => GpuStorage;

/** Whether `prim`'s kernel can read an unrealized fused input through its expression. */
export const readsFused = (prim: KernelPrim): prim is ReduceOp => isReduceOp(prim);

/**
 * Whether `prim` reads its fused input `x` (expression `source`) in place, or wants it realized: a
 * reduction reads in place only where the expression's addresses are cheap (reduce.ts
 * `readsSourceInPlace`).
 */
export function readsInPlace<P extends KernelPrim>(prim: P, x: GpuView, params: PrimParams[P], source: OpNode): boolean {
  return readsFused(prim) && readsSourceInPlace(prim, x, (params as PrimParams[ReduceOp]).axes, source);
}

const reduce = (op: ReduceOp): GpuRule<ReduceOp> => (rt, [x], p, out, [source]) => runReduce(rt, op, x, p.axes, out, source ?? undefined);

export const gpuRules: { [P in KernelPrim]: GpuRule<P> } = {
  sum: reduce('sum'), prod: reduce('prod'), max: reduce('max'), min: reduce('min'),
  argmax: reduce('argmax'), argmin: reduce('argmin'),

  pad: (rt, [x], p, out) => runPad(rt, x, p.widths, p.value, out),
  concat: (rt, xs, p, out) => runConcat(rt, xs, p.axis, out),
  gather: (rt, [x, idx], p, out) => runGather(rt, x, idx, p.axis, out),
  scatterAdd: (rt, [upd, idx], p, out) => runScatterAdd(rt, upd, idx, p.axis, p.size, out),

  matmul: (rt, [a, b], _p, out) => runMatmul(rt, a, b, out),
  conv2d: (rt, [x, w], p, out) => runConv2d(rt, x, w, p, out),
  conv2dInputGrad: (rt, [gy, w], p, out) => runConv2dInputGrad(rt, gy, w, p, out),
  conv2dWeightGrad: (rt, [x, gy], p, out) => runConv2dWeightGrad(rt, x, gy, p, out),

  argsort: (rt, [x], p, out) => runArgsort(rt, x, p.descending, out),
  random: (rt, _inputs, p, out) => runRandom(rt, p, out),
};
