/**
 * conv2dInputGrad as a GEMM into a column buffer followed by a col2im gather (conv.ts uses it
 * unless the column buffer would be huge). Notation as in conv.ts; j = (c, ky, kx) ∈ Cg·kh·kw.
 *
 *   1. GEMM per (n, g):  col[n, g, j, p] = Σ_o  w[g·Og + o, j] · gy[n, g·Og + o, p]
 *      (M = Cg·kh·kw, K = Og, N = P). Both operands are plain strided matrices: vec4 loads of gy,
 *      no index arithmetic, and each gy element feeds Cg·kh·kw multiply-adds. The implicit
 *      transposed-conv GEMM instead gathers every gy element with per-element divisions and, with
 *      few input channels (M = Cg, e.g. 1), feeds it to a single multiply-add in an 8-row block.
 *   2. Gather:  gx[n, g·Cg + c, iy, ix] = Σ_{ky, kx} (tap reaches an output ? col[n, g, j, p] : z[g, j])
 *      with oy = (iy + ph − ky·dh) / sh, ox likewise, p = oy·Wo + ox. Each input pixel sums its own
 *      taps: no atomics, no scatter. Stride 1 (the common case) skips the divisions (its own key).
 *   z[g, j] = Σ_o 0·w[g·Og + o, j] (a tiny kernel): a tap that reaches no output still multiplies a
 *      0 into every weight, as the CPU reference and the implicit GEMM do, so a non-finite weight
 *      gives NaN there (z is +0 for finite weights and adds nothing; sums start at +0). z is kept
 *      after the columns in the same buffer, so each tap is one load (a per-lane gather on lavapipe).
 * The batch is processed in chunks so that the column buffer stays within a budget (64 MiB).
 */
import type { Conv2dGeometry } from '../core/prims.js';
import { contiguousCopy } from './copy.js';
import { runGemm, stridedLoader } from './gemm.js';
import type { GpuRuntime, GpuStorage, GpuView } from './runtime.js';
import { coalesce, flatGrid, FLAT_END, flatMain, storageDecl, udiv, Uniforms, WG, type Divisor } from './wgsl.js';

/** The conv sizes this path needs (conv.ts `Dims`). */
export interface ColDims {
  N: number; C: number; H: number; W: number; kh: number; kw: number; Ho: number; Wo: number;
  G: number; Cg: number; Og: number;
}

/** Most column-buffer elements per chunk of the batch (default 16 Mi: 64 MiB of float32). */
let columnBudget = 16 * 2 ** 20;

/** Sets the column budget (tests: forces batch chunks or the implicit path); returns the previous one. */
export function setColumnBudget(elements: number): number {
  const prev = columnBudget;
  columnBudget = elements;
  return prev;
}

/** Images per chunk of a column buffer of `perImage` elements each: 0 when one image exceeds the budget. */
export function columnChunk(perImage: number, N: number): number {
  return perImage > columnBudget ? 0 : Math.max(1, Math.min(N, Math.floor(columnBudget / Math.max(perImage, 1))));
}

/** True when conv2dInputGrad should take the column path: one image's columns fit the budget. */
export function useColumnPath(d: ColDims): boolean {
  return columnChunk(d.G * d.Cg * d.kh * d.kw * d.Ho * d.Wo, d.N) > 0;
}

/** gx (`result`, contiguous [N, C, H, W]) from gy and w through column buffers (see the header). */
export function runInputGradColumns(rt: GpuRuntime, gy0: GpuView, w0: GpuView, d: ColDims, geom: Conv2dGeometry, result: GpuStorage): void {
  const J = d.Cg * d.kh * d.kw;
  const P = d.Ho * d.Wo;
  // Both operands must be matrices: w's (c, ky, kx) and gy's (oy, ox) axes must merge into one.
  const wm = coalesce([d.Cg, d.kh, d.kw], [w0.strides.slice(1)]);
  const w = wm.shape.length > 1 ? contiguousCopy(rt, w0) : w0;
  const gm = coalesce([d.Ho, d.Wo], [gy0.strides.slice(2)]);
  const gy = gm.shape.length > 1 ? contiguousCopy(rt, gy0) : gy0;
  const sJ = w !== w0 ? 1 : wm.shape.length === 1 ? wm.strides[0][0] : 1;
  const sP = gy !== gy0 ? 1 : gm.shape.length === 1 ? gm.strides[0][0] : 1;
  const [s0] = w.strides;
  const [gN, gC] = gy.strides;
  const chunk = columnChunk(d.G * J * P, d.N);
  const zBase = chunk * d.G * J * P;
  const col = rt.alloc(zBase + d.G * J);
  runZeroTimesWeights(rt, w, d, sJ, col, zBase);
  for (let n0 = 0; n0 < d.N; n0 += chunk) {
    const n = Math.min(chunk, d.N - n0);
    runGemm(rt, {
      M: J, N: P, K: d.Og, batch: [n, d.G],
      a: stridedLoader(w.storage, w.offset, [0, 0, s0 * d.Og], sJ, d.Og === 1 ? 0 : s0, J, d.Og),
      b: stridedLoader(gy.storage, gy.offset + n0 * gN, [0, gN, gC * d.Og], sP, d.Og === 1 ? 0 : gC, P, d.Og),
      out: col,
    });
    runGather(rt, col, zBase, d, geom, n, n0 * d.C * d.H * d.W, result);
  }
  rt.release(col);
  if (w !== w0) rt.release(w.storage);
  if (gy !== gy0) rt.release(gy.storage);
}

/** z[g, j] = Σ_o 0·w[g·Og + o, j] into `out` from `zBase`: +0, or NaN where a weight of the column is not finite. */
function runZeroTimesWeights(rt: GpuRuntime, w: GpuView, d: ColDims, sJ: number, out: GpuStorage, zBase: number): void {
  const J = d.Cg * d.kh * d.kw;
  const u = new Uniforms();
  const n = u.u32(d.G * J);
  const dJ = u.divisor(J);
  const og = u.u32(d.Og);
  const off = u.i32(w.offset);
  const s0 = u.i32(w.strides[0]);
  const sj = u.i32(sJ);
  // A zero the compiler cannot see: a literal 0.0 · x would be folded to 0 (no NaN for ∞ or NaN).
  const zero = u.f32(0);
  const zb = u.u32(zBase);
  const code = () => `${u.decl()}
${storageDecl(1, 'Wt', 'f32', true)}
${storageDecl(2, 'Z', 'f32', false)}
${flatMain(WG, n)}
  ${udiv('i', dJ, 'g', 'j')}
  let base = ${off} + i32(g * ${og}) * ${s0} + i32(j) * ${sj};
  var s = 0.0;
  for (var o = 0u; o < ${og}; o = o + 1u) { s = s + ${zero} * Wt[base + i32(o) * ${s0}]; }
  Z[${zb} + i] = s;
${FLAT_END}`;
  rt.dispatch({ key: 'conv:zw', code, uniforms: u.buffer(), readOnly: 1, workgroups: flatGrid(d.G * J, WG, rt.limits.maxComputeWorkgroupsPerDimension) }, [w.storage, out]);
}

/**
 * The col2im gather for `n` images: gx elements [outBase, outBase + n·C·H·W) of `result`, each the
 * sum of its kh·kw taps (see the header).
 */
function runGather(rt: GpuRuntime, col: GpuStorage, zBase: number, d: ColDims, geom: Conv2dGeometry, n: number, outBase: number, result: GpuStorage): void {
  const unit = geom.stride[0] === 1 && geom.stride[1] === 1;
  // Kernels up to 5×5 get their taps unrolled (constant offsets; one pipeline per kernel size).
  const unrolled = d.kh * d.kw <= 25;
  const u = new Uniforms();
  const total = u.u32(n * d.C * d.H * d.W);
  const base = u.u32(outBase);
  const zb = u.u32(zBase);
  const dW = u.divisor(d.W);
  const dH = u.divisor(d.H);
  const dC = u.divisor(d.C);
  const kh = u.u32(d.kh);
  const kw = u.u32(d.kw);
  const P = u.u32(d.Ho * d.Wo);
  const Ho = u.i32(d.Ho);
  const Wo = u.i32(d.Wo);
  const [ph, pw] = [u.i32(geom.padding[0]), u.i32(geom.padding[1])];
  const [dh, dw] = [u.i32(geom.dilation[0]), u.i32(geom.dilation[1])];
  const [sh, sw] = unit ? [null, null] : [u.divisor(geom.stride[0]), u.divisor(geom.stride[1])];
  const taps = tapsCode({ kh: d.kh, kw: d.kw, unrolled, khU: kh, kwU: kw, P, Ho, Wo, ph, pw, dh, dw, sh, sw });
  const code = () => `${u.decl()}
${storageDecl(1, 'Col', 'f32', true)}
${storageDecl(2, 'GX', 'f32', false)}
${flatMain(WG, total)}
  ${udiv('i', dW, 'r0', 'ix')}
  ${udiv('r0', dH, 'ncl', 'iy')}
  ${udiv('ncl', dC, 'nl', 'cc')}
  // col[n, g, (c, ky, kx), p] with g·Cg + c = cc: the block of (n, cc) starts at ncl·kh·kw·P;
  // z[g, (c, ky, kx)] at zBase + cc·kh·kw.
  let khw = ${kh} * ${kw};
  let cj = ncl * khw * ${P};
  let zj = ${zb} + cc * khw;
  var s = 0.0;
  ${taps}
  GX[${base} + i] = s;
${FLAT_END}`;
  rt.dispatch(
    { key: `conv:col2im:${unit ? 's1' : 's'}:${unrolled ? `${d.kh}x${d.kw}` : 'loop'}`, code, uniforms: u.buffer(), readOnly: 1, workgroups: flatGrid(n * d.C * d.H * d.W, WG, rt.limits.maxComputeWorkgroupsPerDimension) },
    [col, result],
  );
}

interface TapNames {
  kh: number; kw: number; unrolled: boolean;
  khU: string; kwU: string; P: string; Ho: string; Wo: string; ph: string; pw: string; dh: string; dw: string;
  sh: Divisor | null; sw: Divisor | null;
}

/**
 * WGSL adding the kh × kw taps of input pixel (iy, ix) to `s`: unrolled (constant tap indices)
 * or as loops over the uniform kernel size. A tap reaches output (oy, ox) when ty = iy + ph − ky·dh
 * ≥ 0 is a multiple of the stride with ty / sh < Ho (likewise x); otherwise it adds z.
 */
function tapsCode(t: TapNames): string {
  const rowY = (ky: string) => `let ty = i32(iy) + ${t.ph} - i32(${ky}) * ${t.dh};
    ${t.sh ? `${udiv('u32(ty)', t.sh, 'qy', 'ry')} let oy = i32(qy); let yok = ty >= 0 && ry == 0u && oy < ${t.Ho};` : `let oy = ty; let yok = ty >= 0 && ty < ${t.Ho};`}
    let rowOff = cj + u32(oy * ${t.Wo});`;
  const colX = (kx: string, tap: string) => `let tx = i32(ix) + ${t.pw} - i32(${kx}) * ${t.dw};
      ${t.sw ? `${udiv('u32(tx)', t.sw, 'qx', 'rx')} let ox = i32(qx); let ok = yok && tx >= 0 && rx == 0u && ox < ${t.Wo};` : `let ox = tx; let ok = yok && tx >= 0 && tx < ${t.Wo};`}
      let ci = rowOff + ${tap} * ${t.P} + u32(ox);
      s = s + Col[select(zj + ${tap}, ci, ok)];`;
  if (!t.unrolled) {
    return `for (var ky = 0u; ky < ${t.khU}; ky = ky + 1u) {
    ${rowY('ky')}
    for (var kx = 0u; kx < ${t.kwU}; kx = kx + 1u) {
      ${colX('kx', `(ky * ${t.kwU} + kx)`)}
    }
  }`;
  }
  const L: string[] = [];
  for (let ky = 0; ky < t.kh; ky++) {
    L.push(`{\n    ${rowY(`${ky}u`)}`);
    for (let kx = 0; kx < t.kw; kx++) L.push(`    {\n      ${colX(`${kx}u`, `${ky * t.kw + kx}u`)}\n    }`);
    L.push('  }');
  }
  return L.join('\n  ');
}
