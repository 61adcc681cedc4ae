/**
 * CPU rules of conv2d and its two adjoints, written as ONE loop nest (`forEachTap`) shared by all
 * three, so the adjoint relations hold by construction:
 *
 *   x [N, C, H, W], w [O, C/groups, kh, kw], y [N, O, Ho, Wo], Cg = C/groups, Og = O/groups.
 *   For every n, o, oy, ox, c' < Cg, ky, kx (in that loop order):
 *     g  = floor(o / Og),  c = g*Cg + c'
 *     iy = oy*sh - ph + ky*dh,  ix = ox*sw - pw + kx*dw   (taps outside [0,H)×[0,W) are skipped:
 *                                                          zero padding)
 *     conv2d:            y[n, o, oy, ox]  += x[n, c, iy, ix] * w[o, c', ky, kx]
 *     conv2dInputGrad:   gx[n, c, iy, ix] += gy[n, o, oy, ox] * w[o, c', ky, kx]
 *     conv2dWeightGrad:  gw[o, c', ky, kx] += x[n, c, iy, ix] * gy[n, o, oy, ox]
 *   Ho = floor((H + 2ph - dh(kh-1) - 1)/sh) + 1 (likewise Wo). Input rows of x that no tap reaches
 *   (when the stride skips them) get a zero gradient.
 * Sums accumulate in doubles and round once to float32.
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

/** Calls `tap(xIndex, wIndex, yIndex)` with flat row-major indices for every contributing tap. */
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
              if (iy < 0 || iy >= d.H) continue;
              for (let kx = 0; kx < d.kw; kx++) {
                const ix = ox * sw - pw + kx * dw;
                if (ix < 0 || ix >= d.W) continue;
                const xi = ((n * d.C + c) * d.H + iy) * d.W + ix;
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
  forEachTap(g, { N, C, H, W, O, kh, kw, Ho, Wo }, (xi, wi, yi) => { y[yi] += xs[xi] * ws[wi]; });
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
  forEachTap(g, { N, C, H, W, O, kh, kw, Ho, Wo }, (xi, wi, yi) => { gx[xi] += gys[yi] * ws[wi]; });
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
  forEachTap(g, { N, C, H, W, O, kh, kw, Ho, Wo }, (xi, wi, yi) => { gw[wi] += xs[xi] * gys[yi]; });
  return rounded(gw, out, ctx);
}
