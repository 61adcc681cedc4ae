/**
 * The supervised references of the study (docs/results.md): the same encoder trained with labels,
 * by cross-entropy ('supervised') or by PGD adversarial training ('supervised-at', Madry et al.:
 * cross-entropy at the PGD-k example of each batch, k = 7 by default). They are method records
 * like the self-supervised ones, so that they train, checkpoint, resume and evaluate (the linear
 * probe on frozen features, as every row) through the same code; their records are `supervised`:
 * the command line passes each batch's labels to the step and sets the projection head's output to
 * the number of classes, so that the projection head is the classifier (encoder → MLP head →
 * logits; the study also reports that classifier's own accuracy).
 *
 * Readings where the references leave a choice:
 *   - The attack of adversarial training runs the model in eval mode (BatchNorm on its running
 *     statistics, no update), as the evaluation's attacks do; the step then trains on the examples
 *     in train mode. Random start, α = 2.5·ε/k (Madry et al.'s rule), inside the data's box.
 *   - Only the adversarial examples are trained on (Madry's objective, not a clean/adversarial mix).
 */
import { WgradError } from '../core/backend.js';
import { fmtShape } from '../core/shape.js';
import { crossEntropy } from '../attacks/objectives.js';
import { pgd } from '../attacks/pgd.js';
import { softmaxCrossEntropy } from '../losses/classification.js';
import { split, type Key } from '../random/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { applyStep, type SslState, type StepResult } from './common.js';
import type { MethodContext, MethodRecord } from './method.js';
import { IMAGES_ONLY } from './method.js';
import { embed, evalEmbedding, type ModelParams, type ModelState } from './model.js';
import { withRegularizer } from './regularizer.js';

/** Cross-entropy of the projection head's logits at a fixed batch (differentiable in params). */
export function supervisedLoss(params: ModelParams, state: ModelState, x: Tensor, labels: Tensor): [Tensor, { state: ModelState; parts: Record<string, Tensor>; anchorFeatures: Tensor }] {
  const [o, next] = embed(params, state, x, { training: true });
  const loss = softmaxCrossEntropy(o.z, labels);
  return [loss, { state: next, parts: { crossEntropy: loss }, anchorFeatures: o.features }];
}

/** PGD adversarial training's radius, steps and box. */
export interface AdversarialTraining { eps: number; steps: number; box: readonly [number, number] | null }

/** The labels a supervised step needs: int32 [N] beside x [N, ...] (a WgradError otherwise). */
function checkLabels(op: string, x: Tensor, labels: Tensor | undefined): Tensor {
  if (!labels) throw new WgradError(op, 'a supervised step needs the batch\'s labels');
  if (labels.dtype !== 'int32' || labels.rank !== 1 || labels.shape[0] !== x.shape[0]) {
    throw new WgradError(op, `labels must be int32 [${x.shape[0]}] beside x ${fmtShape(x.shape)}, got ${labels.dtype} ${fmtShape(labels.shape)}`);
  }
  return labels;
}

/** One supervised step (with `adversarial`: on the batch's PGD examples), plus the regularizer when on. */
export function supervisedStep(params: ModelParams, state: SslState, x: Tensor, key: Key, labels: Tensor | undefined, ctx: Pick<MethodContext, 'optimizer' | 'regularizer'>, adversarial?: AdversarialTraining): StepResult {
  const y = checkLabels('ssl.supervisedStep', x, labels);
  const [kAttack, kReg] = split(key);
  const input = adversarial
    ? pgd(crossEntropy(evalEmbedding(params, state.model), y), x, kAttack, { eps: adversarial.eps, alpha: (2.5 * adversarial.eps) / adversarial.steps, steps: adversarial.steps, randomStart: true, box: adversarial.box })
    : x;
  try {
    return withRegularizer(params, state, x, input, kReg, ctx.regularizer, (extra) => applyStep(params, state, ctx.optimizer, (p, s) => supervisedLoss(p, s, input, y), extra));
  } finally {
    if (input !== x) input.dispose();
  }
}

/** Supervised cross-entropy training of the encoder (a reference row of the study). */
export const SUPERVISED: MethodRecord<Record<string, never>> = {
  name: 'supervised',
  summary: 'supervised reference: cross-entropy with the labels, the projection head as the classifier',
  domains: ['image', 'tabular', 'audio'],
  optimizer: 'sgd',
  supervised: true,
  defaults: {},
  flags: [],
  step: (_o, ctx) => (p, st, x, k, y) => supervisedStep(p, st, x, k, y, ctx),
};

/** Supervised adversarial training's settings: PGD's radius and steps. */
export interface SupervisedAtSettings { eps: number; steps: number }

/** Supervised PGD adversarial training of the encoder (the study's robust reference, R3). */
export const SUPERVISED_AT: MethodRecord<SupervisedAtSettings> = {
  name: 'supervised-at',
  summary: 'supervised reference: PGD adversarial training (Madry et al.), cross-entropy at PGD-k examples',
  ...IMAGES_ONLY,
  optimizer: 'sgd',
  supervised: true,
  defaults: { eps: 0.1, steps: 7 },
  flags: [
    { flag: 'eps', key: 'eps', spec: { kind: 'number', above: 0, help: 'L∞ radius of the training attack (pixels in [0, 1])' } },
    { flag: 'attack-steps', key: 'steps', spec: { kind: 'int', min: 1, max: 1000, help: 'PGD steps of the training attack (α = 2.5·ε/steps)' } },
  ],
  step: (o, ctx) => (p, st, x, k, y) => supervisedStep(p, st, x, k, y, ctx, { eps: o.eps, steps: o.steps, box: ctx.box }),
};
