/**
 * pad and concat (semantics: src/backends/cpu/movement.ts).
 *
 * pad {widths, value}: one invocation per output element (256 lanes, 2-D grid); the output index
 * is unravelled, shifted by the `before` widths and tested against the input shape with one
 * unsigned compare per axis; inside → read the strided input view, outside → `value` (its bits in
 * the output dtype, as a typed-array store converts it). The rank is a uniform (one pipeline per
 * dtype), no copies.
 *
 * concat {axis}: one strided-copy dispatch per input (all in one batch): invocation per input
 * element, reading the input view through its strides and writing the output region through the
 * output's row-major strides shifted by the input's start along `axis`. Input and region strides
 * are merged with `coalesce`, so e.g. concatenation along axis 0 is a plain contiguous copy.
 */
import type { OutputSpec } from '../core/backend.js';
import { contiguousStrides, numel } from '../core/shape.js';
import type { GpuRuntime, GpuStorage, GpuView } from './runtime.js';
import { Addr, capFor, coalesce, flatGrid, flatMain, storageBits, storageDecl, Uniforms, WG, wt } from './wgsl.js';

export function runPad(rt: GpuRuntime, x: GpuView, widths: readonly [number, number][], value: number, out: OutputSpec): GpuStorage {
  const n = numel(out.shape);
  const result = rt.alloc(n);
  if (n === 0) return result;
  const rank = out.shape.length;
  const cap = capFor(rank);
  const u = new Uniforms();
  const nE = u.u32(n);
  const rankE = u.u32(rank);
  const T = wt(out.dtype);
  const valE = u.bits(storageBits(out.dtype, value));
  const offE = u.i32(x.offset);
  const dims = u.array(out.shape, cap);
  const befores = u.array(widths.map((w) => w[0]), cap);
  const sizes = u.array(x.shape, cap);
  const strides = u.array(x.strides.map((s) => s | 0), cap);
  const key = `pad:${wt(x.dtype)}>${T}:c${cap}`;
  const code = () => `${u.decl()}
${storageDecl(1, 'xb', wt(x.dtype), true)}
${storageDecl(2, 'ob', T, false)}
${flatMain(WG, nE)}
  var rem = i;
  var p = ${offE};
  var inside = true;
  for (var dd = i32(${rankE}) - 1; dd >= 0; dd = dd - 1) {
    let d = u32(dd);
    let sz = uw(${dims}u + d);
    let c = rem % sz;
    rem = rem / sz;
    let xi = c - uw(${befores}u + d); // wraps to a huge u32 when negative
    if (xi >= uw(${sizes}u + d)) { inside = false; }
    p = p + i32(xi) * uwi(${strides}u + d);
  }
  var v = bitcast<${T}>(${valE});
  if (inside) { v = ${T}(xb[u32(p)]); }
  ob[i] = v;
}`;
  rt.dispatch(
    { key, code, uniforms: u.buffer(), readOnly: 1, workgroups: flatGrid(n, WG, rt.limits.maxComputeWorkgroupsPerDimension) },
    [x.storage, result],
  );
  return result;
}

export function runConcat(rt: GpuRuntime, inputs: GpuView[], axis: number, out: OutputSpec): GpuStorage {
  const n = numel(out.shape);
  const result = rt.alloc(n);
  if (n === 0) return result;
  const outStrides = contiguousStrides(out.shape);
  const T = wt(out.dtype);
  let start = 0;
  for (const x of inputs) {
    const m = numel(x.shape);
    const offset = start * (outStrides[axis] ?? 0);
    start += x.shape[axis];
    if (m === 0) continue;
    const merged = coalesce(x.shape, [x.strides, outStrides]);
    const u = new Uniforms();
    const nE = u.u32(m);
    const addr = new Addr(u, merged.shape, [
      { strides: merged.strides[0], offset: x.offset },
      { strides: merged.strides[1], offset },
    ]);
    const key = `copyto:${wt(x.dtype)}>${T}:c${addr.cap}`;
    const code = () => `${u.decl()}
${storageDecl(1, 'xb', wt(x.dtype), true)}
${storageDecl(2, 'ob', T, false)}
${flatMain(WG, nE)}
  ${addr.code('i', ['src', 'dst'])}
  ob[u32(dst)] = ${T}(xb[u32(src)]);
}`;
    rt.dispatch(
      { key, code, uniforms: u.buffer(), readOnly: 1, workgroups: flatGrid(m, WG, rt.limits.maxComputeWorkgroupsPerDimension) },
      [x.storage, result],
    );
  }
  return result;
}
