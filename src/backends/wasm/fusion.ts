/**
 * Lazy elementwise fusion for the wasm backend, the same idea as the WebGPU backend's
 * (src/backends/webgpu/fusion.ts) over the same expression DAGs (src/kernels/expr.ts), rendered
 * to Wasm by fused.ts.
 *
 * An elementwise primitive with Wasm code (ops.ts) does not run when it is called: it returns a
 * `LazyValue` holding its expression over the arrays it reads. A later elementwise op that reads a
 * lazy value whole, in row-major order, at its own shape inlines that expression, so a chain of
 * ops (relu's `where(x ≤ 0, 0, x)`, its gradient, a max-pool's tie mask) is one pass over memory.
 * A lazy value is realized — its program run into a fresh array — when
 *  - anything else needs its elements: a primitive that is not a fusable elementwise op, a read,
 *    or an elementwise op reading it strided or broadcast (fused leaves are copied in by strides,
 *    but an expression is only evaluated at the output's own row-major index);
 *  - inlining it would exceed MAX_NODES op nodes or MAX_LEAVES distinct arrays (this bounds a
 *    program's size and the work recomputed where a value is inlined more than once);
 *  - at the latest, at a read, flush or sync: every pending value is realized then, so chains that
 *    would grow across training steps (an optimizer's m ← β·m + (1−β)·g) are cut every step and
 *    the arrays they read are let go.
 * A value inlined by two consumers is recomputed in each (elementwise ops are cheap next to a
 * second pass over memory); a value released before anything needed it is never computed.
 *
 * Ownership: the front end owns each storage it gets once (`release` once). A pending value also
 * owns a reference to every array its expression reads, dropped when it is realized or released;
 * an array is released to the CPU reference's accounting when its last owner lets go
 * (src/backends/owners.ts, shared with the WebGPU fusion).
 */
import type { OutputSpec, Storage, View } from '../../core/backend.js';
import { WgradError } from '../../core/backend.js';
import type { DType } from '../../core/dtype.js';
import { numel } from '../../core/shape.js';
import type { Op } from '../../kernels/elementwise-ops.js';
import { leafAt, leavesOf, opNode } from '../../kernels/expr.js';
import { isRowMajor } from '../../kernels/wgsl.js';
import { Owners } from '../owners.js';
import type { CpuStorage, CpuView } from '../cpu/types.js';
import type { WasmExpr, WasmNode } from './fused.js';
import { wasmOp } from './ops.js';

/** Op nodes per program (counting repeats). */
export const MAX_NODES = 32;
/** Distinct arrays one program reads. */
export const MAX_LEAVES = 8;

export class LazyValue implements Storage {
  /** The expression while pending; null once realized or released. */
  root: WasmNode | null;
  /** The arrays `root` reads (one owner reference each) while pending. */
  leaves: Set<CpuStorage>;
  /** The result once realized. */
  buffer: CpuStorage | null = null;
  released = false;

  readonly size: number;

  constructor(readonly shape: readonly number[], readonly dtype: DType, root: WasmNode, leaves: Set<CpuStorage>) {
    this.size = numel(shape);
    this.root = root;
    this.leaves = leaves;
  }
}

export type WasmStorage = CpuStorage | LazyValue;

/** What fusion needs of the backend: run a program into a fresh array, and the arrays' accounting. */
export interface FusionHost {
  evaluate(root: WasmNode, out: OutputSpec): CpuStorage;
  release(array: CpuStorage): void;
}

/** Leaf arrays of an expression (distinct). */
const arraysOf = (root: WasmNode): Set<CpuStorage> => new Set(leavesOf(root).map((l) => l.view.storage));

export class WasmFusion {
  private readonly owners: Owners<CpuStorage>;
  private readonly pending = new Set<LazyValue>();

  constructor(private readonly host: FusionHost) {
    this.owners = new Owners((array) => host.release(array));
  }

  /**
   * `op` of `inputs` as a pending value, or null where the wasm backend has no code for it (the
   * caller runs the CPU reference rule on `concrete` inputs).
   */
  fuse(op: Op, inputs: View<WasmStorage>[], out: OutputSpec): LazyValue | null {
    if (!wasmOp(op.name, inputs.map((v) => v.dtype), out.dtype)) return null;
    const inline = (v: View<WasmStorage>): WasmExpr => {
      const s = v.storage;
      return s instanceof LazyValue && s.root && readsWhole(v, out.shape) ? s.root : leafAt(this.concrete(v), out.shape);
    };
    let root = opNode<CpuStorage>(op, out.dtype, inputs.map(inline));
    let leaves = arraysOf(root);
    if (root.size > MAX_NODES || leaves.size > MAX_LEAVES) {
      root = opNode<CpuStorage>(op, out.dtype, inputs.map((v) => leafAt(this.concrete(v), out.shape)));
      leaves = arraysOf(root);
    }
    for (const a of leaves) this.owners.retain(a);
    const value = new LazyValue(out.shape, out.dtype, root, leaves);
    this.pending.add(value);
    return value;
  }

  /** `v` over a real array (its lazy storage realized). */
  concrete(v: View<WasmStorage>): CpuView {
    return v.storage instanceof LazyValue ? { ...v, storage: this.realize(v.storage) } : (v as CpuView);
  }

  realize(s: LazyValue): CpuStorage {
    if (s.buffer) return s.buffer;
    if (s.released || !s.root) throw new WgradError('read', 'storage used after release');
    s.buffer = this.host.evaluate(s.root, { shape: s.shape, dtype: s.dtype });
    this.dropInputs(s);
    return s.buffer;
  }

  /** Realizes every pending value (at reads, flush and sync: see the header). */
  realizeAll(): void {
    for (const s of [...this.pending]) this.realize(s);
  }

  /** Pending values and the bytes their results will take. */
  get pendingCount(): { values: number; bytes: number } {
    let bytes = 0;
    for (const s of this.pending) bytes += 4 * s.size;
    return { values: this.pending.size, bytes };
  }

  release(s: WasmStorage): void {
    if (!(s instanceof LazyValue)) return this.owners.drop(s);
    if (s.released) throw new WgradError('release', 'storage released twice');
    s.released = true;
    if (s.buffer) this.owners.drop(s.buffer);
    this.dropInputs(s);
  }

  private dropInputs(s: LazyValue): void {
    this.pending.delete(s);
    for (const a of s.leaves) this.owners.drop(a);
    s.leaves = new Set();
    s.root = null;
  }

}

/** Whether `v` reads its whole storage in row-major order as an operand of an op of shape `shape`. */
const readsWhole = (v: View<WasmStorage>, shape: readonly number[]) =>
  v.offset === 0 && v.storage.size === numel(shape) && numel(v.shape) === numel(shape) && isRowMajor(v.shape, v.strides);
