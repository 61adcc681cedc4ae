/**
 * The network every self-supervised method here trains: an encoder (the representation f(x) that
 * downstream probes read) followed by a projection head g (z = g(f(x)), the input of NT-Xent).
 *
 * Encoders:
 *   'cnn'     the small CNN of the toolkit with BatchNorm after each layer, for 28×28 images:
 *             conv 3×3 (C→w) → BN → relu → maxpool 2 → conv 3×3 (w→2w) → BN → relu → maxpool 2
 *             → flatten → linear → BN → relu = features [N, featureDim]. (nn.smallCnn has no BN;
 *             BN is added because RoCL attacks in eval mode and IDAA needs a separate adversarial
 *             BN branch — without BN both would be no-ops.)
 *   'resnet'  nn.resnet without its classifier (CIFAR ResNet-18 by default: 512-d features).
 * Projector: linear(featureDim → hidden) → relu → linear(hidden → projDim) (RoCL: 512→2048→128,
 * IDAA: 512→512→64; the defaults for the small CNN are 128→128→64).
 *
 * With `bnBranches` (e.g. ['clean', 'adv']) every BN layer of the encoder keeps one set of
 * parameters and running statistics per branch (AdvProp; IDAA's adversarial encoder); `branch`
 * picks one at apply time. Convolutions, linear layers and the projector are shared.
 */
import { WgradError } from '../core/backend.js';
import { fmtShape } from '../core/shape.js';
import { split, type Key } from '../random/random.js';
import { maxPool2d, relu } from '../tensor/ops/nn.js';
import { reshape } from '../tensor/ops/movement.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import * as batchNorm from '../nn/batch-norm.js';
import * as conv2d from '../nn/conv2d.js';
import * as linear from '../nn/linear.js';
import * as mlp from '../nn/mlp.js';
import * as resnet from '../nn/resnet.js';

export interface ModelConfig {
  /** 'cnn' (default) or 'resnet'. */
  encoder?: 'cnn' | 'resnet';
  /** Input channels (default 1). */
  inChannels?: number;
  /** Square input side (default 28; the CNN needs a multiple of 4). */
  imageSize?: number;
  /** CNN: channels of the first conv (the second has twice as many; default 32). ResNet: first-stage width (default 64). */
  width?: number;
  /** CNN: feature dimension (default 128). The ResNet's is width · 2^(stages − 1). */
  featureDim?: number;
  /** ResNet: blocks per stage (default [2, 2, 2, 2], ResNet-18). */
  blocks?: readonly number[];
  /** Projector hidden width (default: the feature dimension). */
  projHidden?: number;
  /** Projection dimension (default 64). */
  projDim?: number;
  /** Independent BN branches (e.g. ['clean', 'adv']); omit for plain BN. */
  bnBranches?: readonly string[];
}

export type ModelParams = { encoder: Record<string, unknown>; projector: mlp.MlpParams };
export type ModelState = Record<string, unknown>;

export interface ApplyOptions {
  /** BN on batch statistics with a running-stat update (true) or on the running statistics. */
  training: boolean;
  /** The BN branch, required when the model has branches. */
  branch?: string;
}

/** The configuration with every default filled in (what checkpoints record). */
export function resolveConfig(config: ModelConfig = {}): Required<Omit<ModelConfig, 'bnBranches'>> & { bnBranches?: readonly string[] } {
  const encoder = config.encoder ?? 'cnn';
  if (encoder !== 'cnn' && encoder !== 'resnet') throw new WgradError('ssl.model', `encoder must be 'cnn' or 'resnet', got ${JSON.stringify(encoder)}`);
  const width = config.width ?? (encoder === 'cnn' ? 32 : 64);
  const blocks = config.blocks ?? [2, 2, 2, 2];
  const featureDim = encoder === 'cnn' ? config.featureDim ?? 128 : resnet.featureDim({ width, blocks });
  return {
    encoder, inChannels: config.inChannels ?? 1, imageSize: config.imageSize ?? 28, width, featureDim, blocks,
    projHidden: config.projHidden ?? featureDim, projDim: config.projDim ?? 64, bnBranches: config.bnBranches,
  };
}

export function featureDim(config: ModelConfig = {}): number {
  return resolveConfig(config).featureDim;
}

const bn = (channels: number, branches?: readonly string[]) =>
  batchNorm.init({ channels, branches } as batchNorm.BatchNormConfig<string>) as { params: unknown; state: unknown };

export function init(key: Key, config: ModelConfig = {}): { params: ModelParams; state: ModelState } {
  const c = resolveConfig(config);
  const [kEnc, kProj] = split(key);
  const projector = mlp.init(kProj, { widths: [c.featureDim, c.projHidden, c.projDim] });
  if (c.encoder === 'resnet') {
    const r = resnet.init(kEnc, { width: c.width, blocks: c.blocks, inChannels: c.inChannels, classes: 0, branches: c.bnBranches as string[] | undefined });
    return { params: { encoder: r.params as never, projector }, state: r.state as never };
  }
  if (c.imageSize % 4 !== 0) throw new WgradError('ssl.model', `the CNN encoder needs an image size divisible by 4, got ${c.imageSize}`);
  const [k1, k2, k3] = split(kEnc, 3);
  const w2 = 2 * c.width;
  const b1 = bn(c.width, c.bnBranches), b2 = bn(w2, c.bnBranches), b3 = bn(c.featureDim, c.bnBranches);
  return {
    params: {
      encoder: {
        conv1: conv2d.init(k1, { inChannels: c.inChannels, outChannels: c.width, kernel: 3, bias: false }), bn1: b1.params,
        conv2: conv2d.init(k2, { inChannels: c.width, outChannels: w2, kernel: 3, bias: false }), bn2: b2.params,
        fc: linear.init(k3, { inFeatures: w2 * (c.imageSize / 4) ** 2, outFeatures: c.featureDim, bias: false }), bn3: b3.params,
      },
      projector,
    },
    state: { bn1: b1.state, bn2: b2.state, bn3: b3.state },
  };
}

const isResnet = (enc: Record<string, unknown>) => 'stem' in enc;

/** x [N, C, H, W] → [features [N, featureDim], new BN state]. */
export function features(params: ModelParams, state: ModelState, x: Tensor, opts: ApplyOptions): [Tensor, ModelState] {
  if (x.rank !== 4) throw new WgradError('ssl.model', `expected images [N, C, H, W], got ${fmtShape(x.shape)}`);
  const enc = params.encoder;
  if (isResnet(enc)) return resnet.features(enc as never, state as never, x, opts as never) as [Tensor, ModelState];
  return tidy((): [Tensor, ModelState] => {
    const p = enc as { conv1: conv2d.Conv2dParams; bn1: unknown; conv2: conv2d.Conv2dParams; bn2: unknown; fc: linear.LinearParams; bn3: unknown };
    const s = state as { bn1: unknown; bn2: unknown; bn3: unknown };
    const [h1, s1] = batchNorm.applyAny(p.bn1, s.bn1, conv2d.apply(p.conv1, x, { padding: 1 }), opts);
    let h = maxPool2d(relu(h1), { kernel: 2 });
    const [h2, s2] = batchNorm.applyAny(p.bn2, s.bn2, conv2d.apply(p.conv2, h, { padding: 1 }), opts);
    h = maxPool2d(relu(h2), { kernel: 2 });
    const [h3, s3] = batchNorm.applyAny(p.bn3, s.bn3, linear.apply(p.fc, reshape(h, [x.shape[0], -1])), opts);
    return [relu(h3), { bn1: s1, bn2: s2, bn3: s3 }];
  });
}

/** Projection head: features → z [N, projDim] (unnormalized; NT-Xent normalizes). */
export function project(params: ModelParams, h: Tensor): Tensor {
  return mlp.apply(params.projector, h);
}

/** x → [{ features, z }, new BN state]. */
export function embed(params: ModelParams, state: ModelState, x: Tensor, opts: ApplyOptions): [{ features: Tensor; z: Tensor }, ModelState] {
  return tidy((): [{ features: Tensor; z: Tensor }, ModelState] => {
    const [h, next] = features(params, state, x, opts);
    return [{ features: h, z: project(params, h) }, next];
  });
}
