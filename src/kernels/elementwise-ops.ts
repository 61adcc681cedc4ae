/**
 * The WGSL of every elementwise primitive: `WGSL_OPS`, one entry per ElementwisePrim (a primitive
 * without one fails tsc), is the only place an elementwise op's WGSL is written. The WebGPU backend
 * runs every elementwise primitive through fusion (src/backends/webgpu/fusion.ts), which strings
 * these ops into expression DAGs; elementwise.ts compiles a DAG into one kernel (`fusion: false`
 * realizes each op at once, as a DAG of one node). The function library the expressions call is
 * elementwise-lib.ts.
 *
 * An entry maps the input dtypes (and params, output dtype) to the op's code for those kinds. Which
 * dtypes each op takes is core's UNARY_DOMAIN / BINARY_DOMAIN (src/core/prims.ts), checked by
 * `elementwiseOp` before an entry is asked, so an entry has code for its domain alone (a float-only
 * op only f32 code). Semantics mirror src/backends/cpu/scalar.ts exactly (see elementwise-lib.ts for
 * the special cases); bool is a u32 0/1 and computes like uint32. Binary ops compute in the kind of
 * the first operand's dtype, as on the CPU.
 */
import type { DType } from '../core/dtype.js';
import { checkElementwiseCall, type BinaryOp, type ElementwisePrim, type PrimParams, type Typed, type UnaryOp } from '../core/prims.js';
import { wt } from './wgsl.js';

export { libCode } from './elementwise-lib.js';

export type Kind = 'f32' | 'i32' | 'u32';
export const kindOf = (d: DType): Kind => wt(d);

/** An op's WGSL: result expression over argument names, its result type, the library it uses. */
export interface OpCode {
  expr: (args: string[]) => string;
  type: Kind;
  lib?: string[];
}

/**
 * One elementwise op ready for code generation: its cache-key name, its code, and the kind each
 * argument is converted to before the op (where's condition keeps its own kind).
 */
export interface Op {
  name: string;
  code: OpCode;
  argKinds: Kind[];
}

/** What an entry of WGSL_OPS gives for one set of input dtypes: an Op, named after the primitive unless `name` says otherwise. */
type Lowered = Omit<Op, 'name'> & { name?: string };

/** One elementwise primitive's WGSL for inputs of `inputs` dtypes (in the op's domain). */
export type OpLowering<P extends ElementwisePrim> = (inputs: readonly DType[], params: PrimParams[P], out: DType) => Lowered;

/** "x != 0" for a value of kind k (NaN counts as nonzero, ±0 as zero). */
const nonzero = (k: Kind, x: string) => (k === 'f32' ? `nzF(${x})` : k === 'i32' ? `(${x} != 0)` : `(${x} != 0u)`);
const nzLib = (k: Kind) => (k === 'f32' ? ['nz'] : []);
const b2u = (c: string) => `select(0u, 1u, ${c})`;
const byKind = <T>(k: Kind, choices: Record<Kind, T>): T => choices[k];

const code1 = (type: Kind, expr: (x: string) => string, lib: string[] = []): OpCode => ({ expr: ([x]) => expr(x), type, lib });
const code2 = (type: Kind, expr: (a: string, b: string) => string, lib: string[] = []): OpCode => ({ expr: ([a, b]) => expr(a, b), type, lib });
/** A call of the library function `name` (the library entry of the same name). */
const call2 = (type: Kind, name: string): OpCode => code2(type, (a, b) => `${name}(${a}, ${b})`, [name]);
/** A comparison: a bool (u32 0/1) result. */
const compare = (test: (a: string, b: string) => string, lib: string[] = []): OpCode => code2('u32', (a, b) => b2u(test(a, b)), lib);

/** A unary op: its code for the argument's kind. */
const unary = (code: (k: Kind) => OpCode): OpLowering<UnaryOp> => ([x]) => {
  const k = kindOf(x);
  return { code: code(k), argKinds: [k] };
};
/** A float-only unary op (its domain: its argument is f32). */
const float = (expr: (x: string) => string, lib: string[] = []) => unary(() => code1('f32', expr, lib));
/** Rounding: the builtin on floats, the identity on integers. */
const rounding = (builtin: string) => unary((k) => (k === 'f32' ? code1('f32', (x) => `${builtin}(${x})`) : code1(k, (x) => x)));

/** A binary op: both operands compute in the kind of the first (as on the CPU). */
const binary = (code: (k: Kind) => OpCode): OpLowering<BinaryOp> => ([a]) => {
  const k = kindOf(a);
  return { code: code(k), argKinds: [k, k] };
};
/** An arithmetic op whose float / int32 / uint32 versions are the library functions `<name>F/I/U`. */
const perKindCall = (name: string) => binary((k) => call2(k, `${name}${byKind(k, { f32: 'F', i32: 'I', u32: 'U' })}`));
const infix = (operator: string) => binary((k) => code2(k, (a, b) => `(${a} ${operator} ${b})`));
const infixCompare = (operator: string) => binary(() => compare((a, b) => `(${a} ${operator} ${b})`));

/** cast {dtype}: saturating float→int (NaN → 0), int32↔uint32 reinterpretation, x != 0 for bool. */
function castCode(from: DType, to: DType): OpCode {
  const kf = kindOf(from);
  const kt = kindOf(to);
  if (to === 'bool') return code1(kt, (x) => b2u(nonzero(kf, x)), nzLib(kf));
  if (kf === kt) return code1(kt, (x) => x);
  if (kf === 'f32') return kt === 'i32' ? code1(kt, (x) => `f2i(${x})`, ['f2i']) : code1(kt, (x) => `f2u(${x})`, ['f2u']);
  if (kt === 'f32') return code1(kt, (x) => `f32(${x})`);
  return code1(kt, (x) => `bitcast<${kt}>(${x})`);
}

export const WGSL_OPS: { [P in ElementwisePrim]: OpLowering<P> } = {
  neg: unary((k) => code1(k, byKind(k, { f32: (x) => `-${x}`, i32: (x) => `(0 - ${x})`, u32: (x) => `(0u - ${x})` }))),
  abs: unary((k) => code1(k, k === 'u32' ? (x) => x : (x) => `abs(${x})`)),
  sign: unary((k) => byKind(k, {
    f32: code1('f32', (x) => `signF(${x})`, ['sign']),
    i32: code1('i32', (x) => `sign(${x})`),
    u32: code1('u32', (x) => `select(0u, 1u, ${x} > 0u)`),
  })),
  exp: float((x) => `exp(${x})`),
  log: float((x) => `logF(${x})`, ['log']),
  log1p: float((x) => `log1pF(${x})`, ['log1p']),
  expm1: float((x) => `expm1F(${x})`, ['expm1']),
  sqrt: float((x) => `sqrt(${x})`),
  rsqrt: float((x) => `(1.0 / sqrt(${x}))`),
  reciprocal: float((x) => `(1.0 / ${x})`),
  sin: float((x) => `sinF(${x})`, ['trig']),
  cos: float((x) => `cosF(${x})`, ['trig']),
  tanh: float((x) => `tanhF(${x})`, ['tanh']),
  floor: rounding('floor'),
  ceil: rounding('ceil'),
  round: rounding('round'),
  logicalNot: unary((k) => code1('u32', (x) => b2u(`!${nonzero(k, x)}`), nzLib(k))),
  /** Materializes a strided view: the identity, read through the view's strides. */
  copy: unary((k) => code1(k, (x) => x)),

  add: infix('+'),
  sub: infix('-'),
  mul: infix('*'),
  div: binary((k) => (k === 'f32' ? code2(k, (a, b) => `(${a} / ${b})`) : call2(k, k === 'i32' ? 'divI' : 'divU'))),
  pow: perKindCall('pow'),
  mod: perKindCall('mod'),
  maximum: binary((k) => (k === 'f32' ? call2(k, 'maxF') : code2(k, (a, b) => `max(${a}, ${b})`))),
  minimum: binary((k) => (k === 'f32' ? call2(k, 'minF') : code2(k, (a, b) => `min(${a}, ${b})`))),
  eq: infixCompare('=='),
  ne: binary((k) => (k === 'f32' ? compare((a, b) => `((${a} != ${b}) | isNan(${a}) | isNan(${b}))`, ['isNan']) : compare((a, b) => `(${a} != ${b})`))),
  lt: infixCompare('<'),
  le: infixCompare('<='),
  gt: infixCompare('>'),
  ge: infixCompare('>='),
  // Boolean | and &, never the short-circuit || and &&: the operands are pure, and a short-circuit
  // is a branch; a fused chain of them (an any() over stacked masks) compiled in time exponential
  // in the chain's length on SwiftShader (README, In the browser), and diverges on any GPU.
  logicalAnd: binary((k) => compare((a, b) => `(${nonzero(k, a)} & ${nonzero(k, b)})`, nzLib(k))),
  logicalOr: binary((k) => compare((a, b) => `(${nonzero(k, a)} | ${nonzero(k, b)})`, nzLib(k))),

  cast: ([x], { dtype }) => ({ name: `cast-${dtype}`, code: castCode(x, dtype), argKinds: [kindOf(x)] }),
  /** where(cond, a, b): cond nonzero (NaN counts as nonzero) picks a, else b. */
  where: ([cond], _params, out) => {
    const kc = kindOf(cond);
    const k = kindOf(out);
    const code: OpCode = { expr: ([c, x, y]) => `select(${y}, ${x}, ${nonzero(kc, c)})`, type: k, lib: nzLib(kc) };
    return { code, argKinds: [kc, k, k] };
  },
};

/** The op of elementwise primitive `prim` over `inputs` with an `out` result; raises where core's dtype rules refuse the call. */
export function elementwiseOp<P extends ElementwisePrim>(prim: P, inputs: readonly Typed[], params: PrimParams[P], out: DType): Op {
  checkElementwiseCall(prim, inputs, params, out);
  return { name: prim, ...WGSL_OPS[prim](inputs.map((v) => v.dtype), params, out) };
}

/** Stores a value of kind `from` into storage of kind `to` (same kind, or reinterpretation). */
export function storeExpr(x: string, from: Kind, to: Kind): string {
  if (from === to) return x;
  if (to === 'f32') return `f32(${x})`;
  if (from === 'f32') return `${to}(${x})`;
  return `bitcast<${to}>(${x})`;
}
