/**
 * The CPU reference rule table: one entry per compute primitive (a missing one fails tsc). This is
 * the oracle every WGSL kernel is tested against, so each family file favours plain loops and
 * states its exact semantics in its header:
 *   scalar.ts + elementwise.ts  unary / binary ops, cast, where
 *   reduce.ts                   sum prod max min argmax argmin
 *   movement.ts                 pad concat
 *   gather.ts                   gather scatterAdd
 *   matmul.ts, conv.ts          contractions
 *   sort.ts, random.ts          argsort, threefry random
 * Every rule reads strided input views and returns a fresh contiguous row-major array of
 * numel(out.shape) elements in the storage type of out.dtype.
 */
import type { BinaryOp, ComputePrim, UnaryOp } from '../../core/prims.js';
import { conv2d, conv2dInputGrad, conv2dWeightGrad } from './conv.js';
import { binary, cast, unary, where } from './elementwise.js';
import { gather, scatterAdd } from './gather.js';
import { matmul } from './matmul.js';
import { concat, pad } from './movement.js';
import { random } from './random.js';
import { reduce } from './reduce.js';
import { argsort } from './sort.js';
import type { CpuRule } from './types.js';

const unaryRule = (op: UnaryOp): CpuRule<UnaryOp> => (inputs, _params, out, ctx) => unary(op, inputs, out, ctx);
const binaryRule = (op: BinaryOp): CpuRule<BinaryOp> => (inputs, _params, out, ctx) => binary(op, inputs, out, ctx);

export const cpuRules: { [P in ComputePrim]: CpuRule<P> } = {
  neg: unaryRule('neg'), abs: unaryRule('abs'), sign: unaryRule('sign'), exp: unaryRule('exp'),
  log: unaryRule('log'), log1p: unaryRule('log1p'), expm1: unaryRule('expm1'), sqrt: unaryRule('sqrt'),
  rsqrt: unaryRule('rsqrt'), reciprocal: unaryRule('reciprocal'), sin: unaryRule('sin'), cos: unaryRule('cos'),
  tanh: unaryRule('tanh'), floor: unaryRule('floor'), ceil: unaryRule('ceil'), round: unaryRule('round'),
  logicalNot: unaryRule('logicalNot'), copy: unaryRule('copy'),

  add: binaryRule('add'), sub: binaryRule('sub'), mul: binaryRule('mul'), div: binaryRule('div'),
  pow: binaryRule('pow'), mod: binaryRule('mod'), maximum: binaryRule('maximum'), minimum: binaryRule('minimum'),
  eq: binaryRule('eq'), ne: binaryRule('ne'), lt: binaryRule('lt'), le: binaryRule('le'),
  gt: binaryRule('gt'), ge: binaryRule('ge'), logicalAnd: binaryRule('logicalAnd'), logicalOr: binaryRule('logicalOr'),

  cast,
  where: (inputs, _params, out, ctx) => where(inputs, out, ctx),

  sum: (inputs, params, out, ctx) => reduce('sum', inputs, params, out, ctx),
  prod: (inputs, params, out, ctx) => reduce('prod', inputs, params, out, ctx),
  max: (inputs, params, out, ctx) => reduce('max', inputs, params, out, ctx),
  min: (inputs, params, out, ctx) => reduce('min', inputs, params, out, ctx),
  argmax: (inputs, params, out, ctx) => reduce('argmax', inputs, params, out, ctx),
  argmin: (inputs, params, out, ctx) => reduce('argmin', inputs, params, out, ctx),

  pad,
  concat,
  gather,
  scatterAdd,
  matmul: (inputs, _params, out, ctx) => matmul(inputs, out, ctx),
  conv2d,
  conv2dInputGrad,
  conv2dWeightGrad,
  argsort,
  random: (_inputs, params, out, ctx) => random(params, out, ctx),
};
