/**
 * Types shared by the CPU reference backend: its storage, the signature of one primitive's rule,
 * and allocation of output arrays.
 *
 * Storage layout: float32 → Float32Array (or Float64Array when the backend runs in float64 mode,
 * which the gradient checker uses for float64 finite differences), int32 → Int32Array,
 * uint32 and bool → Uint32Array (bool holds 0/1).
 */
import type { DType } from '../../core/dtype.js';
import type { OutputSpec, Storage, View } from '../../core/backend.js';
import type { ComputePrim, PrimParams } from '../../core/prims.js';

export type CpuData = Float32Array | Float64Array | Int32Array | Uint32Array;

export interface CpuStorage extends Storage {
  readonly size: number;
  readonly data: CpuData;
}

export type CpuView = View<CpuStorage>;

export interface CpuContext {
  /** float32 tensors live in Float64Arrays and are computed without float32 rounding. */
  float64: boolean;
}

/** Computes one primitive: reads strided input views, returns a fresh contiguous row-major array. */
export type CpuRule<P extends ComputePrim> = (
  inputs: CpuView[],
  params: PrimParams[P],
  out: OutputSpec,
  ctx: CpuContext,
) => CpuData;

/** A zero-filled array of `length` elements in the storage type of `dtype`. */
export function allocData(dtype: DType, length: number, ctx: CpuContext): CpuData {
  switch (dtype) {
    case 'float32': return ctx.float64 ? new Float64Array(length) : new Float32Array(length);
    case 'int32': return new Int32Array(length);
    case 'uint32': case 'bool': return new Uint32Array(length);
  }
}

/** A zero-filled array of the same type as `data`. */
export function allocLike(data: CpuData, length: number): CpuData {
  if (data instanceof Float64Array) return new Float64Array(length);
  if (data instanceof Float32Array) return new Float32Array(length);
  if (data instanceof Int32Array) return new Int32Array(length);
  return new Uint32Array(length);
}

/** How a dtype's values behave arithmetically: bool computes like uint32 (0/1 words). */
export type ValueKind = 'float' | 'int32' | 'uint32';
export const valueKind = (dtype: DType): ValueKind =>
  dtype === 'float32' ? 'float' : dtype === 'int32' ? 'int32' : 'uint32';
