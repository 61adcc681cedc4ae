/**
 * The Tensor: a strided view (shape, strides, offset) over reference-counted backend storage, plus,
 * while a gradient is being traced, the primitive application that produced it (`node`).
 *
 * Ownership (see README "Memory"): every tensor owns one reference to its storage; views share the
 * storage and take their own reference. `dispose()` drops the reference; storage goes back to the
 * backend's pool when the last reference is gone. Tensors created inside `tidy(fn)` are disposed when
 * `fn` returns, except those it returns. Nothing is freed by the garbage collector.
 */
import type { Backend, Storage, View } from '../core/backend.js';
import { WgradError } from '../core/backend.js';
import type { AnyStorageArray, DType } from '../core/dtype.js';
import type { Prim, PrimParams } from '../core/prims.js';
import { contiguousStrides, fmtShape, isContiguous, numel } from '../core/shape.js';
import { onCreate, onDispose } from './lifetime.js';

/** Storage shared by a tensor and its views, freed when the last of them is disposed. */
export class StorageRef {
  refs = 1;
  /** @internal Told when the storage goes back to the backend (jit's capture records the release: tensor/jit-capture.ts). */
  onFree: (() => void) | undefined;
  constructor(readonly backend: Backend, readonly storage: Storage) {}
  retain(): this {
    this.refs++;
    return this;
  }
  release(): void {
    if (--this.refs === 0) {
      this.backend.release(this.storage);
      this.onFree?.();
    }
  }
}

/**
 * @internal Told of every read-back (`data`, `array`, `item`) while jit captures a function: a
 * value read mid-trace is something a replay cannot reproduce (tensor/jit-capture.ts).
 */
let readObserver: ((t: Tensor) => void) | undefined;

/** @internal Sets (or clears) the read-back observer. */
export function setReadObserver(o: ((t: Tensor) => void) | undefined): void {
  readObserver = o;
}

/** Backends that a later `init()` replaced: their tensors can no longer be used. */
const retired = new WeakSet<Backend>();

/** @internal Called when init() replaces `b` (and destroys it). */
export function retireBackend(b: Backend): void {
  retired.add(b);
}

/** How a traced tensor was computed: the primitive, its inputs and its parameters. */
export interface Node<P extends Prim = Prim> {
  prim: P;
  inputs: Tensor[];
  params: PrimParams[P];
}

/** Nested arrays of numbers or booleans (`tensor`'s input, `toArray`'s output). */
export type NestedArray = number | boolean | NestedArray[];

let nextId = 0;

/** A tensor: an immutable strided view over backend storage (see the module header for ownership). */
export class Tensor<D extends DType = DType> {
  readonly id = nextId++;
  /** @internal */ _node: Node | undefined;
  /** @internal True for an argument that a `grad`/`vjp` call differentiates with respect to. */
  _leaf = false;
  /** @internal */ _disposed = false;

  /** @internal Use the ops (`tensor`, `zeros`, `add`, ...) to make tensors. */
  constructor(
    /** @internal */ readonly _ref: StorageRef,
    readonly shape: readonly number[],
    readonly dtype: D,
    /** @internal */ readonly _strides: readonly number[] = contiguousStrides(shape),
    /** @internal */ readonly _offset = 0,
  ) {
    onCreate(this);
  }

  /** The number of axes. */
  get rank(): number { return this.shape.length; }
  /** The number of elements. */
  get size(): number { return numel(this.shape); }
  /** The backend holding the storage. */
  get backend(): Backend { return this._ref.backend; }
  /** True after `dispose()`. */
  get isDisposed(): boolean { return this._disposed; }
  /** True when the elements lie in storage in plain row-major order. */
  get isContiguous(): boolean {
    return isContiguous(this.shape, this._strides, this._offset, this._ref.storage.size);
  }

  /** @internal The view a backend reads; throws naming `op` if the tensor was disposed. */
  _view(op: string): View {
    this._check(op);
    return { storage: this._ref.storage, dtype: this.dtype, shape: this.shape, strides: this._strides, offset: this._offset };
  }

  /** @internal */
  _check(op: string): void {
    if (this._disposed) {
      throw new WgradError(op, `tensor #${this.id} (${this.dtype} ${fmtShape(this.shape)}) was used after dispose()`);
    }
    if (retired.has(this._ref.backend)) {
      throw new WgradError(op, `tensor #${this.id} (${this.dtype} ${fmtShape(this.shape)}) belongs to a previous init(): a later init() replaced its ${this._ref.backend.kind} backend and freed its memory; create the tensor again after init() (to keep its values, read them with data() before calling init() again)`);
    }
  }

  /** Reads the elements back in row-major order (a typed array: Float32Array, Int32Array, Uint32Array, Uint8Array for bool). */
  async data(): Promise<ReadbackArray<D>> {
    readObserver?.(this);
    const raw = await this._ref.backend.read(this._view('data'));
    return toReadback(raw, this.dtype) as ReadbackArray<D>;
  }

  /** Reads the elements back as nested JS arrays (a number or boolean for a scalar). */
  async array(): Promise<NestedArray> {
    const flat = Array.from(await this.data() as ArrayLike<number>, (v) => (this.dtype === 'bool' ? v !== 0 : v));
    const build = (axis: number, start: number): NestedArray => {
      if (axis === this.rank) return flat[start];
      const stride = numel(this.shape.slice(axis + 1));
      return Array.from({ length: this.shape[axis] }, (_, i) => build(axis + 1, start + i * stride));
    };
    return build(0, 0);
  }

  /** Reads a single-element tensor back as a number. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new WgradError('item', `expected a tensor with one element, got shape ${fmtShape(this.shape)}`);
    return Number((await this.data())[0]);
  }

  /**
   * Drops this tensor's reference to its storage. Disposing twice is a no-op. Inside a traced
   * function the release waits until the trace ends, since the backward pass may still read it.
   */
  dispose(): void {
    if (!this._disposed) onDispose(this);
  }

  /** `dispose()`, for `using`. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** The dtype and shape, e.g. "Tensor(float32 [2, 3])". */
  toString(): string {
    return `Tensor(${this.dtype} ${fmtShape(this.shape)}${this._disposed ? ', disposed' : ''})`;
  }
}

/** @internal Checks that an argument is a live Tensor (not a number, array or undefined). */
export function checkTensor(op: string, x: unknown, name = 'x'): asserts x is Tensor {
  if (!(x instanceof Tensor)) {
    throw new WgradError(op, `${name} must be a Tensor, got ${x === null ? 'null' : Array.isArray(x) ? 'a JS array (wrap it with tensor([...]))' : typeof x}`);
  }
  x._check(op);
}

/** The typed array `data()` returns for a dtype (bool: Uint8Array). */
export type ReadbackArray<D extends DType> = D extends 'float32'
  ? Float32Array
  : D extends 'int32' ? Int32Array : D extends 'uint32' ? Uint32Array : Uint8Array;

function toReadback(raw: AnyStorageArray | Float64Array, dtype: DType): ArrayLike<number> {
  if (dtype === 'bool') return Uint8Array.from(raw as Uint32Array);
  if (dtype === 'float32' && raw instanceof Float64Array) return Float32Array.from(raw);
  return raw;
}
