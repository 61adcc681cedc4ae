/**
 * Batched matrix multiply: out[...batch, M, N] = a[...ba, M, K] @ b[...bb, K, N] (float32, NumPy
 * broadcasting of the batch dims), read straight through the input views' strides; and the generic
 * GEMM (`runGemm`) that conv.ts reuses with implicit-im2col operand loaders.
 *
 * Operands are read by "loaders" that produce units of 4 elements (4 consecutive rows/columns at
 * one k, or 4 consecutive k at one row/column). The strided loader reads any view through its
 * strides (contiguous, last-two-dims transposed, sliced, flipped, stride-0 broadcast), as one vec4
 * load when the unit runs along a unit-stride, 4-aligned axis ('v' / 'kv' modes), else as 4 scalar
 * loads ('s'); no copy is made. conv.ts supplies loaders computing im2col / transposed-conv indices.
 *
 * Two kernel families, chosen per adapter (`pickKind`):
 *
 * 'sg' — CPU adapters with 8-lane subgroups (lavapipe). A workgroup is ONE subgroup of 8 lanes
 *   and owns an R × 8C output tile; lane l owns columns l·C .. l·C+C−1 for all R rows (R·C/4 vec4
 *   accumulators). Per 4-deep k step, lane l loads A rows 8q+l as units of 4 k (R/8 units) and its
 *   own B columns (C/4 units per k); row i's A values reach all lanes by subgroupBroadcast(·, i%8).
 *   No workgroup memory, no barrier. Blocks: 16×4 below 2^24 multiply-adds, 32×8 above (faster,
 *   but a 32×8 shader takes LLVM ≈ 15 s to JIT versus ≈ 3 s, which small products never repay);
 *   8×4 when M ≤ 8.
 * 'tiled' — every other adapter: the classic two-level tiling. A workgroup of WX × WY invocations
 *   owns a TM × TN tile (TM = WY·R, TN = WX·C); invocation (tx, ty) owns an R × C register block
 *   (default 8 × 8 in an 8 × 8 workgroup, TK = 32). Per TK slice: a copy pass stages A[TM × TK] and
 *   B[TK × TN] in workgroup memory (k-major, vec4 along M / N), barrier, an FMA pass (R/4 + C/4 vec4
 *   loads feed R·C multiply-adds per k), barrier.
 *
 * Why two families — measured on lavapipe (Mesa 25, LLVM 15, 2 cores, see bench/matmul.ts):
 *   - every load whose address is not a compile-time constant, inside a loop, becomes a per-lane
 *     gather: ≈ 35 instructions per lane for a vec4 from a storage buffer (bounds check per
 *     component), ≈ 290 for 8 lanes; from workgroup memory not much less. An 8-lane multiply-add is
 *     2 instructions (no FMA contraction) plus spills. So the kernels are load-bound, and what
 *     counts is how many multiply-adds each loaded element feeds.
 *   - a barrier makes llvmpipe run the workgroup as coroutines: everything live across it moves to
 *     the coroutine frame, and each barrier suspends/resumes every 8-lane chunk. The tiled kernel
 *     spends ~40 % of its time there; removing the barriers alone (racy) made it 1.6–2.8× faster.
 *   - the sg kernel needs neither: each B element is loaded once, straight into the lane that uses
 *     it, and reused R times; A is loaded once per 8 rows and shared by broadcasts (cheap: lane
 *     extracts and splats). 512²: sg 5.1 GFLOP per CPU-second vs 1.7 for the best tiled variant.
 * Edges: the "checked" variant zero-fills out-of-range unit elements at load time and masks the
 * stores; shapes that are multiples of the tile (and K of the k step) get the unchecked variant.
 * K = 0 runs no k step and stores zeros.
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
 * Every compile-time choice (family, block, loaders, checked/unchecked, vec4 output, split) is in
 * the pipeline key; sizes and strides are uniforms, so one pipeline serves every shape of its class.
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
  /** Walk the copy units with a loop instead of unrolling them (smaller shader, faster JIT). */
  loopCopy: boolean;
  /** Kernel family: 'tiled' (workgroup-memory tiles, barriers), 'sg' (one 8-lane subgroup per
   *  workgroup, no workgroup memory or barriers, A rows shared by subgroupBroadcast), or 'auto'. */
  kind: 'auto' | 'tiled' | 'sg';
  /** Register block of the 'sg' kernel: rows (multiple of 8) × columns per lane (multiple of 4). */
  sgR: number;
  sgC: number;
  /** Block used instead for large products (M·N·K·batch ≥ sgLargeMacs): faster per flop, but its
   *  larger shader takes LLVM several times longer to compile, which small products never repay. */
  sgLargeR: number;
  sgLargeC: number;
  sgLargeMacs: number;
  /** K depth per iteration of the 'sg' kernel's loop (4 or 8). */
  sgK: number;
}

export const DEFAULT_MATMUL_CONFIG: MatmulConfig = {
  wx: 8, wy: 8, r: 8, c: 8, tk: 32, unroll: 1, loopCopy: true, kind: 'auto',
  sgR: 16, sgC: 4, sgK: 4, sgLargeR: 32, sgLargeC: 8, sgLargeMacs: 2 ** 24,
};

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
  /** u32 outer coordinate (m for A, n for B) and k coordinate of the unit's first element; the
   *  unit runs along the outer axis or along k, as the loader's `k4` says. */
  o: string;
  k: string;
  /** u32 extents of the outer axis and of K. */
  O: string;
  K: string;
  checked: boolean;
  /** The unit's 4 elements run along the outer axis ('o') or along K ('k'). */
  along: 'o' | 'k';
}

export interface LoaderCode {
  /** i32 expression of the batch base offset; may use the u32 batch indices i0, i1, i2. */
  base: string;
  /** Optional WGSL run once per invocation before the K loop (hoisted setup). */
  prelude?: string;
  /** Optional module-scope WGSL (helper functions); identical strings are emitted once. */
  helpers?: string;
  /** WGSL statements defining `let val: vec4<f32>` = the unit's 4 elements, 0 outside the matrix. */
  unit(ctx: UnitCtx): string;
}

/** How one GEMM operand's tile units are read from its storage buffer. */
export interface Loader {
  /** Part of the pipeline key: identifies the generated code (not the uniform values). */
  key: string;
  /** The binding holds vec4<f32> elements instead of f32. */
  vec: boolean;
  /** The tiled kernel should copy units along K (else along the outer axis). */
  k4: boolean;
  storage: GpuStorage;
  /** Pushes the loader's uniforms (same sequence for one key) and returns its code generators. */
  setup(u: Uniforms): LoaderCode;
}

/**
 * A strided matrix operand: element (o, k) of batch entry (i0, i1, i2) at
 * offset + Σ i·batchStrides + o·sO + k·sK. Three load modes (part of the key):
 *   'v'  the outer axis has unit stride and everything is 4-aligned: one vec4 load per unit of 4 o;
 *   'kv' the K axis has unit stride and everything is 4-aligned: one vec4 load per unit of 4 k;
 *   's'  anything else: 4 scalar loads per unit of 4 o.
 */
export function stridedLoader(
  storage: GpuStorage, offset: number, batchStrides: readonly number[], sO: number, sK: number, outerExtent: number, kExtent: number,
): Loader {
  const bs = [...batchStrides];
  while (bs.length < MAX_BATCH_AXES) bs.unshift(0);
  const aligned = offset % 4 === 0 && bs.every((s) => s % 4 === 0);
  const mode = aligned && sO === 1 && outerExtent % 4 === 0 && sK % 4 === 0 ? 'v' : aligned && sK === 1 && kExtent % 4 === 0 && sO % 4 === 0 ? 'kv' : 's';
  return {
    key: mode,
    vec: mode !== 's',
    k4: mode === 'kv',
    storage,
    setup(u) {
      const off = u.i32(offset);
      const b = bs.map((s) => u.i32(s));
      const so = u.i32(sO);
      const sk = u.i32(sK);
      return {
        base: `${off} + i32(i0) * ${b[0]} + i32(i1) * ${b[1]} + i32(i2) * ${b[2]}`,
        unit: ({ X, base, o, k, O, K, checked, along }) => {
          const vecUnit = (mode === 'v' && along === 'o') || (mode === 'kv' && along === 'k');
          if (vecUnit) {
            // The element index is a valid (non-negative) one, so a shift divides by 4.
            const idx = mode === 'v' ? `u32(${base} + i32(${o}) + i32(${k}) * ${sk}) >> 2u` : `u32(${base} + i32(${o}) * ${so} + i32(${k})) >> 2u`;
            if (!checked) return `let val = ${X}[${idx}];`;
            return `let inb = ${o} < ${O} && ${k} < ${K};
      let val = select(vec4<f32>(0.0), ${X}[select(0u, ${idx}, inb)], inb);`;
          }
          // Scalar elements (of a vec4 binding when the unit runs across the vec4 axis).
          const at = (i: string) => (mode === 's' ? `${X}[${i}]` : `${X}[(${i}) >> 2u][(${i}) & 3]`);
          const step = along === 'o' ? so : sk;
          const lines = [`let e0 = ${base} + i32(${k}) * ${sk} + i32(${o}) * ${so};`];
          if (!checked) {
            for (let q = 0; q < 4; q++) lines.push(`let v${q} = ${at(`e0 + ${q} * ${step}`)};`);
          } else {
            lines.push(along === 'o' ? `let kin = ${k} < ${K};` : `let oin = ${o} < ${O};`);
            for (let q = 0; q < 4; q++) {
              lines.push(along === 'o' ? `let in${q} = kin && ${o} + ${q}u < ${O};` : `let in${q} = oin && ${k} + ${q}u < ${K};`);
              lines.push(`let v${q} = select(0.0, ${at(`select(0, e0 + ${q} * ${step}, in${q})`)}, in${q});`);
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
  kind: 'tiled' | 'sg';
  a: string;
  b: string;
  checked: boolean;
  vecOut: boolean;
  split: boolean;
}

function variantKey(v: Variant): string {
  const c = v.cfg;
  if (v.kind === 'sg') {
    return `gemm:sg:r${c.sgR}c${c.sgC}k${c.sgK}:A${v.a}:B${v.b}:${v.checked ? 'chk' : 'fast'}:${v.vecOut ? 'ov4' : 'os'}${v.split ? ':split' : ''}`;
  }
  return `gemm:${c.wx}x${c.wy}:r${c.r}c${c.c}:tk${c.tk}u${c.unroll}${c.loopCopy ? 'L' : ''}:A${v.a}:B${v.b}:${v.checked ? 'chk' : 'fast'}:${v.vecOut ? 'ov4' : 'os'}${v.split ? ':split' : ''}`;
}

interface CommonUniforms {
  M: string; N: string; K: string; b1: string; b2: string; xOff: string; yOff: string; zOff: string; nSplit: string; kPer: string;
}

/**
 * The copy pass of one operand into its k-major tile T[k][o] (vec4 along o). Units are either 4
 * consecutive o at one k ("o4": one vec4 store) or 4 consecutive k at one o ("k4": 4 scalar stores
 * into the k-major tile). With `loopCopy` the units are walked by a loop (smaller shader, faster
 * JIT) instead of being unrolled.
 */
function copyPass(X: string, T: string, lc: LoaderCode, k4: boolean, TO: number, o0: string, base: string, O: string, v: Variant, NT: number): string {
  const { tk } = v.cfg;
  const TO4 = TO / 4;
  const units = tk * TO4;
  const head = k4
    ? `let kq = unit / ${TO}u; let ol = unit % ${TO}u; let o = ${o0} + ol; let k = t + kq * 4u;`
    : `let kl = unit / ${TO4}u; let ol = (unit % ${TO4}u) * 4u; let o = ${o0} + ol; let k = t + kl;`;
  const body = lc.unit({ X, base, o: 'o', k: 'k', O, K: 'K', checked: v.checked, along: k4 ? 'k' : 'o' });
  const store = k4
    ? [0, 1, 2, 3].map((q) => `${T}[(kq * 4u + ${q}u) * ${TO4}u + ol / 4u][ol % 4u] = val[${q}];`).join(' ')
    : `${T}[unit] = val;`;
  const one = (u: string) => `{
      let unit = ${u}; ${head}
      ${body}
      ${store}
    }`;
  if (v.cfg.loopCopy) {
    const guard = units % NT === 0 ? '' : `if (unit >= ${units}u) { break; }`;
    return `    for (var u0 = 0u; u0 < ${units}u; u0 = u0 + ${NT}u) {
      let uu = li + u0; ${guard ? guard.replace('unit', 'uu') : ''}
      ${one('uu')}
    }`;
  }
  const out: string[] = [];
  for (let e = 0; e * NT < units; e++) {
    const guard = (e + 1) * NT > units ? `if (li + ${e * NT}u < ${units}u) ` : '';
    out.push(`    ${guard}${one(`li + ${e * NT}u`)}`);
  }
  return out.join('\n');
}

/** Module-scope WGSL of both kernel families: the loaders' helpers (once each) and the bindings. */
function moduleScope(v: Variant, la: LoaderCode, lb: LoaderCode, aVec: boolean, bVec: boolean): string[] {
  return [
    ...new Set([la.helpers ?? '', lb.helpers ?? '']),
    `@group(0) @binding(1) var<storage, read> A: array<${aVec ? 'vec4<f32>' : 'f32'}>;`,
    `@group(0) @binding(2) var<storage, read> B: array<${bVec ? 'vec4<f32>' : 'f32'}>;`,
    `@group(0) @binding(3) var<storage, read_write> O: array<${v.vecOut ? 'vec4<f32>' : 'f32'}>;`,
  ];
}

/**
 * Kernel-body WGSL shared by both families after m0 / n0: the batch entry (i0, i1, i2) and split
 * slice of this workgroup, the operands' batch bases and preludes, and the K range [kBegin, kEnd).
 */
function batchPrelude(v: Variant, cu: CommonUniforms, la: LoaderCode, lb: LoaderCode): string {
  return `  let zz = wid.z + ${cu.zOff};
  var bi = zz;
  ${v.split ? `let split = bi % ${cu.nSplit}; bi = bi / ${cu.nSplit};` : ''}
  let i2 = bi % ${cu.b2}; bi = bi / ${cu.b2};
  let i1 = bi % ${cu.b1}; let i0 = bi / ${cu.b1};
  let aBase = ${la.base};
  let bBase = ${lb.base};
  ${la.prelude ?? ''}
  ${lb.prelude ?? ''}
  ${v.split ? `let kBegin = split * ${cu.kPer}; let kEnd = min(K, kBegin + ${cu.kPer});` : 'let kBegin = 0u; let kEnd = K;'}`;
}

/**
 * Stores the accumulators acc{i}_{j} (rows i < R, vec4 columns j < C4) of one invocation: row i at
 * `row(i)`, vec4 column j from `col(j)`; vec4 stores when the output allows, masked when checked.
 */
function storeTile(v: Variant, R: number, C4: number, row: (i: number) => string, col: (j: number) => string): string[] {
  const L = ['  let oBase = zz * M * N;'];
  for (let i = 0; i < R; i++) {
    L.push(`  {
    let row = ${row(i)};`);
    for (let j = 0; j < C4; j++) {
      const cj = col(j);
      if (v.vecOut) {
        const st = `O[(oBase + row * N + ${cj}) / 4u] = acc${i}_${j};`;
        L.push(v.checked ? `    if (row < M && ${cj} < N) { ${st} }` : `    ${st}`);
      } else {
        for (let q = 0; q < 4; q++) {
          const st = `O[oBase + row * N + ${cj} + ${q}u] = acc${i}_${j}[${q}];`;
          L.push(v.checked ? `    if (row < M && ${cj} + ${q}u < N) { ${st} }` : `    ${st}`);
        }
      }
    }
    L.push('  }');
  }
  return L;
}

function gemmCode(v: Variant, cu: CommonUniforms, la: LoaderCode, lb: LoaderCode, aVec: boolean, bVec: boolean, aK4: boolean, bK4: boolean, decl: string): string {
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
  L.push(...moduleScope(v, la, lb, aVec, bVec));
  L.push(`var<workgroup> As: array<vec4<f32>, ${tk * TM4}>;`);
  L.push(`var<workgroup> Bs: array<vec4<f32>, ${tk * TN4}>;`);
  L.push(`@compute @workgroup_size(${wx}, ${wy}, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let M = ${cu.M}; let N = ${cu.N}; let K = ${cu.K};
  let tx = lid.x; let ty = lid.y;
  let m0 = (wid.y + ${cu.yOff}) * ${TM}u; let n0 = (wid.x + ${cu.xOff}) * ${TN}u;
${batchPrelude(v, cu, la, lb)}`);
  for (let i = 0; i < r; i++) for (let j = 0; j < C4; j++) L.push(`  var acc${i}_${j} = vec4<f32>(0.0);`);
  L.push(`  for (var t = kBegin; t < kEnd; t = t + ${tk}u) {`);
  L.push(copyPass('A', 'As', la, aK4, TM, 'm0', 'aBase', 'M', v, NT));
  L.push(copyPass('B', 'Bs', lb, bK4, TN, 'n0', 'bBase', 'N', v, NT));
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
  L.push(...storeTile(v, r, C4, (i) => `m0 + ty * ${r}u + ${i}u`, (j) => `n0 + tx * ${c}u + ${4 * j}u`));
  L.push('}');
  return L.join('\n');
}

/**
 * The 'sg' kernel (lavapipe): a workgroup is ONE 8-lane subgroup owning an R × 8C output tile; lane
 * l owns columns l·C .. l·C+C−1 of it for all R rows. Per 4-deep k step, lane l loads A rows
 * 8q + l (q < R/8) as a unit of 4 k, and its own B columns (C/4 units of 4 n per k); row i's A
 * values reach every lane through subgroupBroadcast(·, i mod 8). No workgroup memory and no
 * barrier, so llvmpipe needs no coroutine and keeps accumulators in registers, and every B element
 * is loaded exactly once per workgroup straight into the lane that uses it.
 */
function sgCode(v: Variant, cu: CommonUniforms, la: LoaderCode, lb: LoaderCode, aVec: boolean, bVec: boolean, decl: string): string {
  const R = v.cfg.sgR;
  const C = v.cfg.sgC;
  const C4 = C / 4;
  const R8 = R / 8;
  const L: string[] = [];
  L.push('enable subgroups;');
  L.push(decl);
  L.push(...moduleScope(v, la, lb, aVec, bVec));
  L.push(`@compute @workgroup_size(8, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let M = ${cu.M}; let N = ${cu.N}; let K = ${cu.K};
  let l = lid.x;
  let m0 = (wid.y + ${cu.yOff}) * ${R}u; let n0 = (wid.x + ${cu.xOff}) * ${8 * C}u;
${batchPrelude(v, cu, la, lb)}`);
  for (let i = 0; i < R; i++) for (let j = 0; j < C4; j++) L.push(`  var acc${i}_${j} = vec4<f32>(0.0);`);
  const KS = v.cfg.sgK;
  L.push(`  for (var t = kBegin; t < kEnd; t = t + ${KS}u) {`);
  for (let h = 0; h < KS / 4; h++) {
    for (let q = 0; q < R8; q++) {
      L.push(`    var av${h}_${q}: vec4<f32>;
    {
      let o = m0 + ${8 * q}u + l; let k = t + ${4 * h}u;
      ${la.unit({ X: 'A', base: 'aBase', o: 'o', k: 'k', O: 'M', K: 'K', checked: v.checked, along: 'k' })}
      av${h}_${q} = val;
    }`);
    }
  }
  for (let kk = 0; kk < KS; kk++) {
    for (let j = 0; j < C4; j++) {
      L.push(`    var b${kk}_${j}: vec4<f32>;
    {
      let o = n0 + l * ${C}u + ${4 * j}u; let k = t + ${kk}u;
      ${lb.unit({ X: 'B', base: 'bBase', o: 'o', k: 'k', O: 'N', K: 'K', checked: v.checked, along: 'o' })}
      b${kk}_${j} = val;
    }`);
    }
  }
  for (let i = 0; i < R; i++) {
    L.push('    {');
    for (let h = 0; h < KS / 4; h++) {
      L.push(`      let ar${h} = subgroupBroadcast(av${h}_${i >> 3}, ${i & 7}u);`);
      for (let kk = 0; kk < 4; kk++) {
        for (let j = 0; j < C4; j++) L.push(`      acc${i}_${j} = fma(vec4<f32>(ar${h}[${kk}]), b${4 * h + kk}_${j}, acc${i}_${j});`);
      }
    }
    L.push('    }');
  }
  L.push('  }');
  L.push(...storeTile(v, R, C4, (i) => `m0 + ${i}u`, (j) => `n0 + l * ${C}u + ${4 * j}u`));
  L.push('}');
  return L.join('\n');
}

/** The kernel family for this runtime: 'sg' on CPU adapters with 8-lane subgroups, else 'tiled'. */
function pickKind(rt: GpuRuntime, cfg: MatmulConfig): 'tiled' | 'sg' {
  if (cfg.kind !== 'auto') return cfg.kind;
  const info = (rt.device as GPUDevice & { adapterInfo?: GPUAdapterInfo & { subgroupMinSize?: number } }).adapterInfo;
  const software = !!info && (info.architecture === 'software' || /llvmpipe|lavapipe|swiftshader/i.test(info.description ?? ''));
  return rt.features.has('subgroups') && software && (info?.subgroupMinSize ?? 0) >= 8 ? 'sg' : 'tiled';
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
  let cfg: MatmulConfig = p.cfg ? { ...activeConfig, ...p.cfg } : activeConfig;
  const { M, N, K } = p;
  const batch = [...p.batch];
  if (batch.length > MAX_BATCH_AXES) throw new WgradError('matmul', `at most ${MAX_BATCH_AXES} batch axes, got ${batch.length}`);
  while (batch.length < MAX_BATCH_AXES) batch.unshift(1);
  const nBatch = numel(batch);
  if (M * N * nBatch === 0) return;
  const kind = pickKind(rt, cfg);
  if (kind === 'sg') {
    if (M * N * K * nBatch >= cfg.sgLargeMacs) cfg = { ...cfg, sgR: cfg.sgLargeR, sgC: cfg.sgLargeC };
    // Short outputs (a few rows) use an 8-row block instead of wasting most of a larger one.
    if (M <= 8 && cfg.sgR > 8) cfg = { ...cfg, sgR: 8 };
  }
  const TM = kind === 'sg' ? cfg.sgR : cfg.wy * cfg.r;
  const TN = kind === 'sg' ? 8 * cfg.sgC : cfg.wx * cfg.c;
  const TK = kind === 'sg' ? cfg.sgK : cfg.tk;
  const tilesN = Math.ceil(N / TN);
  const tilesM = Math.ceil(M / TM);
  const splits = p.splits ?? chooseSplit(tilesN * tilesM * nBatch, K, TK);
  const kPer = splits > 1 ? Math.ceil(Math.ceil(K / splits) / TK) * TK : Math.max(K, 1);
  const nSplit = splits > 1 ? Math.ceil(K / kPer) : 1;
  const checked = M % TM !== 0 || N % TN !== 0 || K % TK !== 0;
  const v: Variant = { cfg, kind, a: p.a.key, b: p.b.key, checked, vecOut: N % 4 === 0, split: nSplit > 1 };
  const key = variantKey(v);
  const target = nSplit > 1 ? rt.alloc(nSplit * nBatch * M * N) : p.out;
  const zTotal = nBatch * nSplit;
  // Grids beyond the per-dimension limit are covered by several dispatches with tile offsets.
  const cap = rt.limits.maxComputeWorkgroupsPerDimension;
  for (let z0 = 0; z0 < zTotal; z0 += cap) {
    for (let y0 = 0; y0 < tilesM; y0 += cap) {
      for (let x0 = 0; x0 < tilesN; x0 += cap) {
        const u = new Uniforms();
        const cu: CommonUniforms = {
          M: u.u32(M), N: u.u32(N), K: u.u32(K), b1: u.u32(batch[1]), b2: u.u32(batch[2]),
          xOff: u.u32(x0), yOff: u.u32(y0), zOff: u.u32(z0), nSplit: u.u32(nSplit), kPer: u.u32(kPer),
        };
        const la = p.a.setup(u);
        const lb = p.b.setup(u);
        rt.dispatch(
          {
            key,
            code: () => (kind === 'sg' ? sgCode(v, cu, la, lb, p.a.vec, p.b.vec, u.decl()) : gemmCode(v, cu, la, lb, p.a.vec, p.b.vec, p.a.k4, p.b.k4, u.decl())),
            uniforms: u.buffer(),
            readOnly: 2,
            workgroups: [Math.min(cap, tilesN - x0), Math.min(cap, tilesM - y0), Math.min(cap, zTotal - z0)],
          },
          [p.a.storage, p.b.storage, target],
        );
      }
    }
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
    a: stridedLoader(a.storage, a.offset, aBatch, sAm, sAk, M, K),
    b: stridedLoader(b.storage, b.offset, bBatch, sBn, sBk, N, K),
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
