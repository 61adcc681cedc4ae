/**
 * Elementwise kernels: one op, or a fused chain of ops, in one generated kernel.
 *
 * An elementwise computation is an expression DAG (`Expr`): leaves are strided views of storage
 * buffers, nodes are ops (every elementwise primitive; their WGSL is the table of elementwise-ops.ts).
 * A single op is a one-node DAG. The WebGPU backend's fusion (src/backends/webgpu/fusion.ts) grows DAGs
 * across ops, so tanh(x·1.5 + 0.5)·x is one kernel that reads x once and writes once instead of
 * four passes over memory and four dispatches — on lavapipe both cost.
 *
 * Algorithm: one pass, no workgroup memory. Workgroups of 256 lanes (1-D, the contiguous output dim
 * on X), each lane handling 16 elements 256 apart (wgsl.ts `flatMain`: a workgroup covers 4096
 * consecutive outputs), a 2-D grid of workgroups for large outputs.
 *
 * Width: when every leaf is read at one shape whose merged innermost axis is a multiple of 4, each
 * index covers 4 consecutive outputs (`vec4Ready`): leaves load once per 4 elements (a vec4, a
 * splat, or 4 scalars), the index is decomposed once per 4, the ops run per component and the store
 * is one vec4. On lavapipe, where loads and index math dominate, softmax's final pass went 199 →
 * 114 ms and layer norm's 294 → 106 ms (16384×1024).
 *
 * Addressing: every leaf maps the output's row-major index i to its own element address. A leaf
 * keeps the shape it was read at (a fused chain may pass through a reshape, so the leaves of one
 * kernel may have different shapes of the same size) and its strides over that shape, which make
 * broadcasts, transposes, slices and flips free. Its axes are merged first (`coalesce`); a leaf that
 * is then contiguous or a broadcast scalar takes the fast path (offset + i, or offset), any other one
 * div/mod per merged axis, unrolled to rank 4 (wgsl.ts `Addr`). Leaves read at the same shape are
 * merged jointly and share one decomposition; identical leaves load once; leaves of one buffer share
 * its binding.
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
import type { ElementwisePrim, PrimParams, UnaryOp } from '../core/prims.js';
import { broadcastStrides, numel } from '../core/shape.js';
import { elementwiseOp, kindOf, libCode, storeExpr, type Kind, type Op } from './elementwise-ops.js';
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

/** The distinct leaves of an expression, in evaluation order. */
function leavesOf(e: Expr, into: Leaf[] = [], seen = new Set<Expr>()): Leaf[] {
  if (seen.has(e)) return into;
  seen.add(e);
  if (e.type === 'leaf') into.push(e);
  else for (const a of e.args) leavesOf(a, into, seen);
  return into;
}

/**
 * Leaves grouped by the shape they are read at (one group unless the chain passed through a
 * reshape); each group's axes are merged jointly over all its leaves, so one index decomposition
 * serves the whole group.
 */
interface LeafGroup {
  shape: number[];
  leaves: Leaf[];
  /** Per leaf, its strides over the merged shape. */
  strides: number[][];
}

function groupLeaves(leaves: Leaf[]): LeafGroup[] {
  const byShape = new Map<string, Leaf[]>();
  for (const l of leaves) {
    const k = l.view.shape.join(',');
    byShape.set(k, [...(byShape.get(k) ?? []), l]);
  }
  return [...byShape.values()].map((ls) => {
    const merged = coalesce(ls[0].view.shape, ls.map((l) => l.view.strides));
    return { shape: merged.shape, leaves: ls, strides: merged.strides };
  });
}

/**
 * How a 4-wide evaluation reads a leaf's 4 consecutive elements: 'v' one aligned vec4 load
 * (innermost stride 1), 's' one scalar splat (innermost stride 0, a broadcast along the row), 'x'
 * four scalar loads (any other stride).
 */
type Load4 = 'v' | 's' | 'x';

/**
 * Whether `root` can be evaluated 4 consecutive elements at a time (`exprFunction` width 4): every
 * leaf is read at one shape whose merged innermost axis is a multiple of 4 (so the 4 elements
 * share all other coordinates), and every buffer's size is a multiple of 16 bytes (vec4 bindings).
 */
export function vec4Ready(root: Expr): boolean {
  const groups = groupLeaves(leavesOf(root));
  if (groups.length !== 1) return false;
  const { shape, leaves } = groups[0];
  return shape.length > 0 && shape[shape.length - 1] % 4 === 0 && leaves.every((l) => (l.view.storage as GpuStorage).buffer.size % 16 === 0);
}

function load4Mode(strides: readonly number[], offset: number): Load4 {
  const last = strides[strides.length - 1];
  if (last === 0) return 's';
  return last === 1 && offset % 4 === 0 && strides.slice(0, -1).every((s) => s % 4 === 0) ? 'v' : 'x';
}

/**
 * An expression compiled to a WGSL function that evaluates it at row-major indices of its output:
 * `fn <name>(i: u32) -> T` (width 1), or with width 4 `fn <name>(i: u32) -> vec4<T>` for the
 * elements 4·i .. 4·i + 3 (only where `vec4Ready`). Carries its storage declarations (bindings
 * from `firstBinding`, one per distinct buffer, in `buffers` order; vec4 arrays at width 4), library
 * code, and the cache-key part describing it. Its uniforms are pushed into `u`. Kernels other than
 * the elementwise one use it to read a fused value without materializing it (reductions, see
 * reduce.ts).
 *
 * Width 4 loads each leaf once per 4 elements (one vec4, one splat or four scalars, see Load4) and
 * decomposes the index once per 4 elements; the ops are then evaluated per component (the op
 * library is scalar). On lavapipe this is ~1.6–2× faster than width 1: loads and index math, not
 * arithmetic, dominate there.
 */
export interface ExprFunction {
  name: string;
  /** Storage declarations and the function itself. */
  code: string;
  /** Library functions it calls (elementwise-lib.ts, via `libCode`). */
  lib: Set<string>;
  key: string;
  buffers: GpuStorage[];
  /** WGSL type of the function's result (per component at width 4). */
  type: Kind;
}

export function exprFunction(u: Uniforms, root: OpNode, firstBinding: number, name = 'fx', width: 1 | 4 = 1): ExprFunction {
  const buffers: GpuStorage[] = [];
  const kinds: Kind[] = [];
  const bindingOf = new Map<GpuStorage, number>();
  const lines: string[] = [];
  const key: string[] = [`w${width}`];
  const libs = new Set<string>();
  const C = width === 4 ? ['x', 'y', 'z', 'w'] : [''];

  // Leaves: per group one shared index decomposition, then one load per distinct leaf.
  const leafValue = new Map<Leaf, (c: string) => string>();
  const loaded = new Map<string, (c: string) => string>();
  const flat = width === 4 ? 'i * 4u' : 'i';
  for (const [gi, g] of groupLeaves(leavesOf(root)).entries()) {
    const binding = g.leaves.map((l) => {
      let b = bindingOf.get(l.view.storage as GpuStorage);
      if (b === undefined) {
        b = buffers.push(l.view.storage as GpuStorage) - 1;
        kinds.push(kindOf(l.view.dtype));
        bindingOf.set(l.view.storage as GpuStorage, b);
      }
      return b;
    });
    // Identical leaves (same buffer, offset and strides) share one operand.
    const ids = g.leaves.map((l, j) => `${binding[j]}|${l.view.offset}|${g.strides[j]}`);
    const operands: number[] = [];
    ids.forEach((id, j) => { if (ids.indexOf(id) === j) operands.push(j); });
    const addr = new Addr(u, g.shape, operands.map((j) => ({ strides: g.strides[j], offset: g.leaves[j].view.offset })));
    const pn = operands.map((j) => `p${gi}_${j}`);
    lines.push(addr.code(flat, pn, `a${gi}`));
    const groupKey: string[] = [];
    operands.forEach((j, oi) => {
      const b = binding[j];
      const buf = `${name}In${b}`;
      const p = pn[oi];
      const l = `l${gi}_${j}`;
      let value: (c: string) => string;
      if (width === 1) {
        lines.push(`let ${l} = ${buf}[u32(${p})];`);
        value = () => l;
        groupKey.push(`${b}`);
      } else {
        const mode = load4Mode(g.strides[j], g.leaves[j].view.offset);
        const at = (q: string) => `${buf}[u32(${q}) >> 2u][u32(${q}) & 3u]`;
        if (mode === 'v') {
          lines.push(`let ${l} = ${buf}[u32(${p}) >> 2u];`);
          value = (c) => `${l}.${c}`;
        } else if (mode === 's') {
          lines.push(`let ${l} = ${at(p)};`);
          value = () => l;
        } else {
          const st = u.i32(g.strides[j][g.strides[j].length - 1]);
          lines.push(`let ${l} = vec4<${kinds[b]}>(${[0, 1, 2, 3].map((c) => at(c === 0 ? p : `${p} + ${c} * ${st}`)).join(', ')});`);
          value = (c) => `${l}.${c}`;
        }
        groupKey.push(`${b}${mode}`);
      }
      loaded.set(ids[j], value);
    });
    g.leaves.forEach((l, j) => leafValue.set(l, loaded.get(ids[j])!));
    key.push(`G${addr.key}(${groupKey.join(',')})[${ids.map((id) => ids.indexOf(id)).join(',')}]`);
  }

  // Ops: a `let` per node and component, by object identity.
  const names = new Map<Expr, string>();
  const visit = (e: Expr): string => {
    const known = names.get(e);
    if (known) return known;
    if (e.type === 'leaf') {
      names.set(e, `L${names.size}`);
      return names.get(e)!;
    }
    const argNames = e.args.map(visit);
    const value = `v${names.size}`;
    for (const l of e.op.code.lib ?? []) libs.add(l);
    for (const c of C) {
      const args = e.args.map((a, k) => storeExpr(a.type === 'leaf' ? leafValue.get(a)!(c) : `${argNames[k]}${c}`, valueKind(a), e.op.argKinds[k]));
      lines.push(`let ${value}${c} = ${storeExpr(e.op.code.expr(args), e.op.code.type, kindOf(e.dtype))};`);
    }
    key.push(`${e.op.name}:${e.op.argKinds.join('')}>${kindOf(e.dtype)}(${argNames.join(',')})`);
    names.set(e, value);
    return value;
  };
  const result = visit(root);
  const type = kindOf(root.dtype);
  const ret = width === 4 ? `vec4<${type}>(${C.map((c) => `${result}${c}`).join(', ')})` : result;
  const elem = (k: Kind) => (width === 4 ? `vec4<${k}>` : k);
  const code = `${buffers.map((_, b) => storageDecl(firstBinding + b, `${name}In${b}`, elem(kinds[b]), true)).join('\n')}
fn ${name}(i: u32) -> ${elem(type)} {
  ${lines.join('\n  ')}
  return ${ret};
}`;
  return { name, code, lib: libs, key: `${kinds.join('')}>${type}:${key.join(';')}`, buffers, type };
}

/** Runs the expression `root` into a fresh contiguous buffer of `out.shape` (dtype root.dtype). */
export function runExpr(rt: GpuRuntime, root: OpNode, out: OutputSpec): GpuStorage {
  const n = numel(out.shape);
  const result = rt.alloc(n);
  if (n === 0) return result;
  const width = n % 4 === 0 && result.buffer.size % 16 === 0 && vec4Ready(root) ? 4 : 1;
  const u = new Uniforms();
  const nExpr = u.u32(n / width);
  const fx = exprFunction(u, root, 1, 'fx', width);
  const outKind = kindOf(out.dtype);
  const store = width === 4
    ? `let r = fx(i);\n  outBuf[i] = vec4<${outKind}>(${['x', 'y', 'z', 'w'].map((c) => storeExpr(`r.${c}`, fx.type, outKind)).join(', ')});`
    : `outBuf[i] = ${storeExpr('fx(i)', fx.type, outKind)};`;
  const code = () => `${u.decl()}
${fx.code}
${libCode(fx.lib)}
${storageDecl(fx.buffers.length + 1, 'outBuf', width === 4 ? `vec4<${outKind}>` : outKind, false)}
${flatMain(WG, nExpr)}
  ${store}
${FLAT_END}`;
  rt.dispatch(
    {
      key: `ew:${fx.key}>${outKind}`,
      code,
      uniforms: u.buffer(),
      readOnly: fx.buffers.length,
      workgroups: flatGrid(n / width, WG, rt.limits.maxComputeWorkgroupsPerDimension),
    },
    [...fx.buffers, result],
  );
  return result;
}

/**
 * Elementwise primitive `prim` over views broadcast to out.shape, run at once: a DAG of one op
 * through the same table and kernel as a fused chain. For kernels that need an elementwise step of
 * their own (e.g. a contiguous copy); the backend runs elementwise primitives through fusion.
 */
export function runElementwise<P extends ElementwisePrim>(rt: GpuRuntime, prim: P, inputs: GpuView[], params: PrimParams[P], out: OutputSpec): GpuStorage {
  const op = elementwiseOp(prim, inputs.map((v) => v.dtype), params, out.dtype);
  return runExpr(rt, opNode(op, out.dtype, inputs.map((v) => leafAt(v, out.shape))), out);
}

/** Unary op (`copy` materializes a strided view contiguously), run at once. */
export function runUnary(rt: GpuRuntime, op: UnaryOp, x: GpuView, out: OutputSpec): GpuStorage {
  return runElementwise(rt, op, [x], {}, out);
}
