/**
 * CPU rules of conv2d and its two adjoints: each is a sum over EVERY tap of a convolution, where an
 * operand that falls outside its tensor (zero padding, stride gaps) reads an exact 0 that is still
 * multiplied, as in the GEMMs of src/kernels/conv.ts. So 0·∞ and 0·NaN give NaN there.
 *
 *   x [N, C, H, W], w [O, C/groups, kh, kw], y [N, O, Ho, Wo], Cg = C/groups, Og = O/groups,
 *   g = floor(o / Og), c = g*Cg + c', and a tap links (oy, ox) to (iy, ix) through (ky, kx) when
 *     iy = oy*sh - ph + ky*dh,  ix = ox*sw - pw + kx*dw.
 *   conv2d:            y[n, o, oy, ox]  = Σ_{c', ky, kx} x[n, c, iy, ix] * w[o, c', ky, kx]
 *   conv2dWeightGrad:  gw[o, c', ky, kx] = Σ_{n, oy, ox} x[n, c, iy, ix] * gy[n, o, oy, ox]
 *     (both `forEachTap`; x reads 0 outside [0,H)×[0,W): PyTorch's explicit zero padding)
 *   conv2dInputGrad:   gx[n, c, iy, ix] = Σ_{o in g, ky, kx} gy[n, o, oy, ox] * w[o, c', ky, kx]
 *     (`forEachTransposedTap`, the transposed convolution: gy reads 0 where oy = (iy + ph - ky*dh)/sh
 *     is not an integer in [0, Ho), likewise ox. PyTorch instead skips those taps, so at a
 *     non-finite weight it gives ±∞ or a finite value where this gives NaN.)
 *   Ho = floor((H + 2ph - dh(kh-1) - 1)/sh) + 1 (likewise Wo).
 * Sums accumulate in doubles and round once to float32. Sums start at +0 and never become −0, so
 * the 0·w products of finite operands (±0) change nothing: only non-finite ones show.
 */
import type { OutputSpec } from '../../core/backend.js';
import type { Conv2dGeometry } from '../../core/prims.js';
import { numel } from '../../core/shape.js';
import { readStrided } from './strided.js';
import { allocData, type CpuContext, type CpuData, type CpuView } from './types.js';

interface ConvDims {
  N: number; C: number; H: number; W: number;
  O: number; kh: number; kw: number;
  Ho: number; Wo: number;
}

/** Marks a tap operand outside its tensor: it reads 0. */
const OUTSIDE = -1;

/** The value at flat index i, or 0 for OUTSIDE. */
const at = (data: ArrayLike<number>, i: number) => (i === OUTSIDE ? 0 : data[i]);

/** Calls `tap(xIndex, wIndex, yIndex)` for every tap of the output y, in the loop order n, o, oy, ox, c', ky, kx. */
function forEachTap(g: Conv2dGeometry, d: ConvDims, tap: (xi: number, wi: number, yi: number) => void): void {
  const [sh, sw] = g.stride;
  const [ph, pw] = g.padding;
  const [dh, dw] = g.dilation;
  const Cg = d.C / g.groups;
  const Og = d.O / g.groups;
  let yi = 0;
  for (let n = 0; n < d.N; n++) {
    for (let o = 0; o < d.O; o++) {
      const group = Math.floor(o / Og);
      for (let oy = 0; oy < d.Ho; oy++) {
        for (let ox = 0; ox < d.Wo; ox++, yi++) {
          for (let cg = 0; cg < Cg; cg++) {
            const c = group * Cg + cg;
            for (let ky = 0; ky < d.kh; ky++) {
              const iy = oy * sh - ph + ky * dh;
              for (let kx = 0; kx < d.kw; kx++) {
                const ix = ox * sw - pw + kx * dw;
                const inside = iy >= 0 && iy < d.H && ix >= 0 && ix < d.W;
                const xi = inside ? ((n * d.C + c) * d.H + iy) * d.W + ix : OUTSIDE;
                const wi = ((o * Cg + cg) * d.kh + ky) * d.kw + kx;
                tap(xi, wi, yi);
              }
            }
          }
        }
      }
    }
  }
}

/** The output coordinate t/s of a transposed tap, or OUTSIDE when it is not an integer in [0, size). */
function sourceCoord(t: number, s: number, size: number): number {
  const q = t / s;
  return Number.isInteger(q) && q >= 0 && q < size ? q : OUTSIDE;
}

/** Calls `tap(xIndex, wIndex, yIndex)` for every tap of the input x, in the loop order n, c, iy, ix, o, ky, kx. */
function forEachTransposedTap(g: Conv2dGeometry, d: ConvDims, tap: (xi: number, wi: number, yi: number) => void): void {
  const [sh, sw] = g.stride;
  const [ph, pw] = g.padding;
  const [dh, dw] = g.dilation;
  const Cg = d.C / g.groups;
  const Og = d.O / g.groups;
  let xi = 0;
  for (let n = 0; n < d.N; n++) {
    for (let c = 0; c < d.C; c++) {
      const group = Math.floor(c / Cg);
      const cg = c - group * Cg;
      for (let iy = 0; iy < d.H; iy++) {
        for (let ix = 0; ix < d.W; ix++, xi++) {
          for (let o = group * Og; o < (group + 1) * Og; o++) {
            for (let ky = 0; ky < d.kh; ky++) {
              const oy = sourceCoord(iy + ph - ky * dh, sh, d.Ho);
              for (let kx = 0; kx < d.kw; kx++) {
                const ox = sourceCoord(ix + pw - kx * dw, sw, d.Wo);
                const yi = oy !== OUTSIDE && ox !== OUTSIDE ? ((n * d.O + o) * d.Ho + oy) * d.Wo + ox : OUTSIDE;
                const wi = ((o * Cg + cg) * d.kh + ky) * d.kw + kx;
                tap(xi, wi, yi);
              }
            }
          }
        }
      }
    }
  }
}

function rounded(sums: Float64Array, out: OutputSpec, ctx: CpuContext): CpuData {
  const result = allocData(out.dtype, numel(out.shape), ctx);
  result.set(sums);
  return result;
}

export function conv2d([x, w]: CpuView[], g: Conv2dGeometry, out: OutputSpec, ctx: CpuContext): CpuData {
  const [N, C, H, W] = x.shape;
  const [O, , kh, kw] = w.shape;
  const [, , Ho, Wo] = out.shape;
  const xs = readStrided(x);
  const ws = readStrided(w);
  const y = new Float64Array(numel(out.shape));
  forEachTap(g, { N, C, H, W, O, kh, kw, Ho, Wo }, (xi, wi, yi) => { y[yi] += at(xs, xi) * ws[wi]; });
  return rounded(y, out, ctx);
}

export function conv2dInputGrad(
  [gy, w]: CpuView[],
  g: Conv2dGeometry & { inputSize: [number, number] },
  out: OutputSpec,
  ctx: CpuContext,
): CpuData {
  const [N, O, Ho, Wo] = gy.shape;
  const [, , kh, kw] = w.shape;
  const C = out.shape[1];
  const [H, W] = g.inputSize;
  const gys = readStrided(gy);
  const ws = readStrided(w);
  const gx = new Float64Array(numel(out.shape));
  forEachTransposedTap(g, { N, C, H, W, O, kh, kw, Ho, Wo }, (xi, wi, yi) => { gx[xi] += at(gys, yi) * ws[wi]; });
  return rounded(gx, out, ctx);
}

export function conv2dWeightGrad(
  [x, gy]: CpuView[],
  g: Conv2dGeometry & { kernelSize: [number, number] },
  out: OutputSpec,
  ctx: CpuContext,
): CpuData {
  const [N, C, H, W] = x.shape;
  const [, O, Ho, Wo] = gy.shape;
  const [kh, kw] = g.kernelSize;
  const xs = readStrided(x);
  const gys = readStrided(gy);
  const gw = new Float64Array(numel(out.shape));
  forEachTap(g, { N, C, H, W, O, kh, kw, Ho, Wo }, (xi, wi, yi) => { gw[wi] += at(xs, xi) * gys[yi]; });
  return rounded(gw, out, ctx);
}
