/**
 * The network every self-supervised method here trains: an encoder (the representation f(x) that
 * downstream probes read) followed by a projection head g (z = g(f(x)), the input of NT-Xent).
 *
 * Encoders:
 *   'cnn'     the small CNN of the toolkit with BatchNorm after each layer, for images [C, H, W]
 *             (28×28 by default; any H, W ≥ 4, not necessarily square: log-mel spectrograms
 *             [1, mels, frames] too): conv 3×3 (C→w) → BN → relu → maxpool 2 → conv 3×3 (w→2w)
 *             → BN → relu → maxpool 2 (floor, as PyTorch) → flatten → linear → BN → relu
 *             = features [N, featureDim]. (nn.smallCnn has no BN; BN is added because RoCL attacks
 *             in eval mode and IDAA needs a separate adversarial BN branch — without BN both would
 *             be no-ops.)
 *   'resnet'  nn.resnet without its classifier (CIFAR ResNet-18 by default: 512-d features).
 *   'mlp'     for vectors (tabular rows) [D], or any input flattened: linear → BN → relu for each
 *             width of [...hidden, featureDim] (default hidden [256], featureDim 128), the same
 *             shape of block as the CNN's last layer, so features are again post-ReLU.
 * Projector: linear(featureDim → hidden) → relu → linear(hidden → projDim) (RoCL: 512→2048→128,
 * IDAA: 512→512→64; the defaults for the small CNN are 128→128→64).
 *
 * With `bnBranches` (e.g. ['clean', 'adv']) every BN layer of the encoder keeps one set of
 * parameters and running statistics per branch (AdvProp; IDAA's adversarial encoder); `branch`
 * picks one at apply time. Convolutions, linear layers and the projector are shared.
 *
 * What it computes, per the papers and official code, and the readings chosen: docs/methods.md#model-and-optimizer.
 */
import { WgradError } from '../core/backend.js';
import { fmtShape } from '../core/shape.js';
import { split, type Key } from '../random/random.js';
import { maxPool2d, relu } from '../tensor/ops/nn.js';
import { reshape } from '../tensor/ops/movement.js';
import { dispose, tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import * as batchNorm from '../nn/batch-norm.js';
import * as conv2d from '../nn/conv2d.js';
import * as linear from '../nn/linear.js';
import * as mlp from '../nn/mlp.js';
import * as resnet from '../nn/resnet.js';

/** The SSL model: its encoder (kind, input shape, widths, BN branches) and the projection head's sizes. */
export interface ModelConfig {
  /** 'cnn' (default), 'resnet' or 'mlp'. */
  encoder?: 'cnn' | 'resnet' | 'mlp';
  /** Input channels (default 1). */
  inChannels?: number;
  /** Square input side (default 28). */
  imageSize?: number;
  /**
   * The shape of one example, overriding inChannels and imageSize: [C, H, W] for 'cnn' and 'resnet'
   * (H ≠ W allowed), any shape for 'mlp' (required there; [D] for a table).
   */
  inputShape?: readonly number[];
  /** MLP: hidden widths before the feature layer (default [256]). */
  hidden?: readonly number[];
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

/** The encoder's and the projection head's parameters. */
export type ModelParams = { encoder: Record<string, unknown>; projector: mlp.MlpParams };
/** The encoder's BN running statistics (empty without BN). */
export type ModelState = Record<string, unknown>;

/** Options of a model call: training or evaluation mode, and the BN branch. */
export interface ApplyOptions {
  /** BN on batch statistics with a running-stat update (true) or on the running statistics. */
  training: boolean;
  /** The BN branch, required when the model has branches. */
  branch?: string;
}

/** The configuration with every default filled in (what checkpoints record). */
export function resolveConfig(config: ModelConfig = {}): Required<Omit<ModelConfig, 'bnBranches'>> & { bnBranches?: readonly string[] } {
  const encoder = config.encoder ?? 'cnn';
  if (encoder !== 'cnn' && encoder !== 'resnet' && encoder !== 'mlp') throw new WgradError('ssl.model', `encoder must be 'cnn', 'resnet' or 'mlp', got ${JSON.stringify(encoder)}`);
  const width = config.width ?? (encoder === 'resnet' ? 64 : 32);
  const blocks = config.blocks ?? [2, 2, 2, 2];
  const hidden = config.hidden ?? [256];
  const featureDim = encoder === 'resnet' ? resnet.featureDim({ width, blocks }) : config.featureDim ?? 128;
  const inputShape = resolveInputShape(encoder, config);
  return {
    encoder, inChannels: encoder === 'mlp' ? 1 : inputShape[0], imageSize: encoder === 'mlp' ? 0 : inputShape[1], inputShape, hidden, width, featureDim, blocks,
    projHidden: config.projHidden ?? featureDim, projDim: config.projDim ?? 64, bnBranches: config.bnBranches,
  };
}

function resolveInputShape(encoder: 'cnn' | 'resnet' | 'mlp', config: ModelConfig): readonly number[] {
  const shape = config.inputShape ?? (encoder === 'mlp' ? undefined : [config.inChannels ?? 1, config.imageSize ?? 28, config.imageSize ?? 28]);
  const bad = (why: string) => new WgradError('ssl.model', `${why}, got inputShape ${JSON.stringify(config.inputShape)}`);
  if (!shape) throw bad(`the 'mlp' encoder needs inputShape (e.g. [D] for a table)`);
  if (shape.length < 1 || shape.some((v) => !Number.isInteger(v) || v < 1)) throw bad('inputShape must be positive integers');
  if (encoder === 'mlp') return shape;
  if (shape.length !== 3) throw bad(`the '${encoder}' encoder needs an input shape [C, H, W]`);
  if (encoder === 'cnn' && (shape[1] < 4 || shape[2] < 4)) throw bad('the CNN encoder needs H, W ≥ 4 (two 2×2 poolings)');
  return shape;
}

/** The width of the encoder's features for `config`. */
export function featureDim(config: ModelConfig = {}): number {
  return resolveConfig(config).featureDim;
}

const bn = (channels: number, branches?: readonly string[]) =>
  batchNorm.init({ channels, branches } as batchNorm.BatchNormConfig<string>) as { params: unknown; state: unknown };

/** New model parameters and BN state for `config`. */
export function init(key: Key, config: ModelConfig = {}): { params: ModelParams; state: ModelState } {
  const c = resolveConfig(config);
  const [kEnc, kProj] = split(key);
  const projector = mlp.init(kProj, { widths: [c.featureDim, c.projHidden, c.projDim] });
  if (c.encoder === 'resnet') {
    const r = resnet.init(kEnc, { width: c.width, blocks: c.blocks, inChannels: c.inputShape[0], classes: 0, branches: c.bnBranches as string[] | undefined });
    return { params: { encoder: r.params as never, projector }, state: r.state as never };
  }
  if (c.encoder === 'mlp') {
    const widths = [c.inputShape.reduce((a, b) => a * b, 1), ...c.hidden, c.featureDim];
    const keys = split(kEnc, widths.length - 1);
    const layers = keys.map((k, i) => ({ fc: linear.init(k, { inFeatures: widths[i], outFeatures: widths[i + 1], bias: false }), b: bn(widths[i + 1], c.bnBranches) }));
    return {
      params: { encoder: { dense: layers.map((l) => ({ fc: l.fc, bn: l.b.params })) }, projector },
      state: { dense: layers.map((l) => l.b.state) },
    };
  }
  const [, h, w] = c.inputShape;
  const pooled = Math.floor(Math.floor(h / 2) / 2) * Math.floor(Math.floor(w / 2) / 2);
  const [k1, k2, k3] = split(kEnc, 3);
  const w2 = 2 * c.width;
  const b1 = bn(c.width, c.bnBranches), b2 = bn(w2, c.bnBranches), b3 = bn(c.featureDim, c.bnBranches);
  return {
    params: {
      encoder: {
        conv1: conv2d.init(k1, { inChannels: c.inputShape[0], outChannels: c.width, kernel: 3, bias: false }), bn1: b1.params,
        conv2: conv2d.init(k2, { inChannels: c.width, outChannels: w2, kernel: 3, bias: false }), bn2: b2.params,
        fc: linear.init(k3, { inFeatures: w2 * pooled, outFeatures: c.featureDim, bias: false }), bn3: b3.params,
      },
      projector,
    },
    state: { bn1: b1.state, bn2: b2.state, bn3: b3.state },
  };
}

const isResnet = (enc: Record<string, unknown>) => 'stem' in enc;
const isMlp = (enc: Record<string, unknown>) => 'dense' in enc;

type DenseParams = { dense: { fc: linear.LinearParams; bn: unknown }[] };

/** The MLP encoder: x [N, ...] flattened to [N, D], then linear → BN → relu per layer. */
function mlpFeatures(enc: DenseParams, state: { dense: unknown[] }, x: Tensor, opts: ApplyOptions): [Tensor, ModelState] {
  const d = enc.dense[0].fc.w.shape[0];
  if (x.rank < 2 || x.size !== x.shape[0] * d) throw new WgradError('ssl.model', `the MLP encoder takes examples of ${d} elements [N, ${d}], got ${fmtShape(x.shape)}`);
  return tidy((): [Tensor, ModelState] => {
    let h = reshape(x, [x.shape[0], d]);
    const next: unknown[] = [];
    enc.dense.forEach((layer, i) => {
      const [y, s] = batchNorm.applyAny(layer.bn, state.dense[i], linear.apply(layer.fc, h), opts);
      next.push(s);
      h = relu(y);
    });
    return [h, { dense: next }];
  });
}

/** x [N, C, H, W] (or [N, ...] for the MLP encoder) → [features [N, featureDim], new BN state]. */
export function features(params: ModelParams, state: ModelState, x: Tensor, opts: ApplyOptions): [Tensor, ModelState] {
  const enc = params.encoder;
  if (isMlp(enc)) return mlpFeatures(enc as DenseParams, state as { dense: unknown[] }, x, opts);
  if (x.rank !== 4) throw new WgradError('ssl.model', `expected images [N, C, H, W], got ${fmtShape(x.shape)}`);
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

/** The encoder+projector in eval mode (running statistics), x → z: the closure attacks use. */
export const evalEmbedding = (params: ModelParams, state: ModelState, branch?: string) => (x: Tensor): Tensor =>
  tidy(() => {
    const [{ z }, s] = embed(params, state, x, { training: false, branch });
    dispose(s);
    return z;
  });

/** The encoder in eval mode, x → features. */
export const evalFeatures = (params: ModelParams, state: ModelState, branch?: string) => (x: Tensor): Tensor =>
  tidy(() => {
    const [h, s] = features(params, state, x, { training: false, branch });
    dispose(s);
    return h;
  });
