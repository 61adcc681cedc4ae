/**
 * wgrad.losses: loss functions as pure functions of tensors, each returning a float32 scalar (or
 * per-example losses with `reduction: 'none'`), differentiable and tidy (no intermediates leak).
 */
export { softmaxCrossEntropy, type CrossEntropyOptions } from './classification.js';
export { mse } from './regression.js';
export { ntXent, negativeCosineSimilarity, type NtXentOptions, type NegativeCosineOptions } from './contrastive.js';
export { gaussianKl, type GaussianKlOptions } from './kl.js';
export type { Reduction } from './reduce.js';
export { softHgr, softHgrLoss } from './hgr.js';
export { latentReconstruction, type LatentDistance } from './latent.js';
