/**
 * Kernel-level rows: matmul (GFLOP/s), conv2d forward and forward+backward (GFLOP/s), elementwise
 * chains and reductions (GB/s), and many tiny ops in a row (ops/s).
 *
 * Layouts: each library runs in its own native layout (wgrad and jax-js NCHW / OIHW, TF.js NHWC /
 * HWIO); the inputs are the same numbers, converted on the host, and TF.js's results are converted
 * back before the cross-check. jax-js functions take their inputs as arguments and consume them
 * (its `.ref` ownership), so that `jit` can trace them.
 */
import type { RowSpec } from '../harness.js';
import type { TfHandle, WG } from '../gpu.js';
import type { Tensor } from '../../src/node.js';
import type * as TFNS from '@tensorflow/tfjs-core';
import type { Array as JaxArray } from '@jax-js/jax';
import type { JaxModule } from '../peers.js';
import { convGemmRows } from './conv-gemm.js';
import { type Ctx, jaxFn, needJax, needTf, needWg, tfFn, wgFn } from './context.js';
import { hwioToOihw, nchwToNhwc, nhwcToNchw, oihwToHwio, uniform } from './data.js';

// ---------------------------------------------------------------- matmul

function matmulRow(ctx: Ctx, id: string, name: string, b: number, m: number, k: number, n: number, maxRepeats?: number): RowSpec {
  const aData = uniform(b * m * k, 1), bData = uniform(b * k * n, 2);
  const aShape = b > 1 ? [b, m, k] : [m, k], bShape = b > 1 ? [b, k, n] : [k, n];
  return {
    group: 'matmul', id, name,
    shape: `${b > 1 ? `${b}×` : ''}[${m}×${k}]·[${k}×${n}]`,
    metric: 'GFLOP/s', work: 2 * b * m * k * n, tol: 1e-4, maxRepeats, gemm: [b, m, k, n],
    wgrad: async () => {
      const wg = needWg(ctx);
      const A = wg.tensor(aData, { shape: aShape }), B = wg.tensor(bData, { shape: bShape });
      return wgFn(wg, [A, B], () => wg.matmul(A, B));
    },
    tfjs: async () => {
      const h = needTf(ctx);
      const A = h.tf.tensor(aData, aShape), B = h.tf.tensor(bData, bShape);
      return tfFn(h, [A, B], () => h.tf.matMul(A, B));
    },
    jax: async () => {
      const h = needJax(ctx);
      const np = h.jax.numpy;
      return jaxFn(h, [np.array(aData).reshape(aShape), np.array(bData).reshape(bShape)], (a, b) => np.matmul(a, b));
    },
  };
}

export function matmulRows(ctx: Ctx): RowSpec[] {
  const sizes = ctx.quick ? [256, 1024] : [256, 512, 1024, 2048];
  const rows = sizes.map((s) => matmulRow(ctx, `matmul.${s}`, `matmul ${s}²`, 1, s, s, s, s >= 2048 ? 3 : undefined));
  rows.push(ctx.quick
    ? matmulRow(ctx, 'matmul.batched', 'batched matmul', 8, 256, 256, 256)
    : matmulRow(ctx, 'matmul.batched', 'batched matmul', 32, 256, 256, 256));
  rows.push(ctx.quick
    ? matmulRow(ctx, 'matmul.tallk', 'tall-K matmul', 1, 256, 8192, 256)
    : matmulRow(ctx, 'matmul.tallk', 'tall-K matmul', 1, 256, 32768, 256));
  return rows;
}

// ---------------------------------------------------------------- conv2d

interface ConvShape {
  id: string;
  label: string;
  n: number; c: number; h: number; w: number; o: number; k: number; stride: number; pad: number;
}

function convOut(s: ConvShape): [number, number] {
  return [Math.floor((s.h + 2 * s.pad - s.k) / s.stride) + 1, Math.floor((s.w + 2 * s.pad - s.k) / s.stride) + 1];
}

function convRow(ctx: Ctx, s: ConvShape, backward: boolean): RowSpec {
  const [ho, wo] = convOut(s);
  const fwdFlops = 2 * s.n * s.o * ho * wo * s.c * s.k * s.k;
  const x = uniform(s.n * s.c * s.h * s.w, 11), wt = uniform(s.o * s.c * s.k * s.k, 12, -0.2, 0.2);
  const gy = uniform(s.n * s.o * ho * wo, 13);
  const xNhwc = nchwToNhwc(x, s.n, s.c, s.h, s.w), wHwio = oihwToHwio(wt, s.o, s.c, s.k, s.k);
  const gyNhwc = nchwToNhwc(gy, s.n, s.o, ho, wo);
  return {
    group: 'conv', id: `conv.${s.id}.${backward ? 'bwd' : 'fwd'}`,
    name: `conv2d ${backward ? 'fwd+bwd' : 'fwd'} ${s.label}`,
    shape: `${s.n}×${s.c}×${s.h}×${s.w} * ${s.o}×${s.c}×${s.k}×${s.k}${s.stride > 1 ? ` /${s.stride}` : ''}`,
    metric: 'GFLOP/s', work: backward ? 3 * fwdFlops : fwdFlops, tol: 1e-4,
    note: backward ? 'forward + input grad + weight grad (3× forward FLOPs)' : undefined,
    wgrad: async () => {
      const wg = needWg(ctx);
      const X = wg.tensor(x, { shape: [s.n, s.c, s.h, s.w] }), W = wg.tensor(wt, { shape: [s.o, s.c, s.k, s.k] });
      const opts = { stride: s.stride, padding: s.pad };
      if (!backward) return wgFn(wg, [X, W], () => wg.conv2d(X, W, opts));
      const GY = wg.tensor(gy, { shape: [s.n, s.o, ho, wo] });
      return wgFn(wg, [X, W, GY], () => {
        const [y, [gx, gw]] = wg.vjp((a, b) => wg.conv2d(a, b, opts), [X, W], GY);
        y.dispose();
        return [gx, gw];
      });
    },
    tfjs: async () => {
      const h = needTf(ctx);
      const { tf } = h;
      const X = tf.tensor4d(xNhwc, [s.n, s.h, s.w, s.c]), W = tf.tensor4d(wHwio, [s.k, s.k, s.c, s.o]);
      const conv = (a: typeof X, b: typeof W) => tf.conv2d(a, b, s.stride, s.pad);
      if (!backward) return tfFn(h, [X, W], () => conv(X, W), ([y]) => nhwcToNchw(y, s.n, s.o, ho, wo));
      const GY = tf.tensor4d(gyNhwc, [s.n, ho, wo, s.o]);
      const grads = tf.grads((a, b) => conv(a as typeof X, b as typeof W));
      return tfFn(h, [X, W, GY], () => grads([X, W], GY), ([gx, gw]) => {
        const a = nhwcToNchw(gx, s.n, s.c, s.h, s.w), b = hwioToOihw(gw, s.o, s.c, s.k, s.k);
        const out = new Float32Array(a.length + b.length);
        out.set(a);
        out.set(b, a.length);
        return out;
      });
    },
    jax: async () => {
      const h = needJax(ctx);
      const { numpy: np, lax, vjp } = h.jax;
      const X = np.array(x).reshape([s.n, s.c, s.h, s.w]), W = np.array(wt).reshape([s.o, s.c, s.k, s.k]);
      const conv = (a: JaxArray, b: JaxArray) => lax.convGeneralDilated(a, b, [s.stride, s.stride], [[s.pad, s.pad], [s.pad, s.pad]]);
      if (!backward) return jaxFn(h, [X, W], conv);
      return jaxFn(h, [X, W, np.array(gy).reshape([s.n, s.o, ho, wo])], (a, b, g) => {
        const [y, back] = vjp(conv, [a, b]);
        y.dispose();
        const grads = back(g);
        back.dispose();
        return grads;
      });
    },
    cannot: backward ? { 'tfjs-wasm': TFJS_WASM_NO_CONV_GRAD } : undefined,
  };
}

/** TF.js's Wasm backend registers no kernel for the gradient of a convolution's weights. */
export const TFJS_WASM_NO_CONV_GRAD = 'TF.js Wasm has no Conv2DBackpropFilter kernel (the weight gradient of conv2d)';

export function convRows(ctx: Ctx): RowSpec[] {
  const cnnN = ctx.quick ? 64 : 256, resN = ctx.quick ? 32 : 64;
  const shapes: ConvShape[] = [
    { id: 'cnn1', label: 'CNN conv1 1→32', n: cnnN, c: 1, h: 28, w: 28, o: 32, k: 3, stride: 1, pad: 1 },
    { id: 'cnn2', label: 'CNN conv2 32→64', n: cnnN, c: 32, h: 14, w: 14, o: 64, k: 3, stride: 1, pad: 1 },
    { id: 'res16', label: 'ResNet 16→16 @32²', n: resN, c: 16, h: 32, w: 32, o: 16, k: 3, stride: 1, pad: 1 },
    { id: 'res32', label: 'ResNet 32→32 @16²', n: resN, c: 32, h: 16, w: 16, o: 32, k: 3, stride: 1, pad: 1 },
    { id: 'res64', label: 'ResNet 64→64 @8²', n: resN, c: 64, h: 8, w: 8, o: 64, k: 3, stride: 1, pad: 1 },
    { id: 'resdown', label: 'ResNet 16→32 stride 2', n: resN, c: 16, h: 32, w: 32, o: 32, k: 3, stride: 2, pad: 1 },
  ];
  const use = ctx.quick ? shapes.filter((s) => s.id === 'cnn2' || s.id === 'res32') : shapes;
  return [...use.flatMap((s) => [convRow(ctx, s, false), convRow(ctx, s, true)]), ...convGemmRows(ctx)];
}

// ---------------------------------------------------------------- memory-bound: elementwise, reductions

const M = 1 << 20;
const fmtN = (n: number) => (n >= M ? `${n / M}M` : `${n / 1024}K`);

function memRow(ctx: Ctx, kind: 'chain' | 'sum' | 'softmax' | 'layernorm', n: number): RowSpec {
  const x = uniform(n, 21, -2, 2);
  const cols = 1024, rows = n / cols;
  const gamma = uniform(cols, 22, 0.5, 1.5), beta = uniform(cols, 23, -0.5, 0.5);
  const spec = {
    chain: { name: 'elementwise chain', shape: `${fmtN(n)}: tanh(x·1.5 + 0.5)·x`, bytes: 8 * n, tol: 1e-5 },
    sum: { name: 'sum (all)', shape: `${fmtN(n)} → 1`, bytes: 4 * n, tol: 1e-4 },
    softmax: { name: 'softmax (rows)', shape: `${rows}×${cols}`, bytes: 8 * n, tol: 1e-5 },
    layernorm: { name: 'layer norm (rows)', shape: `${rows}×${cols}, affine`, bytes: 8 * n, tol: 1e-4 },
  }[kind];
  return {
    group: 'memory', id: `mem.${kind}.${fmtN(n)}`, name: spec.name, shape: spec.shape,
    metric: 'GB/s', work: spec.bytes, tol: spec.tol,
    note: 'GB/s counts one read of the input and one write of the output',
    wgrad: async () => {
      const wg = needWg(ctx);
      const X = wg.tensor(x, { shape: kind === 'chain' || kind === 'sum' ? [n] : [rows, cols] });
      const G = wg.tensor(gamma), B = wg.tensor(beta);
      const f = {
        chain: () => wg.mul(wg.tanh(wg.add(wg.mul(X, 1.5), 0.5)), X),
        sum: () => wg.sum(X),
        softmax: () => wg.nn.softmax(X, -1),
        layernorm: () => {
          const mu = wg.mean(X, -1, { keepdims: true });
          const v = wg.variance(X, -1, { keepdims: true });
          return wg.add(wg.mul(wg.mul(wg.sub(X, mu), wg.rsqrt(wg.add(v, 1e-5))), G), B);
        },
      }[kind];
      return wgFn(wg, [X, G, B], f);
    },
    tfjs: async () => {
      const h = needTf(ctx);
      const { tf } = h;
      const X = kind === 'chain' || kind === 'sum' ? tf.tensor1d(x) : tf.tensor2d(x, [rows, cols]);
      const G = tf.tensor1d(gamma), B = tf.tensor1d(beta);
      const f = {
        chain: () => tf.mul(tf.tanh(tf.add(tf.mul(X, 1.5), 0.5)), X),
        sum: () => tf.sum(X),
        softmax: () => tf.softmax(X, -1),
        layernorm: () => {
          const { mean, variance } = tf.moments(X, -1, true);
          return tf.add(tf.mul(tf.mul(tf.sub(X, mean), tf.rsqrt(tf.add(variance, 1e-5))), G), B);
        },
      }[kind];
      return tfFn(h, [X, G, B], f);
    },
    jax: async () => {
      const h = needJax(ctx);
      const { numpy: np, nn } = h.jax;
      const X = np.array(x).reshape(kind === 'chain' || kind === 'sum' ? [n] : [rows, cols]);
      const f = {
        chain: (a: JaxArray) => np.tanh(a.ref.mul(1.5).add(0.5)).mul(a),
        sum: (a: JaxArray) => np.sum(a),
        softmax: (a: JaxArray) => nn.softmax(a, -1),
        layernorm: (a: JaxArray, g: JaxArray, b: JaxArray) => {
          const mu = np.mean(a.ref, -1, { keepdims: true });
          const v = np.var_(a.ref, -1, { keepdims: true });
          return a.sub(mu).div(np.sqrt(v.add(1e-5))).mul(g).add(b);
        },
      }[kind];
      if (kind !== 'layernorm') return jaxFn(h, [X], f as (a: JaxArray) => JaxArray);
      return jaxFn(h, [X, np.array(gamma), np.array(beta)], f);
    },
  };
}

export function memoryRows(ctx: Ctx): RowSpec[] {
  const sizes = ctx.quick ? [M, 4 * M] : [M, 16 * M];
  const big = ctx.quick ? 4 * M : 16 * M;
  return [
    ...sizes.map((n) => memRow(ctx, 'chain', n)),
    ...sizes.map((n) => memRow(ctx, 'sum', n)),
    memRow(ctx, 'softmax', big),
    memRow(ctx, 'layernorm', big),
    ...reductionRows(ctx),
  ];
}

/** A memory-bound row from one input [shape] (NCHW on wgrad; TF.js gets NHWC for rank 4). */
interface ReductionSpec {
  id: string;
  name: string;
  shape: number[];
  /** Output elements (for the bytes: input read + output written). */
  outN: number;
  wg: (wg: WG, x: Tensor) => Tensor;
  tf: (tf: TfHandle['tf'], x: TFNS.Tensor) => TFNS.Tensor;
  jax: (jax: JaxModule, x: JaxArray) => JaxArray;
  /** TF.js's output back to wgrad's layout. */
  back?: (y: Float32Array) => Float32Array;
}

function reductionRow(ctx: Ctx, r: ReductionSpec): RowSpec {
  const n = r.shape.reduce((a, b) => a * b, 1);
  const x = uniform(n, 24, -2, 2);
  const nhwc = r.shape.length === 4;
  const [b, c, h, w] = r.shape;
  return {
    group: 'memory', id: r.id, name: r.name, shape: `[${r.shape.join('×')}]`, metric: 'GB/s', work: 4 * (n + r.outN), tol: 1e-4,
    note: 'GB/s counts one read of the input and one write of the output',
    wgrad: async () => {
      const wg = needWg(ctx);
      const X = wg.tensor(x, { shape: r.shape });
      return wgFn(wg, [X], () => r.wg(wg, X));
    },
    tfjs: async () => {
      const h4 = needTf(ctx);
      const X = nhwc ? h4.tf.tensor4d(nchwToNhwc(x, b, c, h, w), [b, h, w, c]) : h4.tf.tensor(x, r.shape);
      return tfFn(h4, [X], () => r.tf(h4.tf, X), r.back ? ([y]) => r.back!(y) : undefined);
    },
    jax: async () => {
      const h = needJax(ctx);
      return jaxFn(h, [h.jax.numpy.array(x).reshape(r.shape)], (a) => r.jax(h.jax, a));
    },
  };
}

/** Axis sums, bias gradients (conv: over N, H, W; linear: over the batch) and 2×2 max pooling. */
function reductionRows(ctx: Ctx): RowSpec[] {
  const side = ctx.quick ? 2048 : 4096, cnnN = ctx.quick ? 64 : 256;
  const [pc, ph] = [32, 28];
  const specs: ReductionSpec[] = [
    { id: 'mem.sum.rows', name: 'sum over the last axis', shape: [side, side], outN: side, wg: (wg, x) => wg.sum(x, 1), tf: (tf, x) => tf.sum(x, 1), jax: (jax, x) => jax.numpy.sum(x, 1) },
    { id: 'mem.sum.cols', name: 'sum over the first axis', shape: [side, side], outN: side, wg: (wg, x) => wg.sum(x, 0), tf: (tf, x) => tf.sum(x, 0), jax: (jax, x) => jax.numpy.sum(x, 0) },
    {
      id: 'mem.biasgrad.conv', name: 'bias gradient, conv (sum over N, H, W)', shape: [cnnN, pc, ph, ph], outN: pc,
      wg: (wg, x) => wg.sum(x, [0, 2, 3]), tf: (tf, x) => tf.sum(x, [0, 1, 2]), jax: (jax, x) => jax.numpy.sum(x, [0, 2, 3]),
    },
    {
      id: 'mem.biasgrad.linear', name: 'bias gradient, linear (sum over the batch)', shape: [ctx.quick ? 2048 : 8192, 512], outN: 512,
      wg: (wg, x) => wg.sum(x, 0), tf: (tf, x) => tf.sum(x, 0), jax: (jax, x) => jax.numpy.sum(x, 0),
    },
    {
      id: 'mem.maxpool', name: 'max pooling 2×2', shape: [cnnN, pc, ph, ph], outN: (cnnN * pc * ph * ph) / 4,
      wg: (wg, x) => wg.nn.maxPool2d(x, { kernel: 2 }),
      tf: (tf, x) => tf.maxPool(x as TFNS.Tensor4D, 2, 2, 'valid'),
      jax: (jax, x) => jax.lax.reduceWindow(x, jax.numpy.max, [2, 2], [2, 2]),
      back: (y) => nhwcToNchw(y, cnnN, pc, ph / 2, ph / 2),
    },
  ];
  return specs.map((r) => reductionRow(ctx, r));
}

// ---------------------------------------------------------------- dispatch overhead

export function dispatchRows(ctx: Ctx): RowSpec[] {
  const ops = ctx.quick ? 300 : 1000;
  const n = 256;
  const x = uniform(n, 31);
  return [{
    group: 'dispatch', id: 'dispatch.tiny', name: 'tiny ops in a row',
    shape: `${ops} × (add | mul) on [${n}]`, metric: 'ops/s', work: ops, tol: 1e-4,
    note: 'TF.js WebGPU with WEBGPU_CPU_FORWARD off for this row, so that its ops run on the GPU too; jax-js under jit fuses the chain into one kernel',
    wgrad: async () => {
      const wg = needWg(ctx);
      const X = wg.tensor(x), A = wg.tensor([1.001]), B = wg.tensor([0.999]);
      return wgFn(wg, [X, A, B], () => {
        let y = X;
        for (let i = 0; i < ops; i++) y = i % 2 ? wg.mul(y, B) : wg.add(y, A);
        return y;
      });
    },
    tfjs: async () => {
      const h = needTf(ctx);
      const { tf } = h;
      // The flag exists only where the WebGPU backend is loaded.
      const webgpu = h.backend === 'webgpu';
      const before = webgpu && tf.env().getBool('WEBGPU_CPU_FORWARD');
      if (webgpu) tf.env().set('WEBGPU_CPU_FORWARD', false);
      const X = tf.tensor1d(x), A = tf.tensor1d([1.001]), B = tf.tensor1d([0.999]);
      return tfFn(h, [X, A, B], () => {
        let y = X;
        for (let i = 0; i < ops; i++) y = i % 2 ? tf.mul(y, B) : tf.add(y, A);
        return y;
      }, undefined, () => webgpu && tf.env().set('WEBGPU_CPU_FORWARD', before));
    },
    jax: async () => {
      const h = needJax(ctx);
      const np = h.jax.numpy;
      return jaxFn(h, [np.array(x), np.array([1.001]), np.array([0.999])], (y, a, b) => {
        for (let i = 0; i < ops; i++) y = i % 2 ? y.mul(b.ref) : y.add(a.ref);
        a.dispose();
        b.dispose();
        return y;
      });
    },
  }];
}
