/**
 * Lazy elementwise fusion for the WebGPU backend: the one path every elementwise primitive takes
 * (its WGSL is the table of kernels/elementwise-ops.ts).
 *
 * An elementwise primitive (unary, binary, where, cast) does not run when it is called: it returns
 * a `LazyStorage` holding an expression DAG (kernels/elementwise.ts) over the buffers it reads. A
 * later elementwise op that reads a lazy value in row-major order inlines its expression, so a chain
 * of ops becomes one kernel. A lazy value is realized — its kernel recorded into a real buffer —
 *  - when anything else needs its memory: a non-elementwise primitive other than a reduction, a
 *    read, a strided or broadcast read by an elementwise op (the fused kernel addresses leaves by the
 *    output's row-major index, so only row-major reads can inline). A reduction realizes its
 *    input only where reading it in place would cost index arithmetic per element (rules.ts
 *    `readsInPlace`); otherwise the reduce kernel calls the expression as a function at every
 *    address it reads (kernels/reduce.ts), so softmax's Σ exp(x − max) never stores exp(x − max);
 *  - when inlining would exceed the caps: MAX_NODES op nodes, or more distinct buffers than a
 *    kernel may bind;
 *  - at the latest, at the first backend call after a batch of dispatches was submitted (and at
 *    flush/sync). This cuts chains that would otherwise grow across training steps (Adam's moment
 *    m ← β·m + (1−β)·g inlines the previous m forever) while keeping every buffer those chains read
 *    alive.
 * A value read twice by elementwise consumers before it is realized is recomputed in each; values
 * read by a non-elementwise op are realized first and then read as buffers.
 *
 * Row reductions: a float32 sum/prod/max/min over the last axis (MIN_ROWS or more rows of at most
 * MAX_ROW, kernels/row-fused.ts) is not run either: it becomes a row node, a lazy value of one
 * element per row (`reduceLastAxis`). An elementwise op that reads it broadcast along the rows
 * inlines it, and its kernel computes the reduction row by row before using it (row-fused.ts), so
 * softmax and layer norm are one kernel that reads each row from memory once. Ops of row nodes at
 * the reduced shape ([..., 1]: a mean, rsqrt(var + ε), log Σ exp) stay per-row values, built at
 * the rows' shape so that they inline the same way (`fusePerRow`). Anything else that reads a row
 * node realizes it with the reduce kernel.
 *
 * Realize at once (`atOnce`, the backend's `fusion: false`): every value is realized as soon as it
 * is made, so each op is its own kernel (a DAG of one op, the same table and code generator) and
 * its buffer is returned directly. No value is ever pending then.
 *
 * Failure: a value whose kernel cannot be recorded is dead: it leaves the pending set and drops its
 * inputs, and its error (naming the primitive that made it) is thrown once — by the call that
 * needed it, or, when it was realized on the way (at a batch boundary), at the next flush, sync or
 * read — and again only if that value itself is used. Nothing else is affected.
 *
 * Ownership: the front end still owns each storage it gets once (`release` once). A lazy value
 * additionally owns a reference to every buffer its expression reads, dropped when it is realized
 * or released; a buffer returns to the pool when its last owner lets go (src/backends/owners.ts
 * counts owners only for buffers that have more than one).
 */
import type { OutputSpec, Storage, View } from '../../core/backend.js';
import { WgradError } from '../../core/backend.js';
import type { ReduceOp } from '../../core/prims.js';
import { broadcastStrides, contiguousStrides, numel } from '../../core/shape.js';
import type { Op } from '../../kernels/elementwise-ops.js';
import { runExpr } from '../../kernels/elementwise.js';
import { leafAt, leafBuffers, opNode, rowNode, type Leaf, type OpNode, type RowNode } from '../../kernels/expr.js';
import { readsSourceInPlace, runReduce } from '../../kernels/reduce.js';
import { allLeaves, MAX_ROW, MIN_ROWS, rowGeometry, runRowExpr } from '../../kernels/row-fused.js';
import type { GpuStorage, GpuView } from '../../kernels/runtime.js';
import { isRowMajor } from '../../kernels/wgsl.js';
import type { WebGpuRuntime } from './runtime.js';
import { Owners } from '../owners.js';

/** Op nodes per fused kernel (counting repeats): bounds kernel size and recomputation. */
export const MAX_NODES = 48;

export class LazyStorage implements Storage {
  /**
   * The expression while unrealized (a row node: a reduction over the last axis of `rowShape`);
   * null once realized or released.
   */
  root: OpNode | RowNode | null;
  /** The buffers `root` reads (one owner reference each) while unrealized. */
  leaves: Set<GpuStorage>;
  /** The result once realized. */
  buffer: GpuStorage | null = null;
  released = false;
  /** Set when realizing failed: the value is dead (it left the pending set); using it throws this. */
  failure: WgradError | null = null;

  constructor(
    readonly size: number,
    readonly shape: readonly number[],
    root: OpNode | RowNode,
    leaves: Set<GpuStorage>,
    /** The primitive that made this value, named by its realization errors. */
    readonly origin = 'fused op',
    /** Where the expression has row nodes: the shape whose rows (last axis) they reduce; else []. */
    readonly rowShape: readonly number[] = [],
  ) {
    this.root = root;
    this.leaves = leaves;
  }

  /** One value per row of `rowShape` (a row node, or ops of row nodes at the reduced shape). */
  get perRow(): boolean {
    return this.rowShape.length > 0 && !sameShape(this.shape, this.rowShape);
  }
}

export type WebStorage = GpuStorage | LazyStorage;

export class Fusion {
  private readonly owners = new Owners<GpuStorage>((b) => this.rt.release(b));
  private readonly pending = new Set<LazyStorage>();
  private seenSubmits = 0;
  /** Distinct buffers one fused kernel may read (one binding is the output). */
  readonly maxInputs: number;

  constructor(
    private readonly rt: WebGpuRuntime,
    /** Realize every value as it is made (see header). */
    readonly atOnce = false,
  ) {
    this.maxInputs = Math.min(rt.limits.maxStorageBuffersPerShaderStage - 1, 8);
  }

  /** Realizes everything pending when a batch was submitted since the last call (see header). */
  tick(): void {
    if (this.rt.stats.submits !== this.seenSubmits) {
      try {
        this.realizeAll();
      } catch (e) {
        // Not this op's error: it is reported at the next flush, sync or read (or when the
        // failed value is used), like an asynchronous kernel error.
        if (!(e instanceof WgradError)) throw e;
        this.rt.deferError(e);
      } finally {
        this.seenSubmits = this.rt.stats.submits;
      }
    }
  }

  /**
   * Realizes every pending value. A value that fails leaves the pending set (see `realize`); the
   * others are still realized, and the first failure is thrown once, here.
   */
  realizeAll(): void {
    let first: unknown = null;
    for (const l of [...this.pending]) {
      try {
        this.realize(l);
      } catch (e) {
        first ??= e;
      }
    }
    if (first) throw first;
  }

  /**
   * The buffer holding `s`, recording its kernel first when it is an unrealized lazy value. When
   * that fails, `s` is dead: it leaves the pending set and drops its inputs (so no later op trips
   * over it), and the error, naming the primitive that made it, is thrown now and whenever `s` is
   * used again.
   */
  realize(s: WebStorage): GpuStorage {
    if (!(s instanceof LazyStorage)) return s;
    if (s.failure) {
      this.rt.forgetError(s.failure);
      throw s.failure;
    }
    if (s.released) throw new WgradError('webgpu', 'a fused value was used after release');
    if (!s.buffer) {
      const root = s.root!;
      try {
        this.rt.activeOp = s.origin;
        s.buffer = this.rt.attempt(() =>
          root.type === 'row' ? this.reduceRows(root, s.rowShape, { shape: s.shape, dtype: 'float32' })
          : s.perRow ? runRowExpr(this.rt, root, { shape: s.rowShape, dtype: root.dtype }, true)
          : runExpr(this.rt, root, { shape: s.shape, dtype: root.dtype }));
      } catch (e) {
        const why = e instanceof Error ? e.message : String(e);
        const what = `${this.atOnce ? '' : 'fused '}${root.dtype} [${s.shape.join(', ')}]`;
        s.failure = new WgradError(s.origin, `computing its ${what} result failed: ${why}`);
        this.dropInputs(s);
        throw s.failure;
      }
      this.dropInputs(s);
    }
    return s.buffer;
  }

  /** `s` no longer needs the buffers its expression reads (realized, failed or released). */
  private dropInputs(s: LazyStorage): void {
    for (const b of s.leaves) this.owners.drop(b);
    s.root = null;
    s.leaves = new Set();
    this.pending.delete(s);
  }

  /** `v` over a real buffer. */
  concrete(v: View<WebStorage>): GpuView {
    return v.storage instanceof LazyStorage ? { ...v, storage: this.realize(v.storage) } : (v as GpuView);
  }

  /** The expression of `v`'s value while it is unrealized (a kernel may evaluate it in place), else null. */
  source(v: View<WebStorage>): OpNode | null {
    return v.storage instanceof LazyStorage && v.storage.root?.type === 'op' ? v.storage.root : null;
  }

  /**
   * A reduction over the last axis of x, left unrealized (a row node) so that an elementwise op
   * reading it broadcast along that axis computes it in its own kernel (kernels/row-fused.ts) — or
   * null where that does not apply (then the reduce kernel runs now): float32 sum/prod/max/min,
   * MIN_ROWS or more rows of at most MAX_ROW, x a realized buffer or an unrealized value read
   * whole at its own shape, every leaf readable row by row.
   */
  reduceLastAxis(op: ReduceOp, x: View<WebStorage>, axes: readonly number[], out: OutputSpec): LazyStorage | null {
    const r = x.shape.length;
    if (this.atOnce || op === 'argmax' || op === 'argmin' || x.dtype !== 'float32' || out.dtype !== 'float32') return null;
    if (r === 0 || axes.length !== 1 || axes[0] !== r - 1) return null;
    const L = x.shape[r - 1];
    if (L === 0 || L > MAX_ROW || numel(x.shape) / L < MIN_ROWS) return null;
    const arg = this.rowArg(x);
    if (!arg || (arg.type === 'op' && arg.size >= MAX_NODES) || !allLeaves(arg).every((l) => rowGeometry(l.view, x.shape))) return null;
    const node = rowNode(op, arg);
    return leafBuffers(node).size > this.maxInputs ? null : this.track(node, out.shape, op, x.shape);
  }

  /** x as a row node's argument: a realized buffer's leaf, or an unrealized value read whole at its own shape. */
  private rowArg(x: View<WebStorage>): Leaf | OpNode | null {
    const s = x.storage;
    if (!(s instanceof LazyStorage)) return leafAt(x as GpuView, x.shape);
    if (s.buffer) return leafAt({ ...x, storage: s.buffer }, x.shape);
    const whole = readsWhole(x, x.shape) && sameShape(x.shape, s.shape);
    return whole && s.root?.type === 'op' && !s.perRow && !s.failure && !s.released ? s.root : null;
  }

  /** Realizes a row node on its own: the reduce kernel over its argument (in place where cheap). */
  private reduceRows(node: RowNode, rowShape: readonly number[], out: OutputSpec): GpuStorage {
    const last = [rowShape.length - 1];
    const arg = node.arg;
    if (arg.type === 'leaf') return runReduce(this.rt, node.op, arg.view, last, out);
    const geometry = { storage: null as unknown as GpuStorage, dtype: 'float32' as const, shape: rowShape, strides: contiguousStrides(rowShape), offset: 0 };
    if (!arg.rows && readsSourceInPlace(node.op, geometry, last, arg)) return runReduce(this.rt, node.op, geometry, last, out, arg);
    const values = runExpr(this.rt, arg, { shape: rowShape, dtype: 'float32' });
    try {
      return runReduce(this.rt, node.op, { ...geometry, storage: values }, last, out);
    } finally {
      this.rt.release(values);
    }
  }

  /**
   * The result of `op` over `inputs` (views broadcast to out.shape): a lazy value, or with `atOnce`
   * its realized buffer (owned by the caller; a failure throws here, naming `origin`).
   */
  fuse(op: Op, inputs: View<WebStorage>[], out: OutputSpec, origin?: string): WebStorage {
    const rowShape = this.perRowShape(inputs, out.shape);
    const perRow = rowShape && this.fusePerRow(op, inputs, out, rowShape, origin);
    if (perRow) return perRow;
    const readable = inputs.map((v) => this.inlinable(v, out.shape));
    // A value also read through another view is realized, and then read as a buffer everywhere.
    const realized = new Set(inputs.filter((_, k) => !readable[k]).map((v) => v.storage));
    const inlinable = readable.map((r, k) => r && !realized.has(inputs[k].storage));
    // Non-inlined values are realized by `concrete` while building; if inlining would break the
    // caps (or leave a row node with a leaf it cannot read by rows), the inlinable ones are
    // realized too and read as buffers.
    const build = (inline: boolean[]) =>
      opNode(op, out.dtype, inputs.map((v, k) => (inline[k] ? (v.storage as LazyStorage).root! : leafAt(this.concrete(v), out.shape))));
    let root = build(inlinable);
    const rowsOk = !root.rows || allLeaves(root).every((l) => rowGeometry(l.view, out.shape));
    if (!rowsOk || root.size > MAX_NODES || leafBuffers(root).size > this.maxInputs) root = build(inputs.map(() => false));
    const lazy = this.track(root, out.shape, origin, root.rows ? out.shape : []);
    return this.atOnce ? this.realize(lazy) : lazy;
  }

  /** A new unrealized value: it owns a reference to every buffer its expression reads, and is pending. */
  private track(root: OpNode | RowNode, shape: readonly number[], origin: string | undefined, rowShape: readonly number[]): LazyStorage {
    const leaves = leafBuffers(root);
    for (const b of leaves) this.owners.retain(b);
    const lazy = new LazyStorage(numel(shape), shape, root, leaves, origin, rowShape);
    this.pending.add(lazy);
    return lazy;
  }

  /**
   * The rows an op of shape `shape` keeps per-row values of: where an input is a per-row value
   * (LazyStorage.perRow) read whole at `shape`, the reduced shape of its `rowShape` ([..., 1] or
   * [...]); null where there is none or two disagree.
   */
  private perRowShape(inputs: View<WebStorage>[], shape: readonly number[]): readonly number[] | null {
    let rows: readonly number[] | null = null;
    for (const v of inputs) {
      const s = perRowRead(v, shape);
      if (!s) continue;
      if (rows && !sameShape(rows, s.rowShape)) return null;
      rows = s.rowShape;
    }
    return rows;
  }

  /**
   * An op over per-row values (softmax's log Σ, layer norm's mean, variance and rsqrt(var + ε)),
   * itself per row: its expression is built at `rowShape` (every leaf read broadcast along the
   * rows), so an op at `rowShape` can inline it whole. Null where a leaf cannot be read by rows or
   * the caps would break (the caller then builds it the plain way).
   */
  private fusePerRow(op: Op, inputs: View<WebStorage>[], out: OutputSpec, rowShape: readonly number[], origin?: string): LazyStorage | null {
    const inline = inputs.map((v) => {
      const s = perRowRead(v, out.shape);
      return s !== null && sameShape(s.rowShape, rowShape);
    });
    // A per-row value also read another way is realized (by `concrete`) and read as a buffer.
    const realized = new Set(inputs.filter((_, k) => !inline[k]).map((v) => v.storage));
    const root = opNode(op, out.dtype, inputs.map((v, k) =>
      inline[k] && !realized.has(v.storage) ? (v.storage as LazyStorage).root! : alongRows(leafAt(this.concrete(v), out.shape), rowShape)));
    if (root.size > MAX_NODES || leafBuffers(root).size > this.maxInputs || !allLeaves(root).every((l) => rowGeometry(l.view, rowShape))) return null;
    return this.track(root, out.shape, origin, rowShape);
  }

  /**
   * Whether an elementwise op of shape `shape` can inline `v`'s expression: an unrealized value
   * read whole in row-major order (at its own shape, if its expression has row nodes), or a row
   * node over the rows of `shape` read broadcast along them.
   */
  private inlinable(v: View<WebStorage>, shape: readonly number[]): boolean {
    const s = v.storage;
    if (!(s instanceof LazyStorage) || s.root === null) return false;
    if (s.perRow) {
      const strides = broadcastStrides(v.shape, v.strides, shape);
      const r = shape.length;
      return v.offset === 0 && sameShape(s.rowShape, shape) && strides[r - 1] === 0 && isRowMajor(shape.slice(0, -1), strides.slice(0, -1));
    }
    const rows = s.root.type === 'op' && s.root.rows;
    return readsWhole(v, shape) && (!rows || (sameShape(s.shape, shape) && sameShape(v.shape, shape)));
  }

  /** The front end's release of storage it owns. */
  release(s: WebStorage): void {
    if (!(s instanceof LazyStorage)) return this.owners.drop(s);
    if (s.released) throw new WgradError('release', 'storage released twice');
    s.released = true;
    if (s.buffer) this.owners.drop(s.buffer);
    this.dropInputs(s);
  }
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/** Whether `v` reads its whole storage in row-major order as an operand of an op of shape `shape`. */
const readsWhole = (v: View<WebStorage>, shape: readonly number[]) => v.offset === 0 && numel(v.shape) === numel(shape) && isRowMajor(v.shape, v.strides);

/** `v`'s storage when it is an unrealized per-row value read whole by an op of its reduced shape `shape`, else null. */
function perRowRead(v: View<WebStorage>, shape: readonly number[]): LazyStorage | null {
  const s = v.storage;
  return s instanceof LazyStorage && s.root !== null && s.perRow && readsWhole(v, shape) && reducedShape(s.rowShape, shape) ? s : null;
}

/** Whether `shape` is `rowShape` reduced over its last axis, kept ([..., 1]) or dropped. */
function reducedShape(rowShape: readonly number[], shape: readonly number[]): boolean {
  const lead = rowShape.slice(0, -1);
  return sameShape(shape, lead) || sameShape(shape, [...lead, 1]);
}

/** A leaf read at a reduced shape of `rowShape`, read instead at `rowShape`: the same value along each row. */
function alongRows(l: Leaf, rowShape: readonly number[]): Leaf {
  const lead = rowShape.length - 1;
  return { type: 'leaf', view: { ...l.view, shape: rowShape, strides: [...l.view.strides.slice(0, lead), 0] } };
}
