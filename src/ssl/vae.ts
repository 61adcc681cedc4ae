/**
 * IDAA's VAE G (Yang et al., ICML 2022), after the official `CVAE_cifar_withbn` (vae.py) and its
 * training script (train_vae.py); docs/methods.md, "IDAA VAE". For images x [N, C, S, S] in [0, 1]:
 *
 *   input    x̂ = (x − m)/s per channel, with the training images' mean m and standard deviation s
 *            (IDAA normalizes its inputs with the data set's statistics; kept in the VAE's state)
 *   encoder  conv 4×4 s2 (C → d/2) → BN → relu → conv 4×4 s2 (d/2 → d) → BN → relu
 *            → ResBlock(d), with a BN between consecutive blocks (`resBlocks`, IDAA: 2)
 *            → flatten → μ = linear(·), log σ² = linear(·)                          (latent L)
 *   decoder  linear(L → d·(S/4)²) → reshape → (ResBlock(d) → BN) × resBlocks
 *            → convT 4×4 s2 (d → d/2) → BN → leaky relu → convT 4×4 s2 (d/2 → C) → tanh → BN(C)
 *   output   G(z) = Ĝ(z)·s + m: the decoder works in normalized units, G in pixel units
 *   ResBlock(x) = x + conv1×1(leaky(BN(conv3×3(leaky(x)))))     (IDAA's ResBlock with bn=True)
 * Convolutions followed by a BN have no bias; the ResBlock convolutions and the linear layers do;
 * leaky relu has slope 0.01 and BN momentum 0.1, eps 1e-5 (PyTorch's defaults, as IDAA uses them).
 *
 * Loss (train_vae.py): MSE(x̂, Ĝ(z)) in normalized units + β·KL(q(z|x) ‖ N(0, I)) / (N·C·L), β = 0.1,
 * with z = μ + σ·ε in training mode. `klNormalization: 'input'` divides by N·C·H·W instead (this
 * module's earlier reading). In eval mode the latent is μ and BN uses its running statistics.
 *
 * Checked against a float64 PyTorch transcription of vae.py and train_vae.py (value and gradients,
 * test/ssl-fidelity.test.ts). Differences that remain: the sizes for 28×28 single-channel images
 * (d = 32, L = 64; IDAA's CIFAR model d = 128, L = 512 in its README) and the side S any multiple
 * of 4 (IDAA: 32); the normalization kept inside the VAE, so that encode and decode take and return
 * pixels in [0, 1] (IDAA normalizes its data before the VAE and the encoder alike). Its training
 * (trainVae) and that recipe's differences: ./vae-train.ts.
 */
import { WgradError } from '../core/backend.js';
import { fmtShape } from '../core/shape.js';
import { valueAndGrad } from '../autograd/transforms.js';
import { gaussianKl } from '../losses/kl.js';
import { mse } from '../losses/regression.js';
import { normal, split, type Key } from '../random/random.js';
import { add, div, exp, mul, sub, tanh } from '../tensor/ops/elementwise.js';
import { tensor } from '../tensor/ops/creation.js';
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

/** The version of the VAE's layers (1: before IDAA's official architecture), raised when they change: cached VAEs of another version are trained again. */
export const VAE_ARCHITECTURE = 2;

/** IDAA's VAE: input channels and size, width, latent size, residual blocks, input normalization. */
export interface VaeConfig {
  inChannels?: number;
  /** Square image side, divisible by 4 (default 28). */
  imageSize?: number;
  /** d (default 32; IDAA's CIFAR model: 128). */
  width?: number;
  /** Latent dimension L (default 64; IDAA: 512 in its README, 128 in its code's default). */
  latent?: number;
  /** ResBlocks in the encoder and in the decoder (default 2, IDAA's). */
  resBlocks?: number;
  /** Per-channel mean m of the inputs (default 0.5 for each channel; trainVae sets the data's). */
  mean?: readonly number[];
  /** Per-channel standard deviation s of the inputs (default 0.5 for each channel; trainVae sets the data's). */
  std?: readonly number[];
}

type ResBlock = { conv3: conv2d.Conv2dParams; bn: BatchNormParams; conv1: conv2d.Conv2dParams };
/** The VAE's encoder and decoder parameters. */
export type VaeParams = {
  enc: { conv1: conv2d.Conv2dParams; bn1: BatchNormParams; conv2: conv2d.Conv2dParams; bn2: BatchNormParams; res: ResBlock[]; between: BatchNormParams[]; mu: linear.LinearParams; logVar: linear.LinearParams };
  dec: { fc: linear.LinearParams; res: ResBlock[]; after: BatchNormParams[]; convT1: convT.ConvTranspose2dParams; bn1: BatchNormParams; convT2: convT.ConvTranspose2dParams; out: BatchNormParams };
};
/** The VAE's input normalization and BN running statistics. */
export type VaeState = {
  /** The input normalization (plain numbers: constants, saved with the state). */
  input: { mean: number[]; std: number[] };
  enc: { bn1: BatchNormState; bn2: BatchNormState; res: BatchNormState[]; between: BatchNormState[] };
  dec: { res: BatchNormState[]; after: BatchNormState[]; bn1: BatchNormState; out: BatchNormState };
};

/** `c` with every default filled in (a WgradError on an invalid value). */
export function resolveVaeConfig(c: VaeConfig = {}): Required<VaeConfig> {
  const inChannels = c.inChannels ?? 1;
  const r = {
    inChannels, imageSize: c.imageSize ?? 28, width: c.width ?? 32, latent: c.latent ?? 64, resBlocks: c.resBlocks ?? 2,
    mean: c.mean ?? Array<number>(inChannels).fill(0.5), std: c.std ?? Array<number>(inChannels).fill(0.5),
  };
  if (r.imageSize % 4 !== 0 || r.width % 2 !== 0) throw new WgradError('ssl.vae', `need an image size divisible by 4 and an even width, got ${r.imageSize} and ${r.width}`);
  if (!(Number.isInteger(r.resBlocks) && r.resBlocks >= 1)) throw new WgradError('ssl.vae', `resBlocks must be an integer ≥ 1, got ${r.resBlocks}`);
  if (r.mean.length !== inChannels || r.std.length !== inChannels || !r.mean.every(Number.isFinite) || !r.std.every((v) => v > 0 && Number.isFinite(v))) {
    throw new WgradError('ssl.vae', `mean and std need ${inChannels} finite values (std > 0), one per channel, got mean ${JSON.stringify(r.mean)} and std ${JSON.stringify(r.std)}`);
  }
  return r;
}

/** New VAE parameters and state for `config`. */
export function init(key: Key, config: VaeConfig = {}): { params: VaeParams; state: VaeState } {
  const { inChannels: c, imageSize, width: d, latent, resBlocks, mean, std } = resolveVaeConfig(config);
  const keys = split(key, 7 + 2 * 2 * resBlocks);
  let k = 0;
  const conv = (cin: number, cout: number, kernel: number, bias = false) => conv2d.init(keys[k++], { inChannels: cin, outChannels: cout, kernel, bias });
  const bn = (channels: number) => batchNorm.init<never>({ channels });
  const bns = (n: number) => Array.from({ length: n }, () => bn(d));
  const res = () => {
    const b = bn(d);
    return { p: { conv3: conv(d, d, 3, true), bn: b.params, conv1: conv(d, d, 1, true) }, s: b.state };
  };
  const flat = d * (imageSize / 4) ** 2;
  const e1 = bn(d / 2), e2 = bn(d), d1 = bn(d / 2), out = bn(c);
  const encRes = Array.from({ length: resBlocks }, res), decRes = Array.from({ length: resBlocks }, res);
  const between = bns(resBlocks - 1), after = bns(resBlocks);
  const params: VaeParams = {
    enc: {
      conv1: conv(c, d / 2, 4), bn1: e1.params, conv2: conv(d / 2, d, 4), bn2: e2.params, res: encRes.map((r) => r.p), between: between.map((b) => b.params),
      mu: linear.init(keys[k++], { inFeatures: flat, outFeatures: latent }), logVar: linear.init(keys[k++], { inFeatures: flat, outFeatures: latent }),
    },
    dec: {
      fc: linear.init(keys[k++], { inFeatures: latent, outFeatures: flat }), res: decRes.map((r) => r.p), after: after.map((b) => b.params),
      convT1: convT.init(keys[k++], { inChannels: d, outChannels: d / 2, kernel: 4, bias: false }), bn1: d1.params,
      convT2: convT.init(keys[k++], { inChannels: d / 2, outChannels: c, kernel: 4, bias: false }), out: out.params,
    },
  };
  const state: VaeState = {
    input: { mean: [...mean], std: [...std] },
    enc: { bn1: e1.state, bn2: e2.state, res: encRes.map((r) => r.s), between: between.map((b) => b.state) },
    dec: { res: decRes.map((r) => r.s), after: after.map((b) => b.state), bn1: d1.state, out: out.state },
  };
  return { params, state };
}

type Mode = { training: boolean };

function resBlock(p: ResBlock, s: BatchNormState, x: Tensor, mode: Mode): [Tensor, BatchNormState] {
  const [h, next] = batchNorm.apply(p.bn, s, conv2d.apply(p.conv3, leakyRelu(x), { padding: 1 }), mode);
  return [add(x, conv2d.apply(p.conv1, leakyRelu(h))), next];
}

/** The input statistics as [1, C, 1, 1] tensors. */
function channelStats(input: VaeState['input']): { m: Tensor; s: Tensor } {
  const shape = [1, input.mean.length, 1, 1];
  return { m: tensor(input.mean, { shape }), s: tensor(input.std, { shape }) };
}

/** Pixels → normalized units x̂ = (x − m)/s. */
function normalizeInput(input: VaeState['input'], x: Tensor): Tensor {
  return tidy(() => {
    const { m, s } = channelStats(input);
    return div(sub(x, m), s);
  });
}

/** x̂ [N, C, S, S] in normalized units → [{ mu, logVar } [N, latent], new encoder BN state]. */
function encodeNormalized(params: VaeParams, state: VaeState, xn: Tensor, mode: Mode): [{ mu: Tensor; logVar: Tensor }, VaeState['enc']] {
  return tidy((): [{ mu: Tensor; logVar: Tensor }, VaeState['enc']] => {
    const p = params.enc, s = state.enc;
    const [h1, b1] = batchNorm.apply(p.bn1, s.bn1, conv2d.apply(p.conv1, xn, { stride: 2, padding: 1 }), mode);
    const [h2, b2] = batchNorm.apply(p.bn2, s.bn2, conv2d.apply(p.conv2, relu(h1), { stride: 2, padding: 1 }), mode);
    let h = relu(h2);
    const res: BatchNormState[] = [], between: BatchNormState[] = [];
    p.res.forEach((r, i) => {
      if (i > 0) {
        const [y, st] = batchNorm.apply(p.between[i - 1], s.between[i - 1], h, mode);
        h = y;
        between.push(st);
      }
      const [y, st] = resBlock(r, s.res[i], h, mode);
      h = y;
      res.push(st);
    });
    const flat = reshape(h, [xn.shape[0], -1]);
    return [{ mu: linear.apply(p.mu, flat), logVar: linear.apply(p.logVar, flat) }, { bn1: b1, bn2: b2, res, between }];
  });
}

/** x [N, C, S, S] in pixel units → [{ mu, logVar } [N, latent], new encoder BN state]. */
export function encode(params: VaeParams, state: VaeState, x: Tensor, mode: Mode): [{ mu: Tensor; logVar: Tensor }, VaeState['enc']] {
  if (x.rank !== 4) throw new WgradError('ssl.vae', `expected images [N, C, H, W], got ${fmtShape(x.shape)}`);
  return tidy(() => encodeNormalized(params, state, normalizeInput(state.input, x), mode));
}

/** z [N, latent] → [Ĝ(z) [N, C, S, S] in normalized units, new decoder BN state]. */
function decodeNormalized(params: VaeParams, state: VaeState, z: Tensor, mode: Mode): [Tensor, VaeState['dec']] {
  return tidy((): [Tensor, VaeState['dec']] => {
    const p = params.dec, s = state.dec;
    const d = p.convT1.w.shape[0];
    const side = Math.round(Math.sqrt(p.fc.w.shape[1] / d));
    let h = reshape(linear.apply(p.fc, z), [z.shape[0], d, side, side]);
    const res: BatchNormState[] = [], after: BatchNormState[] = [];
    p.res.forEach((r, i) => {
      const [y, st] = resBlock(r, s.res[i], h, mode);
      const [y2, st2] = batchNorm.apply(p.after[i], s.after[i], y, mode);
      h = y2;
      res.push(st);
      after.push(st2);
    });
    const [h1, b1] = batchNorm.apply(p.bn1, s.bn1, convT.apply(p.convT1, h, { stride: 2, padding: 1 }), mode);
    const [out, bOut] = batchNorm.apply(p.out, s.out, tanh(convT.apply(p.convT2, leakyRelu(h1), { stride: 2, padding: 1 })), mode);
    return [out, { res, after, bn1: b1, out: bOut }];
  });
}

/** z [N, latent] → [G(z) [N, C, S, S] in pixel units, new decoder BN state]. */
export function decode(params: VaeParams, state: VaeState, z: Tensor, mode: Mode): [Tensor, VaeState['dec']] {
  return tidy((): [Tensor, VaeState['dec']] => {
    const [out, dec] = decodeNormalized(params, state, z, mode);
    const { m, s } = channelStats(state.input);
    return [add(mul(out, s), m), dec];
  });
}

/** What the VAE loss's KL term is divided by: N·C·L ('latent') or N·C·H·W ('input'). */
export type KlNormalization = 'latent' | 'input';

/** The loss's defaults (IDAA's train_vae.py): β = 0.1, KL over N·C·L. */
export const VAE_DEFAULTS = { beta: 0.1, klNormalization: 'latent' as KlNormalization };

/** Options of the VAE loss: β, the KL normalization, and training or evaluation mode. */
export interface VaeLossOptions {
  /** β, the KL weight (default 0.1). */
  beta?: number;
  /** The KL's divisor: N·C·L ('latent', IDAA's code, default) or N·C·H·W ('input'). */
  klNormalization?: KlNormalization;
  /** Training mode: z = μ + σ·ε (from `key`) and BN on batch statistics (default true). */
  training?: boolean;
}

/**
 * MSE(x̂, Ĝ(z)) + β·KL/(N·C·L) (or /(N·C·H·W)) on images x in pixel units.
 * Returns [loss, { state, mse, kl }] (mse in normalized units).
 */
export function vaeLoss(params: VaeParams, state: VaeState, x: Tensor, key: Key, opts: VaeLossOptions = {}): [Tensor, { state: VaeState; mse: Tensor; kl: Tensor }] {
  const { beta = VAE_DEFAULTS.beta, klNormalization = VAE_DEFAULTS.klNormalization, training = true } = opts;
  if (klNormalization !== 'latent' && klNormalization !== 'input') throw new WgradError('ssl.vaeLoss', `klNormalization must be 'latent' or 'input', got ${JSON.stringify(klNormalization)}`);
  if (x.rank !== 4) throw new WgradError('ssl.vaeLoss', `expected images [N, C, H, W], got ${fmtShape(x.shape)}`);
  return tidy((): [Tensor, { state: VaeState; mse: Tensor; kl: Tensor }] => {
    const xn = normalizeInput(state.input, x);
    const [{ mu, logVar }, enc] = encodeNormalized(params, state, xn, { training });
    const z = training ? add(mu, mul(exp(mul(logVar, 0.5)), normal(key, mu.shape))) : mu;
    const [recon, dec] = decodeNormalized(params, state, z, { training });
    const rec = mse(recon, xn);
    const [n, c] = x.shape;
    const kl = gaussianKl(mu, logVar, { normalizeBy: klNormalization === 'latent' ? n * c * mu.shape[1] : x.size });
    return [add(rec, mul(kl, beta)), { state: { input: state.input, enc, dec }, mse: rec, kl }];
  });
}

/** One optimizer step on the VAE loss. Returns new params, BN state and optimizer state. */
export function vaeStep(params: VaeParams, state: { model: VaeState; opt: unknown }, x: Tensor, key: Key, opts: { optimizer: Optimizer } & Omit<VaeLossOptions, 'training'>) {
  return tidy(() => {
    const loss = (p: VaeParams) => vaeLoss(p, state.model, x, key, { beta: opts.beta, klNormalization: opts.klNormalization });
    const [[value, aux], grads] = valueAndGrad(loss, { hasAux: true })(params);
    const [updates, opt] = opts.optimizer.update(grads as never, state.opt as never, params as never);
    return { params: applyUpdates(params, updates as VaeParams), state: { model: aux.state, opt }, loss: value, parts: { mse: aux.mse, kl: aux.kl } };
  });
}

/** The frozen VAE as the latent attack needs it: x → μ(x) and z → G(z), both in eval mode, pixel units. */
export function frozen(params: VaeParams, state: VaeState): {
  /** x → μ(x). */
  encode: (x: Tensor) => Tensor;
  /** z → G(z). */
  decode: (z: Tensor) => Tensor;
} {
  // A VAE saved before this architecture (no output BN, no input statistics) cannot be read as one.
  if (!params?.dec?.out || !params.enc?.between || !state?.input) {
    throw new WgradError('ssl.vae', "this VAE has the earlier architecture (before IDAA's official one: no output BatchNorm or input statistics); train it again (IDAA's run in a new directory)");
  }
  const evalMode = { training: false };
  return {
    encode: (x) => tidy(() => encode(params, state, x, evalMode)[0].mu),
    decode: (z) => tidy(() => decode(params, state, z, evalMode)[0]),
  };
}

/** G(μ(x)) in eval mode, pixel units: the frozen VAE's reconstruction. */
export function reconstruct(params: VaeParams, state: VaeState, x: Tensor): Tensor {
  const g = frozen(params, state);
  return tidy(() => g.decode(g.encode(x)));
}
