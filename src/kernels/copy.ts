/**
 * The strided copy kernel: writes a view of any strides into a region of a buffer given by its own
 * strides and offset, converting the element type as a typed-array store would. One kernel serves
 * every non-elementwise copy: contiguous copies of operands (matmul's batch fallback, conv's
 * permuted weights) and concat's per-input copies into the output.
 *
 * Element-parallel over the source (wgsl.ts `flatMain`). Source and destination strides are merged
 * jointly with `coalesce`, so a copy between two row-major layouts is rank 1 and takes `Addr`'s
 * fast path (offset + i); any other layout unravels the index with one multiply-high division per
 * merged axis (`udiv`), unrolled to rank 4 with uniform guards. Shapes, strides and offsets are
 * uniforms: one pipeline per dtype pair and path.
 */
import type { DType } from '../core/dtype.js';
import { contiguousStrides, numel } from '../core/shape.js';
import type { GpuRuntime, GpuStorage, GpuView } from './runtime.js';
import { Addr, coalesce, flatGrid, FLAT_END, flatMain, storageDecl, Uniforms, WG, wt } from './wgsl.js';

/** Copies view `x` into `dst` at `dstOffset + Σ index·dstStrides` (the elements stored as `dtype`). */
export function runCopy(rt: GpuRuntime, x: GpuView, dst: GpuStorage, dstStrides: readonly number[], dstOffset: number, dtype: DType): void {
  const m = numel(x.shape);
  if (m === 0) return;
  const T = wt(dtype);
  const merged = coalesce(x.shape, [x.strides, dstStrides]);
  const u = new Uniforms();
  const nE = u.u32(m);
  const addr = new Addr(u, merged.shape, [
    { strides: merged.strides[0], offset: x.offset },
    { strides: merged.strides[1], offset: dstOffset },
  ]);
  const code = () => `${u.decl()}
${storageDecl(1, 'xb', wt(x.dtype), true)}
${storageDecl(2, 'ob', T, false)}
${flatMain(WG, nE)}
  ${addr.code('i', ['src', 'dst'])}
  ob[u32(dst)] = ${T}(xb[u32(src)]);
${FLAT_END}`;
  rt.dispatch(
    { key: `copy:${wt(x.dtype)}>${T}:${addr.key}`, code, uniforms: u.buffer(), readOnly: 1, workgroups: flatGrid(m, WG, rt.limits.maxComputeWorkgroupsPerDimension) },
    [x.storage, dst],
  );
}

/** A contiguous copy of view `v` (same dtype) in a fresh buffer; the caller releases its storage. */
export function contiguousCopy(rt: GpuRuntime, v: GpuView): GpuView {
  const strides = contiguousStrides(v.shape);
  const storage = rt.alloc(numel(v.shape));
  runCopy(rt, v, storage, strides, 0, v.dtype);
  return { storage, dtype: v.dtype, shape: [...v.shape], strides, offset: 0 };
}
