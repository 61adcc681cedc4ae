/**
 * conv2d forward through an explicit column buffer, for convolutions with a long reduction
 * (J = Cg·kh·kw ≥ IM2COL_MIN_J) and more output channels than a GEMM block has rows (`useIm2col`):
 * conv.ts otherwise runs the implicit GEMM.
 *
 *   1. im2col:  xcol[n, g, j, p] = x[n, g·Cg + c, oy·sh − ph + ky·dh, ox·sw − pw + kx·dw], or an
 *      exact 0 outside the image (then multiplied like any value: 0·∞ = NaN, as on the CPU).
 *      Element-parallel, 4 consecutive p per index (a vec4 store) when P is a multiple of 4.
 *   2. GEMM per (n, g):  y[n, g·Og + o, p] = Σ_j w[g·Og + o, j] · xcol[n, g, j, p]
 *      (M = Og, K = J, N = P) with plain strided operands: vec4 loads of xcol.
 * Why: in the implicit GEMM every B unit is 4 per-lane gathers plus index arithmetic, repeated
 * for every block of output-channel rows; gathering once into a buffer and then loading vec4s is
 * cheaper when there are several such blocks (the small CNN's conv2 32→64), dearer with one (the
 * SSL encoder's conv2 8→16; docs/benchmarks.md#im2col-for-the-convolution-forward). With
 * few input channels (J = 9) the implicit GEMM is as fast as a plain one. The batch runs in
 * chunks within the column budget (conv-col2im.ts).
 */
import type { Conv2dGeometry } from '../core/prims.js';
import { columnChunk, type ColDims } from './conv-col2im.js';
import { runCopy } from './copy.js';
import { gemmRowBlock, runGemm, stridedLoader, type Loader } from './gemm.js';
import type { GpuRuntime, GpuStorage, GpuView } from './runtime.js';
import { flatGrid, FLAT_END, flatMain, storageDecl, udiv, Uniforms, WG } from './wgsl.js';

/** Smallest reduction length J = Cg·kh·kw that takes the column path. */
export const IM2COL_MIN_J = 32;

/**
 * True when conv2d should take the column path: a long reduction, one image's columns within the
 * budget, and more output channels than one GEMM block has rows — the implicit GEMM then gathers
 * each input element once per block of rows, the column path once in all.
 */
export function useIm2col(rt: GpuRuntime, d: ColDims): boolean {
  const J = d.Cg * d.kh * d.kw;
  const P = d.Ho * d.Wo;
  return J >= IM2COL_MIN_J && d.Og > gemmRowBlock(rt, d.Og, d.N * d.G * d.Og * P * J) && columnChunk(d.G * J * P, d.N) > 0;
}

/** y (`result`, contiguous [N, O, Ho, Wo]) = conv2d(x, w) with `a` = w as [G, Og, J] (see the header). */
export function runConv2dColumns(rt: GpuRuntime, x: GpuView, a: Loader, d: ColDims, geom: Conv2dGeometry, result: GpuStorage): void {
  const J = d.Cg * d.kh * d.kw;
  const P = d.Ho * d.Wo;
  const chunk = columnChunk(d.G * J * P, d.N);
  const col = rt.alloc(chunk * d.G * J * P);
  for (let n0 = 0; n0 < d.N; n0 += chunk) {
    const n = Math.min(chunk, d.N - n0);
    runIm2col(rt, x, d, geom, n0, n, col);
    const b = stridedLoader(col, 0, [0, d.G * J * P, J * P], 1, P, P, J);
    const outView = n0 * d.G * d.Og * P;
    if (outView === 0) {
      runGemm(rt, { M: d.Og, N: P, K: J, batch: [n, d.G], a, b, out: result });
    } else {
      // runGemm writes from element 0: a chunk's output goes through a temporary.
      const t = rt.alloc(n * d.G * d.Og * P);
      runGemm(rt, { M: d.Og, N: P, K: J, batch: [n, d.G], a, b, out: t });
      runCopy(rt, { storage: t, dtype: 'float32', shape: [n * d.G * d.Og * P], strides: [1], offset: 0 }, result, [1], outView, 'float32');
      rt.release(t);
    }
  }
  rt.release(col);
}

/** xcol for images [n0, n0 + n) into `col` (see the header). */
function runIm2col(rt: GpuRuntime, x: GpuView, d: ColDims, geom: Conv2dGeometry, n0: number, n: number, col: GpuStorage): void {
  const P = d.Ho * d.Wo;
  const width = P % 4 === 0 ? 4 : 1;
  const khw = d.kh * d.kw;
  const total = (n * d.C * khw * P) / width;
  const u = new Uniforms();
  const nE = u.u32(total);
  const dPw = u.divisor(P / width);
  const dKhw = u.divisor(khw);
  const dKw = u.divisor(d.kw);
  const dC = u.divisor(d.C);
  const dWo = u.divisor(d.Wo);
  const [Wo, H, W] = [u.i32(d.Wo), u.i32(d.H), u.i32(d.W)];
  const [sh, sw, ph, pw, dh, dw] = [geom.stride[0], geom.stride[1], geom.padding[0], geom.padding[1], geom.dilation[0], geom.dilation[1]].map((v) => u.i32(v));
  const [sN, sC, sH, sW] = x.strides.map((v) => u.i32(v));
  const off = u.i32(x.offset + n0 * x.strides[0]);
  const L: string[] = [];
  for (let e = 0; e < width; e++) {
    if (e > 0) L.push(`ox = ox + 1; if (ox == ${Wo}) { ox = 0; oy = oy + 1; }`);
    L.push(`{ let iy = oy * ${sh} - ${ph} + ky * ${dh}; let ix = ox * ${sw} - ${pw} + kx * ${dw};
    let ok = iy >= 0 && iy < ${H} && ix >= 0 && ix < ${W};
    v[${e}] = select(0.0, X[select(0, base + iy * ${sH} + ix * ${sW}, ok)], ok); }`);
  }
  const T = width === 4 ? 'vec4<f32>' : 'f32';
  const code = () => `${u.decl()}
${storageDecl(1, 'X', 'f32', true)}
${storageDecl(2, 'Col', T, false)}
${flatMain(WG, nE)}
  ${udiv('i', dPw, 'row', 'pq')}
  ${udiv('row', dKhw, 'ncc', 't')}
  ${udiv('t', dKw, 'kyU', 'kxU')}
  ${udiv('ncc', dC, 'nl', 'cc')}
  ${udiv(`pq * ${width}u`, dWo, 'oyU', 'oxU')}
  let ky = i32(kyU); let kx = i32(kxU); var oy = i32(oyU); var ox = i32(oxU);
  let base = ${off} + i32(nl) * ${sN} + i32(cc) * ${sC};
  var v: array<f32, ${width}>;
  ${L.join('\n  ')}
  Col[i] = ${width === 4 ? 'vec4<f32>(v[0], v[1], v[2], v[3])' : 'v[0]'};
${FLAT_END}`;
  rt.dispatch({ key: `conv:im2col:w${width}`, code, uniforms: u.buffer(), readOnly: 1, workgroups: flatGrid(total, WG, rt.limits.maxComputeWorkgroupsPerDimension) }, [x.storage, col]);
}
