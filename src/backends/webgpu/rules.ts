/**
 * The WGSL lowering of every compute primitive: one entry per ComputePrim (a primitive without a
 * lowering fails tsc). Each rule receives the runtime, the input views (order as PrimParams
 * documents), the params and the already-validated output spec, and returns a fresh contiguous
 * GpuStorage of numel(out.shape) elements. Semantics are those of the CPU reference
 * (src/backends/cpu/*), which the kernel tests check.
 */
import type { OutputSpec } from '../../core/backend.js';
import type { BinaryOp, ComputePrim, PrimParams, ReduceOp, UnaryOp } from '../../core/prims.js';
import { runConv2d, runConv2dInputGrad, runConv2dWeightGrad } from '../../kernels/conv.js';
import { runBinary, runCast, runUnary, runWhere } from '../../kernels/elementwise.js';
import { runGather, runScatterAdd } from '../../kernels/gather.js';
import { runMatmul } from '../../kernels/matmul.js';
import { runConcat, runPad } from '../../kernels/movement.js';
import { runRandom } from '../../kernels/random.js';
import { runReduce } from '../../kernels/reduce.js';
import type { GpuRuntime, GpuStorage, GpuView } from '../../kernels/runtime.js';
import { runArgsort } from '../../kernels/sort.js';

export type GpuRule<P extends ComputePrim> = (
  rt: GpuRuntime,
  inputs: GpuView[],
  params: PrimParams[P],
  out: OutputSpec,
) => GpuStorage;

const unary = (op: UnaryOp): GpuRule<UnaryOp> => (rt, [x], _p, out) => runUnary(rt, op, x, out);
const binary = (op: BinaryOp): GpuRule<BinaryOp> => (rt, [a, b], _p, out) => runBinary(rt, op, a, b, out);
const reduce = (op: ReduceOp): GpuRule<ReduceOp> => (rt, [x], p, out) => runReduce(rt, op, x, p.axes, out);

export const gpuRules: { [P in ComputePrim]: GpuRule<P> } = {
  neg: unary('neg'), abs: unary('abs'), sign: unary('sign'), exp: unary('exp'),
  log: unary('log'), log1p: unary('log1p'), expm1: unary('expm1'), sqrt: unary('sqrt'),
  rsqrt: unary('rsqrt'), reciprocal: unary('reciprocal'), sin: unary('sin'), cos: unary('cos'),
  tanh: unary('tanh'), floor: unary('floor'), ceil: unary('ceil'), round: unary('round'),
  logicalNot: unary('logicalNot'), copy: unary('copy'),

  add: binary('add'), sub: binary('sub'), mul: binary('mul'), div: binary('div'),
  pow: binary('pow'), mod: binary('mod'), maximum: binary('maximum'), minimum: binary('minimum'),
  eq: binary('eq'), ne: binary('ne'), lt: binary('lt'), le: binary('le'),
  gt: binary('gt'), ge: binary('ge'), logicalAnd: binary('logicalAnd'), logicalOr: binary('logicalOr'),

  cast: (rt, [x], p, out) => runCast(rt, x, p.dtype, out),
  where: (rt, [c, a, b], _p, out) => runWhere(rt, c, a, b, out),

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
