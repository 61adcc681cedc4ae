/**
 * wgrad.attacks: adversarial attacks as pure functions of (loss or model closure, input, key,
 * options), composed from the front-end ops (grad, sign, clip, where, ...). Each returns a new
 * tensor xAdv with xAdv − x in the ε-ball and xAdv in the input box; the same key gives the same
 * result. The loss contract and the geometry are in ./common.ts; value checks (x in the box, a
 * finite loss at every step) are raised through `checked` (./checks.ts).
 *
 *   const model = (x) => wg.nn.smallCnn.apply(params, x);
 *   const xAdv = attacks.pgd(attacks.crossEntropy(model, y), x, key, { eps: 0.1, alpha: 0.01, steps: 20 });
 *   const xAdv2 = attacks.apgdCe(model, x, y, key, { eps: 0.1, steps: 20 });
 */
export {
  type Norm, type Box, type LossFn, type LossOutput, type OnStep, type BallOptions,
  projectBall, projectAround, clipBox, ascentDirection, randomStart, exampleNorm,
} from './common.js';
export { checked, collectChecks, type Checks } from './checks.js';
export { fgsm, pgd, type FgsmOptions, type PgdOptions } from './pgd.js';
export { apgd, apgdCe, apgdCheckpoints, type ApgdOptions } from './apgd.js';
export { crossEntropy, evalMode, type Classifier, type Labels } from './objectives.js';
export {
  instanceContrastive, representationDistance, latentAttack,
  type Embedding, type ContrastiveAttackOptions, type LatentAttackOptions,
} from './unlabeled.js';
export * as noiseGenerator from './generator.js';
export type { GeneratorKind, GeneratorParams, GeneratorConfig, GeneratorOptions, GeneratorObjective, GeneratorStepOptions } from './generator.js';
