/**
 * wgrad.nn: neural-network building blocks as pure functions over pytrees (Equinox style, without
 * modules holding state). Every layer is a namespace with `init(key, config) → params` and
 * `apply(params, x, opts)`. Models with BatchNorm return `{ params, state }` from init and
 * `[output, newState]` from apply (`apply(params, state, x, opts)`); batchNorm and layerNorm draw
 * nothing, so their init takes no key. Nothing is hidden: parameters and BatchNorm statistics are
 * plain trees of tensors the caller owns. Weight layouts: linear [in, out]; conv [O, C/groups, kh,
 * kw]; convTranspose [Cin, Cout/groups, kh, kw] (PyTorch's).
 *
 * Also re-exports the activation, softmax, normalization and pooling functions of the core.
 */
export * from '../tensor/ops/nn.js';
export * as initializers from './initializers.js';
export type { Initializer } from './initializers.js';
export * as linear from './linear.js';
export type { LinearParams, LinearConfig } from './linear.js';
export * as conv2d from './conv2d.js';
export type { Conv2dParams, Conv2dConfig } from './conv2d.js';
export * as convTranspose2d from './conv-transpose2d.js';
export type { ConvTranspose2dParams, ConvTranspose2dConfig } from './conv-transpose2d.js';
export * as batchNorm from './batch-norm.js';
export type { BatchNormParams, BatchNormState, BatchNormOptions, Branched, MaybeBranched } from './batch-norm.js';
export * as layerNorm from './layer-norm.js';
export type { LayerNormParams } from './layer-norm.js';
export { dropout } from './dropout.js';
export * as mlp from './mlp.js';
export type { MlpParams, MlpConfig } from './mlp.js';
export * as smallCnn from './small-cnn.js';
export type { SmallCnnParams } from './small-cnn.js';
export * as resnet from './resnet.js';
export type { ResNetParams, ResNetState, ResNetConfig } from './resnet.js';
