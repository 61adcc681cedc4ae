/**
 * pad and concat (semantics: src/backends/cpu/movement.ts).
 *
 * pad {widths, value}: element-parallel over the output (wgsl.ts `flatMain`); the output index
 * is unravelled, shifted by the `before` widths and tested against the input shape with one
 * unsigned compare per axis; inside → read the strided input view, outside → `value` (its bits in
 * the output dtype, as a typed-array store converts it). Unrolled to rank 4 with uniform guards
 * (like wgsl.ts `Addr`), shapes and widths in uniforms; no copies.
 *
 * concat {axis}: one strided copy (copy.ts) per input (all in one batch), reading the input view
 * through its strides and writing the output region through the output's row-major strides
 * shifted by the input's start along `axis` (concatenation along axis 0 is a plain contiguous copy).
 */
import type { OutputSpec } from '../core/backend.js';
import { contiguousStrides, numel } from '../core/shape.js';
import { runCopy } from './copy.js';
import type { GpuRuntime, GpuStorage, GpuView } from './runtime.js';
import { capFor, flatGrid, FLAT_END, flatMain, storageBits, storageDecl, Uniforms, WG, wt, udiv } from './wgsl.js';

export function runPad(rt: GpuRuntime, x: GpuView, widths: readonly [number, number][], value: number, out: OutputSpec): GpuStorage {
  const n = numel(out.shape);
  const result = rt.alloc(n);
  if (n === 0) return result;
  const rank = out.shape.length;
  const u = new Uniforms();
  const nE = u.u32(n);
  const T = wt(out.dtype);
  const valE = u.bits(storageBits(out.dtype, value));
  const cap = capFor(rank);
  const rankE = u.u32(rank);
  const lines: string[] = ['var rem = i;', `var p = ${u.i32(x.offset)};`, 'var inside = true;'];
  for (let d = cap - 1; d >= 0; d--) {
    const split = d > 0 ? `${udiv('rem', u.divisor(out.shape[d] ?? 1), 'q', 'c')} rem = q;` : 'let c = rem;';
    // x wraps to a huge u32 when the coordinate falls in the `before` padding.
    lines.push(`if (${rankE} > ${d}u) { ${split} let x = c - ${u.u32(widths[d]?.[0] ?? 0)};
    inside = inside && x < ${u.u32(x.shape[d] ?? 1)}; p = p + i32(x) * ${u.i32(x.strides[d] ?? 0)}; }`);
  }
  const key = `pad:${wt(x.dtype)}>${T}:g${cap}`;
  const code = () => `${u.decl()}
${storageDecl(1, 'xb', wt(x.dtype), true)}
${storageDecl(2, 'ob', T, false)}
${flatMain(WG, nE)}
  ${lines.join('\n  ')}
  var v = bitcast<${T}>(${valE});
  if (inside) { v = ${T}(xb[u32(p)]); }
  ob[i] = v;
${FLAT_END}`;
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
  let start = 0;
  for (const x of inputs) {
    const m = numel(x.shape);
    const offset = start * (outStrides[axis] ?? 0);
    start += x.shape[axis];
    if (m === 0) continue;
    runCopy(rt, x, result, outStrides, offset, out.dtype);
  }
  return result;
}
