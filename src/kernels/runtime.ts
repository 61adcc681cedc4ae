/**
 * What a WGSL kernel family needs from the WebGPU runtime, and nothing more. Kernel files
 * (elementwise.ts, reduce.ts, matmul.ts, conv.ts, ...) generate WGSL and record dispatches through
 * this interface; src/backends/webgpu implements it (pipeline cache, buffer pool, one command
 * encoder per batch of dispatches).
 *
 * Binding convention for every kernel: `@group(0) @binding(0)` is the uniform block (when the kernel
 * has uniforms), then the storage buffers in the order given to `dispatch`: read-only inputs first,
 * then read-write outputs. The entry point is `main`.
 */
import type { View, Storage } from '../core/backend.js';

/** A GPU storage buffer of `size` 4-byte elements. */
export interface GpuStorage extends Storage {
  readonly buffer: GPUBuffer;
  readonly size: number;
}

export interface KernelSpec {
  /** Pipeline cache key: equal keys must mean identical WGSL. */
  key: string;
  /** Builds the WGSL source; called only on a pipeline-cache miss. */
  code: () => string;
  /** Uniform words (u32/i32/f32 mixed through a shared ArrayBuffer); may be empty. */
  uniforms: ArrayBuffer;
  /** How many of the bound storage buffers are read-only inputs (the rest are read_write). */
  readOnly: number;
  workgroups: [number, number, number];
}

export interface GpuRuntime {
  readonly device: GPUDevice;
  readonly limits: GPUSupportedLimits;
  readonly features: ReadonlySet<string>;
  /** Records one dispatch into the current command encoder. */
  dispatch(spec: KernelSpec, buffers: GpuStorage[]): void;
  /** A pooled buffer of `size` elements (contents undefined); release it with `release`. */
  alloc(size: number): GpuStorage;
  release(storage: GpuStorage): void;
}

export type GpuView = View<GpuStorage>;

/** Splits `n` workgroups over x and y so neither exceeds the 65,535 per-dimension limit. */
export function grid(n: number, maxPerDim = 65535): [number, number, number] {
  if (n <= maxPerDim) return [Math.max(n, 1), 1, 1];
  const y = Math.ceil(n / maxPerDim);
  return [Math.ceil(n / y), y, 1];
}
