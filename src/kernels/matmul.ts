/**
 * Batched matrix multiply: out[...batch, M, N] = a[...ba, M, K] @ b[...bb, K, N] (float32, NumPy
 * broadcasting of the batch dims), read straight through the input views' strides; and the generic
 * tiled GEMM (`runGemm`) that conv.ts reuses with implicit-im2col operand loaders.
 *
 * Algorithm: two-level tiling. A workgroup of WX × WY invocations (X is lavapipe's 8-lane chunk
 * dimension) owns a TM × TN tile of one batch entry of the output, TM = WY·R, TN = WX·C; invocation
 * (tx, ty) owns an R × C register block (rows ty·R.., columns tx·C..) held in R·C/4 vec4
 * accumulators. The K loop walks TK-deep slices, with two passes and two barriers per slice:
 *   1. copy pass: the workgroup stages A[TM × TK] and B[TK × TN] in workgroup memory, both k-major
 *      as vec4 along M / N (As[k][m], Bs[k][n]); each invocation writes whole vec4 units of 4
 *      consecutive m (n) at one k. An operand "loader" produces a unit: the strided loader reads
 *      through the view's strides (contiguous, transposed, sliced or broadcast, no copy), as one
 *      aligned vec4 load when the M/N axis has unit stride; conv.ts supplies loaders that compute
 *      im2col / transposed-conv indices on the fly (implicit GEMM).
 *   2. FMA pass: per k, R/4 vec4 loads of A and C/4 of B from workgroup memory feed R·C
 *      multiply-adds (outer product, vec4 FMAs).
 * Edges: the "checked" variant zero-fills out-of-range tile elements during the copy (the FMA
 * pass never branches) and masks the final stores; tile-aligned shapes (M % TM = N % TN = K % TK =
 * 0) get the unchecked variant with no bounds tests. K = 0 runs no slice and stores zeros.
 *
 * Why this shape on lavapipe (see /work/shared/PERFORMANCE.md and bench/matmul.ts): every
 * non-constant load in a loop is a per-lane gather (≈ 5–10 instructions per lane) while a vec4 FMA
 * is ≈ 8 instructions for 8 lanes × 4, so the kernel is load-bound and the register block is made
 * as large as the 16 ymm registers allow before spills dominate; vec4 workgroup loads share one
 * per-lane address computation for 4 values.
 *
 * Grid: x = N tiles, y = M tiles, z = batch entries × split-K slices (more than 65,535 are spread
 * over several dispatches through a z-offset uniform). Batch dims are coalesced first, so up to 3
 * merged batch axes are handled in the kernel (broadcast axes have stride 0); more than 3
 * unmergeable batch axes fall back to contiguous copies.
 *
 * Split-K: when the output has few tiles but K is long (weight gradients: K = batch·pixels), the K
 * range is cut into S slices that run as separate workgroups, each writing a partial product to a
 * temporary [batch, S, M, N] buffer that a second small kernel sums (then released).
 *
 * Every compile-time choice (tile shape, loaders, checked/unchecked, vec4 output, split) is in the
 * pipeline key; sizes and strides are uniforms, so one pipeline serves every shape of its class.
 */
import type { OutputSpec } from '../core/backend.js';
import { WgradError } from '../core/backend.js';
import { broadcastStrides, contiguousStrides, fmtShape, numel } from '../core/shape.js';
import { grid, type GpuRuntime, type GpuStorage, type GpuView } from './runtime.js';
import { coalesce, Uniforms } from './wgsl.js';

/** Tile configuration of the GEMM kernel. */
export interface MatmulConfig {
  /** Workgroup size (x is the lane dimension; keep it a multiple of 8). */
  wx: number;
  wy: number;
  /** Rows / columns per invocation (multiples of 4). */
  r: number;
  c: number;
  /** K slice depth. */
  tk: number;
  /** Unroll factor of the inner k loop (divides tk). */
  unroll: number;
}

export const DEFAULT_MATMUL_CONFIG: MatmulConfig = { wx: 8, wy: 8, r: 8, c: 8, tk: 16, unroll: 1 };

let activeConfig: MatmulConfig = DEFAULT_MATMUL_CONFIG;

/** Overrides the tile configuration (benchmarks); returns the previous one. */
export function setMatmulConfig(cfg: Partial<MatmulConfig>): MatmulConfig {
  const prev = activeConfig;
  activeConfig = { ...activeConfig, ...cfg };
  return prev;
}

export function getMatmulConfig(): MatmulConfig {
  return activeConfig;
}

/** WGSL names available to a loader's unit code. */
export interface UnitCtx {
  /** Binding name of the operand. */
  X: string;
  /** i32 variable holding the batch base offset. */
  base: string;
  /** u32: first of the 4 consecutive outer coordinates (m for A, n for B) and the k coordinate. */
  o: string;
  k: string;
  /** u32 extents of the outer axis and of K. */
  O: string;
  K: string;
  checked: boolean;
}

export interface LoaderCode {
  /** i32 expression of the batch base offset; may use the u32 batch indices i0, i1, i2. */
  base: string;
  /** Optional WGSL run once per invocation before the K loop (hoisted setup). */
  prelude?: string;
  /** WGSL statements defining `let val: vec4<f32>` = the 4 elements (o..o+3, k), 0 outside. */
  unit(ctx: UnitCtx): string;
}

/** How one GEMM operand's tile units are read from its storage buffer. */
export interface Loader {
  /** Part of the pipeline key: identifies the generated code (not the uniform values). */
  key: string;
  /** The binding holds vec4<f32> elements instead of f32. */
  vec: boolean;
  storage: GpuStorage;
  /** Pushes the loader's uniforms (same sequence for one key) and returns its code generators. */
  setup(u: Uniforms): LoaderCode;
}

/** A strided matrix operand [batch(≤3)..., outer or k ...]: element (o, k) at base + o·sO + k·sK. */
export function stridedLoader(storage: GpuStorage, offset: number, batchStrides: readonly number[], sO: number, sK: number, outerExtent: number): Loader {
  const bs = [...batchStrides];
  while (bs.length < MAX_BATCH_AXES) bs.unshift(0);
  const vec = sO === 1 && outerExtent % 4 === 0 && offset % 4 === 0 && sK % 4 === 0 && bs.every((s) => s % 4 === 0);
  return {
    key: vec ? 'v' : 's',
    vec,
    storage,
    setup(u) {
      const off = u.i32(offset);
      const b = bs.map((s) => u.i32(s));
      const so = u.i32(sO);
      const sk = u.i32(sK);
      return {
        base: `${off} + i32(i0) * ${b[0]} + i32(i1) * ${b[1]} + i32(i2) * ${b[2]}`,
        unit: ({ X, base, o, k, O, K, checked }) => {
          if (vec) {
            const idx = `(${base} + i32(${o}) + i32(${k}) * ${sk}) / 4`;
            if (!checked) return `let val = ${X}[${idx}];`;
            return `let inb = ${o} < ${O} && ${k} < ${K};
      let val = select(vec4<f32>(0.0), ${X}[select(0, ${idx}, inb)], inb);`;
          }
          const lines = [`let kOff = ${base} + i32(${k}) * ${sk};`, `let oOff = i32(${o}) * ${so};`];
          if (!checked) {
            for (let q = 0; q < 4; q++) lines.push(`let v${q} = ${X}[kOff + oOff + ${q} * ${so}];`);
          } else {
            lines.push(`let kin = ${k} < ${K};`);
            for (let q = 0; q < 4; q++) {
              lines.push(`let in${q} = kin && ${o} + ${q}u < ${O};`);
              lines.push(`let v${q} = select(0.0, ${X}[select(0, kOff + oOff + ${q} * ${so}, in${q})], in${q});`);
            }
          }
          lines.push('let val = vec4<f32>(v0, v1, v2, v3);');
          return lines.join('\n      ');
        },
      };
    },
  };
}

export const MAX_BATCH_AXES = 3;

/** One GEMM: out[b0, b1, b2, M, N] (contiguous) = A[b, M, K] @ B[b, K, N] through the loaders. */
export interface GemmProblem {
  M: number;
  N: number;
  K: number;
  /** Batch sizes, at most 3 (outermost first). */
  batch: number[];
  /** A's outer axis is M; B's outer axis is N. */
  a: Loader;
  b: Loader;
  out: GpuStorage;
  /** Tile-config override (benchmarks). */
  cfg?: Partial<MatmulConfig>;
  /** Split-K factor override (1 disables). */
  splits?: number;
}

interface Variant {
  cfg: MatmulConfig;
  a: string;
  b: string;
  checked: boolean;
  vecOut: boolean;
  split: boolean;
}

function variantKey(v: Variant): string {
  const c = v.cfg;
  return `gemm:${c.wx}x${c.wy}:r${c.r}c${c.c}:tk${c.tk}u${c.unroll}:A${v.a}:B${v.b}:${v.checked ? 'chk' : 'fast'}:${v.vecOut ? 'ov4' : 'os'}${v.split ? ':split' : ''}`;
}

interface CommonUniforms {
  M: string; N: string; K: string; b1: string; b2: string; zOff: string; nSplit: string; kPer: string;
}

function gemmCode(v: Variant, cu: CommonUniforms, la: LoaderCode, lb: LoaderCode, aVec: boolean, bVec: boolean, decl: string): string {
  const { wx, wy, r, c, tk, unroll } = v.cfg;
  const TM = wy * r;
  const TN = wx * c;
  const NT = wx * wy;
  const TM4 = TM / 4;
  const TN4 = TN / 4;
  const R4 = r / 4;
  const C4 = c / 4;
  const L: string[] = [];
  L.push(decl);
  L.push(`@group(0) @binding(1) var<storage, read> A: array<${aVec ? 'vec4<f32>' : 'f32'}>;`);
  L.push(`@group(0) @binding(2) var<storage, read> B: array<${bVec ? 'vec4<f32>' : 'f32'}>;`);
  L.push(`@group(0) @binding(3) var<storage, read_write> O: array<${v.vecOut ? 'vec4<f32>' : 'f32'}>;`);
  L.push(`var<workgroup> As: array<vec4<f32>, ${tk * TM4}>;`);
  L.push(`var<workgroup> Bs: array<vec4<f32>, ${tk * TN4}>;`);
  L.push(`@compute @workgroup_size(${wx}, ${wy}, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let M = ${cu.M}; let N = ${cu.N}; let K = ${cu.K};
  let tx = lid.x; let ty = lid.y;
  let m0 = wid.y * ${TM}u; let n0 = wid.x * ${TN}u;
  let zz = wid.z + ${cu.zOff};
  var bi = zz;
  ${v.split ? `let split = bi % ${cu.nSplit}; bi = bi / ${cu.nSplit};` : ''}
  let i2 = bi % ${cu.b2}; bi = bi / ${cu.b2};
  let i1 = bi % ${cu.b1}; let i0 = bi / ${cu.b1};
  let aBase = ${la.base};
  let bBase = ${lb.base};
  ${la.prelude ?? ''}
  ${lb.prelude ?? ''}
  ${v.split ? `let kBegin = split * ${cu.kPer}; let kEnd = min(K, kBegin + ${cu.kPer});` : 'let kBegin = 0u; let kEnd = K;'}`);
  for (let i = 0; i < r; i++) for (let j = 0; j < C4; j++) L.push(`  var acc${i}_${j} = vec4<f32>(0.0);`);
  L.push(`  for (var t = kBegin; t < kEnd; t = t + ${tk}u) {`);
  const unitsA = tk * TM4;
  const unitsB = tk * TN4;
  for (let e = 0; e * NT < unitsA; e++) {
    const guard = (e + 1) * NT > unitsA ? `if (li + ${e * NT}u < ${unitsA}u) ` : '';
    L.push(`    ${guard}{
      let unit = li + ${e * NT}u; let kl = unit / ${TM4}u;
      let o = m0 + (unit % ${TM4}u) * 4u; let k = t + kl;
      ${la.unit({ X: 'A', base: 'aBase', o: 'o', k: 'k', O: 'M', K: 'K', checked: v.checked })}
      As[unit] = val;
    }`);
  }
  for (let e = 0; e * NT < unitsB; e++) {
    const guard = (e + 1) * NT > unitsB ? `if (li + ${e * NT}u < ${unitsB}u) ` : '';
    L.push(`    ${guard}{
      let unit = li + ${e * NT}u; let kl = unit / ${TN4}u;
      let o = n0 + (unit % ${TN4}u) * 4u; let k = t + kl;
      ${lb.unit({ X: 'B', base: 'bBase', o: 'o', k: 'k', O: 'N', K: 'K', checked: v.checked })}
      Bs[unit] = val;
    }`);
  }
  L.push(`    workgroupBarrier();`);
  const step = (kk: string) => {
    const out: string[] = [];
    for (let i = 0; i < R4; i++) out.push(`      let a${i} = As[(${kk}) * ${TM4}u + ty * ${R4}u + ${i}u];`);
    for (let j = 0; j < C4; j++) out.push(`      let b${j} = Bs[(${kk}) * ${TN4}u + tx * ${C4}u + ${j}u];`);
    for (let i = 0; i < r; i++) {
      for (let j = 0; j < C4; j++) out.push(`      acc${i}_${j} = fma(vec4<f32>(a${i >> 2}[${i & 3}]), b${j}, acc${i}_${j});`);
    }
    return out;
  };
  L.push(`    for (var kk = 0u; kk < ${tk}u; kk = kk + ${unroll}u) {`);
  for (let q = 0; q < unroll; q++) {
    L.push('     {');
    L.push(...step(q === 0 ? 'kk' : `kk + ${q}u`));
    L.push('     }');
  }
  L.push(`    }`);
  L.push(`    workgroupBarrier();`);
  L.push(`  }`);
  L.push(`  let oBase = zz * M * N;`);
  for (let i = 0; i < r; i++) {
    L.push(`  {
    let row = m0 + ty * ${r}u + ${i}u;`);
    for (let j = 0; j < C4; j++) {
      const col = `n0 + tx * ${c}u + ${4 * j}u`;
      if (v.vecOut) {
        const st = `O[(oBase + row * N + ${col}) / 4u] = acc${i}_${j};`;
        L.push(v.checked ? `    if (row < M && ${col} < N) { ${st} }` : `    ${st}`);
      } else {
        for (let q = 0; q < 4; q++) {
          const st = `O[oBase + row * N + ${col} + ${q}u] = acc${i}_${j}[${q}];`;
          L.push(v.checked ? `    if (row < M && ${col} + ${q}u < N) { ${st} }` : `    ${st}`);
        }
      }
    }
    L.push('  }');
  }
  L.push('}');
  return L.join('\n');
}

/** Picks the split-K factor: enough workgroups to keep the thread pool busy, slices ≥ 4·tk deep. */
function chooseSplit(workgroups: number, K: number, tk: number): number {
  const TARGET = 32;
  if (workgroups >= TARGET || K < 8 * tk) return 1;
  const byGroups = Math.ceil(TARGET / workgroups);
  const byDepth = Math.floor(K / (4 * tk));
  return Math.max(1, Math.min(byGroups, byDepth, 64));
}

/** Runs one GEMM (see GemmProblem) into `p.out`. */
export function runGemm(rt: GpuRuntime, p: GemmProblem): void {
  const cfg: MatmulConfig = p.cfg ? { ...activeConfig, ...p.cfg } : activeConfig;
  const { M, N, K } = p;
  const batch = [...p.batch];
  if (batch.length > MAX_BATCH_AXES) throw new WgradError('matmul', `at most ${MAX_BATCH_AXES} batch axes, got ${batch.length}`);
  while (batch.length < MAX_BATCH_AXES) batch.unshift(1);
  const nBatch = numel(batch);
  if (M * N * nBatch === 0) return;
  const TM = cfg.wy * cfg.r;
  const TN = cfg.wx * cfg.c;
  const tilesN = Math.ceil(N / TN);
  const tilesM = Math.ceil(M / TM);
  const splits = p.splits ?? chooseSplit(tilesN * tilesM * nBatch, K, cfg.tk);
  const kPer = splits > 1 ? Math.ceil(Math.ceil(K / splits) / cfg.tk) * cfg.tk : Math.max(K, 1);
  const nSplit = splits > 1 ? Math.ceil(K / kPer) : 1;
  const checked = M % TM !== 0 || N % TN !== 0 || K % cfg.tk !== 0;
  const v: Variant = { cfg, a: p.a.key, b: p.b.key, checked, vecOut: N % 4 === 0, split: nSplit > 1 };
  const key = variantKey(v);
  const target = nSplit > 1 ? rt.alloc(nSplit * nBatch * M * N) : p.out;
  const zTotal = nBatch * nSplit;
  const zCap = rt.limits.maxComputeWorkgroupsPerDimension;
  for (let z0 = 0; z0 < zTotal; z0 += zCap) {
    const zCount = Math.min(zCap, zTotal - z0);
    const u = new Uniforms();
    const cu: CommonUniforms = {
      M: u.u32(M), N: u.u32(N), K: u.u32(K), b1: u.u32(batch[1]), b2: u.u32(batch[2]),
      zOff: u.u32(z0), nSplit: u.u32(nSplit), kPer: u.u32(kPer),
    };
    const la = p.a.setup(u);
    const lb = p.b.setup(u);
    rt.dispatch(
      {
        key,
        code: () => gemmCode(v, cu, la, lb, p.a.vec, p.b.vec, u.decl()),
        uniforms: u.buffer(),
        readOnly: 2,
        workgroups: [tilesN, tilesM, zCount],
      },
      [p.a.storage, p.b.storage, target],
    );
  }
  if (nSplit > 1) {
    runSplitReduce(rt, target, nSplit, nBatch, M * N, p.out);
    rt.release(target);
  }
}

/** Sums [batch, splits, n] partial products into [batch, n]. */
function runSplitReduce(rt: GpuRuntime, partial: GpuStorage, splits: number, nBatch: number, n: number, out: GpuStorage): void {
  const vec = n % 4 === 0;
  const n4 = vec ? n / 4 : n;
  const u = new Uniforms();
  const nW = u.u32(n4);
  const sW = u.u32(splits);
  const tW = u.u32(n4 * nBatch);
  const T = vec ? 'vec4<f32>' : 'f32';
  const WG = 64;
  const code = `${u.decl()}
@group(0) @binding(1) var<storage, read> P: array<${T}>;
@group(0) @binding(2) var<storage, read_write> O: array<${T}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * ${WG}u + lid;
  if (i >= ${tW}) { return; }
  let n = ${nW};
  let base = (i / n) * ${sW} * n + i % n;
  var s = P[base];
  for (var k = 1u; k < ${sW}; k = k + 1u) { s = s + P[base + k * n]; }
  O[i] = s;
}`;
  rt.dispatch(
    {
      key: `gemm:splitsum:${vec ? 'v4' : 's'}`,
      code: () => code,
      uniforms: u.buffer(),
      readOnly: 1,
      workgroups: grid(Math.ceil((n4 * nBatch) / WG), rt.limits.maxComputeWorkgroupsPerDimension),
    },
    [partial, out],
  );
}

/**
 * out = a @ b with NumPy batch broadcasting. `a`: [...ba, M, K], `b`: [...bb, K, N], float32 views
 * of any strides; returns a fresh contiguous [...batch, M, N] buffer.
 */
export function runMatmul(rt: GpuRuntime, a: GpuView, b: GpuView, out: OutputSpec, cfg?: Partial<MatmulConfig>): GpuStorage {
  if (a.shape.length < 2 || b.shape.length < 2) {
    throw new WgradError('matmul', `expected operands of rank ≥ 2, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  }
  const M = a.shape[a.shape.length - 2];
  const K = a.shape[a.shape.length - 1];
  const N = b.shape[b.shape.length - 1];
  if (b.shape[b.shape.length - 2] !== K) {
    throw new WgradError('matmul', `inner dimensions differ: ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`);
  }
  const batchShape = out.shape.slice(0, -2);
  const nOut = numel(out.shape);
  const result = rt.alloc(nOut);
  if (nOut === 0) return result;

  const aBatch = broadcastStrides(a.shape.slice(0, -2), a.strides.slice(0, -2), batchShape);
  const bBatch = broadcastStrides(b.shape.slice(0, -2), b.strides.slice(0, -2), batchShape);
  const merged = coalesce(batchShape, [aBatch, bBatch]);
  if (merged.shape.length > MAX_BATCH_AXES) {
    // Rare: more than 3 batch axes that do not merge. Materialize both operands broadcast to the
    // full batch shape, contiguous, so their batch axes merge into one.
    const ac = contiguousCopy(rt, expandBatch(a, batchShape));
    const bc = contiguousCopy(rt, expandBatch(b, batchShape));
    const nb = numel(batchShape);
    gemmStrided(rt, ac, bc, M, N, K, [nb], [M * K], [K * N], result, cfg);
    rt.release(ac.storage);
    rt.release(bc.storage);
    return result;
  }
  gemmStrided(rt, a, b, M, N, K, merged.shape, merged.strides[0], merged.strides[1], result, cfg);
  return result;
}

function gemmStrided(
  rt: GpuRuntime, a: GpuView, b: GpuView, M: number, N: number, K: number,
  batch: number[], aBatch: number[], bBatch: number[], out: GpuStorage, cfg?: Partial<MatmulConfig>,
): void {
  const ra = a.shape.length;
  const rb = b.shape.length;
  // Size-1 axes may carry any stride; normalize them so the vec4 tests see the real layout.
  const sAm = M === 1 ? 1 : a.strides[ra - 2];
  const sAk = K === 1 ? 0 : a.strides[ra - 1];
  const sBk = K === 1 ? 0 : b.strides[rb - 2];
  const sBn = N === 1 ? 1 : b.strides[rb - 1];
  runGemm(rt, {
    M, N, K, batch,
    a: stridedLoader(a.storage, a.offset, aBatch, sAm, sAk, M),
    b: stridedLoader(b.storage, b.offset, bBatch, sBn, sBk, N),
    out,
    cfg,
  });
}

/** `v` ([...b, R, C]) viewed as [...batchShape, R, C] (stride 0 on broadcast batch axes). */
function expandBatch(v: GpuView, batchShape: number[]): GpuView {
  const r = v.shape.length;
  const strides = [...broadcastStrides(v.shape.slice(0, -2), v.strides.slice(0, -2), batchShape), v.strides[r - 2], v.strides[r - 1]];
  return { ...v, shape: [...batchShape, v.shape[r - 2], v.shape[r - 1]], strides };
}

/** A contiguous copy of any float32 view (a strided gather kernel); the caller releases it. */
export function contiguousCopy(rt: GpuRuntime, v: GpuView): GpuView {
  const shape = v.shape;
  const n = numel(shape);
  const temp = rt.alloc(n);
  const view: GpuView = { storage: temp, dtype: v.dtype, shape, strides: contiguousStrides(shape), offset: 0 };
  if (n === 0) return view;
  const m = coalesce(shape, [v.strides]);
  const rank = Math.max(m.shape.length, 1);
  const u = new Uniforms();
  const nW = u.u32(n);
  const rW = u.u32(m.shape.length);
  const offW = u.i32(v.offset);
  const dims = u.array(m.shape, rank);
  const strides = u.array(m.strides[0].map((s) => s | 0), rank);
  const WG = 64;
  const code = `${u.decl()}
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * ${WG}u + lid;
  if (i >= ${nW}) { return; }
  var rem = i;
  var idx = ${offW};
  for (var dd = i32(${rW}) - 1; dd >= 0; dd = dd - 1) {
    let d = u32(dd);
    let sz = uw(${dims}u + d);
    idx = idx + i32(rem % sz) * uwi(${strides}u + d);
    rem = rem / sz;
  }
  Y[i] = X[idx];
}`;
  rt.dispatch(
    { key: `gemm:copy:r${rank}`, code: () => code, uniforms: u.buffer(), readOnly: 1, workgroups: grid(Math.ceil(n / WG), rt.limits.maxComputeWorkgroupsPerDimension) },
    [v.storage, temp],
  );
  return view;
}
