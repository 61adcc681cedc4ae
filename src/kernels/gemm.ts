/**
 * The GEMM engine: out[b0, b1, b2, M, N] = A[b, M, K] @ B[b, K, N] (float32, contiguous output),
 * with the operands read through "loaders". matmul.ts (strided views, NumPy batch broadcasting) and
 * conv.ts (implicit im2col / transposed-conv gathers) are its two clients. The WGSL of the two
 * kernel families is generated in gemm-kernels.ts.
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
 *   No workgroup memory, no barrier. Blocks: 16×4 below 2^24 multiply-adds, 32×8 above (faster
 *   per flop, but a 32×8 shader takes LLVM several times longer to JIT, which small products never
 *   repay: docs/benchmarks.md#gemm-kernel-families); 8×4 when M ≤ 8.
 * 'tiled' — every other adapter: the classic two-level tiling. A workgroup of WX × WY invocations
 *   owns a TM × TN tile (TM = WY·R, TN = WX·C); invocation (tx, ty) owns an R × C register block
 *   (default 8 × 8 in an 8 × 8 workgroup, TK = 32). Per TK slice: a copy pass stages A[TM × TK] and
 *   B[TK × TN] in workgroup memory (k-major, vec4 along M / N), barrier, an FMA pass (R/4 + C/4 vec4
 *   loads feed R·C multiply-adds per k), barrier.
 *
 * Why two families — on lavapipe (bench/matmul.ts; docs/benchmarks.md#gemm-kernel-families):
 *   - every load whose address is not a compile-time constant, inside a loop, becomes a per-lane
 *     gather: ≈ 35 instructions per lane for a vec4 from a storage buffer (bounds check per
 *     component), ≈ 290 for 8 lanes; from workgroup memory not much less. An 8-lane multiply-add is
 *     2 instructions (no FMA contraction) plus spills. So the kernels are load-bound, and what
 *     counts is how many multiply-adds each loaded element feeds.
 *   - a barrier makes llvmpipe run the workgroup as coroutines: everything live across it moves to
 *     the coroutine frame, and each barrier suspends/resumes every 8-lane chunk: a large share of
 *     the tiled kernel's time, as removing its barriers alone (racy) showed
 *     (docs/benchmarks.md#figures-behind-the-kernel-headers).
 *   - the sg kernel needs neither: each B element is loaded once, straight into the lane that uses
 *     it, and reused R times; A is loaded once per 8 rows and shared by broadcasts (cheap: lane
 *     extracts and splats): several times the best tiled variant's rate (docs/benchmarks.md#gemm-kernel-families).
 * Edges: the "checked" variant zero-fills out-of-range unit elements at load time and masks the
 * stores; shapes that are multiples of the tile (and K of the k step) get the unchecked variant.
 * K = 0 runs no k step and stores zeros.
 *
 * Grid: x = N tiles, y = M tiles, z = batch entries × split-K slices (more than 65,535 per
 * dimension are spread over several dispatches through offset uniforms). Up to 3 batch axes are
 * handled in the kernel (a loader's batch strides may be 0: broadcast); matmul.ts merges batch
 * axes first and falls back to contiguous copies beyond 3.
 *
 * Passes: one GEMM dispatch; with split-K a second one. When the output has few tiles but K is
 * long (weight gradients: K = batch·pixels), the K range is cut into S slices that run as separate
 * workgroups, each writing a partial product to a temporary [batch, S, M, N] buffer that a small
 * element-parallel kernel sums into the output (the temporary is then released).
 *
 * Every compile-time choice (family, block, loaders, checked/unchecked, vec4 output, split) is in
 * the pipeline key; sizes and strides are uniforms, so one pipeline serves every shape of its class.
 */
import { WgradError } from '../core/backend.js';
import { numel } from '../core/shape.js';
import { gemmCode, sgCode, variantKey, type CommonUniforms, type LoaderCode, type MatmulConfig, type Variant } from './gemm-kernels.js';
import type { GpuRuntime, GpuStorage } from './runtime.js';
import { flatGrid, FLAT_END, flatMain, storageDecl, Uniforms, udiv, WG } from './wgsl.js';

export type { LoaderCode, MatmulConfig, UnitCtx } from './gemm-kernels.js';

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

/** The kernel family for this runtime: 'sg' on CPU adapters with 8-lane subgroups, else 'tiled'. */
function pickKind(rt: GpuRuntime, cfg: MatmulConfig): 'tiled' | 'sg' {
  if (cfg.kind !== 'auto') return cfg.kind;
  const info = (rt.device as GPUDevice & { adapterInfo?: GPUAdapterInfo & { subgroupMinSize?: number } }).adapterInfo;
  const software = !!info && (info.architecture === 'software' || /llvmpipe|lavapipe|swiftshader/i.test(info.description ?? ''));
  return rt.features.has('subgroups') && software && (info?.subgroupMinSize ?? 0) >= 8 ? 'sg' : 'tiled';
}

/** The kernel family and output block (TM × TN, k step TK) for an M-row product of `macs` multiply-adds. */
function blockFor(rt: GpuRuntime, cfg0: MatmulConfig, M: number, macs: number) {
  let cfg = cfg0;
  const kind = pickKind(rt, cfg);
  if (kind === 'sg') {
    // The large block only where its rows fill up (M > sgR): on fewer rows it computes mostly padding.
    if (macs >= cfg.sgLargeMacs && M > cfg.sgR) cfg = { ...cfg, sgR: cfg.sgLargeR, sgC: cfg.sgLargeC };
    // Short outputs (a few rows) use an 8-row block instead of wasting most of a larger one.
    if (M <= 8 && cfg.sgR > 8) cfg = { ...cfg, sgR: 8 };
  }
  return kind === 'sg'
    ? { cfg, kind, TM: cfg.sgR, TN: 8 * cfg.sgC, TK: cfg.sgK }
    : { cfg, kind, TM: cfg.wy * cfg.r, TN: cfg.wx * cfg.c, TK: cfg.tk };
}

/** Rows per output block of an M-row product of `macs` multiply-adds on this runtime. */
export function gemmRowBlock(rt: GpuRuntime, M: number, macs: number): number {
  return blockFor(rt, activeConfig, M, macs).TM;
}

/** The fraction of the computed output tiles of an M × N product (`macs` multiply-adds) that is real output. */
export function gemmTileUse(rt: GpuRuntime, M: number, N: number, macs = 0): number {
  const { TM, TN } = blockFor(rt, activeConfig, M, macs);
  return (M * N) / (Math.ceil(M / TM) * TM * Math.ceil(N / TN) * TN);
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
  const { M, N, K } = p;
  const batch = [...p.batch];
  if (batch.length > MAX_BATCH_AXES) throw new WgradError('matmul', `at most ${MAX_BATCH_AXES} batch axes, got ${batch.length}`);
  while (batch.length < MAX_BATCH_AXES) batch.unshift(1);
  const nBatch = numel(batch);
  if (M * N * nBatch === 0) return;
  const { cfg, kind, TM, TN, TK } = blockFor(rt, p.cfg ? { ...activeConfig, ...p.cfg } : activeConfig, M, M * N * K * nBatch);
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
  const nD = u.divisor(n4);
  const sW = u.u32(splits);
  const tW = u.u32(n4 * nBatch);
  const T = vec ? 'vec4<f32>' : 'f32';
  const code = `${u.decl()}
${storageDecl(1, 'P', T, true)}
${storageDecl(2, 'O', T, false)}
${flatMain(WG, tW)}
  ${udiv('i', nD, 'b', 'r')}
  let n = ${nD.d};
  let base = b * ${sW} * n + r;
  var s = P[base];
  for (var k = 1u; k < ${sW}; k = k + 1u) { s = s + P[base + k * n]; }
  O[i] = s;
${FLAT_END}`;
  rt.dispatch(
    {
      key: `gemm:splitsum:${vec ? 'v4' : 's'}`,
      code: () => code,
      uniforms: u.buffer(),
      readOnly: 1,
      workgroups: flatGrid(n4 * nBatch, WG, rt.limits.maxComputeWorkgroupsPerDimension),
    },
    [partial, out],
  );
}
