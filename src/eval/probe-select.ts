/**
 * The linear probe's hyperparameters chosen on a validation split held out of the training set,
 * never on the test set (docs/results.md, Part 1): a class-stratified tenth of the training
 * features (../data/batching.ts stratifiedSample, from `splitKey`) is held out; a head is trained on
 * the rest for every point of a small grid of learning rate × weight decay (SGD with the probe's
 * step schedule, ./linear.ts) and scored on the held-out part; the best point (ties: the first in
 * grid order) is then refitted on the whole training set. The grid brackets the default (lr 0.1,
 * weight decay 5e-4) by a factor of about 3 in the learning rate and 10 in the weight decay:
 *
 *   lr ∈ {0.03, 0.1, 0.3} × weight decay ∈ {0, 5e-4, 5e-3}     (9 fits, then the refit)
 */
import { WgradError } from '../core/backend.js';
import { stratifiedSample, takeRows } from '../data/batching.js';
import * as linear from '../nn/linear.js';
import type { Key } from '../random/random.js';
import { dispose } from '../tensor/scope.js';
import type { Tensor } from '../tensor/tensor.js';
import { accuracy } from './accuracy.js';
import { type LinearHeadOptions, trainLinearHead } from './linear.js';

/** One learning rate and weight decay of the linear probe's grid. */
export interface ProbeGridPoint { lr: number; weightDecay: number }

/** The default grid: lr in {0.03, 0.1, 0.3} × weight decay in {0, 5e-4, 5e-3}. */
export const PROBE_GRID: readonly ProbeGridPoint[] = [0.03, 0.1, 0.3].flatMap((lr) => [0, 5e-4, 5e-3].map((weightDecay) => ({ lr, weightDecay })));

/** Options of the probe selection: the head's options, the validation split and the grid. */
export interface ProbeSelectOptions extends Omit<LinearHeadOptions, 'lr' | 'weightDecay' | 'optimizer'> {
  /** The key of the validation split. */
  splitKey: Key;
  /** Held-out fraction of the training set (default 0.1). */
  valFraction?: number;
  grid?: readonly ProbeGridPoint[];
}

/** The chosen grid point, its validation accuracy and size, and every point's accuracy. */
export interface ProbeSelection extends ProbeGridPoint {
  valAccuracy: number;
  valSize: number;
  grid: (ProbeGridPoint & { valAccuracy: number })[];
}

/** The split: a stratified `fraction` of the rows held out, the rest to train on (both sorted). */
async function validationSplit(labels: Tensor, fraction: number, key: Key): Promise<{ fit: Int32Array; val: Int32Array }> {
  const n = labels.shape[0];
  const size = Math.round(fraction * n);
  if (!(fraction > 0 && fraction < 1) || size < 1 || size >= n) {
    throw new WgradError('selectLinearHead', `valFraction ${fraction} of ${n} training examples leaves no validation or no training rows`);
  }
  const val = stratifiedSample(await labels.data(), size, key);
  const held = new Uint8Array(n);
  val.forEach((i) => { held[i] = 1; });
  return { fit: Int32Array.from({ length: n }, (_, i) => i).filter((i) => !held[i]), val };
}

/** The probe's head with lr and weight decay chosen on a held-out split, refitted on all of `features` (see the header). */
export async function selectLinearHead(features: Tensor, labels: Tensor, opts: ProbeSelectOptions): Promise<{ head: linear.LinearParams; selection: ProbeSelection }> {
  const { splitKey, valFraction = 0.1, grid = PROBE_GRID, ...head } = opts;
  if (!grid.length) throw new WgradError('selectLinearHead', 'the grid is empty');
  const { fit, val } = await validationSplit(labels, valFraction, splitKey);
  const parts = { fit: takeRows({ x: features, y: labels }, fit), val: takeRows({ x: features, y: labels }, val) };
  const scored: ProbeSelection['grid'] = [];
  try {
    for (const point of grid) {
      const h = await trainLinearHead(parts.fit.x, parts.fit.y, { ...head, ...point, optimizer: 'sgd' });
      try {
        scored.push({ ...point, valAccuracy: (await accuracy((x) => linear.apply(h, x), { images: parts.val.x, labels: parts.val.y })).accuracy });
      } finally {
        dispose(h);
      }
    }
  } finally {
    dispose(parts);
  }
  const best = scored.reduce((b, p) => (p.valAccuracy > b.valAccuracy ? p : b));
  const chosen = await trainLinearHead(features, labels, { ...head, lr: best.lr, weightDecay: best.weightDecay, optimizer: 'sgd' });
  return { head: chosen, selection: { lr: best.lr, weightDecay: best.weightDecay, valAccuracy: best.valAccuracy, valSize: val.length, grid: scored } };
}
