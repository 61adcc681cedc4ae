/**
 * argsort {descending} along the last axis (semantics: src/backends/cpu/sort.ts): stable, NaN
 * greater than everything (last ascending, first descending), ties in original order.
 *
 * Keys: each value becomes a u32 whose unsigned order is the wanted order — floats by the usual
 * sign-flip trick after canonicalizing NaN (→ the largest key) and -0 (→ +0), int32 by flipping the
 * sign bit, uint32/bool as is; descending complements the key. Sorting (key, column index) pairs
 * lexicographically is then a total order, so the (unstable) bitonic network yields the stable
 * order.
 *
 * Bitonic sort over a virtual [rows, P] array, P = the row length rounded up to a power of two;
 * padding pairs (0xffffffff, col ≥ L) sort after every real element. Directions are taken from the
 * column (col & k), so every P-aligned row sorts ascending independently, and several short rows
 * share one workgroup.
 *  - local kernel: a workgroup loads a chunk of C = 2048 pairs into workgroup memory (2 × 8 KiB;
 *    1024 when the device has less), 256 lanes run compare-exchange steps with one barrier per
 *    step. When P ≤ C it does the whole sort (stages k = 2..P) and writes the int32 indices; otherwise it
 *    sorts chunks (k ≤ C) into global work buffers.
 *  - for P > C, each stage k = 2C..P runs one global dispatch per step j = k/2..C (element-parallel
 *    over the pairs) and finishes the steps j < C with the local kernel in merge mode; the last stage
 *    writes the indices. O(log² P) dispatches, all in one batch.
 * Cost on lavapipe: ~55 barriers per chunk for 1000-long rows, so it is barrier-bound there
 * (docs/benchmarks.md#argsort). Per-invocation sorts for short rows would be faster there; not done.
 */
import type { OutputSpec } from '../core/backend.js';
import type { DType } from '../core/dtype.js';
import { numel } from '../core/shape.js';
import { grid, type GpuRuntime, type GpuStorage, type GpuView } from './runtime.js';
import { Addr, coalesce, flatGrid, FLAT_END, flatMain, storageDecl, Uniforms, WG, wt } from './wgsl.js';

const nextPow2 = (n: number) => (n <= 1 ? 1 : 2 ** Math.ceil(Math.log2(n)));
/** Lanes per workgroup of the local kernel. */
const WGS = 256;

/** WGSL `sortKey(v, desc)`: the u32 sort key of raw value `v` (of dtype `d`). */
function keyFn(d: DType): string {
  let body: string;
  if (d === 'float32') {
    body = `var b = bitcast<u32>(v);
  if ((b & 0x7fffffffu) > 0x7f800000u) { b = 0x7fffffffu; } // every NaN above +inf
  if (b == 0x80000000u) { b = 0u; } // -0 == +0
  let k = select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);`;
  } else if (d === 'int32') {
    body = `let k = bitcast<u32>(v) ^ 0x80000000u;`;
  } else {
    body = `let k = v;`;
  }
  return `fn sortKey(v: ${wt(d)}, desc: bool) -> u32 {
  ${body}
  return select(k, ~k, desc);
}`;
}

const CE = `
fn greater(ka: u32, ia: u32, kb: u32, ib: u32) -> bool { return ka > kb || (ka == kb && ia > ib); }`;

/** What every kernel of one argsort call shares. */
interface SortPlan {
  x: GpuView;
  descending: boolean;
  /** Row length, padded row length (a power of two), and N = rows · P padded pairs. */
  L: number;
  P: number;
  N: number;
  /** Pairs per chunk of the local kernel (its workgroup memory), and chunks over the N pairs. */
  C: number;
  chunks: number;
  maxDim: number;
  result: GpuStorage;
  /** Global (key, column) work arrays of N pairs when rows do not fit one chunk (P > C). */
  work: { keys: GpuStorage; cols: GpuStorage } | null;
}

/** Local kernel I/O: sort the input's chunks, or merge the work arrays; end in the output or the work arrays. */
type LocalSource = 'input' | 'work';
type LocalDest = 'output' | 'work';

export function runArgsort(rt: GpuRuntime, x: GpuView, descending: boolean, out: OutputSpec): GpuStorage {
  const total = numel(out.shape);
  const result = rt.alloc(total);
  if (total === 0) return result;
  const sizes = sortSizes(rt, x, total);
  const { C, P, N } = sizes;
  if (P <= C) {
    dispatchLocal(rt, { ...sizes, x, descending, result, work: null }, 'input', 'output', 2, P);
    return result;
  }
  // Rows longer than a chunk: bitonic stages k > C go through global work arrays (freed below).
  const work = { keys: rt.alloc(N), cols: rt.alloc(N) };
  const plan: SortPlan = { ...sizes, x, descending, result, work };
  dispatchLocal(rt, plan, 'input', 'work', 2, C);
  for (let k = 2 * C; k <= P; k *= 2) {
    for (let j = k / 2; j >= C; j /= 2) dispatchGlobalStep(rt, plan, work, k, j);
    dispatchLocal(rt, plan, 'work', k === P ? 'output' : 'work', k, k);
  }
  rt.release(work.keys);
  rt.release(work.cols);
  return result;
}

/** Row length, padding, chunking and grid limit of the sort of `x`'s rows (`total` elements). */
function sortSizes(rt: GpuRuntime, x: GpuView, total: number): Pick<SortPlan, 'L' | 'P' | 'N' | 'C' | 'chunks' | 'maxDim'> {
  const rank = x.shape.length;
  const L = rank === 0 ? 1 : x.shape[rank - 1];
  const rows = total / L;
  const P = nextPow2(L);
  const N = rows * P;
  // Fixed chunk and workgroup sizes (one pipeline per variant; lavapipe compiles are costly).
  const C = rt.limits.maxComputeWorkgroupStorageSize >= 16384 ? 2048 : 1024;
  return { L, P, N, C, chunks: Math.ceil(N / C), maxDim: rt.limits.maxComputeWorkgroupsPerDimension };
}

/** WGSL expressions of the uniforms every local kernel reads (pushed first, in this order). */
interface LocalUniforms {
  nE: string;
  pE: string;
  lE: string;
  kLoE: string;
  kHiE: string;
  descE: string;
}

/** Bindings, buffers and the load / store statements of one local kernel variant. */
interface LocalIo {
  bindings: string[];
  buffers: GpuStorage[];
  readOnly: number;
  loadCode: string;
  storeCode: string;
  /** Addressing modes of the input view (part of the pipeline key). */
  modes: string;
}

/**
 * Local kernel: each workgroup loads a chunk of C pairs into workgroup memory, runs the bitonic
 * stages kLo..kHi on it (steps j < C only) and stores it.
 */
function dispatchLocal(rt: GpuRuntime, plan: SortPlan, source: LocalSource, dest: LocalDest, kLo: number, kHi: number): void {
  const u = new Uniforms();
  const e: LocalUniforms = {
    nE: u.u32(plan.N), pE: u.u32(plan.P), lE: u.u32(plan.L), kLoE: u.u32(kLo), kHiE: u.u32(kHi), descE: u.u32(plan.descending ? 1 : 0),
  };
  const io = localIo(plan, u, e, source, dest);
  const kd = plan.x.dtype;
  const key = `argsort:local:${source === 'input' ? kd : ''}:${source}>${dest}:C${plan.C}:${io.modes}`;
  const code = () => localCode(u, plan.C, e, io, source === 'input' ? keyFn(kd) : '');
  rt.dispatch({ key, code, uniforms: u.buffer(), readOnly: io.readOnly, workgroups: grid(plan.chunks, plan.maxDim) }, io.buffers);
}

/** The I/O of a local kernel from `source` to `dest` (pushes the input view's uniforms). */
function localIo(plan: SortPlan, u: Uniforms, e: LocalUniforms, source: LocalSource, dest: LocalDest): LocalIo {
  const work = plan.work!;
  if (source === 'work' && dest === 'work') {
    // In merge mode the work arrays are read and written by the same workgroup (same chunk); one
    // buffer cannot be bound read-only and read-write at once, so both bindings are read-write.
    return {
      bindings: [storageDecl(1, 'wkOut', 'u32', false), storageDecl(2, 'wiOut', 'u32', false)],
      buffers: [work.keys, work.cols],
      readOnly: 0,
      loadCode: `sk[e] = wkOut[g];
      si[e] = wiOut[g];`,
      storeCode: `wkOut[g] = sk[e];
      wiOut[g] = si[e];`,
      modes: '',
    };
  }
  const src = source === 'input' ? inputLoad(plan, u, e) : workLoad(work);
  const ro = src.buffers.length;
  if (dest === 'output') {
    return {
      ...src,
      bindings: [...src.bindings, storageDecl(ro + 1, 'ob', 'i32', false)],
      buffers: [...src.buffers, plan.result],
      readOnly: ro,
      storeCode: `let col = g % ${e.pE};
      if (col < ${e.lE}) { ob[(g / ${e.pE}) * ${e.lE} + col] = i32(si[e]); }`,
    };
  }
  return {
    ...src,
    bindings: [...src.bindings, storageDecl(ro + 1, 'wkOut', 'u32', false), storageDecl(ro + 2, 'wiOut', 'u32', false)],
    buffers: [...src.buffers, work.keys, work.cols],
    readOnly: ro,
    storeCode: `wkOut[g] = sk[e];
      wiOut[g] = si[e];`,
  };
}

type LoadSide = Pick<LocalIo, 'bindings' | 'buffers' | 'loadCode' | 'modes'>;

/** Loads the keys of the input view (padding columns get the largest key). */
function inputLoad(plan: SortPlan, u: Uniforms, e: LocalUniforms): LoadSide {
  const { x } = plan;
  const rank = x.shape.length;
  const outerM = coalesce(x.shape.slice(0, Math.max(0, rank - 1)), [x.strides.slice(0, Math.max(0, rank - 1))]);
  const addr = new Addr(u, outerM.shape, [{ strides: outerM.strides[0], offset: x.offset }]);
  const sE = u.i32(rank === 0 ? 0 : x.strides[rank - 1]);
  return {
    bindings: [storageDecl(1, 'xb', wt(x.dtype), true)],
    buffers: [x.storage],
    loadCode: `let row = g / ${e.pE};
      let col = g % ${e.pE};
      if (col < ${e.lE}) {
        ${addr.code('row', ['rb'])}
        sk[e] = sortKey(xb[u32(rb + i32(col) * ${sE})], ${e.descE} != 0u);
      } else {
        sk[e] = 0xffffffffu;
      }
      si[e] = col;`,
    modes: addr.key,
  };
}

/** Loads the pairs of the work arrays (read-only). */
function workLoad(work: NonNullable<SortPlan['work']>): LoadSide {
  return {
    bindings: [storageDecl(1, 'wkIn', 'u32', true), storageDecl(2, 'wiIn', 'u32', true)],
    buffers: [work.keys, work.cols],
    loadCode: `sk[e] = wkIn[g];
      si[e] = wiIn[g];`,
    modes: '',
  };
}

/** WGSL of a local kernel: load a chunk, compare-exchange with one barrier per step, store. */
function localCode(u: Uniforms, C: number, e: LocalUniforms, io: LocalIo, keyLib: string): string {
  return `${u.decl()}
${io.bindings.join('\n')}
var<workgroup> sk: array<u32, ${C}>;
var<workgroup> si: array<u32, ${C}>;
${keyLib}
${CE}
@compute @workgroup_size(${WGS})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lidv: vec3<u32>) {
  let lid = lidv.x;
  let base = (wid.y * nwg.x + wid.x) * ${C}u;
  for (var e = lid; e < ${C}u; e = e + ${WGS}u) {
    let g = base + e;
    if (g < ${e.nE}) {
      ${io.loadCode}
    }
  }
  workgroupBarrier();
  for (var k = ${e.kLoE}; k <= ${e.kHiE}; k = k << 1u) {
    for (var j = min(k, ${C}u) >> 1u; j > 0u; j = j >> 1u) {
      for (var t = lid; t < ${C / 2}u; t = t + ${WGS}u) {
        let e = ((t & ~(j - 1u)) << 1u) | (t & (j - 1u));
        let p = e | j;
        let g = base + e;
        if (g < ${e.nE}) {
          let asc = ((g % ${e.pE}) & k) == 0u;
          let ka = sk[e]; let ia = si[e]; let kb = sk[p]; let ib = si[p];
          if (greater(ka, ia, kb, ib) == asc) { sk[e] = kb; si[e] = ib; sk[p] = ka; si[p] = ia; }
        }
      }
      workgroupBarrier();
    }
  }
  for (var e = lid; e < ${C}u; e = e + ${WGS}u) {
    let g = base + e;
    if (g < ${e.nE}) {
      ${io.storeCode}
    }
  }
}`;
}

/** One global compare-exchange step (k, j) over the work arrays, element-parallel over the pairs. */
function dispatchGlobalStep(rt: GpuRuntime, plan: SortPlan, work: NonNullable<SortPlan['work']>, k: number, j: number): void {
  const { N, P } = plan;
  const u = new Uniforms();
  const half = u.u32(N / 2);
  const kE = u.u32(k);
  const jE = u.u32(j);
  const pE = u.u32(P);
  const code = () => `${u.decl()}
${storageDecl(1, 'wk', 'u32', false)}
${storageDecl(2, 'wi', 'u32', false)}
${CE}
${flatMain(WG, half)}
  let j = ${jE};
  let e = ((i & ~(j - 1u)) << 1u) | (i & (j - 1u));
  let p = e | j;
  let asc = ((e % ${pE}) & ${kE}) == 0u;
  let ka = wk[e]; let ia = wi[e]; let kb = wk[p]; let ib = wi[p];
  if (greater(ka, ia, kb, ib) == asc) { wk[e] = kb; wi[e] = ib; wk[p] = ka; wi[p] = ia; }
${FLAT_END}`;
  rt.dispatch(
    { key: 'argsort:global', code, uniforms: u.buffer(), readOnly: 0, workgroups: flatGrid(N / 2, WG, plan.maxDim) },
    [work.keys, work.cols],
  );
}
