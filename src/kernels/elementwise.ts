/**
 * Elementwise kernels: one op, or a fused chain of ops, in one generated kernel.
 *
 * An elementwise computation is an expression DAG (`Expr`): leaves are strided views of storage
 * buffers, nodes are ops (unary, binary, where, cast; their WGSL is in elementwise-ops.ts). A single
 * op is a one-node DAG. The WebGPU backend's fusion (src/backends/webgpu/fusion.ts) grows DAGs
 * across ops, so tanh(x·1.5 + 0.5)·x is one kernel that reads x once and writes once instead of
 * four passes over memory and four dispatches — on lavapipe both cost.
 *
 * Algorithm: one pass, no workgroup memory. Workgroups of 256 lanes (1-D, the contiguous output dim
 * on X), each lane handling 16 elements 256 apart (wgsl.ts `flatMain`: a workgroup covers 4096
 * consecutive outputs), a 2-D grid of workgroups for large outputs.
 *
 * Addressing: every leaf maps the output's row-major index i to its own element address. A leaf
 * keeps the shape it was read at (a fused chain may pass through a reshape, so the leaves of one
 * kernel may have different shapes of the same size) and its strides over that shape, which make
 * broadcasts, transposes, slices and flips free. Its axes are merged first (`coalesce`); a leaf that
 * is then contiguous or a broadcast scalar takes the fast path (offset + i, or offset), any other one
 * div/mod per merged axis, unrolled to rank 4 (wgsl.ts `Addr`). Identical leaves load once; leaves
 * of one buffer share its binding.
 *
 * Values: each node is computed once (a `let` per node, by object identity) and converted to its
 * dtype's storage kind exactly as a store and reload would, so fused and unfused results agree.
 *
 * Pipelines are keyed by the DAG's structure (ops, kinds, leaf paths 'f' / 'g4', which buffer each
 * leaf reads), never by shapes: shapes, strides and offsets are uniforms, which bounds lavapipe's
 * ~0.5 s LLVM compile per new pipeline (see wgsl.ts) to one per distinct chain. (Making the op a
 * uniform switch as well would cut compiles further but measured 1.5–2× slower on cheap ops.)
 */
import type { OutputSpec } from '../core/backend.js';
import type { DType } from '../core/dtype.js';
import type { BinaryOp, UnaryOp } from '../core/prims.js';
import { broadcastStrides, numel } from '../core/shape.js';
import { binaryOp, castOp, kindOf, libCode, storeExpr, unaryOp, whereOp, type Kind, type Op } from './elementwise-ops.js';
import type { GpuRuntime, GpuStorage, GpuView } from './runtime.js';
import { Addr, coalesce, flatGrid, FLAT_END, flatMain, storageDecl, Uniforms, WG } from './wgsl.js';

/** A strided view read at the output's row-major index: `view.shape` has the output's size. */
export interface Leaf {
  readonly type: 'leaf';
  readonly view: GpuView;
}

/** One op applied to its arguments; `size` counts the op nodes of the tree below (with repeats). */
export interface OpNode {
  readonly type: 'op';
  readonly op: Op;
  readonly dtype: DType;
  readonly args: readonly Expr[];
  readonly size: number;
}

export type Expr = Leaf | OpNode;

/** A leaf reading `view` broadcast to `shape` (the shape of the op that reads it). */
export function leafAt(view: GpuView, shape: readonly number[]): Leaf {
  const strides = broadcastStrides(view.shape, view.strides, shape);
  return { type: 'leaf', view: { ...view, shape, strides } };
}

export function opNode(op: Op, dtype: DType, args: readonly Expr[]): OpNode {
  const size = 1 + args.reduce((s, a) => s + (a.type === 'op' ? a.size : 0), 0);
  return { type: 'op', op, dtype, args, size };
}

/** The distinct storage buffers an expression reads. */
export function leafBuffers(e: Expr, into = new Set<GpuStorage>()): Set<GpuStorage> {
  if (e.type === 'leaf') into.add(e.view.storage);
  else for (const a of e.args) leafBuffers(a, into);
  return into;
}

const valueKind = (e: Expr) => kindOf(e.type === 'leaf' ? e.view.dtype : e.dtype);

/**
 * An expression compiled to a WGSL function `fn <name>(i: u32) -> T` that evaluates it at the
 * row-major index i of its output: its storage declarations (bindings from `firstBinding`, one per
 * distinct buffer, in `buffers` order), library code, and the cache-key part describing it. Its
 * uniforms are pushed into `u`. Kernels other than the elementwise one use it to read a fused value
 * without materializing it (reductions, see reduce.ts).
 */
export interface ExprFunction {
  name: string;
  /** Storage declarations and the function itself. */
  code: string;
  /** Library functions it calls (elementwise-ops.ts `libCode`). */
  lib: Set<string>;
  key: string;
  buffers: GpuStorage[];
  /** WGSL type of the function's result. */
  type: Kind;
}

export function exprFunction(u: Uniforms, root: OpNode, firstBinding: number, name = 'fx'): ExprFunction {
  const buffers: GpuStorage[] = [];
  const kinds: Kind[] = [];
  const bindingOf = new Map<GpuStorage, number>();
  const names = new Map<Expr, string>();
  const leafNames = new Map<string, string>();
  const lines: string[] = [];
  const key: string[] = [];
  const libs = new Set<string>();

  const visitLeaf = (l: Leaf): string => {
    const v = l.view;
    let b = bindingOf.get(v.storage);
    if (b === undefined) {
      b = buffers.push(v.storage) - 1;
      kinds.push(kindOf(v.dtype));
      bindingOf.set(v.storage, b);
    }
    const merged = coalesce(v.shape, [v.strides]);
    const id = `${b}|${v.offset}|${merged.shape}|${merged.strides[0]}`;
    const known = leafNames.get(id);
    if (known) return known;
    const j = leafNames.size;
    const addr = new Addr(u, merged.shape, [{ strides: merged.strides[0], offset: v.offset }]);
    lines.push(addr.code('i', [`p${j}`], `a${j}`), `let l${j} = ${name}In${b}[u32(p${j})];`);
    key.push(`L${b}${addr.key}`);
    leafNames.set(id, `l${j}`);
    return `l${j}`;
  };
  const visit = (e: Expr): string => {
    const known = names.get(e);
    if (known) return known;
    let value: string;
    if (e.type === 'leaf') {
      value = visitLeaf(e);
    } else {
      const args = e.args.map((a, k) => storeExpr(visit(a), valueKind(a), e.op.argKinds[k]));
      value = `v${names.size}`;
      for (const l of e.op.code.lib ?? []) libs.add(l);
      lines.push(`let ${value} = ${storeExpr(e.op.code.expr(args), e.op.code.type, kindOf(e.dtype))};`);
      key.push(`${e.op.name}:${e.op.argKinds.join('')}>${kindOf(e.dtype)}(${e.args.map((a) => names.get(a)).join(',')})`);
    }
    names.set(e, value);
    return value;
  };
  const result = visit(root);
  const type = kindOf(root.dtype);
  const code = `${buffers.map((_, b) => storageDecl(firstBinding + b, `${name}In${b}`, kinds[b], true)).join('\n')}
fn ${name}(i: u32) -> ${type} {
  ${lines.join('\n  ')}
  return ${result};
}`;
  return { name, code, lib: libs, key: `${kinds.join('')}>${type}:${key.join(';')}`, buffers, type };
}

/** Runs the expression `root` into a fresh contiguous buffer of `out.shape` (dtype root.dtype). */
export function runExpr(rt: GpuRuntime, root: OpNode, out: OutputSpec): GpuStorage {
  const n = numel(out.shape);
  const result = rt.alloc(n);
  if (n === 0) return result;
  const u = new Uniforms();
  const nExpr = u.u32(n);
  const fx = exprFunction(u, root, 1);
  const outKind = kindOf(out.dtype);
  const code = () => `${u.decl()}
${fx.code}
${libCode(fx.lib)}
${storageDecl(fx.buffers.length + 1, 'outBuf', outKind, false)}
${flatMain(WG, nExpr)}
  outBuf[i] = ${storeExpr(`${fx.name}(i)`, fx.type, outKind)};
${FLAT_END}`;
  rt.dispatch(
    {
      key: `ew:${fx.key}>${outKind}`,
      code,
      uniforms: u.buffer(),
      readOnly: fx.buffers.length,
      workgroups: flatGrid(n, WG, rt.limits.maxComputeWorkgroupsPerDimension),
    },
    [...fx.buffers, result],
  );
  return result;
}

/** One op over views broadcast to out.shape, run at once (the unfused path). */
function runOne(rt: GpuRuntime, op: Op, inputs: GpuView[], out: OutputSpec): GpuStorage {
  return runExpr(rt, opNode(op, out.dtype, inputs.map((v) => leafAt(v, out.shape))), out);
}

/** Unary op (including copy, which materializes a strided view contiguously). */
export function runUnary(rt: GpuRuntime, op: UnaryOp, x: GpuView, out: OutputSpec): GpuStorage {
  return runOne(rt, unaryOp(op, x.dtype), [x], out);
}

/** Binary op; both operands compute in the kind of the first operand's dtype (as on the CPU). */
export function runBinary(rt: GpuRuntime, op: BinaryOp, a: GpuView, b: GpuView, out: OutputSpec): GpuStorage {
  return runOne(rt, binaryOp(op, a.dtype), [a, b], out);
}

/** where(cond, a, b): cond nonzero (NaN counts as nonzero) picks a, else b. */
export function runWhere(rt: GpuRuntime, cond: GpuView, a: GpuView, b: GpuView, out: OutputSpec): GpuStorage {
  return runOne(rt, whereOp(cond.dtype, out.dtype), [cond, a, b], out);
}

/** cast {dtype}: saturating float→int (NaN → 0), int32↔uint32 reinterpretation, x != 0 for bool. */
export function runCast(rt: GpuRuntime, x: GpuView, dtype: DType, out: OutputSpec): GpuStorage {
  return runOne(rt, castOp(x.dtype, dtype), [x], out);
}
