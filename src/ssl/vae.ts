/**
 * IDAA's VAE G (Yang et al., ICML 2022; their CVAE with BatchNorm), sized for small images:
 *
 *   encoder  conv 4×4 s2 (C → d/2) → BN → relu → conv 4×4 s2 (d/2 → d) → BN → relu
 *            → `resBlocks` × ResBlock(d) → flatten → μ = linear(·), log σ² = linear(·)   (latent L)
 *   decoder  linear(L → d·(S/4)²) → reshape → `resBlocks` × ResBlock(d) → BN
 *            → convT 4×4 s2 (d → d/2) → BN → leaky relu → convT 4×4 s2 (d/2 → C) → ½(tanh + 1)
 *   ResBlock(x) = x + conv1×1(relu(BN(conv3×3(relu(x)))))        (IDAA's ResBlock with bn=True)
 *
 * Loss: MSE(x, G(z)) + β·KL(q(z|x) ‖ N(0, I)) with z = μ + σ·ε in training and the KL normalized by
 * the number of input elements (losses.gaussianKl's normalizeBy), β = 0.1. Trained first, then
 * frozen: in eval mode the latent is μ and BN uses running statistics.
 *
 * Readings: IDAA's decoder ends in tanh on inputs normalized to [−1, 1]; here inputs are in [0, 1],
 * so the output is ½(tanh(h) + 1), the same map rescaled. `width` d (default 32) and `latent` L
 * (default 64) are smaller than IDAA's CIFAR model; `resBlocks` (default 1; IDAA: 2).
 */
import { WgradError } from '../core/backend.js';
import { fmtShape } from '../core/shape.js';
import { valueAndGrad } from '../autograd/transforms.js';
import { gaussianKl } from '../losses/kl.js';
import { mse } from '../losses/regression.js';
import { normal, split, type Key } from '../random/random.js';
import { add, exp, mul, tanh } from '../tensor/ops/elementwise.js';
import { leakyRelu, relu } from '../tensor/ops/nn.js';
import { reshape } from '../tensor/ops/movement.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import * as batchNorm from '../nn/batch-norm.js';
import type { BatchNormParams, BatchNormState } from '../nn/batch-norm.js';
import * as conv2d from '../nn/conv2d.js';
import * as convT from '../nn/conv-transpose2d.js';
import * as linear from '../nn/linear.js';
import { applyUpdates } from '../optim/transforms.js';
import type { Optimizer } from '../optim/optimizers.js';

export interface VaeConfig {
  inChannels?: number;
  /** Square image side, divisible by 4 (default 28). */
  imageSize?: number;
  /** d (default 32). */
  width?: number;
  /** Latent dimension (default 64). */
  latent?: number;
  /** ResBlocks in the encoder and in the decoder (default 1). */
  resBlocks?: number;
}

type Bn = { params: BatchNormParams; state: BatchNormState };
type ResBlock = { conv3: conv2d.Conv2dParams; bn: BatchNormParams; conv1: conv2d.Conv2dParams };
export type VaeParams = {
  enc: { conv1: conv2d.Conv2dParams; bn1: BatchNormParams; conv2: conv2d.Conv2dParams; bn2: BatchNormParams; res: ResBlock[]; mu: linear.LinearParams; logVar: linear.LinearParams };
  dec: { fc: linear.LinearParams; res: ResBlock[]; bn0: BatchNormParams; convT1: convT.ConvTranspose2dParams; bn1: BatchNormParams; convT2: convT.ConvTranspose2dParams };
};
export type VaeState = {
  enc: { bn1: BatchNormState; bn2: BatchNormState; res: BatchNormState[] };
  dec: { res: BatchNormState[]; bn0: BatchNormState; bn1: BatchNormState };
};

export function resolveVaeConfig(c: VaeConfig = {}): Required<VaeConfig> {
  const r = { inChannels: c.inChannels ?? 1, imageSize: c.imageSize ?? 28, width: c.width ?? 32, latent: c.latent ?? 64, resBlocks: c.resBlocks ?? 1 };
  if (r.imageSize % 4 !== 0 || r.width % 2 !== 0) throw new WgradError('ssl.vae', `need an image size divisible by 4 and an even width, got ${r.imageSize} and ${r.width}`);
  return r;
}

export function init(key: Key, config: VaeConfig = {}): { params: VaeParams; state: VaeState } {
  const { inChannels: c, imageSize, width: d, latent, resBlocks } = resolveVaeConfig(config);
  const keys = split(key, 8 + 4 * resBlocks);
  let k = 0;
  const conv = (cin: number, cout: number, kernel: number, bias = false) => conv2d.init(keys[k++], { inChannels: cin, outChannels: cout, kernel, bias });
  const bn = (channels: number): Bn => batchNorm.init<never>({ channels });
  const res = () => {
    const b = bn(d);
    return { p: { conv3: conv(d, d, 3, true), bn: b.params, conv1: conv(d, d, 1, true) }, s: b.state };
  };
  const flat = d * (imageSize / 4) ** 2;
  const e1 = bn(d / 2), e2 = bn(d), d0 = bn(d), d1 = bn(d / 2);
  const encRes = Array.from({ length: resBlocks }, res), decRes = Array.from({ length: resBlocks }, res);
  const params: VaeParams = {
    enc: {
      conv1: conv(c, d / 2, 4), bn1: e1.params, conv2: conv(d / 2, d, 4), bn2: e2.params, res: encRes.map((r) => r.p),
      mu: linear.init(keys[k++], { inFeatures: flat, outFeatures: latent }), logVar: linear.init(keys[k++], { inFeatures: flat, outFeatures: latent }),
    },
    dec: {
      fc: linear.init(keys[k++], { inFeatures: latent, outFeatures: flat }), res: decRes.map((r) => r.p), bn0: d0.params,
      convT1: convT.init(keys[k++], { inChannels: d, outChannels: d / 2, kernel: 4, bias: false }), bn1: d1.params,
      convT2: convT.init(keys[k++], { inChannels: d / 2, outChannels: c, kernel: 4 }),
    },
  };
  const state: VaeState = { enc: { bn1: e1.state, bn2: e2.state, res: encRes.map((r) => r.s) }, dec: { res: decRes.map((r) => r.s), bn0: d0.state, bn1: d1.state } };
  return { params, state };
}

type Mode = { training: boolean };

function resBlock(p: ResBlock, s: BatchNormState, x: Tensor, mode: Mode): [Tensor, BatchNormState] {
  const [h, next] = batchNorm.apply(p.bn, s, conv2d.apply(p.conv3, relu(x), { padding: 1 }), mode);
  return [add(x, conv2d.apply(p.conv1, relu(h))), next];
}

/** x [N, C, S, S] → [{ mu, logVar } [N, latent], new encoder BN state]. */
export function encode(params: VaeParams, state: VaeState, x: Tensor, mode: Mode): [{ mu: Tensor; logVar: Tensor }, VaeState['enc']] {
  if (x.rank !== 4) throw new WgradError('ssl.vae', `expected images [N, C, H, W], got ${fmtShape(x.shape)}`);
  return tidy((): [{ mu: Tensor; logVar: Tensor }, VaeState['enc']] => {
    const p = params.enc, s = state.enc;
    const [h1, b1] = batchNorm.apply(p.bn1, s.bn1, conv2d.apply(p.conv1, x, { stride: 2, padding: 1 }), mode);
    const [h2, b2] = batchNorm.apply(p.bn2, s.bn2, conv2d.apply(p.conv2, relu(h1), { stride: 2, padding: 1 }), mode);
    let h = relu(h2);
    const res = p.res.map((r, i) => {
      const [y, st] = resBlock(r, s.res[i], h, mode);
      h = y;
      return st;
    });
    const flat = reshape(h, [x.shape[0], -1]);
    return [{ mu: linear.apply(p.mu, flat), logVar: linear.apply(p.logVar, flat) }, { bn1: b1, bn2: b2, res }];
  });
}

/** z [N, latent] → [images [N, C, S, S] in [0, 1], new decoder BN state]. */
export function decode(params: VaeParams, state: VaeState, z: Tensor, mode: Mode): [Tensor, VaeState['dec']] {
  return tidy((): [Tensor, VaeState['dec']] => {
    const p = params.dec, s = state.dec;
    const d = p.convT1.w.shape[0];
    const side = Math.round(Math.sqrt(p.fc.w.shape[1] / d));
    let h = reshape(linear.apply(p.fc, z), [z.shape[0], d, side, side]);
    const res = p.res.map((r, i) => {
      const [y, st] = resBlock(r, s.res[i], h, mode);
      h = y;
      return st;
    });
    const [h0, b0] = batchNorm.apply(p.bn0, s.bn0, h, mode);
    const [h1, b1] = batchNorm.apply(p.bn1, s.bn1, convT.apply(p.convT1, h0, { stride: 2, padding: 1 }), mode);
    const out = convT.apply(p.convT2, leakyRelu(h1), { stride: 2, padding: 1 });
    return [mul(add(tanh(out), 1), 0.5), { res, bn0: b0, bn1: b1 }];
  });
}

export const VAE_DEFAULTS = { beta: 0.1 };

/**
 * MSE(x, G(z)) + β·KL/(N·C·H·W) with z = μ + σ·ε (ε from `key`) in training mode, z = μ otherwise.
 * Returns [loss, { state, mse, kl }].
 */
export function vaeLoss(params: VaeParams, state: VaeState, x: Tensor, key: Key, opts: { beta?: number; training?: boolean } = {}): [Tensor, { state: VaeState; mse: Tensor; kl: Tensor }] {
  const { beta = VAE_DEFAULTS.beta, training = true } = opts;
  return tidy((): [Tensor, { state: VaeState; mse: Tensor; kl: Tensor }] => {
    const [{ mu, logVar }, enc] = encode(params, state, x, { training });
    const z = training ? add(mu, mul(exp(mul(logVar, 0.5)), normal(key, mu.shape))) : mu;
    const [recon, dec] = decode(params, state, z, { training });
    const rec = mse(recon, x);
    const kl = gaussianKl(mu, logVar, { normalizeBy: x.size });
    return [add(rec, mul(kl, beta)), { state: { enc, dec }, mse: rec, kl }];
  });
}

/** One optimizer step on the VAE loss. Returns new params, BN state and optimizer state. */
export function vaeStep(params: VaeParams, state: { model: VaeState; opt: unknown }, x: Tensor, key: Key, opts: { optimizer: Optimizer; beta?: number }) {
  return tidy(() => {
    const [[loss, aux], grads] = valueAndGrad((p: VaeParams) => vaeLoss(p, state.model, x, key, { beta: opts.beta }), { hasAux: true })(params);
    const [updates, opt] = opts.optimizer.update(grads as never, state.opt as never, params as never);
    return { params: applyUpdates(params, updates as VaeParams), state: { model: aux.state, opt }, loss, parts: { mse: aux.mse, kl: aux.kl } };
  });
}

/** The frozen VAE as the latent attack needs it: x → μ(x) and z → G(z), both in eval mode. */
export function frozen(params: VaeParams, state: VaeState): { encode: (x: Tensor) => Tensor; decode: (z: Tensor) => Tensor } {
  const evalMode = { training: false };
  return {
    encode: (x) => tidy(() => encode(params, state, x, evalMode)[0].mu),
    decode: (z) => tidy(() => decode(params, state, z, evalMode)[0]),
  };
}
