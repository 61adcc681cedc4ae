/**
 * gather and scatterAdd along one axis with int32 indices (semantics: src/backends/cpu/gather.ts).
 *
 * gather {axis}: out = [pre, indices..., post]. Element-parallel (wgsl.ts `flatMain`: 256 lanes ×
 * 16 elements per workgroup). Each output axis gets a stride into x (pre/post axes; 0 on index axes) and a stride into
 * indices (index axes; 0 elsewhere); both are merged with `coalesce` and read through the shared
 * strided addressing (wgsl.ts `Addr`), then out = (0 <= j < dim) ? x[xpos + j·xstride[axis]]
 * : 0. No copies; one pipeline per dtype.
 *
 * scatterAdd {axis, size}: out = zeros [pre, size, post], out[p, idx[k], q] += upd[p, k, q].
 * Deterministic and output-parallel (no atomics): every output element sums its contributions in
 * increasing k, element-parallel like gather.
 *  - few indices (K <= 32): each output element scans all K indices.
 *  - otherwise (CSR): argsort the flat indices (stable, sort.ts) → perm; one pass computes
 *    starts[j] = #{k : idx[k] < j} for j = 0..size by binary search over idx[perm[.]]; then each
 *    output element (p, j, q) sums upd[p, perm[t], q] for t in [starts[j], starts[j+1]) — in
 *    increasing k thanks to the stable sort. Out-of-range indices fall outside every segment.
 * Float sums accumulate in f32 (the CPU in f64: compare with a tolerance); integer sums wrap.
 * Indices and the updates' index axes are made contiguous first when they are not.
 */
import type { OutputSpec } from '../core/backend.js';
import { contiguousStrides, numel } from '../core/shape.js';
import { runUnary } from './elementwise.js';
import type { GpuRuntime, GpuStorage, GpuView } from './runtime.js';
import { runArgsort } from './sort.js';
import { Addr, coalesce, flatGrid, FLAT_END, flatMain, isRowMajor, storageDecl, Uniforms, WG, wt, udiv } from './wgsl.js';

const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

function zero(k: 'f32' | 'i32' | 'u32'): string {
  return k === 'f32' ? '0.0' : k === 'i32' ? '0' : '0u';
}

export function runGather(rt: GpuRuntime, x: GpuView, indices: GpuView, axis: number, out: OutputSpec): GpuStorage {
  const n = numel(out.shape);
  const result = rt.alloc(n);
  if (n === 0) return result;
  const ir = indices.shape.length;
  const xr = x.shape.length;
  // Strides per output axis.
  const xs: number[] = [];
  const is: number[] = [];
  for (let d = 0; d < axis; d++) { xs.push(x.strides[d]); is.push(0); }
  for (let d = 0; d < ir; d++) { xs.push(0); is.push(indices.strides[d]); }
  for (let d = axis + 1; d < xr; d++) { xs.push(x.strides[d]); is.push(0); }
  const merged = coalesce(out.shape, [xs, is]);
  const u = new Uniforms();
  const nExpr = u.u32(n);
  const addr = new Addr(u, merged.shape, [
    { strides: merged.strides[0], offset: x.offset },
    { strides: merged.strides[1], offset: indices.offset },
  ]);
  const dim = u.i32(x.shape[axis]);
  const axStride = u.i32(x.strides[axis]);
  const T = wt(out.dtype);
  const key = `gather:${wt(x.dtype)}>${T}:${addr.key}`;
  const code = () => `${u.decl()}
${storageDecl(1, 'xb', wt(x.dtype), true)}
${storageDecl(2, 'ib', 'i32', true)}
${storageDecl(3, 'ob', T, false)}
${flatMain(WG, nExpr)}
  ${addr.code('i', ['xp', 'ip'])}
  let j = ib[u32(ip)];
  var v: ${T} = ${zero(T)};
  if (j >= 0 && j < ${dim}) { v = ${T}(xb[u32(xp + j * ${axStride})]); }
  ob[i] = v;
${FLAT_END}`;
  rt.dispatch(
    { key, code, uniforms: u.buffer(), readOnly: 2, workgroups: flatGrid(n, WG, rt.limits.maxComputeWorkgroupsPerDimension) },
    [x.storage, indices.storage, result],
  );
  return result;
}

/** A contiguous copy of `v` when it is not already row-major (returns [view, temp to release]). */
function contiguous(rt: GpuRuntime, v: GpuView): [GpuView, GpuStorage | null] {
  if (isRowMajor(v.shape, v.strides)) return [v, null];
  const s = runUnary(rt, 'copy', v, { shape: v.shape, dtype: v.dtype });
  return [{ storage: s, dtype: v.dtype, shape: v.shape, strides: contiguousStrides(v.shape), offset: 0 }, s];
}

export function runScatterAdd(
  rt: GpuRuntime,
  updates: GpuView,
  indices: GpuView,
  axis: number,
  size: number,
  out: OutputSpec,
): GpuStorage {
  const n = numel(out.shape);
  // Copies made here (contiguous indices or updates), released at the end.
  const temps: GpuStorage[] = [];
  const [idx, t1] = contiguous(rt, indices);
  if (t1) temps.push(t1);
  const layout = updatesLayout(rt, updates, indices.shape, axis, temps);
  const result = rt.alloc(n);
  const K = numel(indices.shape);
  const segments = K > 32 && n > 0 ? indexSegments(rt, idx, K, size) : null;
  if (n > 0) {
    dispatchScatterSum(rt, { layout, idx, K, size, n, outKind: wt(out.dtype), segments, result });
  }
  if (segments) {
    rt.release(segments.perm);
    rt.release(segments.starts);
  }
  for (const t of temps) rt.release(t);
  return result;
}

/** Axes merged by `coalesce`, with one operand's strides. */
type Merged = ReturnType<typeof coalesce>;

/** The updates read as [pre, K, post]: merged pre and post axes, and the step between index positions. */
interface UpdatesLayout {
  upd: GpuView;
  preM: Merged;
  postM: Merged;
  post: number;
  kStride: number;
}

/**
 * How to read `updates` (whose axes from `axis` on run over `indexShape`) as [pre, K, post]; when
 * those index axes do not merge into one, a row-major copy (pushed to `temps`) is read.
 */
function updatesLayout(rt: GpuRuntime, updates: GpuView, indexShape: readonly number[], axis: number, temps: GpuStorage[]): UpdatesLayout {
  const ir = indexShape.length;
  const post = prod(updates.shape.slice(axis + ir));
  const merged = (v: GpuView) => ({
    preM: coalesce(v.shape.slice(0, axis), [v.strides.slice(0, axis)]),
    postM: coalesce(v.shape.slice(axis + ir), [v.strides.slice(axis + ir)]),
  });
  const kM = coalesce(indexShape, [updates.strides.slice(axis, axis + ir)]);
  if (kM.shape.length <= 1) {
    return { upd: updates, ...merged(updates), post, kStride: kM.shape.length === 1 ? kM.strides[0][0] : 0 };
  }
  const [upd, t] = contiguous(rt, updates);
  if (t) temps.push(t);
  return { upd, ...merged(upd), post, kStride: post };
}

/** Sorted-segment (CSR) form of the indices: stable order `perm` and segment `starts`. */
interface Segments {
  perm: GpuStorage;
  starts: GpuStorage;
}

/**
 * perm = stable argsort of the K flat indices; starts[j] = #{k : idx[k] < j} for j = 0..size, by
 * binary search over idx[perm[.]]. The caller releases both.
 */
function indexSegments(rt: GpuRuntime, idx: GpuView, K: number, size: number): Segments {
  const flatIdx: GpuView = { storage: idx.storage, dtype: 'int32', shape: [K], strides: [1], offset: idx.offset };
  const perm = runArgsort(rt, flatIdx, false, { shape: [K], dtype: 'int32' });
  const starts = rt.alloc(size + 1);
  const u = new Uniforms();
  const cnt = u.u32(size + 1);
  const kExpr = u.u32(K);
  const ioff = u.i32(idx.offset);
  const code = () => `${u.decl()}
${storageDecl(1, 'ib', 'i32', true)}
${storageDecl(2, 'perm', 'i32', true)}
${storageDecl(3, 'st', 'u32', false)}
${flatMain(WG, cnt)}
  let j = i32(i);
  var lo = 0u;
  var hi = ${kExpr};
  while (lo < hi) {
    let mid = (lo + hi) / 2u;
    if (ib[u32(${ioff} + perm[mid])] < j) { lo = mid + 1u; } else { hi = mid; }
  }
  st[i] = lo;
${FLAT_END}`;
  rt.dispatch(
    { key: 'scatter:starts', code, uniforms: u.buffer(), readOnly: 2, workgroups: flatGrid(size + 1, WG, rt.limits.maxComputeWorkgroupsPerDimension) },
    [idx.storage, perm, starts],
  );
  return { perm, starts };
}

interface ScatterSum {
  layout: UpdatesLayout;
  /** The indices, row-major. */
  idx: GpuView;
  K: number;
  size: number;
  /** Output elements (> 0), [pre, size, post]. */
  n: number;
  outKind: 'f32' | 'i32' | 'u32';
  /** Sorted segments of the indices (K > 32), else each output element scans all K indices. */
  segments: Segments | null;
  result: GpuStorage;
}

/** Output element (p, j, q) = Σ upd[p, k, q] over the k with idx[k] = j, in increasing k. */
function dispatchScatterSum(rt: GpuRuntime, s: ScatterSum): void {
  const { layout, idx, segments, outKind: T } = s;
  const { upd, preM, postM } = layout;
  // p runs over the merged pre axes, q over the merged post axes.
  const u = new Uniforms();
  const nExpr = u.u32(s.n);
  const sizeDiv = u.divisor(s.size);
  const postDiv = u.divisor(layout.post);
  const preA = new Addr(u, preM.shape, [{ strides: preM.strides[0], offset: upd.offset }]);
  const postA = new Addr(u, postM.shape, [{ strides: postM.strides[0], offset: 0 }]);
  const ks = u.i32(layout.kStride);
  const ioff = u.i32(idx.offset);
  const kExpr = u.u32(s.K);
  const uk = wt(upd.dtype);
  const load = (k: string) => `${T}(ub[u32(pp + qp + ${k} * ${ks})])`;
  const loop = segments
    ? `for (var t = st[j]; t < st[j + 1u]; t = t + 1u) { acc = acc + ${load('perm[t]')}; }`
    : `for (var k = 0u; k < ${kExpr}; k = k + 1u) { if (ib[u32(${ioff} + i32(k))] == i32(j)) { acc = acc + ${load('i32(k)')}; } }`;
  const bindings = segments
    ? `${storageDecl(1, 'ub', uk, true)}\n${storageDecl(2, 'perm', 'i32', true)}\n${storageDecl(3, 'st', 'u32', true)}\n${storageDecl(4, 'ob', T, false)}`
    : `${storageDecl(1, 'ub', uk, true)}\n${storageDecl(2, 'ib', 'i32', true)}\n${storageDecl(3, 'ob', T, false)}`;
  const key = `scatter:${segments ? 'csr' : 'scan'}:${uk}>${T}:${preA.key},${postA.key}`;
  const code = () => `${u.decl()}
${bindings}
${flatMain(WG, nExpr)}
  ${udiv('i', postDiv, 'rest', 'qi')}
  ${udiv('rest', sizeDiv, 'pi', 'j')}
  ${preA.code('pi', ['pp'], 'a')}
  ${postA.code('qi', ['qp'], 'b')}
  var acc: ${T} = ${zero(T)};
  ${loop}
  ob[i] = acc;
${FLAT_END}`;
  const workgroups = flatGrid(s.n, WG, rt.limits.maxComputeWorkgroupsPerDimension);
  const buffers = segments ? [upd.storage, segments.perm, segments.starts, s.result] : [upd.storage, idx.storage, s.result];
  rt.dispatch({ key, code, uniforms: u.buffer(), readOnly: segments ? 3 : 2, workgroups }, buffers);
}
