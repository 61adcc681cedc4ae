/**
 * conv2d on the Wasm GEMM through explicit im2col: per chunk of n images and group g, one GEMM
 *   y_g [Og, n·Ho·Wo] = W_g [Og, Cg·kh·kw] · col [Cg·kh·kw, n·Ho·Wo],
 *   col[(c'·kh + ky)·kw + kx, (i, oy·Wo + ox)] = x[n0 + i, g·Cg + c', iy, ix]   (0 outside the image),
 * then y_g's [Og, n] axes swapped into the output. im2col is one Wasm strided copy per tap (over
 * the images and the tap's inside rows and columns) into zeroed columns;
 * iy = oy·sh − ph + ky·dh, ix = ox·sw − pw + kx·dw, as in the CPU reference (cpu/conv.ts): a
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
import { numel } from '../../core/shape.js';
import { permuteView } from '../cpu/strided.js';
import type { CpuView } from '../cpu/types.js';
import { copyIn } from './elementwise.js';
import type { Arena } from './arena.js';
import { GemmPlan } from './gemm.js';
import type { WasmKernels } from './kernels.js';

/** Most column elements (G·J·n·Ho·Wo floats) per chunk of images in conv2dInputGrad. */
const COLUMN_BUDGET = 4 * 2 ** 20;

/** Sizes of a convolution: x [N, C, H, W], w [O, C/groups, kh, kw], y [N, O, Ho, Wo]. */
interface ConvDims { N: number; C: number; H: number; W: number; O: number; kh: number; kw: number; Ho: number; Wo: number }

/** The range [lo, hi) of output coordinates o (0 ≤ o < size) whose tap at offset t lands inside [0, extent): 0 ≤ o·s + t < extent. */
function insideRange(t: number, s: number, extent: number, size: number): [number, number] {
  const lo = Math.max(0, Math.ceil(-t / s));
  const hi = Math.min(size, Math.floor((extent - 1 - t) / s) + 1);
  return [lo, Math.max(lo, hi)];
}

/** Calls `tap(j, c, src, dst, oy, ox)` for each tap j = (c', ky, kx) of channels [c0, c0 + Cg) whose
 *  inside range is not empty: x's element offset `src` and the Ho·Wo block's offset `dst` of its
 *  first inside output (oy, ox = the inside ranges). */
function forEachTapRange(d: ConvDims, g: Conv2dGeometry, c0: number, Cg: number,
  tap: (j: number, c: number, src: number, dst: number, oy: [number, number], ox: [number, number]) => void): void {
  const [sh, sw] = g.stride;
  const [ph, pw] = g.padding;
  const [dh, dw] = g.dilation;
  for (let c = 0; c < Cg; c++) {
    for (let ky = 0; ky < d.kh; ky++) {
      const ty = ky * dh - ph;
      const oy = insideRange(ty, sh, d.H, d.Ho);
      for (let kx = 0; kx < d.kw; kx++) {
        const tx = kx * dw - pw;
        const ox = insideRange(tx, sw, d.W, d.Wo);
        if (oy[1] === oy[0] || ox[1] === ox[0]) continue;
        const src = (c0 + c) * d.H * d.W + (oy[0] * sh + ty) * d.W + ox[0] * sw + tx;
        tap((c * d.kh + ky) * d.kw + kx, c0 + c, src, oy[0] * d.Wo + ox[0], oy, ox);
      }
    }
  }
}

/**
 * im2col of images [n0, n0 + n) and channels [c0, c0 + Cg) of the dense x at byte offset `x`
 * into `col` (zeroed here): tap row j at col + 4·j·ld, image i's Ho·Wo block at + 4·i·Ho·Wo.
 * One strided copy per tap, over the images and the inside rows and columns.
 */
function im2col(k: WasmKernels, arena: Arena, d: ConvDims, g: Conv2dGeometry, x: number, n0: number, n: number, c0: number, Cg: number, col: number, ld: number): void {
  arena.f32.fill(0, col / 4, col / 4 + Cg * d.kh * d.kw * ld);
  const [sh, sw] = g.stride;
  const img = d.C * d.H * d.W;
  forEachTapRange(d, g, c0, Cg, (j, _c, src, dst, oy, ox) => {
    k.maps.copy(x + 4 * (n0 * img + src), col + 4 * (j * ld + dst), [n, oy[1] - oy[0], ox[1] - ox[0]], [img, sh * d.W, sw], [d.Ho * d.Wo, d.Wo, 1]);
  });
}

/** Images per chunk so that `perImage` column floats each stay within COLUMN_BUDGET (at least 1). */
const chunkOf = (perImage: number) => Math.max(1, Math.floor(COLUMN_BUDGET / Math.max(1, perImage)));

/** `v` copied dense (row-major, its own shape) into the arena; its byte offset. */
function dense(k: WasmKernels, arena: Arena, op: string, v: CpuView): number {
  const at = arena.alloc(op, numel(v.shape));
  copyIn(arena, k.maps.copy, v, v.shape, at);
  return at;
}

/** Images [n0, n0 + n) of y [N, O, Ho, Wo] copied into the arena as [O, n·Ho·Wo]; the byte offset. */
function channelsFirst(k: WasmKernels, arena: Arena, op: string, y: CpuView, n0: number, n: number): number {
  const images = { ...y, shape: [n, ...y.shape.slice(1)], offset: y.offset + n0 * y.strides[0] };
  return dense(k, arena, op, permuteView(images, [1, 0, 2, 3]));
}

/** conv2d (x [N, C, H, W], w [O, C/groups, kh, kw]) → [N, O, Ho, Wo], as a view of the arena:
 *  per chunk of images and group, y_g [Og, n·Ho·Wo] = w_g · col [Cg·kh·kw, n·Ho·Wo]. */
export function wasmConv2d(k: WasmKernels, arena: Arena, [x, w]: CpuView[], g: Conv2dGeometry, out: OutputSpec): Float32Array {
  const [N, C, H, W] = x.shape;
  const [O, Cg, kh, kw] = w.shape;
  const [, , Ho, Wo] = out.shape;
  const d: ConvDims = { N, C, H, W, O, kh, kw, Ho, Wo };
  const [G, Og, taps, P] = [g.groups, O / g.groups, Cg * kh * kw, Ho * Wo];
  arena.reset();
  const y = arena.alloc('conv2d', N * O * P);
  const [xAt, wAt] = [dense(k, arena, 'conv2d', x), dense(k, arena, 'conv2d', w)];
  const chunk = chunkOf(taps * P);
  for (let n0 = 0; n0 < N; n0 += chunk) {
    const n = Math.min(chunk, N - n0);
    const mark = arena.mark;
    const plan = new GemmPlan(k, arena, 'conv2d', Og, taps, n * P, G);
    const col = arena.alloc('conv2d', taps * n * P);
    for (let gi = 0; gi < G; gi++) {
      im2col(k, arena, d, g, xAt, n0, n, gi * Cg, Cg, col, n * P);
      plan.run(gi, { at: wAt + 4 * gi * Og * taps, rs: taps, cs: 1 }, { at: col, rs: n * P, cs: 1 });
    }
    // [G, Og, n, P] → y [n, G·Og, P]
    k.maps.copy(plan.output().byteOffset, y + 4 * n0 * O * P, [G, Og, n, P], [Og * n * P, n * P, P, 1], [Og * P, P, O * P, 1]);
    arena.rewind(mark);
  }
  return arena.f32.subarray(y / 4, y / 4 + N * O * P);
}

/** conv2dWeightGrad (x [N, C, H, W], gy [N, O, Ho, Wo]) → [O, C/groups, kh, kw], as a view of the arena:
 *  per group, gw_g [Og, Cg·kh·kw] = gy_g [Og, N·Ho·Wo] · colᵀ. */
export function wasmConv2dWeightGrad(k: WasmKernels, arena: Arena, [x, gy]: CpuView[], g: Conv2dGeometry, out: OutputSpec): Float32Array {
  const [N, C, H, W] = x.shape;
  const [, O, Ho, Wo] = gy.shape;
  const [, Cg, kh, kw] = out.shape;
  const d: ConvDims = { N, C, H, W, O, kh, kw, Ho, Wo };
  const [Og, taps, P] = [O / g.groups, Cg * kh * kw, Ho * Wo];
  arena.reset();
  const plan = new GemmPlan(k, arena, 'conv2dWeightGrad', Og, N * P, taps, g.groups);
  const xAt = dense(k, arena, 'conv2dWeightGrad', x);
  const gyT = channelsFirst(k, arena, 'conv2dWeightGrad', gy, 0, N);
  const col = arena.alloc('conv2dWeightGrad', taps * N * P); // [taps, N·P]
  for (let gi = 0; gi < g.groups; gi++) {
    im2col(k, arena, d, g, xAt, 0, N, gi * Cg, Cg, col, N * P);
    plan.run(gi, { at: gyT + 4 * gi * Og * N * P, rs: N * P, cs: 1 }, { at: col, rs: 1, cs: N * P });
  }
  return plan.output();
}

/** conv2dInputGrad (gy [N, O, Ho, Wo], w [O, C/groups, kh, kw]) → gx [N, C, H, W], as a view of the arena. */
export function wasmConv2dInputGrad(k: WasmKernels, arena: Arena, [gy, w]: CpuView[], g: Conv2dGeometry & { inputSize: [number, number] }, out: OutputSpec): Float32Array {
  const [N, O, Ho, Wo] = gy.shape;
  const [, Cg, kh, kw] = w.shape;
  const [, C, H, W] = out.shape;
  const d: ConvDims = { N, C, H, W, O, kh, kw, Ho, Wo };
  const [G, Og, J, P] = [g.groups, O / g.groups, Cg * kh * kw, Ho * Wo];
  arena.reset();
  const gx = arena.alloc('conv2dInputGrad', N * C * H * W);
  arena.f32.fill(0, gx / 4, gx / 4 + N * C * H * W);
  const wAt = dense(k, arena, 'conv2dInputGrad', w);
  const chunk = chunkOf(G * J * P);
  for (let n0 = 0; n0 < N; n0 += chunk) {
    const n = Math.min(chunk, N - n0);
    const mark = arena.mark;
    const gyT = channelsFirst(k, arena, 'conv2dInputGrad', gy, n0, n);
    const plan = new GemmPlan(k, arena, 'conv2dInputGrad', J, Og, n * P, G);
    for (let gi = 0; gi < G; gi++) {
      plan.run(gi, { at: wAt + 4 * gi * Og * J, rs: 1, cs: J }, { at: gyT + 4 * gi * Og * n * P, rs: n * P, cs: 1 });
    }
    const col = plan.output().byteOffset;
    for (let gi = 0; gi < G; gi++) col2im(k, d, g, col + gi * J * n * P * 4, gx + (n0 * C + gi * Cg) * H * W * 4, n, Cg, n * P);
    arena.rewind(mark);
  }
  poisonUnreached(arena.f32.subarray(gx / 4, gx / 4 + N * C * H * W), arena.f32.subarray(wAt / 4, wAt / 4 + O * J), d, g);
  return arena.f32.subarray(gx / 4, gx / 4 + N * C * H * W);
}

/** Scatters the columns of one group (rows j = (c', ky, kx), `ld` floats apart; image i at i·Ho·Wo)
 *  into gx's Cg channels of `n` images from byte offset `gx`. */
function col2im(k: WasmKernels, d: ConvDims, g: Conv2dGeometry, col: number, gx: number, n: number, Cg: number, ld: number): void {
  const [sh, sw] = g.stride;
  forEachTapRange(d, g, 0, Cg, (j, _c, dst, src, oy, ox) => {
    k.scatterAdd(col + 4 * (j * ld + src), gx + 4 * dst, n, 4 * d.Ho * d.Wo, 4 * d.C * d.H * d.W, oy[1] - oy[0], ox[1] - ox[0], 4 * d.Wo, 4 * sh * d.W, 4 * sw);
  });
}

/** NaN into gx wherever a tap that reaches no output meets a non-finite weight (see the header). */
function poisonUnreached(gx: Float32Array, ws: ArrayLike<number>, d: ConvDims, g: Conv2dGeometry): void {
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
