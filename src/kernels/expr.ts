/**
 * Fused expressions: the DAGs that the elementwise kernels (elementwise.ts) and the row-fused
 * kernels (row-fused.ts) compile, and the WGSL of their op nodes, which both share.
 *
 * A DAG's leaves are strided views of storage buffers; its op nodes are elementwise primitives
 * (their WGSL is the table of elementwise-ops.ts); a row node is a reduction of a sub-DAG over the
 * last axis of the kernel's output shape, read broadcast along that axis (softmax's max and
 * Σ exp(x − max), layer norm's mean and variance). Only the row-fused kernel evaluates row nodes;
 * the WebGPU backend's fusion (src/backends/webgpu/fusion.ts) builds them only where that kernel
 * can read every leaf row by row.
 *
 * The types are generic in the leaves' storage (GPU buffers by default) because the wasm backend's
 * fusion (src/backends/wasm/fusion.ts) builds the same DAGs over CPU arrays and renders them to Wasm.
 */
import type { Storage, View } from '../core/backend.js';
import type { DType } from '../core/dtype.js';
import { broadcastStrides } from '../core/shape.js';
import { kindOf, storeExpr, type Kind, type Op } from './elementwise-ops.js';
import type { GpuStorage } from './runtime.js';

/** A strided view read at the output's row-major index: `view.shape` has the output's size. */
export interface Leaf<S extends Storage = GpuStorage> {
  readonly type: 'leaf';
  readonly view: View<S>;
}

/**
 * One op applied to its arguments; `size` counts the op and row nodes of the tree below (with
 * repeats); `rows` says whether a row node is among them.
 */
export interface OpNode<S extends Storage = GpuStorage> {
  readonly type: 'op';
  readonly op: Op;
  readonly dtype: DType;
  readonly args: readonly Expr<S>[];
  readonly size: number;
  readonly rows: boolean;
}

/** The reductions a row node computes (float32 only). */
export type RowOp = 'sum' | 'prod' | 'max' | 'min';

/**
 * `op` of `arg` over the last axis of the kernel's output shape, the same value at every element
 * of a row. `arg` is evaluated at the row's elements (flat indices r·L + j).
 */
export interface RowNode<S extends Storage = GpuStorage> {
  readonly type: 'row';
  readonly op: RowOp;
  readonly dtype: 'float32';
  readonly arg: Leaf<S> | OpNode<S>;
  readonly size: number;
}

export type Expr<S extends Storage = GpuStorage> = Leaf<S> | OpNode<S> | RowNode<S>;

/** A leaf reading `view` broadcast to `shape` (the shape of the op that reads it). */
export function leafAt<S extends Storage = GpuStorage>(view: View<S>, shape: readonly number[]): Leaf<S> {
  const strides = broadcastStrides(view.shape, view.strides, shape);
  return { type: 'leaf', view: { ...view, shape, strides } };
}

const sizeOf = (e: Expr<Storage>) => (e.type === 'leaf' ? 0 : e.size);
const hasRows = (e: Expr<Storage>) => e.type === 'row' || (e.type === 'op' && e.rows);

export function opNode<S extends Storage = GpuStorage>(op: Op, dtype: DType, args: readonly Expr<S>[]): OpNode<S> {
  return { type: 'op', op, dtype, args, size: 1 + args.reduce((s, a) => s + sizeOf(a), 0), rows: args.some(hasRows) };
}

export function rowNode(op: RowOp, arg: Leaf | OpNode): RowNode {
  return { type: 'row', op, dtype: 'float32', arg, size: 1 + sizeOf(arg) };
}

/** The distinct storage buffers an expression reads (row nodes' arguments included). */
export function leafBuffers(e: Expr, into = new Set<GpuStorage>()): Set<GpuStorage> {
  if (e.type === 'leaf') into.add(e.view.storage);
  else if (e.type === 'row') leafBuffers(e.arg, into);
  else for (const a of e.args) leafBuffers(a, into);
  return into;
}

export const valueKind = (e: Expr<Storage>): Kind => kindOf(e.type === 'leaf' ? e.view.dtype : e.dtype);

/** The distinct leaves an expression reads per element, in evaluation order (not inside row nodes: those are values). */
export function leavesOf<S extends Storage = GpuStorage>(e: Expr<S>, into: Leaf<S>[] = [], seen = new Set<Expr<S>>()): Leaf<S>[] {
  if (seen.has(e)) return into;
  seen.add(e);
  if (e.type === 'leaf') into.push(e);
  else if (e.type === 'op') for (const a of e.args) leavesOf(a, into, seen);
  return into;
}

/** What distinguishes an op node's code: the op, its argument kinds and its result's kind. */
export const opKey = (e: OpNode<Storage>): string => `${e.op.name}:${e.op.argKinds.join('')}>${kindOf(e.dtype)}`;

/** WGSL of an expression's op nodes, appended by `emitOps`. */
export interface EmittedOps {
  /** `let` statements, one per op node and component. */
  body: string[];
  /** Cache-key parts describing the ops and what they read. */
  key: string[];
  /** Library functions the ops call (elementwise-lib.ts). */
  libs: Set<string>;
}

/**
 * Emits a `let` per op node of `root` and component (`C`: [''] for scalars, x/y/z/w at width 4),
 * each converted to its dtype's storage kind exactly as a store and reload would (so fused and
 * unfused results agree); returns the name of root's value (suffixed by the component). A leaf's
 * value comes from `leafValue`, a row node's (one scalar per row) from `rowValue`.
 */
export function emitOps(
  root: OpNode,
  C: readonly string[],
  leafValue: (l: Leaf, c: string) => string,
  rowValue: (r: RowNode) => string,
  out: EmittedOps,
): string {
  const names = new Map<Expr, string>();
  const valueOf = (a: Expr, name: string, c: string) => (a.type === 'leaf' ? leafValue(a, c) : a.type === 'row' ? name : `${name}${c}`);
  const visit = (e: Expr): string => {
    const known = names.get(e);
    if (known) return known;
    if (e.type !== 'op') {
      names.set(e, e.type === 'leaf' ? `L${names.size}` : rowValue(e));
      return names.get(e)!;
    }
    const argNames = e.args.map(visit);
    const value = `v${names.size}`;
    for (const l of e.op.code.lib ?? []) out.libs.add(l);
    for (const c of C) {
      const args = e.args.map((a, k) => storeExpr(valueOf(a, argNames[k], c), valueKind(a), e.op.argKinds[k]));
      out.body.push(`let ${value}${c} = ${storeExpr(e.op.code.expr(args), e.op.code.type, kindOf(e.dtype))};`);
    }
    out.key.push(`${opKey(e)}(${argNames.join(',')})`);
    names.set(e, value);
    return value;
  };
  return visit(root);
}
