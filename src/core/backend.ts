/**
 * The contract between the front end (tensors, autodiff) and a backend (CPU reference, WebGPU, Wasm).
 *
 * A backend owns raw storage (4 bytes per element, see dtype.ts) and runs compute primitives. It
 * never sees autodiff or views-as-objects: the front end passes each input as a `View` (storage +
 * shape/strides/offset in elements) and the output's shape and dtype, already checked; the backend
 * returns a fresh contiguous row-major storage holding the result.
 *
 * Ownership: `alloc`/`upload`/`run` return storage with one owner; `release` frees it (the WebGPU
 * backend returns the buffer to its pool). The front end reference-counts storage shared by views.
 */
import type { AnyStorageArray, DType } from './dtype.js';
import type { ComputePrim, PrimParams } from './prims.js';

/** Opaque per-backend storage handle. `size` is the element count. */
export interface Storage {
  readonly size: number;
}

export interface View<S extends Storage = Storage> {
  storage: S;
  dtype: DType;
  shape: readonly number[];
  /** Element strides; 0 for broadcast axes, negative for flipped axes. */
  strides: readonly number[];
  /** Element offset of index [0, 0, ...]. */
  offset: number;
}

export interface OutputSpec {
  shape: readonly number[];
  dtype: DType;
}

export interface MemoryInfo {
  /** Storage objects currently owned by tensors (not counting pooled free buffers). */
  liveBuffers: number;
  liveBytes: number;
  /** Free buffers kept in a pool for reuse, and their bytes. */
  pooledBuffers: number;
  pooledBytes: number;
}

/** What `init` started: the backend, and the adapter's identity, features and limits. */
export interface AdapterReport {
  backend: 'cpu' | 'webgpu' | 'wasm';
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  features: string[];
  limits: Record<string, number>;
  /** Set by `init({ backend: 'auto' })` only: why it chose this backend (the adapter it found,
   *  or why there was no WebGPU), for a program to show its user. */
  autoReason?: string;
}

export interface Backend<S extends Storage = Storage> {
  readonly kind: 'cpu' | 'webgpu' | 'wasm';
  readonly report: AdapterReport;
  /** Copies `data` (already in the dtype's storage layout) into new storage. */
  upload(data: AnyStorageArray, dtype: DType): S;
  /** Reads a view back in logical row-major order (Float64Array for float32 on a float64 CPU
   *  backend). Flushes pending work first. */
  read(view: View<S>): Promise<AnyStorageArray | Float64Array>;
  release(storage: S): void;
  /** Runs one compute primitive. `inputs` are in the order PrimParams documents. */
  run<P extends ComputePrim>(prim: P, inputs: View<S>[], params: PrimParams[P], out: OutputSpec): S;
  /** Submits recorded work (no-op on the CPU). */
  flush(): void;
  /** Waits until all submitted work has finished. */
  sync(): Promise<void>;
  memory(): MemoryInfo;
  /** Frees pooled buffers and device resources. */
  destroy(): void;
  /**
   * Optional (WebGPU): records the device work of the `run`/`release` calls that follow, below the
   * front end, on the argument storages `args`, so that jit (tensor/jit.ts) can replay it without
   * them. Backends without it are replayed call by call.
   */
  recordWork?(args: readonly S[]): WorkRecorder<S>;
}

/** A recording started by `Backend.recordWork`. */
export interface WorkRecorder<S extends Storage = Storage> {
  /**
   * Stops recording; `outputs` are the storages the recorded calls made that outlive them. Returns
   * the work, or undefined when it cannot be replayed below the front end (then jit replays it call
   * by call).
   */
  finish(outputs: readonly S[]): RecordedWork<S> | undefined;
  /** Stops recording, keeping nothing (the recorded function threw). */
  discard(): void;
}

/** Work recorded by `Backend.recordWork`. */
export interface RecordedWork<S extends Storage = Storage> {
  /**
   * Does the work again on new argument storages (same dtypes and layouts as recorded), with
   * `keys[i]` the key of the i-th `random` call recorded; returns new storages for the outputs,
   * owned by the caller.
   */
  replay(args: readonly S[], keys: readonly (readonly [number, number])[]): S[];
  /** Frees what the work keeps between replays (its buffer plan's buffers). */
  dispose(): void;
}

// WgradError lives in errors.ts (dtype.ts and shape.ts raise it too); the rest of wgrad imports it from here.
export { WgradError } from './errors.js';
