/**
 * The small CNN for 28×28 images (the benchmark model):
 *   conv 1→32 3×3 (padding 1), relu, maxpool 2 → [32, 14, 14]
 *   conv 32→64 3×3 (padding 1), relu, maxpool 2 → [64, 7, 7]
 *   flatten 3136 → linear 128, relu → linear 10
 * Channels, hidden width, classes and image size (divisible by 4) are configurable; the defaults
 * give exactly the shape above. PyTorch default initialization.
 */
import { WgradError } from '../core/backend.js';
import { fmtShape } from '../core/shape.js';
import { maxPool2d, relu } from '../tensor/ops/nn.js';
import { reshape } from '../tensor/ops/movement.js';
import { tidy } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { split, type Key } from '../random/random.js';
import * as conv2d from './conv2d.js';
import * as linear from './linear.js';

/** The small CNN's two convolutions and two linear layers. */
export type SmallCnnParams = {
  conv1: conv2d.Conv2dParams;
  conv2: conv2d.Conv2dParams;
  fc1: linear.LinearParams;
  fc2: linear.LinearParams;
};

/** The small CNN's channels, classes, hidden width and image size. */
export interface SmallCnnConfig {
  /** Default 1. */
  inChannels?: number;
  /** Default 10. */
  classes?: number;
  /** Default 128. */
  hidden?: number;
  /** Square input side, divisible by 4 (default 28). */
  imageSize?: number;
}

/** New small-CNN parameters (PyTorch's default initialization). */
export function init(key: Key, config: SmallCnnConfig = {}): SmallCnnParams {
  const { inChannels = 1, classes = 10, hidden = 128, imageSize = 28 } = config;
  if (imageSize % 4 !== 0) throw new WgradError('smallCnn.init', `imageSize must be divisible by 4, got ${imageSize}`);
  const [k1, k2, k3, k4] = split(key, 4);
  const flat = 64 * (imageSize / 4) ** 2;
  return {
    conv1: conv2d.init(k1, { inChannels, outChannels: 32, kernel: 3 }),
    conv2: conv2d.init(k2, { inChannels: 32, outChannels: 64, kernel: 3 }),
    fc1: linear.init(k3, { inFeatures: flat, outFeatures: hidden }),
    fc2: linear.init(k4, { inFeatures: hidden, outFeatures: classes }),
  };
}

/** x [N, C, S, S] → logits [N, classes]. */
export function apply(params: SmallCnnParams, x: Tensor): Tensor {
  if (x.rank !== 4) throw new WgradError('smallCnn', `expected images [N, C, H, W], got ${fmtShape(x.shape)}`);
  return tidy(() => {
    let h = maxPool2d(relu(conv2d.apply(params.conv1, x, { padding: 1 })), { kernel: 2 });
    h = maxPool2d(relu(conv2d.apply(params.conv2, h, { padding: 1 })), { kernel: 2 });
    h = reshape(h, [x.shape[0], -1]);
    return linear.apply(params.fc2, relu(linear.apply(params.fc1, h)));
  });
}
