/**
 * The engine: the current backend, and the two ways a primitive is applied.
 *   - `runPrim` runs a compute primitive on the backend and wraps the fresh storage in a Tensor.
 *   - `viewPrim` makes a view (reshape/permute/expand/slice) sharing the input's storage.
 * Both record the application on the output (`_node`) when tracing is on and some input is traced,
 * which is all reverse-mode autodiff needs (src/autograd/backward.ts walks these records).
 */
import type { Backend } from '../core/backend.js';
import { WgradError } from '../core/backend.js';
import type { DType } from '../core/dtype.js';
import type { ComputePrim, Prim, PrimParams, ViewPrim } from '../core/prims.js';
import { isTracing, opScope } from './lifetime.js';
import { retireBackend, StorageRef, Tensor } from './tensor.js';

let current: Backend | undefined;

/** Makes `backend` current; the one it replaces is retired (its tensors then say so when used). */
export function setBackend(backend: Backend): void {
  if (current && current !== backend) retireBackend(current);
  current = backend;
}

export function backend(): Backend {
  if (!current) {
    throw new WgradError('wgrad', 'no backend: call `await init()` first (or `init({ backend: "cpu" })`)');
  }
  return current;
}

export function hasBackend(): boolean {
  return current !== undefined;
}

/**
 * The float64 reference backend the gradient checker runs on. The front end names no backend, so
 * init.ts, which knows them, registers how to make it (the CPU backend in float64 mode).
 */
let makeFloat64Backend: (() => Backend) | undefined;
let float64: Backend | undefined;

/** @internal Called by init.ts. */
export function registerFloat64Backend(make: () => Backend): void {
  makeFloat64Backend = make;
}

/** @internal The float64 reference backend, made on first use. */
export function float64Backend(): Backend {
  if (!makeFloat64Backend) throw new WgradError('checkGrads', 'no float64 reference backend is registered (import wgrad, whose init module registers the CPU one)');
  float64 ??= makeFloat64Backend();
  return float64;
}

/** Runs `fn` with `b` as the current backend (used by the float64 gradient checker). */
export function withBackend<T>(b: Backend, fn: () => T): T {
  const saved = current;
  current = b;
  try {
    return fn();
  } finally {
    current = saved;
  }
}

/** The public op the user called (the outermost `op` running), named by backend errors. */
let userOp: string | null = null;

/**
 * Wraps a public op: if it throws, every tensor it created is freed (opScope), and an error of the
 * backend names the op the user called rather than the primitive it failed in (`zeros`, not `copy`).
 */
export function op<F extends (...args: never[]) => unknown>(name: string, fn: F): F {
  const wrapped = function (this: unknown, ...args: Parameters<F>): ReturnType<F> {
    const outer = userOp;
    userOp ??= name;
    try {
      return opScope(() => fn.apply(this, args) as ReturnType<F>);
    } finally {
      userOp = outer;
    }
  };
  Object.defineProperty(wrapped, 'name', { value: fn.name || name });
  return wrapped as unknown as F;
}

/** Wraps every function of an ops module with `op` (named by its export name). */
export function ops<M extends object>(module: M): M {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(module)) out[k] = typeof v === 'function' ? op(k, v as (...a: never[]) => unknown) : v;
  return out as M;
}

/** A backend error of primitive `prim`, renamed after the op the user called when that differs. */
function fromBackend(e: unknown, prim: string): unknown {
  if (!(e instanceof WgradError) || userOp === null || userOp === prim || !e.message.startsWith(`${prim}: `)) return e;
  return new WgradError(userOp, `${e.message.slice(prim.length + 2)} (in its ${prim} step)`);
}

const isTraced = (t: Tensor) => t._node !== undefined || t._leaf;

/**
 * Autodiff records float32 results only (nothing else has a gradient); a graph printout
 * (autograd/graph.ts) records every dtype, so comparisons and integer steps show as equations.
 */
let recordEveryDType = false;

/** @internal Runs `fn` recording the nodes of every dtype (for printing a traced graph). */
export function withEveryDTypeRecorded<T>(fn: () => T): T {
  const saved = recordEveryDType;
  recordEveryDType = true;
  try {
    return fn();
  } finally {
    recordEveryDType = saved;
  }
}

function record<P extends Prim>(out: Tensor, prim: P, inputs: Tensor[], params: PrimParams[P]): void {
  if ((out.dtype === 'float32' || recordEveryDType) && isTracing() && inputs.some(isTraced)) {
    out._node = { prim, inputs, params };
  }
}

function sameBackend(op: string, inputs: Tensor[]): Backend {
  const b = inputs.length ? inputs[0].backend : backend();
  for (const t of inputs) {
    t._check(op);
    if (t.backend !== b) {
      throw new WgradError(op, `inputs live on different backends (${b.report.description} and ${t.backend.report.description}); create tensors on one backend (checkGrads runs f on its own float64 CPU backend: make constants inside f)`);
    }
  }
  return b;
}

/**
 * @internal What jit's capture (tensor/jit-capture.ts) is told while it records a function: each
 * compute primitive applied (its output tensor made) and each upload. Views need no record: they
 * share their input's storage, which is all a replay needs to know of them.
 */
export interface PrimCapture {
  run(prim: ComputePrim, inputs: readonly Tensor[], params: unknown, out: Tensor): void;
  upload(out: Tensor): void;
}

let capture: PrimCapture | undefined;

/** @internal Sets (or clears) the capture that jit records through; returns the one it replaces. */
export function setPrimCapture(c: PrimCapture | undefined): PrimCapture | undefined {
  const saved = capture;
  capture = c;
  return saved;
}

export function runPrim<P extends ComputePrim>(
  prim: P,
  inputs: Tensor[],
  params: PrimParams[P],
  shape: readonly number[],
  dtype: DType,
): Tensor {
  const b = sameBackend(prim, inputs);
  const views = inputs.map((t) => t._view(prim));
  let storage: ReturnType<Backend['run']>;
  try {
    storage = b.run(prim, views, params, { shape, dtype });
  } catch (e) {
    throw fromBackend(e, prim);
  }
  const out = new Tensor(new StorageRef(b, storage), shape, dtype);
  record(out, prim, inputs, params);
  capture?.run(prim, inputs, params, out);
  return out;
}

export function viewPrim<P extends ViewPrim>(
  prim: P,
  x: Tensor,
  params: PrimParams[P],
  shape: readonly number[],
  strides: readonly number[],
  offset: number,
): Tensor {
  x._check(prim);
  const out = new Tensor(x._ref.retain(), shape, x.dtype, strides, offset);
  record(out, prim, [x], params);
  return out;
}

/** Uploads host data as a new tensor on the current backend. */
export function fromStorageArray(data: Parameters<Backend['upload']>[0], shape: readonly number[], dtype: DType): Tensor {
  const b = backend();
  let storage: ReturnType<Backend['upload']>;
  try {
    storage = b.upload(data, dtype);
  } catch (e) {
    throw fromBackend(e, 'upload');
  }
  const out = new Tensor(new StorageRef(b, storage), shape, dtype);
  capture?.upload(out);
  return out;
}
