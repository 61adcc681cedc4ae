/**
 * conv2d and its two adjoints (NCHW; stride, symmetric zero padding, dilation, groups) on the GEMM
 * engine of gemm.ts (runGemm; 'sg' on lavapipe, 'tiled' elsewhere), mostly as implicit GEMMs: the
 * operand loaders below compute im2col-style indices as the GEMM loads its operand units, so no
 * column matrix is materialized. Index divisions by the (uniform) geometry use wgsl.ts `udiv`
 * (multiply-high): llvmpipe has no vector integer division.
 *
 * Notation: x [N, C, H, W], w [O, Cg, kh, kw], y / gy [N, O, Ho, Wo], Cg = C/G, Og = O/G, P = Ho·Wo,
 * Q = H·W, J = Cg·kh·kw. Exact semantics (the CPU reference in src/backends/cpu/conv.ts):
 *   iy = oy·sh − ph + ky·dh, ix = ox·sw − pw + kx·dw; taps outside [0,H)×[0,W) read zero.
 *
 *   conv2d       per (n, g):  Y[o, p]  = Σ_k  W[o, k] · Xcol[k, p],   k = (c, ky, kx) ∈ J
 *                A = w (strided; batch stride over g), B = implicit im2col of x
 *                (1×1, stride 1, no padding: B is x itself, a plain strided matrix). With a long
 *                reduction and several GEMM row blocks of output channels, Xcol is materialized
 *                instead (conv-im2col.ts).
 *   inputGrad    normally conv-col2im.ts: a GEMM of w with gy into a column buffer, then a gather
 *                in which each input pixel sums its taps. When one image's columns exceed the
 *                budget, the implicit transposed-conv GEMM below, per (n, g):
 *                dX[c, q] = Σ_k Wt[c, k] · Gcol[k, q], k = (o, ky, kx) ∈ Og·kh·kw; A = w permuted
 *                to [G, Cg, Og·kh·kw] (one small copy), B = the gather of
 *                gy[n, o, (y+ph−ky·dh)/sh, (x+pw−kx·dw)/sw] when divisible and in range.
 *   weightGrad   per g:       dW[o, j] = Σ_k  GY[o, k] · Xcol[j, k],  k = (n, oy, ox) ∈ N·P,
 *                j = (c, ky, kx); A = gy read as [Og, N·P], B = im2col of x transposed. K is long and
 *                the output small, so the GEMM's split-K path spreads K over many workgroups. With
 *                few columns J (one input channel: J = kh·kw) the 8-lane tiles would be mostly
 *                padding, so dWᵀ[j, o] is computed instead (A = im2col along K, B = gy) and copied
 *                transposed (copy.ts).
 * All outputs come out contiguous in the prim's layout directly: [N, G, Og, P] = [N, O, Ho, Wo],
 * [N, G, Cg, Q] = [N, C, H, W] and [G, Og, J] = [O, Cg, kh, kw] (bar the transposed dW).
 */
import type { OutputSpec } from '../core/backend.js';
import { WgradError } from '../core/backend.js';
import type { Conv2dGeometry, PrimParams } from '../core/prims.js';
import { fmtShape, numel } from '../core/shape.js';
import { runInputGradColumns, useColumnPath } from './conv-col2im.js';
import { runConv2dColumns, useIm2col } from './conv-im2col.js';
import { contiguousCopy, runCopy } from './copy.js';
import { gemmTileUse, runGemm, stridedLoader, type Loader, type LoaderCode, type UnitCtx } from './gemm.js';
import type { GpuRuntime, GpuStorage, GpuView } from './runtime.js';
import { coalesce, udiv, type Divisor, type Uniforms } from './wgsl.js';

interface Dims {
  N: number; C: number; H: number; W: number; O: number; kh: number; kw: number; Ho: number; Wo: number;
  G: number; Cg: number; Og: number;
}

function dims(op: string, x: readonly number[], w: readonly number[], y: readonly number[], g: Conv2dGeometry): Dims {
  const [N, C, H, W] = x;
  const [O, Cgw, kh, kw] = w;
  const [, , Ho, Wo] = y;
  const G = g.groups;
  if (x.length !== 4 || w.length !== 4 || y.length !== 4 || C % G !== 0 || O % G !== 0 || Cgw !== C / G) {
    throw new WgradError(op, `inconsistent shapes x ${fmtShape(x)}, w ${fmtShape(w)}, y ${fmtShape(y)} for groups ${G}`);
  }
  return { N, C, H, W, O, kh, kw, Ho, Wo, G, Cg: C / G, Og: O / G };
}

/** Pushes the conv geometry uniforms shared by the implicit loaders. */
function geomUniforms(u: Uniforms, d: Dims, g: Conv2dGeometry) {
  return {
    H: u.i32(d.H), W: u.i32(d.W), Ho: u.i32(d.Ho), Wo: u.i32(d.Wo),
    kh: u.i32(d.kh), kw: u.i32(d.kw),
    sh: u.i32(g.stride[0]), sw: u.i32(g.stride[1]), ph: u.i32(g.padding[0]), pw: u.i32(g.padding[1]),
    dh: u.i32(g.dilation[0]), dw: u.i32(g.dilation[1]),
    P: u.i32(d.Ho * d.Wo),
    dW: u.divisor(d.W), dWo: u.divisor(d.Wo), dKw: u.divisor(d.kw), dKhw: u.divisor(d.kh * d.kw),
    dSh: u.divisor(g.stride[0]), dSw: u.divisor(g.stride[1]), dP: u.divisor(d.Ho * d.Wo),
  };
}

/**
 * `q = a / d; r = a − q·d` as i32 (declared `let` or `var`) for an i32 expression `a`, through
 * wgsl.ts `udiv` (multiply-high: lavapipe has no vector integer division). A negative `a` gives
 * garbage, so callers test the sign themselves (the transposed-conv taps do).
 */
function divmod(a: string, dv: Divisor, q: string, r: string, qDecl = 'let', rDecl = qDecl): string {
  return `${udiv(`u32(${a})`, dv, `${q}Q`, `${q}R`)} ${qDecl} ${q} = i32(${q}Q); ${rDecl} ${r} = i32(${q}R);`;
}

/** `let q = a / d` as i32 (see `divmod`). */
function div(a: string, dv: Divisor, q: string): string {
  return `${udiv(`u32(${a})`, dv, `${q}Q`)} let ${q} = i32(${q}Q);`;
}

/** Odometer carry: when `inner` reached `limit` (flag `w`), wrap it to 0 and advance `outer`. */
function carry(inner: string, outer: string, limit: string, w: string): string {
  return `let ${w} = ${inner} == ${limit}; ${inner} = select(${inner}, 0, ${w}); ${outer} = select(${outer}, ${outer} + 1, ${w});`;
}

/** Ends a unit: its 4 elements v0..v3 become `val`. */
function endUnit(L: string[]): string {
  L.push('let val = vec4<f32>(v0, v1, v2, v3);');
  return L.join('\n      ');
}

/** One element of an implicit gather: its coordinates, in-range tests and address. */
interface GatherElement {
  coords: string;
  bounds: string[];
  addr: string;
}

/**
 * Unit code of the implicit gathers (4 consecutive outer coordinates from `first`): `head` sets up
 * the indices, then per element e `advance(e)` (e > 0) steps the coordinates along the unit and
 * `element(e)` gives its coordinates, tests and address. Elements failing a test read 0; checked
 * units also zero elements outside the matrix (k ≥ K or first + e ≥ O).
 */
function gatherUnit(c: UnitCtx, head: string[], first: string, advance: (e: number) => string[], element: (e: number) => GatherElement): string {
  const L = [...head];
  for (let e = 0; e < 4; e++) {
    if (e > 0) L.push(...advance(e));
    const { coords, bounds, addr } = element(e);
    L.push(coords);
    const inMatrix = c.along === 'o' ? [`${c.k} < ${c.K}`, `u32(${first} + ${e}) < ${c.O}`] : [`${c.o} < ${c.O}`, `u32(${first} + ${e}) < ${c.K}`];
    const tests = c.checked ? [...inMatrix, ...bounds] : bounds;
    L.push(`let ok${e} = ${tests.join(' && ')};`);
    L.push(`let v${e} = select(0.0, ${c.X}[select(0, ${addr}, ok${e})], ok${e});`);
  }
  return endUnit(L);
}

/**
 * Uniforms of an NCHW view read per group of `perGroup` channels: its offset, batch strides and
 * axis strides. The batch base covers (n = i1, g = i2) when `batchN`, else g = i2 only (n is then
 * part of K and its stride `sN` is used by the unit).
 */
function viewUniforms(u: Uniforms, v: GpuView, perGroup: number, batchN: boolean) {
  const [sN, sC, sH, sW] = v.strides;
  const off = u.i32(v.offset);
  const bN = batchN ? u.i32(sN) : '';
  const bG = u.i32(sC * perGroup);
  const n = batchN ? '' : u.i32(sN);
  return {
    base: batchN ? `${off} + i32(i1) * ${bN} + i32(i2) * ${bG}` : `${off} + i32(i2) * ${bG}`,
    n, c: u.i32(sC), h: u.i32(sH), w: u.i32(sW),
  };
}

/** An implicit (computed-index) operand: an f32 binding read as units along the outer axis. */
function implicitLoader(key: string, storage: GpuStorage, setup: (u: Uniforms) => LoaderCode): Loader {
  return { key, vec: false, k4: false, storage, setup };
}

/**
 * B operand of conv2d: Xcol[k = (c, ky, kx), p = (oy, ox)] for batch (n = i1, g = i2); the unit is
 * 4 consecutive p at one k.
 */
function im2colLoader(x: GpuView, d: Dims, g: Conv2dGeometry): Loader {
  return implicitLoader('im2col', x.storage, (u) => {
    const q = geomUniforms(u, d, g);
    const s = viewUniforms(u, x, d.Cg, true);
    return {
      base: s.base,
      unit: (c) => gatherUnit(c, [
        `let kk = i32(${c.k}); ${divmod('kk', q.dKhw, 'c', 'r')}`,
        `${div('r', q.dKw, 'ky')} let iyB = ky * ${q.dh} - ${q.ph}; let ixB = (r - ky * ${q.kw}) * ${q.dw} - ${q.pw};`,
        `let cOff = ${c.base} + c * ${s.c};`,
        `let p0 = i32(${c.o}); ${divmod('p0', q.dWo, 'oy', 'ox', 'var')}`,
      ], 'p0', (e) => [`ox = ox + 1; ${carry('ox', 'oy', q.Wo, `w${e}`)}`], (e) => ({
        coords: `let iy${e} = oy * ${q.sh} + iyB; let ix${e} = ox * ${q.sw} + ixB;`,
        bounds: [`iy${e} >= 0`, `iy${e} < ${q.H}`, `ix${e} >= 0`, `ix${e} < ${q.W}`],
        addr: `cOff + iy${e} * ${s.h} + ix${e} * ${s.w}`,
      })),
    };
  });
}

/**
 * B operand of conv2dInputGrad: Gcol[k = (o, ky, kx), q = (iy, ix)] = gy[n, g·Og + o, oy, ox] with
 * oy = (iy + ph − ky·dh)/sh, ox = (ix + pw − kx·dw)/sw when exact and in range; 4 consecutive q.
 */
function col2imLoader(gy: GpuView, d: Dims, g: Conv2dGeometry): Loader {
  return implicitLoader('convT', gy.storage, (u) => {
    const q = geomUniforms(u, d, g);
    const s = viewUniforms(u, gy, d.Og, true);
    return {
      base: s.base,
      unit: (c) => gatherUnit(c, [
        `let kk = i32(${c.k}); ${divmod('kk', q.dKhw, 'oc', 'r')}`,
        `${div('r', q.dKw, 'ky')} let tyB = ${q.ph} - ky * ${q.dh}; let txB = ${q.pw} - (r - ky * ${q.kw}) * ${q.dw};`,
        `let cOff = ${c.base} + oc * ${s.c};`,
        `let q0 = i32(${c.o}); ${divmod('q0', q.dW, 'iy', 'ix', 'var')}`,
      ], 'q0', (e) => [`ix = ix + 1; ${carry('ix', 'iy', q.W, `w${e}`)}`], (e) => ({
        coords: `let ty${e} = iy + tyB; let tx${e} = ix + txB; ${div(`ty${e}`, q.dSh, `oy${e}`)} ${div(`tx${e}`, q.dSw, `ox${e}`)}`,
        bounds: [`ty${e} >= 0`, `tx${e} >= 0`, `oy${e} * ${q.sh} == ty${e}`, `ox${e} * ${q.sw} == tx${e}`, `oy${e} < ${q.Ho}`, `ox${e} < ${q.Wo}`],
        addr: `cOff + oy${e} * ${s.h} + ox${e} * ${s.w}`,
      })),
    };
  });
}

/** A operand of conv2dWeightGrad: GY[o, k = (n, oy, ox)] = gy[n, g·Og + o, oy, ox]; 4 consecutive o. */
function gyRowsLoader(gy: GpuView, d: Dims): Loader {
  // With (oy, ox) mergeable (gy contiguous over them) a pixel index needs no split into oy, ox.
  const px = coalesce([d.Ho, d.Wo], [gy.strides.slice(2)]);
  const merged = px.shape.length <= 1;
  return implicitLoader(merged ? 'gyrowsP' : 'gyrows', gy.storage, (u) => {
    const P = u.divisor(d.Ho * d.Wo);
    const Wo = u.divisor(d.Wo);
    const [Hoi, Woi] = [u.i32(d.Ho), u.i32(d.Wo)];
    const sP = u.i32(px.shape.length === 1 ? px.strides[0][0] : 0);
    const s = viewUniforms(u, gy, d.Og, false);
    /** `let <a> = <off> + address of pixel p` (p, or py / px when not merged). */
    const pixel = (p: string, a: string, off: string) => merged
      ? `let ${a} = ${off} + ${p} * ${sP};`
      : `${divmod(p, Wo, `${a}y`, `${a}x`)} let ${a} = ${off} + ${a}y * ${s.h} + ${a}x * ${s.w};`;
    return {
      base: s.base,
      unit: ({ X, base, o, k, O, K, checked, along }) => {
        const lines: string[] = [];
        if (along === 'k') {
          // 4 consecutive k = (n, oy, ox) at one o: one division, then an odometer.
          lines.push(`let oOff = ${base} + i32(${o}) * ${s.c};`);
          lines.push(`let k0 = i32(${k}); ${divmod('k0', P, 'nn', 'p0', 'var', 'let')} ${divmod('p0', Wo, 'py', 'px', 'var')}`);
          for (let e = 0; e < 4; e++) {
            if (e > 0) lines.push(`px = px + 1; ${carry('px', 'py', Woi, `wx${e}`)} ${carry('py', 'nn', Hoi, `wy${e}`)}`);
            lines.push(`let a${e} = oOff + nn * ${s.n} + py * ${s.h} + px * ${s.w};`);
            if (checked) {
              lines.push(`let in${e} = ${o} < ${O} && ${k} + ${e}u < ${K};`);
              lines.push(`let v${e} = select(0.0, ${X}[select(0, a${e}, in${e})], in${e});`);
            } else {
              lines.push(`let v${e} = ${X}[a${e}];`);
            }
          }
          return endUnit(lines);
        }
        lines.push(`let kk = i32(${k}); ${divmod('kk', P, 'nn', 'p')} ${pixel('p', 'pa', `${base} + nn * ${s.n}`)}`);
        lines.push(`let kOff = pa + i32(${o}) * ${s.c};`);
        if (!checked) {
          for (let e = 0; e < 4; e++) lines.push(`let v${e} = ${X}[kOff + ${e} * ${s.c}];`);
        } else {
          lines.push(`let kin = ${k} < ${K};`);
          for (let e = 0; e < 4; e++) {
            lines.push(`let in${e} = kin && ${o} + ${e}u < ${O};`);
            lines.push(`let v${e} = select(0.0, ${X}[select(0, kOff + ${e} * ${s.c}, in${e})], in${e});`);
          }
        }
        return endUnit(lines);
      },
    };
  });
}

/**
 * Xcol[k = (n, oy, ox), j = (c, ky, kx)] of conv2dWeightGrad, the outer axis j: 4 consecutive j
 * at one k (the B operand), or 4 consecutive k at one j (the A operand of the transposed GEMM).
 */
function im2colTLoader(x: GpuView, d: Dims, g: Conv2dGeometry): Loader {
  return implicitLoader('im2colT', x.storage, (u) => {
    const q = geomUniforms(u, d, g);
    const s = viewUniforms(u, x, d.Cg, false);
    return {
      base: s.base,
      unit: (c) => c.along === 'k' ? gatherUnit(c, [
        `let j0 = i32(${c.o}); ${divmod('j0', q.dKhw, 'c', 'r')} ${divmod('r', q.dKw, 'ky', 'kx')}`,
        `let cOff = ${c.base} + c * ${s.c}; let yB = ky * ${q.dh} - ${q.ph}; let xB = kx * ${q.dw} - ${q.pw};`,
        `let k0 = i32(${c.k}); ${divmod('k0', q.dP, 'nn', 'p', 'var', 'let')} ${divmod('p', q.dWo, 'oy', 'ox', 'var')}`,
      ], 'k0', (e) => [
        `ox = ox + 1; ${carry('ox', 'oy', q.Wo, `wx${e}`)}`,
        carry('oy', 'nn', q.Ho, `wy${e}`),
      ], (e) => ({
        coords: `let iy${e} = oy * ${q.sh} + yB; let ix${e} = ox * ${q.sw} + xB;`,
        bounds: [`iy${e} >= 0`, `iy${e} < ${q.H}`, `ix${e} >= 0`, `ix${e} < ${q.W}`],
        addr: `cOff + nn * ${s.n} + iy${e} * ${s.h} + ix${e} * ${s.w}`,
      })) : gatherUnit(c, [
        `let kk = i32(${c.k}); ${divmod('kk', q.dP, 'nn', 'p')}`,
        `${divmod('p', q.dWo, 'pyy', 'pxx')} let yB = pyy * ${q.sh} - ${q.ph}; let xB = pxx * ${q.sw} - ${q.pw};`,
        `let nOff = ${c.base} + nn * ${s.n};`,
        `let j0 = i32(${c.o}); ${divmod('j0', q.dKhw, 'c', 'r', 'var', 'let')} ${divmod('r', q.dKw, 'ky', 'kx', 'var')}`,
      ], 'j0', (e) => [
        `kx = kx + 1; ${carry('kx', 'ky', q.kw, `wx${e}`)}`,
        carry('ky', 'c', q.kh, `wy${e}`),
      ], (e) => ({
        coords: `let iy${e} = yB + ky * ${q.dh}; let ix${e} = xB + kx * ${q.dw};`,
        bounds: [`iy${e} >= 0`, `iy${e} < ${q.H}`, `ix${e} >= 0`, `ix${e} < ${q.W}`],
        addr: `nOff + c * ${s.c} + iy${e} * ${s.h} + ix${e} * ${s.w}`,
      })),
    };
  });
}

/** w as the strided A operand [G, Og, Cg·kh·kw] when its (c, ky, kx) axes merge into one, else null. */
function weightRows(w: GpuView, d: Dims): Loader | null {
  const [s0, s1, s2, s3] = w.strides;
  const m = coalesce([d.Cg, d.kh, d.kw], [[s1, s2, s3]]);
  if (m.shape.length > 1) return null;
  const sK = m.shape.length === 1 ? m.strides[0][0] : 0;
  return stridedLoader(w.storage, w.offset, [0, 0, s0 * d.Og], d.Og === 1 ? 1 : s0, sK, d.Og, d.Cg * d.kh * d.kw);
}

export function runConv2d(rt: GpuRuntime, x: GpuView, w: GpuView, params: PrimParams['conv2d'], out: OutputSpec): GpuStorage {
  const d = dims('conv2d', x.shape, w.shape, out.shape, params);
  const result = rt.alloc(numel(out.shape));
  if (numel(out.shape) === 0) return result;
  const K = d.Cg * d.kh * d.kw;
  let wTemp: GpuView | null = null;
  let a = weightRows(w, d);
  if (!a) {
    wTemp = contiguousCopy(rt, w);
    a = weightRows(wTemp, d)!;
  }
  const [sh, sw] = params.stride;
  const [ph, pw] = params.padding;
  const pointwise = d.kh === 1 && d.kw === 1 && sh === 1 && sw === 1 && ph === 0 && pw === 0 && d.H === d.Ho && d.W === d.Wo;
  const [sN, sC, sH, sW] = x.strides;
  let b: Loader;
  if (pointwise && (d.H === 1 || sH === d.W * sW)) {
    // 1×1 convolution: x[n, g·Cg + c, p] is already the B matrix [Cg, P].
    const P = d.H * d.W;
    b = stridedLoader(x.storage, x.offset, [0, sN, sC * d.Cg], P === 1 ? 1 : sW, d.Cg === 1 ? 0 : sC, P, d.Cg);
  } else if (useIm2col(rt, d)) {
    runConv2dColumns(rt, x, a, d, params, result);
    if (wTemp) rt.release(wTemp.storage);
    return result;
  } else {
    b = im2colLoader(x, d, params);
  }
  runGemm(rt, { M: d.Og, N: d.Ho * d.Wo, K, batch: [d.N, d.G], a, b, out: result });
  if (wTemp) rt.release(wTemp.storage);
  return result;
}

export function runConv2dInputGrad(rt: GpuRuntime, gy: GpuView, w: GpuView, params: PrimParams['conv2dInputGrad'], out: OutputSpec): GpuStorage {
  const d = dims('conv2dInputGrad', out.shape, w.shape, gy.shape, params);
  const result = rt.alloc(numel(out.shape));
  if (numel(out.shape) === 0) return result;
  if (useColumnPath(d)) {
    runInputGradColumns(rt, gy, w, d, params, result);
    return result;
  }
  const K = d.Og * d.kh * d.kw;
  // Wt[g, c, (o, ky, kx)] = w[g·Og + o, c, ky, kx]: a permuted contiguous copy (w is small).
  const [s0, s1, s2, s3] = w.strides;
  const wPerm: GpuView = {
    storage: w.storage, dtype: w.dtype, offset: w.offset,
    shape: [d.G, d.Cg, d.Og, d.kh, d.kw],
    strides: [s0 * d.Og, s1, s0, s2, s3],
  };
  const wt = contiguousCopy(rt, wPerm);
  const a = stridedLoader(wt.storage, 0, [0, 0, d.Cg * K], K, 1, d.Cg, K);
  const b = col2imLoader(gy, d, params);
  runGemm(rt, { M: d.Cg, N: d.H * d.W, K, batch: [d.N, d.G], a, b, out: result });
  rt.release(wt.storage);
  return result;
}

export function runConv2dWeightGrad(rt: GpuRuntime, x: GpuView, gy: GpuView, params: PrimParams['conv2dWeightGrad'], out: OutputSpec): GpuStorage {
  const d = dims('conv2dWeightGrad', x.shape, out.shape, gy.shape, params);
  const result = rt.alloc(numel(out.shape));
  if (numel(out.shape) === 0) return result;
  const K = d.N * d.Ho * d.Wo;
  const J = d.Cg * d.kh * d.kw;
  if (!transposeWeightGrad(rt, d.Og, J)) {
    runGemm(rt, { M: d.Og, N: J, K, batch: [d.G], a: gyRowsLoader(gy, d), b: im2colTLoader(x, d, params), out: result });
    return result;
  }
  // Few columns (J = Cg·kh·kw, e.g. 9 with one input channel): dWᵀ [G, J, Og] fills the tiles far
  // better; a small strided copy then transposes it into [G, Og, J].
  const t = rt.alloc(d.G * J * d.Og);
  runGemm(rt, { M: J, N: d.Og, K, batch: [d.G], a: im2colTLoader(x, d, params), b: gyRowsLoader(gy, d), out: t });
  const tView: GpuView = { storage: t, dtype: 'float32', shape: [d.G, d.Og, J], strides: [J * d.Og, 1, d.Og], offset: 0 };
  runCopy(rt, tView, result, [d.Og * J, J, 1], 0, 'float32');
  rt.release(t);
  return result;
}

/** Whether dW should be computed transposed: the GEMM tiles cover [J, Og] much better than [Og, J]. */
function transposeWeightGrad(rt: GpuRuntime, Og: number, J: number): boolean {
  return gemmTileUse(rt, J, Og) > 1.25 * gemmTileUse(rt, Og, J);
}
