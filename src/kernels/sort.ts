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
 * Cost on lavapipe: ~55 barriers per chunk for 1000-long rows; [256, 1000] takes ~0.5 s under load
 * (barrier-bound). Per-invocation sorts for short rows would be faster there; not done.
 */
import type { OutputSpec } from '../core/backend.js';
import type { DType } from '../core/dtype.js';
import { numel } from '../core/shape.js';
import { grid, type GpuRuntime, type GpuStorage, type GpuView } from './runtime.js';
import { Addr, coalesce, flatGrid, FLAT_END, flatMain, storageDecl, Uniforms, WG, wt } from './wgsl.js';

const nextPow2 = (n: number) => (n <= 1 ? 1 : 2 ** Math.ceil(Math.log2(n)));

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

export function runArgsort(rt: GpuRuntime, x: GpuView, descending: boolean, out: OutputSpec): GpuStorage {
  const total = numel(out.shape);
  const result = rt.alloc(total);
  if (total === 0) return result;
  const rank = x.shape.length;
  const L = rank === 0 ? 1 : x.shape[rank - 1];
  const rows = total / L;
  const P = nextPow2(L);
  const N = rows * P;
  const maxWgMem = rt.limits.maxComputeWorkgroupStorageSize;
  const LOCAL = maxWgMem >= 16384 ? 2048 : 1024;
  // Fixed chunk and workgroup sizes (one pipeline per variant; lavapipe compiles are costly).
  const C = LOCAL;
  const WGS = 256;
  const sL = rank === 0 ? 0 : x.strides[rank - 1];
  const outerM = coalesce(x.shape.slice(0, Math.max(0, rank - 1)), [x.strides.slice(0, Math.max(0, rank - 1))]);
  const maxDim = rt.limits.maxComputeWorkgroupsPerDimension;
  const chunks = Math.ceil(N / C);
  const kd = x.dtype;

  let wk: GpuStorage | null = null;
  let wi: GpuStorage | null = null;
  if (P > C) {
    wk = rt.alloc(N);
    wi = rt.alloc(N);
  }

  /** Local kernel: source 'input' (full sort of chunks, stages kLo..kHi) or 'work' (merge stage k). */
  const local = (source: 'input' | 'work', dest: 'output' | 'work', kLo: number, kHi: number) => {
    const u = new Uniforms();
    const nE = u.u32(N);
    const pE = u.u32(P);
    const lE = u.u32(L);
    const kLoE = u.u32(kLo);
    const kHiE = u.u32(kHi);
    const descE = u.u32(descending ? 1 : 0);
    let loadCode: string;
    let modes = '';
    const bindings: string[] = [];
    const buffers: GpuStorage[] = [];
    if (source === 'input') {
      const addr = new Addr(u, outerM.shape, [{ strides: outerM.strides[0], offset: x.offset }]);
      modes = addr.key;
      const sE = u.i32(sL);
      bindings.push(storageDecl(1, 'xb', wt(kd), true));
      buffers.push(x.storage);
      loadCode = `let row = g / ${pE};
      let col = g % ${pE};
      if (col < ${lE}) {
        ${addr.code('row', ['rb'])}
        sk[e] = sortKey(xb[u32(rb + i32(col) * ${sE})], ${descE} != 0u);
      } else {
        sk[e] = 0xffffffffu;
      }
      si[e] = col;`;
    } else {
      bindings.push(storageDecl(1, 'wkIn', 'u32', true), storageDecl(2, 'wiIn', 'u32', true));
      buffers.push(wk!, wi!);
      loadCode = `sk[e] = wkIn[g];
      si[e] = wiIn[g];`;
    }
    const ro = buffers.length;
    let storeCode: string;
    if (dest === 'output') {
      bindings.push(storageDecl(ro + 1, 'ob', 'i32', false));
      buffers.push(result);
      storeCode = `let col = g % ${pE};
      if (col < ${lE}) { ob[(g / ${pE}) * ${lE} + col] = i32(si[e]); }`;
    } else {
      // In merge mode the work buffers are read and written by the same workgroup (same chunk).
      bindings.push(storageDecl(ro + 1, 'wkOut', 'u32', false), storageDecl(ro + 2, 'wiOut', 'u32', false));
      if (source === 'work') {
        // Cannot bind the same buffer read-only and read-write: use read-write bindings only.
        bindings.length = 0;
        buffers.length = 0;
        bindings.push(storageDecl(1, 'wkOut', 'u32', false), storageDecl(2, 'wiOut', 'u32', false));
        loadCode = `sk[e] = wkOut[g];
      si[e] = wiOut[g];`;
      }
      buffers.push(wk!, wi!);
      storeCode = `wkOut[g] = sk[e];
      wiOut[g] = si[e];`;
    }
    const readOnly = source === 'work' && dest === 'work' ? 0 : ro;
    const key = `argsort:local:${source === 'input' ? kd : ''}:${source}>${dest}:C${C}:${modes}`;
    const code = () => `${u.decl()}
${bindings.join('\n')}
var<workgroup> sk: array<u32, ${C}>;
var<workgroup> si: array<u32, ${C}>;
${source === 'input' ? keyFn(kd) : ''}
${CE}
@compute @workgroup_size(${WGS})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lidv: vec3<u32>) {
  let lid = lidv.x;
  let base = (wid.y * nwg.x + wid.x) * ${C}u;
  for (var e = lid; e < ${C}u; e = e + ${WGS}u) {
    let g = base + e;
    if (g < ${nE}) {
      ${loadCode}
    }
  }
  workgroupBarrier();
  for (var k = ${kLoE}; k <= ${kHiE}; k = k << 1u) {
    for (var j = min(k, ${C}u) >> 1u; j > 0u; j = j >> 1u) {
      for (var t = lid; t < ${C / 2}u; t = t + ${WGS}u) {
        let e = ((t & ~(j - 1u)) << 1u) | (t & (j - 1u));
        let p = e | j;
        let g = base + e;
        if (g < ${nE}) {
          let asc = ((g % ${pE}) & k) == 0u;
          let ka = sk[e]; let ia = si[e]; let kb = sk[p]; let ib = si[p];
          if (greater(ka, ia, kb, ib) == asc) { sk[e] = kb; si[e] = ib; sk[p] = ka; si[p] = ia; }
        }
      }
      workgroupBarrier();
    }
  }
  for (var e = lid; e < ${C}u; e = e + ${WGS}u) {
    let g = base + e;
    if (g < ${nE}) {
      ${storeCode}
    }
  }
}`;
    rt.dispatch({ key, code, uniforms: u.buffer(), readOnly, workgroups: grid(chunks, maxDim) }, buffers);
  };

  const globalStep = (k: number, j: number) => {
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
      { key: 'argsort:global', code, uniforms: u.buffer(), readOnly: 0, workgroups: flatGrid(N / 2, WG, maxDim) },
      [wk!, wi!],
    );
  };

  if (P <= C) {
    local('input', 'output', 2, P);
  } else {
    local('input', 'work', 2, C);
    for (let k = 2 * C; k <= P; k *= 2) {
      for (let j = k / 2; j >= C; j /= 2) globalStep(k, j);
      local('work', k === P ? 'output' : 'work', k, k);
    }
    rt.release(wk!);
    rt.release(wi!);
  }
  return result;
}
