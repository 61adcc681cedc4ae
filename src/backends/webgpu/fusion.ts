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
 * or released; a buffer returns to the pool when its last owner lets go (`owners` counts owners only
 * for buffers that have more than one).
 */
import type { OutputSpec, Storage, View } from '../../core/backend.js';
import { WgradError } from '../../core/backend.js';
import { numel } from '../../core/shape.js';
import type { Op } from '../../kernels/elementwise-ops.js';
import { leafAt, leafBuffers, opNode, runExpr, type OpNode } from '../../kernels/elementwise.js';
import type { GpuStorage, GpuView } from '../../kernels/runtime.js';
import { isRowMajor } from '../../kernels/wgsl.js';
import type { WebGpuRuntime } from './runtime.js';

/** Op nodes per fused kernel (counting repeats): bounds kernel size and recomputation. */
export const MAX_NODES = 48;

export class LazyStorage implements Storage {
  /** The expression while unrealized; null once realized or released. */
  root: OpNode | null;
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
    root: OpNode,
    leaves: Set<GpuStorage>,
    /** The primitive that made this value, named by its realization errors. */
    readonly origin = 'fused op',
  ) {
    this.root = root;
    this.leaves = leaves;
  }
}

export type WebStorage = GpuStorage | LazyStorage;

export class Fusion {
  private readonly owners = new Map<GpuStorage, number>();
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
        s.buffer = this.rt.attempt(() => runExpr(this.rt, root, { shape: s.shape, dtype: root.dtype }));
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
    for (const b of s.leaves) this.drop(b);
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
    return v.storage instanceof LazyStorage ? v.storage.root : null;
  }

  /**
   * The result of `op` over `inputs` (views broadcast to out.shape): a lazy value, or with `atOnce`
   * its realized buffer (owned by the caller; a failure throws here, naming `origin`).
   */
  fuse(op: Op, inputs: View<WebStorage>[], out: OutputSpec, origin?: string): WebStorage {
    const n = numel(out.shape);
    const rowMajor = inputs.map((v) => {
      const s = v.storage;
      return s instanceof LazyStorage && s.root !== null && v.offset === 0 && numel(v.shape) === n && isRowMajor(v.shape, v.strides);
    });
    // A value also read through another view is realized, and then read as a buffer everywhere.
    const realized = new Set(inputs.filter((_, k) => !rowMajor[k]).map((v) => v.storage));
    const inlinable = rowMajor.map((r, k) => r && !realized.has(inputs[k].storage));
    // Non-inlined values are realized by `concrete` while building; if inlining would break the
    // caps, the inlinable ones are realized too and read as buffers.
    const build = (inline: boolean[]) =>
      opNode(op, out.dtype, inputs.map((v, k) => (inline[k] ? (v.storage as LazyStorage).root! : leafAt(this.concrete(v), out.shape))));
    let root = build(inlinable);
    if (root.size > MAX_NODES || leafBuffers(root).size > this.maxInputs) root = build(inputs.map(() => false));
    const leaves = leafBuffers(root);
    for (const b of leaves) this.retain(b);
    const lazy = new LazyStorage(n, out.shape, root, leaves, origin);
    this.pending.add(lazy);
    return this.atOnce ? this.realize(lazy) : lazy;
  }

  /** The front end's release of storage it owns. */
  release(s: WebStorage): void {
    if (!(s instanceof LazyStorage)) return this.drop(s);
    if (s.released) throw new WgradError('release', 'storage released twice');
    s.released = true;
    if (s.buffer) this.drop(s.buffer);
    this.dropInputs(s);
  }

  private retain(b: GpuStorage): void {
    this.owners.set(b, (this.owners.get(b) ?? 1) + 1);
  }

  private drop(b: GpuStorage): void {
    const c = this.owners.get(b);
    if (c === undefined) this.rt.release(b);
    else if (c === 2) this.owners.delete(b);
    else this.owners.set(b, c - 1);
  }
}
