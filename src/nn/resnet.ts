/**
 * CIFAR-style ResNet with BasicBlocks (He et al. 2016; the variant used by SimCLR/RoCL on CIFAR):
 *   stem   conv 3×3 (stride 1, padding 1, no bias) → BN → relu      (no max-pool)
 *   stages i = 0..S−1 with width·2^i channels and `blocks[i]` BasicBlocks; the first block of every
 *          stage after the first has stride 2. BasicBlock: conv3×3 → BN → relu → conv3×3 → BN,
 *          plus the shortcut (identity, or conv1×1 with the stride → BN when the shape changes),
 *          then relu.
 *   head   global average pool → features [N, width·2^(S−1)] → linear → logits [N, classes]
 * Defaults (width 64, blocks [2, 2, 2, 2]) are ResNet-18 with 512-d features; [3, 4, 6, 3] is
 * ResNet-34. A tiny one (width 4, blocks [1, 1]) runs anywhere.
 *
 * BatchNorm state is explicit: `init` returns { params, state }, and `features`/`apply` return the
 * new state beside the output. With `branches: ['clean', 'adv']` every BN layer has one set of
 * params and running statistics per branch, and `branch` picks the one a call uses (AdvProp-style,
 * as IDAA's adversarial encoder); convolutions and the head are shared.
 *
 * Init: convolutions Kaiming-normal with fan-out (torchvision's ResNet), BN scale 1 / bias 0, the
 * linear head PyTorch's default; `convInit` overrides the convolutions' initializer.
 */
import { WgradError } from '../core/backend.js';
import { fmtShape } from '../core/shape.js';
import { add } from '../tensor/ops/elementwise.js';
import { relu } from '../tensor/ops/nn.js';
import { mean } from '../tensor/ops/reduce.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { split, type Key } from '../random/random.js';
import * as batchNorm from './batch-norm.js';
import type { BatchNormOptions, BatchNormParams, BatchNormState, Branched, MaybeBranched } from './batch-norm.js';
import * as conv2d from './conv2d.js';
import { heNormal, type Initializer } from './initializers.js';
import * as linear from './linear.js';

/** BN params of one layer: single, or keyed by branch. */
export type AnyBatchNormParams = BatchNormParams | Branched<string, BatchNormParams>;
/** BN running statistics of one layer: single, or keyed by branch. */
export type AnyBatchNormState = BatchNormState | Branched<string, BatchNormState>;

/** A BasicBlock's two convolutions and BNs, and its projection shortcut when the shape changes. */
export type BasicBlockParams<P extends AnyBatchNormParams = BatchNormParams> = {
  conv1: conv2d.Conv2dParams;
  bn1: P;
  conv2: conv2d.Conv2dParams;
  bn2: P;
  shortcut?: { conv: conv2d.Conv2dParams; bn: P };
};
/** A BasicBlock's BN running statistics. */
export type BasicBlockState<S extends AnyBatchNormState = BatchNormState> = { bn1: S; bn2: S; shortcut?: { bn: S } };

/** A ResNet's stem, stages of BasicBlocks and optional linear head. */
export type ResNetParams<P extends AnyBatchNormParams = BatchNormParams> = {
  stem: { conv: conv2d.Conv2dParams; bn: P };
  stages: BasicBlockParams<P>[][];
  /** Absent when `classes` is 0 (features only). */
  fc?: linear.LinearParams;
};
/** A ResNet's BN running statistics, shaped as its params. */
export type ResNetState<S extends AnyBatchNormState = BatchNormState> = {
  stem: { bn: S };
  stages: BasicBlockState<S>[][];
};

/** A ResNet's width, blocks per stage, input channels, classes, BN branches and initializer. */
export interface ResNetConfig<B extends string = never> {
  /** Channels of the first stage (default 64). */
  width?: number;
  /** BasicBlocks per stage (default [2, 2, 2, 2]: ResNet-18). */
  blocks?: readonly number[];
  /** Input channels (default 3). */
  inChannels?: number;
  /** Classes of the linear head; 0 for none (default 10). */
  classes?: number;
  /** Independent BatchNorm branches (e.g. ['clean', 'adv']); omit for plain BN. */
  branches?: readonly B[];
  /** Initializer of every convolution weight (default Kaiming normal, fan-out). */
  convInit?: Initializer;
}

/** `branch` is required exactly when the network's BN layers are branched. */
export type ResNetOptions<P extends AnyBatchNormParams> = BatchNormOptions &
  (P extends BatchNormParams ? { branch?: undefined } : { branch: keyof P & string });

const heFanOut: Initializer = (k, shape) => heNormal(k, shape, { mode: 'fanOut' });

/** Feature dimension: width · 2^(stages − 1). */
export function featureDim(config: Pick<ResNetConfig<string>, 'width' | 'blocks'> = {}): number {
  const { width = 64, blocks = [2, 2, 2, 2] } = config;
  return width * 2 ** (blocks.length - 1);
}

/** New ResNet parameters and BN state (see the module header for the architecture). */
export function init<B extends string = never>(key: Key, config: ResNetConfig<B> = {}): {
  params: ResNetParams<MaybeBranched<B, BatchNormParams>>;
  state: ResNetState<MaybeBranched<B, BatchNormState>>;
} {
  const { width = 64, blocks = [2, 2, 2, 2], inChannels = 3, classes = 10, branches, convInit = heFanOut } = config;
  if (blocks.length === 0 || blocks.some((b) => !Number.isInteger(b) || b < 1) || !(width >= 1)) {
    throw new WgradError('resnet.init', `need width ≥ 1 and blocks of positive integers, got width ${width}, blocks ${JSON.stringify(blocks)}`);
  }
  const [stemKey, fcKey, ...blockKeys] = split(key, 2 + blocks.reduce((a, b) => a + b, 0));
  let ki = 0;
  const conv = (k: Key, cin: number, cout: number, kernel: number) =>
    conv2d.init(k, { inChannels: cin, outChannels: cout, kernel, bias: false, weightInit: convInit });
  const bn = (channels: number) =>
    batchNorm.init({ channels, branches } as batchNorm.BatchNormConfig<string>) as { params: AnyBatchNormParams; state: AnyBatchNormState };

  const stemBn = bn(width);
  const params: ResNetParams<AnyBatchNormParams> = { stem: { conv: conv(stemKey, inChannels, width, 3), bn: stemBn.params }, stages: [] };
  const state: ResNetState<AnyBatchNormState> = { stem: { bn: stemBn.state }, stages: [] };
  let cin = width;
  blocks.forEach((count, s) => {
    const cout = width * 2 ** s;
    const pStage: BasicBlockParams<AnyBatchNormParams>[] = [];
    const sStage: BasicBlockState<AnyBatchNormState>[] = [];
    for (let b = 0; b < count; b++) {
      const stride = s > 0 && b === 0 ? 2 : 1;
      const [k1, k2, k3] = split(blockKeys[ki++], 3);
      const bn1 = bn(cout), bn2 = bn(cout);
      const p: BasicBlockParams<AnyBatchNormParams> = { conv1: conv(k1, cin, cout, 3), bn1: bn1.params, conv2: conv(k2, cout, cout, 3), bn2: bn2.params };
      const st: BasicBlockState<AnyBatchNormState> = { bn1: bn1.state, bn2: bn2.state };
      if (stride !== 1 || cin !== cout) {
        const sbn = bn(cout);
        p.shortcut = { conv: conv(k3, cin, cout, 1), bn: sbn.params };
        st.shortcut = { bn: sbn.state };
      }
      pStage.push(p);
      sStage.push(st);
      cin = cout;
    }
    params.stages.push(pStage);
    state.stages.push(sStage);
  });
  if (classes > 0) params.fc = linear.init(fcKey, { inFeatures: cin, outFeatures: classes });
  return { params, state } as never;
}

type BnOpts = BatchNormOptions & { branch?: string };

function block(p: BasicBlockParams<AnyBatchNormParams>, s: BasicBlockState<AnyBatchNormState>, x: Tensor, stride: number, opts: BnOpts): [Tensor, BasicBlockState<AnyBatchNormState>] {
  let h = conv2d.apply(p.conv1, x, { stride, padding: 1 });
  const [h1, bn1] = batchNorm.applyAny(p.bn1, s.bn1, h, opts);
  h = conv2d.apply(p.conv2, relu(h1), { padding: 1 });
  const [h2, bn2] = batchNorm.applyAny(p.bn2, s.bn2, h, opts);
  const next: BasicBlockState<AnyBatchNormState> = { bn1: bn1 as AnyBatchNormState, bn2: bn2 as AnyBatchNormState };
  let shortcut = x;
  if (p.shortcut) {
    if (!s.shortcut) throw new WgradError('resnet', 'the state does not match the params (a shortcut BN state is missing)');
    const [sc, sbn] = batchNorm.applyAny(p.shortcut.bn, s.shortcut.bn, conv2d.apply(p.shortcut.conv, x, { stride }), opts);
    shortcut = sc;
    next.shortcut = { bn: sbn as AnyBatchNormState };
  }
  return [relu(add(h2, shortcut)), next];
}

/** x [N, C, H, W] → [features [N, featureDim], new BN state]. */
export function features<P extends AnyBatchNormParams, S extends AnyBatchNormState>(
  params: ResNetParams<P>,
  state: ResNetState<S>,
  x: Tensor,
  opts: ResNetOptions<P>,
): [Tensor, ResNetState<S>] {
  if (x.rank !== 4) throw new WgradError('resnet', `expected images [N, C, H, W], got ${fmtShape(x.shape)}`);
  const o = opts as BnOpts;
  return tidy((): [Tensor, ResNetState<S>] => {
    const p = params as ResNetParams<AnyBatchNormParams>;
    const s = state as ResNetState<AnyBatchNormState>;
    const [h0, stemBn] = batchNorm.applyAny(p.stem.bn, s.stem.bn, conv2d.apply(p.stem.conv, x, { padding: 1 }), o);
    let h = relu(h0);
    const next: ResNetState<AnyBatchNormState> = { stem: { bn: stemBn as AnyBatchNormState }, stages: [] };
    p.stages.forEach((stage, i) => {
      if (!s.stages[i] || s.stages[i].length !== stage.length) throw new WgradError('resnet', `the state does not match the params at stage ${i}`);
      next.stages.push(stage.map((bp, j) => {
        const [y, bs] = block(bp, s.stages[i][j], h, i > 0 && j === 0 ? 2 : 1, o);
        h = y;
        return bs;
      }));
    });
    return [mean(h, [2, 3]), next as ResNetState<S>];
  });
}

/** x [N, C, H, W] → [{ logits [N, classes], features [N, featureDim] }, new BN state]. */
export function apply<P extends AnyBatchNormParams, S extends AnyBatchNormState>(
  params: ResNetParams<P>,
  state: ResNetState<S>,
  x: Tensor,
  opts: ResNetOptions<P>,
): [{ logits: Tensor; features: Tensor }, ResNetState<S>] {
  const fc = params.fc;
  if (!fc) throw new WgradError('resnet', 'this ResNet has no linear head (classes: 0); use resnet.features');
  return tidy((): [{ logits: Tensor; features: Tensor }, ResNetState<S>] => {
    const [f, next] = features(params, state, x, opts);
    return [{ logits: linear.apply(fc, f), features: f }, next];
  });
}
