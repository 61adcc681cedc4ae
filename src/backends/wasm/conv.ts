/**
 * conv2d on the Wasm GEMM through explicit im2col: per image n and group g,
 *   y[n, g·Og:(g+1)·Og, :] = W_g [Og, Cg·kh·kw] · col [Cg·kh·kw, Ho·Wo],
 *   col[(c'·kh + ky)·kw + kx, oy·Wo + ox] = x[n, g·Cg + c', iy, ix]   (0 outside the image),
 * with iy = oy·sh − ph + ky·dh, ix = ox·sw − pw + kx·dw, as in the CPU reference (cpu/conv.ts): a
 * tap outside the image reads an exact 0 that is still multiplied, so 0·∞ gives NaN there too.
 * conv2dWeightGrad is one GEMM per group over all images at once, K = N·Ho·Wo:
 *   gw_g [Og, Cg·kh·kw] = gy_g [Og, N·Ho·Wo] · colᵀ [N·Ho·Wo, Cg·kh·kw],
 * with gy's first two axes swapped into a [O, N·Ho·Wo] copy and the images' im2col side by side.
 * conv2dInputGrad still runs the CPU reference (it needs a col2im scatter).
 */
import type { OutputSpec } from '../../core/backend.js';
import type { Conv2dGeometry } from '../../core/prims.js';
import { readStrided } from '../cpu/strided.js';
import type { CpuView } from '../cpu/types.js';
import type { Arena } from './arena.js';
import { GemmPlan } from './gemm.js';
import type { WasmKernels } from './kernels.js';

interface Im2col {
  x: ArrayLike<number>; C: number; H: number; W: number;
  kh: number; kw: number; Ho: number; Wo: number;
  g: Conv2dGeometry;
}

/** Fills `col` with the im2col matrix of image n, channels [c0, c0 + Cg): row t (a tap) at
 *  t·rowStride + at, Ho·Wo values each. */
function im2col(col: Float32Array, s: Im2col, n: number, c0: number, Cg: number, rowStride = s.Ho * s.Wo, at = 0): void {
  const [sh, sw] = s.g.stride;
  const [ph, pw] = s.g.padding;
  const [dh, dw] = s.g.dilation;
  let row = at;
  for (let c = c0; c < c0 + Cg; c++) {
    const plane = (n * s.C + c) * s.H * s.W;
    for (let ky = 0; ky < s.kh; ky++) {
      for (let kx = 0; kx < s.kw; kx++, row += rowStride) {
        let o = row;
        for (let oy = 0; oy < s.Ho; oy++) {
          const iy = oy * sh - ph + ky * dh;
          const rowInside = iy >= 0 && iy < s.H;
          for (let ox = 0; ox < s.Wo; ox++) {
            const ix = ox * sw - pw + kx * dw;
            col[o++] = rowInside && ix >= 0 && ix < s.W ? s.x[plane + iy * s.W + ix] : 0;
          }
        }
      }
    }
  }
}

/** conv2d (x [N, C, H, W], w [O, C/groups, kh, kw]) → [N, O, Ho, Wo], as a view of the arena. */
export function wasmConv2d(k: WasmKernels, arena: Arena, [x, w]: CpuView[], g: Conv2dGeometry, out: OutputSpec): Float32Array {
  const [N, C, H, W] = x.shape;
  const [O, Cg, kh, kw] = w.shape;
  const [, , Ho, Wo] = out.shape;
  const Og = O / g.groups;
  const taps = Cg * kh * kw;
  const s: Im2col = { x: readStrided(x), C, H, W, kh, kw, Ho, Wo, g };
  const ws = readStrided(w);
  const plan = new GemmPlan(k, arena, 'conv2d', Og, taps, Ho * Wo, N * g.groups);
  const col = new Float32Array(taps * Ho * Wo);
  for (let n = 0; n < N; n++) {
    for (let gi = 0; gi < g.groups; gi++) {
      im2col(col, s, n, gi * Cg, Cg);
      plan.run(n * g.groups + gi, { data: ws, base: gi * Og * taps, rs: taps, cs: 1 }, { data: col, base: 0, rs: Ho * Wo, cs: 1 });
    }
  }
  return plan.output();
}

/** conv2dWeightGrad (x [N, C, H, W], gy [N, O, Ho, Wo]) → [O, C/groups, kh, kw], as a view of the arena. */
export function wasmConv2dWeightGrad(k: WasmKernels, arena: Arena, [x, gy]: CpuView[], g: Conv2dGeometry, out: OutputSpec): Float32Array {
  const [N, C, H, W] = x.shape;
  const [, O, Ho, Wo] = gy.shape;
  const [, Cg, kh, kw] = out.shape;
  const Og = O / g.groups;
  const taps = Cg * kh * kw;
  const P = Ho * Wo;
  const s: Im2col = { x: readStrided(x), C, H, W, kh, kw, Ho, Wo, g };
  const gys = readStrided(gy);
  const gyT = new Float32Array(O * N * P); // [O, N, P]
  for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) gyT.set(gys.subarray((n * O + o) * P, (n * O + o + 1) * P), (o * N + n) * P);
  const plan = new GemmPlan(k, arena, 'conv2dWeightGrad', Og, N * P, taps, g.groups);
  const col = new Float32Array(taps * N * P); // [taps, N·P]
  for (let gi = 0; gi < g.groups; gi++) {
    for (let n = 0; n < N; n++) im2col(col, s, n, gi * Cg, Cg, N * P, n * P);
    plan.run(gi, { data: gyT, base: gi * Og * N * P, rs: N * P, cs: 1 }, { data: col, base: 0, rs: 1, cs: N * P });
  }
  return plan.output();
}
