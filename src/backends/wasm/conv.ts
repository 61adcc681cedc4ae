/**
 * conv2d on the Wasm GEMM through explicit im2col: per image n and group g,
 *   y[n, g·Og:(g+1)·Og, :] = W_g [Og, Cg·kh·kw] · col [Cg·kh·kw, Ho·Wo],
 *   col[(c'·kh + ky)·kw + kx, oy·Wo + ox] = x[n, g·Cg + c', iy, ix]   (0 outside the image),
 * with iy = oy·sh − ph + ky·dh, ix = ox·sw − pw + kx·dw, as in the CPU reference (cpu/conv.ts): a
 * tap outside the image reads an exact 0 that is still multiplied, so 0·∞ gives NaN there too.
 * conv2dWeightGrad is one GEMM per group over all images at once, K = N·Ho·Wo:
 *   gw_g [Og, Cg·kh·kw] = gy_g [Og, N·Ho·Wo] · colᵀ [N·Ho·Wo, Cg·kh·kw],
 * with gy's first two axes swapped into a [O, N·Ho·Wo] copy and the images' im2col side by side.
 * conv2dInputGrad is a GEMM into columns, then a col2im scatter (Wasm `scatter_add`), per chunk
 * of images and group, J = Cg·kh·kw taps j = (c', ky, kx):
 *   col_g [J, n·Ho·Wo] = w_gᵀ [J, Og] · gy_g [Og, n·Ho·Wo],
 *   gx[n, g·Cg + c', iy, ix] += col_g[j, (n, oy, ox)] for every tap that lands inside the image.
 * The reference also multiplies a 0 into each weight for every tap of gx that reaches no output
 * (oy not an integer in [0, Ho), likewise ox): that adds +0 for finite weights and NaN where a
 * column of weights holds ±∞ or NaN, which `poisonUnreached` applies (gx never holds −0: its sums
 * start at +0).
 */
import type { OutputSpec } from '../../core/backend.js';
import type { Conv2dGeometry } from '../../core/prims.js';
import { readStrided } from '../cpu/strided.js';
import type { CpuData, CpuView } from '../cpu/types.js';
import type { Arena } from './arena.js';
import { GemmPlan } from './gemm.js';
import type { WasmKernels } from './kernels.js';

/** Most column elements (G·J·n·Ho·Wo floats) per chunk of images in conv2dInputGrad. */
const COLUMN_BUDGET = 4 * 2 ** 20;

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
  arena.reset();
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
  const gyT = channelsFirst(readStrided(gy), O, P, 0, N);
  arena.reset();
  const plan = new GemmPlan(k, arena, 'conv2dWeightGrad', Og, N * P, taps, g.groups);
  const col = new Float32Array(taps * N * P); // [taps, N·P]
  for (let gi = 0; gi < g.groups; gi++) {
    for (let n = 0; n < N; n++) im2col(col, s, n, gi * Cg, Cg, N * P, n * P);
    plan.run(gi, { data: gyT, base: gi * Og * N * P, rs: N * P, cs: 1 }, { data: col, base: 0, rs: 1, cs: N * P });
  }
  return plan.output();
}

/** Images [n0, n0 + n) of y [N, O, P] with the first two axes swapped: [O, n, P]. */
function channelsFirst(y: CpuData, O: number, P: number, n0: number, n: number): Float32Array {
  const t = new Float32Array(O * n * P);
  for (let i = 0; i < n; i++) {
    for (let o = 0; o < O; o++) t.set(y.subarray(((n0 + i) * O + o) * P, ((n0 + i) * O + o + 1) * P), (o * n + i) * P);
  }
  return t;
}

/** Sizes of conv2dInputGrad. */
interface InputGradDims { N: number; C: number; H: number; W: number; O: number; kh: number; kw: number; Ho: number; Wo: number }

/** The range [lo, hi) of output coordinates o (0 ≤ o < size) whose tap at offset t lands inside [0, extent): 0 ≤ o·s + t < extent. */
function insideRange(t: number, s: number, extent: number, size: number): [number, number] {
  const lo = Math.max(0, Math.ceil(-t / s));
  const hi = Math.min(size, Math.floor((extent - 1 - t) / s) + 1);
  return [lo, Math.max(lo, hi)];
}

/** conv2dInputGrad (gy [N, O, Ho, Wo], w [O, C/groups, kh, kw]) → gx [N, C, H, W], as a view of the arena. */
export function wasmConv2dInputGrad(k: WasmKernels, arena: Arena, [gy, w]: CpuView[], g: Conv2dGeometry & { inputSize: [number, number] }, out: OutputSpec): Float32Array {
  const [N, O, Ho, Wo] = gy.shape;
  const [, Cg, kh, kw] = w.shape;
  const [, C, H, W] = out.shape;
  const d: InputGradDims = { N, C, H, W, O, kh, kw, Ho, Wo };
  const [G, Og, J, P] = [g.groups, O / g.groups, Cg * kh * kw, Ho * Wo];
  const gys = readStrided(gy);
  const ws = readStrided(w);
  arena.reset();
  const gx = arena.alloc('conv2dInputGrad', N * C * H * W);
  arena.f32.fill(0, gx / 4, gx / 4 + N * C * H * W);
  const chunk = Math.max(1, Math.floor(COLUMN_BUDGET / Math.max(1, G * J * P)));
  for (let n0 = 0; n0 < N; n0 += chunk) {
    const n = Math.min(chunk, N - n0);
    const mark = arena.mark;
    const gyT = channelsFirst(gys, O, P, n0, n);
    const plan = new GemmPlan(k, arena, 'conv2dInputGrad', J, Og, n * P, G);
    for (let gi = 0; gi < G; gi++) {
      plan.run(gi, { data: ws, base: gi * Og * J, rs: 1, cs: J }, { data: gyT, base: gi * Og * n * P, rs: n * P, cs: 1 });
    }
    const col = plan.output().byteOffset;
    for (let gi = 0; gi < G; gi++) col2im(k, d, g, col + gi * J * n * P * 4, gx + (n0 * C + gi * Cg) * H * W * 4, n, Cg, n * P);
    arena.rewind(mark);
  }
  poisonUnreached(arena.f32.subarray(gx / 4, gx / 4 + N * C * H * W), ws, d, g);
  return arena.f32.subarray(gx / 4, gx / 4 + N * C * H * W);
}

/** Scatters the columns of one group (rows j = (c', ky, kx), `ld` floats apart; image i at i·Ho·Wo)
 *  into gx's Cg channels of `n` images from byte offset `gx`. */
function col2im(k: WasmKernels, d: InputGradDims, g: Conv2dGeometry, col: number, gx: number, n: number, Cg: number, ld: number): void {
  const [sh, sw] = g.stride;
  const [ph, pw] = g.padding;
  const [dh, dw] = g.dilation;
  for (let c = 0; c < Cg; c++) {
    for (let ky = 0; ky < d.kh; ky++) {
      const ty = ky * dh - ph;
      const [oy0, oy1] = insideRange(ty, sh, d.H, d.Ho);
      for (let kx = 0; kx < d.kw; kx++) {
        const tx = kx * dw - pw;
        const [ox0, ox1] = insideRange(tx, sw, d.W, d.Wo);
        if (oy1 === oy0 || ox1 === ox0) continue;
        const j = (c * d.kh + ky) * d.kw + kx;
        const src = col + 4 * (j * ld + oy0 * d.Wo + ox0);
        const dst = gx + 4 * (c * d.H * d.W + (oy0 * sh + ty) * d.W + ox0 * sw + tx);
        k.scatterAdd(src, dst, n, 4 * d.Ho * d.Wo, 4 * d.C * d.H * d.W, oy1 - oy0, ox1 - ox0, 4 * d.Wo, 4 * sh * d.W, 4 * sw);
      }
    }
  }
}

/** NaN into gx wherever a tap that reaches no output meets a non-finite weight (see the header). */
function poisonUnreached(gx: Float32Array, ws: ArrayLike<number>, d: InputGradDims, g: Conv2dGeometry): void {
  const Cg = d.C / g.groups;
  const Og = d.O / g.groups;
  const J = Cg * d.kh * d.kw;
  const reaches = (i: number, k: number, p: number, dl: number, s: number, size: number) => {
    const t = i + p - k * dl;
    return t >= 0 && t % s === 0 && t / s < size;
  };
  for (let gi = 0; gi < g.groups; gi++) {
    for (let j = 0; j < J; j++) {
      let finite = true;
      for (let o = 0; o < Og && finite; o++) finite = Number.isFinite(ws[(gi * Og + o) * J + j]);
      if (finite) continue;
      const [c, ky, kx] = [gi * Cg + Math.floor(j / (d.kh * d.kw)), Math.floor(j / d.kw) % d.kh, j % d.kw];
      for (let n = 0; n < d.N; n++) {
        for (let iy = 0; iy < d.H; iy++) {
          const yok = reaches(iy, ky, g.padding[0], g.dilation[0], g.stride[0], d.Ho);
          for (let ix = 0; ix < d.W; ix++) {
            if (!yok || !reaches(ix, kx, g.padding[1], g.dilation[1], g.stride[1], d.Wo)) gx[((n * d.C + c) * d.H + iy) * d.W + ix] = NaN;
          }
        }
      }
    }
  }
}
