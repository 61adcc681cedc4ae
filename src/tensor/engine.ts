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
import { isTracing } from './scope.js';
import { StorageRef, Tensor } from './tensor.js';

let current: Backend | undefined;

export function setBackend(backend: Backend): void {
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

const isTraced = (t: Tensor) => t._node !== undefined || t._leaf;

function record<P extends Prim>(out: Tensor, prim: P, inputs: Tensor[], params: PrimParams[P]): void {
  if (out.dtype === 'float32' && isTracing() && inputs.some(isTraced)) {
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

export function runPrim<P extends ComputePrim>(
  prim: P,
  inputs: Tensor[],
  params: PrimParams[P],
  shape: readonly number[],
  dtype: DType,
): Tensor {
  const b = sameBackend(prim, inputs);
  const storage = b.run(prim, inputs.map((t) => t._view(prim)), params, { shape, dtype });
  const out = new Tensor(new StorageRef(b, storage), shape, dtype);
  record(out, prim, inputs, params);
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
  return new Tensor(new StorageRef(b, b.upload(data, dtype)), shape, dtype);
}
