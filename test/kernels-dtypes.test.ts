/**
 * The dtypes of the elementwise primitives are declared once, in core (UNARY_DOMAIN, BINARY_DOMAIN
 * and elementwiseDType in src/core/prims.ts). For every elementwise primitive and every combination
 * of input dtypes, the front end, the CPU backend and the WebGPU backend accept exactly what that
 * declaration allows and give the dtype it names (the WGSL op computes in that dtype's kind); floor,
 * ceil and round return integers unchanged, in their own dtype (jax.numpy's rule).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { WebGpuBackend } from '../src/backends/webgpu/backend.js';
import type { Backend } from '../src/core/backend.js';
import { DTYPES, storageArray, type DType } from '../src/core/dtype.js';
import { ELEMENTWISE_PRIMS, elementwiseDType, isBinaryOp, isUnaryOp, type ElementwisePrim } from '../src/core/prims.js';
import { contiguousStrides } from '../src/core/shape.js';
import * as wg from '../src/index.js';
import { elementwiseOp, kindOf } from '../src/kernels/elementwise-ops.js';
import { getCpu, getGpu, tidyOn } from './helpers/gpu.js';

interface Case {
  prim: ElementwisePrim;
  dtypes: DType[];
  params: { dtype?: DType };
}

/** Every input dtype combination of every elementwise primitive, mismatched operands included. */
function allCases(): Case[] {
  return ELEMENTWISE_PRIMS.flatMap((prim): Case[] => {
    if (isUnaryOp(prim)) return DTYPES.map((d) => ({ prim, dtypes: [d], params: {} }));
    if (isBinaryOp(prim)) return [...DTYPES.map((d) => ({ prim, dtypes: [d, d], params: {} })), { prim, dtypes: ['float32', 'int32'], params: {} }];
    if (prim === 'cast') return DTYPES.flatMap((from) => DTYPES.map((to) => ({ prim, dtypes: [from], params: { dtype: to } })));
    const whereCases = DTYPES.flatMap((cond) => DTYPES.map((d) => ({ prim, dtypes: [cond, d, d], params: {} })));
    return [...whereCases, { prim, dtypes: ['bool', 'float32', 'int32'], params: {} }];
  });
}

const VALUES: Record<DType, number[]> = { float32: [-1.5, 0.5, 2.5], int32: [-3, 0, 7], uint32: [0, 1, 4000000000], bool: [1, 0, 1] };

type Front = (xs: wg.Tensor[], params: { dtype?: DType }) => wg.Tensor;
const un = (f: (x: wg.Tensor) => wg.Tensor): Front => ([x]) => f(x);
const bin = (f: (a: wg.Tensor, b: wg.Tensor) => wg.Tensor): Front => ([a, b]) => f(a, b);
/** The front end's function of each primitive (a primitive without one fails tsc). */
const FRONT: { [P in ElementwisePrim]: Front } = {
  neg: un(wg.neg), abs: un(wg.abs), sign: un(wg.sign), exp: un(wg.exp), log: un(wg.log), log1p: un(wg.log1p),
  expm1: un(wg.expm1), sqrt: un(wg.sqrt), rsqrt: un(wg.rsqrt), reciprocal: un(wg.reciprocal), sin: un(wg.sin),
  cos: un(wg.cos), tanh: un(wg.tanh), floor: un(wg.floor), ceil: un(wg.ceil), round: un(wg.round),
  logicalNot: un(wg.logicalNot), copy: un(wg.copy),
  add: bin(wg.add), sub: bin(wg.sub), mul: bin(wg.mul), div: bin(wg.div), pow: bin(wg.pow), mod: bin(wg.mod),
  maximum: bin(wg.maximum), minimum: bin(wg.minimum), eq: bin(wg.equal), ne: bin(wg.notEqual), lt: bin(wg.less),
  le: bin(wg.lessEqual), gt: bin(wg.greater), ge: bin(wg.greaterEqual), logicalAnd: bin(wg.logicalAnd), logicalOr: bin(wg.logicalOr),
  cast: ([x], { dtype }) => wg.cast(x, dtype!),
  where: ([cond, a, b]) => wg.where(cond, a, b),
};

/** A dtype, or 'refused' where `f` raises a WgradError (any other error fails the test). */
function outcome(f: () => DType): string {
  try {
    return f();
  } catch (e) {
    if (e instanceof wg.WgradError) return 'refused';
    throw e;
  }
}

const declared = (c: Case) => outcome(() => elementwiseDType(c.prim, c.dtypes.map((dtype) => ({ dtype, shape: [3] })), c.params as never));
const frontEnd = (c: Case) => outcome(() => tidyOn(getCpu(), () => FRONT[c.prim](c.dtypes.map((d) => wg.tensor(VALUES[d], { dtype: d })), c.params).dtype));

/**
 * What backend `b` accepts when called directly: the output dtypes it runs the case with (refusing
 * the others), 'refused' where it runs it with none. On WebGPU the elementwise op is recorded
 * (fused lazily) and released unread: the check is at the call, no kernel is compiled.
 */
function backendOutcome<S extends { size: number }>(b: Backend<S>, c: Case): string {
  const views = c.dtypes.map((dtype) => {
    const data = storageArray(dtype, 3);
    data.set(VALUES[dtype]);
    return { storage: b.upload(data, dtype), dtype, shape: [3], strides: contiguousStrides([3]), offset: 0 };
  });
  const accepts = (dtype: DType) => outcome(() => {
    b.release(b.run(c.prim, views, c.params as never, { shape: [3], dtype }));
    return dtype;
  }) === dtype;
  const given = DTYPES.filter(accepts);
  for (const v of views) b.release(v.storage);
  return given.length === 0 ? 'refused' : given.join(' or ');
}

/** The kind the WGSL op computes its result in, where the declaration accepts the case. */
function wgslKind(c: Case, out: string): string {
  if (out === 'refused') return 'refused';
  const op = elementwiseOp(c.prim, c.dtypes.map((dtype) => ({ dtype, shape: [3] })), c.params as never, out as DType);
  return op.code.type === kindOf(out as DType) ? out : `${out} computed as ${op.code.type}`;
}

describe('elementwise dtypes: one declaration, read by the front end and both backends', () => {
  let gpu!: WebGpuBackend;
  beforeAll(async () => {
    gpu = await getGpu();
  });

  it('every primitive × input dtypes: the front end, the CPU and WebGPU accept what core declares and give its dtype', () => {
    const cases = allCases();
    expect(new Set(cases.map((c) => c.prim))).toEqual(new Set(ELEMENTWISE_PRIMS));
    const disagreements: string[] = [];
    let accepted = 0;
    for (const c of cases) {
      const want = declared(c);
      if (want !== 'refused') accepted++;
      const got = { 'front end': frontEnd(c), cpu: backendOutcome(getCpu(), c), webgpu: backendOutcome(gpu, c), wgsl: wgslKind(c, want) };
      for (const [where, g] of Object.entries(got)) {
        if (g !== want) disagreements.push(`${c.prim}(${c.dtypes.join(', ')}${c.params.dtype ? ` → ${c.params.dtype}` : ''}) on ${where}: ${g}, declared ${want}`);
      }
    }
    expect(disagreements).toEqual([]);
    // The enumeration holds both outcomes: neither side of the rule is vacuous.
    expect(accepted).toBeGreaterThan(90);
    expect(cases.length - accepted).toBeGreaterThan(50);
  });

  it('the declaration, on the cases wgrad decides (jax.numpy for rounding; float-only math; bool only for logic and conditions)', () => {
    const dtypeOf = (prim: ElementwisePrim, dtypes: DType[], params = {}) => declared({ prim, dtypes, params });
    for (const d of ['int32', 'uint32'] as DType[]) {
      for (const op of ['floor', 'ceil', 'round'] as const) expect(dtypeOf(op, [d]), `${op}(${d})`).toBe(d);
    }
    expect([dtypeOf('floor', ['bool']), dtypeOf('ceil', ['bool']), dtypeOf('round', ['bool'])]).toEqual(['bool', 'bool', 'refused']);
    expect([dtypeOf('exp', ['int32']), dtypeOf('sqrt', ['uint32']), dtypeOf('tanh', ['float32'])]).toEqual(['refused', 'refused', 'float32']);
    expect([dtypeOf('add', ['bool', 'bool']), dtypeOf('add', ['int32', 'float32']), dtypeOf('eq', ['bool', 'bool'])]).toEqual(['refused', 'refused', 'bool']);
    expect([dtypeOf('logicalAnd', ['int32', 'int32']), dtypeOf('logicalNot', ['float32']), dtypeOf('where', ['float32', 'int32', 'int32'])]).toEqual(['refused', 'bool', 'refused']);
    expect(dtypeOf('cast', ['bool'], { dtype: 'uint32' })).toBe('uint32');
  });

  it('the refusals name the op, the dtype and shape, and what to do', () => {
    const x = tidyOn(getCpu(), () => wg.zeros([2, 1], 'int32'));
    const b = tidyOn(getCpu(), () => wg.zeros([3], 'bool'));
    expect(() => tidyOn(getCpu(), () => wg.exp(x))).toThrow(/^exp: the input must be float32, got int32 \[2, 1\]; cast it to float32 first$/);
    expect(() => tidyOn(getCpu(), () => wg.round(b))).toThrow(/^round: the input must be float32, int32 or uint32, got bool \[3\]; .*cast it to int32 or float32/);
    expect(() => tidyOn(getCpu(), () => wg.add(b, 2))).toThrow(/^add: the operands must be float32, int32 or uint32, got bool \[3\]/);
    expect(() => tidyOn(getCpu(), () => wg.logicalOr(x, x))).toThrow(/^logicalOr: the operands must be bool, got int32 \[2, 1\]; compare it first/);
    expect(() => tidyOn(getCpu(), () => wg.where(x, 1, 0))).toThrow(/^where: the condition must be bool, got int32 \[2, 1\]/);
    const view = { storage: getCpu().upload(new Int32Array(2), 'int32'), dtype: 'int32' as const, shape: [2], strides: [1], offset: 0 };
    expect(() => getCpu().run('floor', [view], {}, { shape: [2], dtype: 'float32' })).toThrow(/^floor: gives int32 for int32 inputs, but the output was declared float32$/);
    getCpu().release(view.storage);
    x.dispose();
    b.dispose();
  });

  it('floor, ceil and round return integers unchanged, in their dtype, on the CPU and on WebGPU', async () => {
    const ints: [DType, number[]][] = [['int32', [-2147483648, -3, 0, 7, 2147483647]], ['uint32', [0, 1, 4294967295]], ['bool', [1, 0]]];
    for (const backend of [getCpu(), gpu]) {
      for (const [dtype, values] of ints) {
        for (const op of dtype === 'bool' ? (['floor', 'ceil'] as const) : (['floor', 'ceil', 'round'] as const)) {
          const y = tidyOn(backend, () => wg[op](wg.tensor(values, { dtype })));
          expect(y.dtype, `${op}(${dtype}) on ${backend.kind}`).toBe(dtype);
          expect(Array.from(await y.data()), `${op}(${dtype}) on ${backend.kind}`).toEqual(values);
          y.dispose();
        }
      }
    }
  });
});
