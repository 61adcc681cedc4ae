/** Contractions: batched matmul with broadcast batch dims, and 2-D convolutions (NCHW). */
import { WgradError } from '../../core/backend.js';
import type { Conv2dGeometry } from '../../core/prims.js';
import { broadcastShapes, convOutSize, fmtShape, fmtValue } from '../../core/shape.js';
import { runPrim } from '../engine.js';
import { checkTensor, type Tensor } from '../tensor.js';
import { reshape } from './movement.js';

function checkFloat(op: string, ...xs: Tensor[]): void {
  for (const x of xs) {
    checkTensor(op, x);
    if (x.dtype !== 'float32') throw new WgradError(op, `expected float32 inputs, got ${xs.map((t) => `${t.dtype} ${fmtShape(t.shape)}`).join(' and ')}`);
  }
}

/**
 * Matrix product with NumPy semantics: 1-D operands are promoted (and the added axis removed), and
 * batch dims broadcast: [..., M, K] @ [..., K, N] → [..., M, N].
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  checkFloat('matmul', a, b);
  if (a.rank === 0 || b.rank === 0) throw new WgradError('matmul', `operands must be at least 1-D, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  const a2 = a.rank === 1 ? reshape(a, [1, a.shape[0]]) : a;
  const b2 = b.rank === 1 ? reshape(b, [b.shape[0], 1]) : b;
  const [m, k] = a2.shape.slice(-2);
  const [k2, n] = b2.shape.slice(-2);
  if (k !== k2) {
    throw new WgradError('matmul', `inner dimensions differ: ${fmtShape(a.shape)} @ ${fmtShape(b.shape)} (${k} vs ${k2})`);
  }
  const batch = broadcastShapes('matmul', a2.shape.slice(0, -2), b2.shape.slice(0, -2));
  const out = runPrim('matmul', [a2, b2], {}, [...batch, m, n], 'float32');
  if (a2 !== a) a2.dispose();
  if (b2 !== b) b2.dispose();
  if (a.rank > 1 && b.rank > 1) return out;
  const shape = [...batch, ...(a.rank > 1 ? [m] : []), ...(b.rank > 1 ? [n] : [])];
  const squeezed = reshape(out, shape);
  out.dispose();
  return squeezed;
}

/** Options of `conv2d`: stride, padding, dilation and groups. */
export interface Conv2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  groups?: number;
}

/** An option as a pair (a number means both axes); anything but a number or a 2-array is NaN (rejected below). */
const pair = (v: unknown, d: number): [number, number] =>
  v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : Array.isArray(v) && v.length === 2 ? [v[0], v[1]] : [NaN, NaN];

export function geometry(opts: Conv2dOptions, op = 'conv2d'): Conv2dGeometry {
  if (typeof opts !== 'object' || opts === null) throw new WgradError(op, `expected an options object, got ${fmtValue(opts)}`);
  const g: Conv2dGeometry = { stride: pair(opts.stride, 1), padding: pair(opts.padding, 0), dilation: pair(opts.dilation, 1), groups: opts.groups ?? 1 };
  const int = (v: unknown, min: number) => typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
  const bad = [...g.stride, ...g.dilation].some((v) => !int(v, 1)) || g.padding.some((v) => !int(v, 0)) || !int(g.groups, 1);
  if (bad) throw new WgradError(op, `invalid options { ${Object.entries(opts).map(([k, v]) => `${k}: ${fmtValue(v)}`).join(', ')} }: stride/dilation ≥ 1, padding ≥ 0, groups ≥ 1 (integers, or pairs of integers)`);
  return g;
}

/** 2-D convolution (cross-correlation, as in PyTorch): x [N, C, H, W], w [O, C/groups, kh, kw] → [N, O, Ho, Wo]. */
export function conv2d(x: Tensor, w: Tensor, opts: Conv2dOptions = {}): Tensor {
  checkFloat('conv2d', x, w);
  const g = geometry(opts);
  if (x.rank !== 4 || w.rank !== 4) throw new WgradError('conv2d', `expected x [N, C, H, W] and w [O, C/groups, kh, kw], got ${fmtShape(x.shape)} and ${fmtShape(w.shape)}`);
  const [n, c, h, wd] = x.shape;
  const [o, cg, kh, kw] = w.shape;
  if (c % g.groups !== 0 || o % g.groups !== 0 || cg !== c / g.groups) {
    throw new WgradError('conv2d', `x ${fmtShape(x.shape)} and w ${fmtShape(w.shape)} do not match with groups=${g.groups}: expected C divisible by groups, O divisible by groups, w.shape[1] = C/groups`);
  }
  const ho = convOutSize(h, kh, g.stride[0], g.padding[0], g.dilation[0]);
  const wo = convOutSize(wd, kw, g.stride[1], g.padding[1], g.dilation[1]);
  if (ho <= 0 || wo <= 0) throw new WgradError('conv2d', `kernel ${kh}×${kw} (dilation ${g.dilation}) does not fit input ${h}×${wd} with padding ${g.padding}`);
  return runPrim('conv2d', [x, w], g, [n, o, ho, wo], 'float32');
}

/**
 * Transposed convolution (PyTorch's conv_transpose2d): x [N, Cin, H, W], w [Cin, Cout/groups, kh, kw]
 * → [N, Cout, Ho, Wo] with Ho = (H − 1)·stride − 2·padding + dilation·(kh − 1) + outputPadding + 1.
 * It is the adjoint of conv2d in its input, which is how it is computed.
 */
export function convTranspose2d(x: Tensor, w: Tensor, opts: Conv2dOptions & { outputPadding?: number | [number, number] } = {}): Tensor {
  checkFloat('convTranspose2d', x, w);
  const g = geometry(opts, 'convTranspose2d');
  const op = pair(opts.outputPadding, 0);
  if (x.rank !== 4 || w.rank !== 4 || x.shape[1] !== w.shape[0] || w.shape[0] % g.groups !== 0) {
    throw new WgradError('convTranspose2d', `expected x [N, Cin, H, W] and w [Cin, Cout/groups, kh, kw] with Cin divisible by groups=${g.groups}, got ${fmtShape(x.shape)} and ${fmtShape(w.shape)}`);
  }
  if (op.some((p, i) => !Number.isSafeInteger(p) || p < 0 || p >= Math.max(g.stride[i], g.dilation[i]))) {
    throw new WgradError('convTranspose2d', `outputPadding ${op} must be smaller than stride or dilation`);
  }
  const [n, , h, wd] = x.shape;
  const [cin, cog, kh, kw] = w.shape;
  const size = (i: 0 | 1, inSize: number, k: number) => (inSize - 1) * g.stride[i] - 2 * g.padding[i] + g.dilation[i] * (k - 1) + op[i] + 1;
  const ho = size(0, h, kh), wo = size(1, wd, kw);
  if (ho <= 0 || wo <= 0) throw new WgradError('convTranspose2d', `output size ${ho}×${wo} is not positive`);
  // As conv2d's input-gradient: conv2d maps [N, Cout, Ho, Wo] → [N, Cin, H, W] with weight [Cin, Cout/groups, kh, kw].
  if (convOutSize(ho, kh, g.stride[0], g.padding[0], g.dilation[0]) !== h || convOutSize(wo, kw, g.stride[1], g.padding[1], g.dilation[1]) !== wd) {
    throw new WgradError('convTranspose2d', `inconsistent geometry for input ${fmtShape(x.shape)}`);
  }
  return runPrim('conv2dInputGrad', [x, w], { ...g, inputSize: [ho, wo] }, [n, cog * g.groups, ho, wo], 'float32');
}

